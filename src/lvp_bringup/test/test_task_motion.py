"""Place path shaping (task_motion.place_path): the carry moves across, not in one step."""

import numpy as np
from lvp_bringup.embodiments.task_motion import CARRY_HEIGHT, PlaceMotion, place_path
from lvp_common.artifacts import WristTrajectory


def _low_carry(bob: bool) -> WristTrajectory:
    """A hand that grasps at the origin at t = 0.5 s, rises only ~5 cm (bobbing down once on
    the way when `bob`), and comes down 13 cm to its right at t = 2.0 s."""
    times = np.arange(0.0, 3.0, 1.0 / 16.0)
    u = np.clip((times - 0.5) / 1.5, 0.0, 1.0)
    z = 0.05 * np.sin(np.pi * u)
    if bob:
        z -= 0.03 * np.exp(-((times - 1.0) / 0.08) ** 2)
    positions = np.column_stack([np.zeros_like(times), -0.13 * u, np.maximum(z, 0.0)])
    quats = np.tile([0.0, 0.0, 0.0, 1.0], (len(times), 1))
    return WristTrajectory(times, positions, quats, 'pelvis', smoothed=True)


def test_a_low_carry_moves_across_on_its_way_not_in_one_step():
    for bob in (False, True):
        wrist = _low_carry(bob)
        place = PlaceMotion(2.0, 2.2, np.array([0.0, -0.13, 0.0]))
        out = place_path(wrist, 0.5, place)
        steps = np.linalg.norm(np.diff(out.positions, axis=0), axis=1)
        assert steps.max() < 0.03, f'bob={bob}: a {steps.max() * 100:.1f} cm step'
        kc, ks = 8, 32  # t = 0.5 s, 2.0 s
        np.testing.assert_allclose(out.positions[kc], wrist.positions[kc])
        np.testing.assert_allclose(out.positions[ks], wrist.positions[kc] + place.displacement,
                                   atol=1e-9)
        z = out.positions[kc:ks + 1, 2]
        top = int(np.argmax(z))
        assert np.all(np.diff(z[:top + 1]) >= -1e-12) and np.all(np.diff(z[top:]) <= 1e-12)
        assert z[top] >= CARRY_HEIGHT - 1e-9
        # straight up off the pick-up and straight down onto the set-down over the last 3 cm
        near = out.positions[kc:ks + 1]
        low_start = near[: top + 1][near[: top + 1, 2] < 0.5 * CARRY_HEIGHT]
        np.testing.assert_allclose(low_start[:, :2], 0.0, atol=1e-9)
