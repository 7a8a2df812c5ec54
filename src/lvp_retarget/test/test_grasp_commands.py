"""Grasp shaping of retargeted Inspire commands, and the Inspire's fingertip kinematics."""

import numpy as np
import pytest
from lvp_common.artifacts import HandCommands
from lvp_retarget.dexterous import GRASP_CLOSING_WINDOW, RetargetError, grasp_commands
from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS, InspireKinematics, mimic_positions

NAMES = tuple(a.name for a in INSPIRE_ACTUATORS)
JOINTS = tuple(a.joint for a in INSPIRE_ACTUATORS)


def _commands(normalized: np.ndarray, times: np.ndarray) -> HandCommands:
    q = np.array([[a.closed_position + n * (a.open_position - a.closed_position)
                   for a, n in zip(INSPIRE_ACTUATORS, row)] for row in normalized])
    return HandCommands(times, JOINTS, q, NAMES, normalized,
                        np.rint(normalized * 1000).astype(np.int32))


def test_fingers_open_before_contact_and_press_after_thumb_opposed_throughout():
    times = np.arange(40) / 16.0
    rng = np.random.default_rng(0)
    normalized = rng.uniform(0.3, 0.8, (40, 6))
    contact = 1.0
    out = grasp_commands(_commands(normalized, times), contact, 'right', squeeze=0.25)
    before = times < contact
    fingers = [NAMES.index(n) for n in ('little', 'ring', 'middle', 'index', 'thumb_bend')]
    thumb = NAMES.index('thumb_rotation')
    np.testing.assert_allclose(out.normalized[np.ix_(before, fingers)], 1.0)
    np.testing.assert_allclose(out.normalized[np.ix_(~before, fingers)],
                               np.maximum(normalized[np.ix_(~before, fingers)] - 0.25, 0.0))
    window = ~before & (times <= contact + GRASP_CLOSING_WINDOW)
    held = normalized[window, thumb].min()
    np.testing.assert_allclose(out.normalized[before | window, thumb], held)
    later = times > contact + GRASP_CLOSING_WINDOW
    np.testing.assert_allclose(out.normalized[later, thumb], normalized[later, thumb])
    # Joint positions and native units agree with the normalised commands.
    for i, actuator in enumerate(INSPIRE_ACTUATORS):
        expected = actuator.closed_position + out.normalized[:, i] * (
            actuator.open_position - actuator.closed_position)
        np.testing.assert_allclose(out.joint_positions[:, i], expected, atol=1e-12)
    np.testing.assert_array_equal(out.native, np.rint(out.normalized * 1000))


def test_squeeze_out_of_range_is_refused():
    times = np.arange(3) / 16.0
    with pytest.raises(RetargetError, match='squeeze'):
        grasp_commands(_commands(np.full((3, 6), 0.5), times), 0.1, 'right', squeeze=1.5)


def test_fingertips_close_towards_the_thumb():
    kinematics = InspireKinematics('right')

    def tips(fraction: float) -> np.ndarray:
        q = [a.closed_position + fraction * (a.open_position - a.closed_position)
             for a in INSPIRE_ACTUATORS]
        q[-1] = INSPIRE_ACTUATORS[-1].closed_position  # thumb in opposition
        return kinematics.tip_positions(JOINTS, q)

    opened, half = tips(1.0), tips(0.5)
    # Open: the fingers reach ~21 cm along the base z axis, in the palm plane (x ~ 0).
    assert 0.20 < opened[1, 2] < 0.23 and abs(opened[1, 0]) < 0.01
    # Closing curls the fingertips towards the palm side (+x) and the thumb tip.
    assert half[1, 0] > opened[1, 0] + 0.03
    assert np.linalg.norm(half[1] - half[0]) < np.linalg.norm(opened[1] - opened[0]) - 0.05


def test_fingertips_follow_the_mimic_couplings():
    kinematics = InspireKinematics('right')
    actuated = {a.joint: 0.5 * a.closed_position for a in INSPIRE_ACTUATORS}
    full = mimic_positions('right', actuated)
    np.testing.assert_allclose(kinematics.tip_positions(list(actuated), list(actuated.values())),
                               kinematics.tip_positions(list(full), list(full.values())))
    with pytest.raises(ValueError, match='no joint'):
        kinematics.tip_positions(['wrist_joint'], [0.0])
