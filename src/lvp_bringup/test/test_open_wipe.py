"""Pull (open a drawer) and wipe mappings on synthetic scene clouds and hand paths."""

from __future__ import annotations

import numpy as np
import pytest
from lvp_bringup.embodiments.ee_mapping import EeMapping
from lvp_bringup.embodiments.open_articulated import (
    RETREAT_HEIGHT,
    find_handle,
    guide_pull,
    plan_pull,
)
from lvp_bringup.embodiments.wipe_contact import (
    PASS_PITCH,
    guide_wipe,
    level_mount,
    raster,
    wipe_stretch,
)
from lvp_common.artifacts import PointCloud, WristTrajectory
from scipy.spatial.transform import Rotation

CAMERA = np.array([1.0, 0.0, 0.5])
HANDLE = np.array([0.45, 0.04, 0.06])
GRASP_IN_HAND = np.array([0.0, 0.1, 0.05])
"""lvp_bringup's default grasp point (no finger keypoints): the hand's grasp point is the wrist
plus this, with identity orientations."""


def _grid(x: tuple[float, float], y: tuple[float, float], z: float) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(x[0], x[1], 0.004), np.arange(y[0], y[1], 0.004))
    return np.column_stack([xs.ravel(), ys.ravel(), np.full(xs.size, z)])


def _drawer_cloud() -> PointCloud:
    """Table at z = 0, a 10 cm cabinet behind a 2 cm bar handle (top at 7 cm) standing 6 cm
    off its front, as a camera across the table sees them (tops only)."""
    table = _grid((0.2, 0.8), (-0.3, 0.3), 0.0)
    table = table[~((table[:, 0] > 0.5) & (np.abs(table[:, 1] - 0.04) < 0.09))]
    cabinet = _grid((0.52, 0.72), (-0.04, 0.12), 0.1)
    bar = _grid((0.44, 0.46), (-0.01, 0.09), 0.07)
    return PointCloud(np.vstack([table, cabinet, bar]), 'base')


def _wrist(times, grasp_points, fingers=None) -> WristTrajectory:
    quats = np.tile([0.0, 0.0, 0.0, 1.0], (len(times), 1))
    return WristTrajectory(np.asarray(times), np.asarray(grasp_points) - GRASP_IN_HAND, quats,
                           'base', smoothed=True, finger_keypoints=fingers)


def _pull_path(pull=(-0.1, 0.0, 0.0), rise=0.0):
    """Approach over 1 s from the robot's side and above, hold, move by `pull` (m) from 1.2 to
    2.2 s (rising `rise`), hold, leave upwards from 2.4 s."""
    times = np.arange(0.0, 3.01, 1.0 / 16.0)
    start = HANDLE + [-0.2, 0.0, 0.15]
    end = HANDLE + np.asarray(pull) + [0.0, 0.0, rise]
    points = []
    for t in times:
        if t <= 1.0:
            u = t / 1.0
            p = start + u * (HANDLE - start)
        elif t <= 1.2:
            p = HANDLE
        elif t <= 2.2:
            u = (t - 1.2) / 1.0
            s = u ** 3 * (10 - 15 * u + 6 * u * u)
            p = HANDLE + s * (end - HANDLE)
        elif t <= 2.4:
            p = end
        else:
            p = end + [0.0, 0.0, 0.25 * (t - 2.4)]
        points.append(p)
    return _wrist(times, points)


def test_the_handle_is_the_bar_standing_out_towards_the_pull():
    handle = find_handle(_drawer_cloud(), HANDLE + [0.03, 0.0, 0.04], np.array([-1.0, 0.2, 0]))
    assert handle is not None
    assert np.linalg.norm(handle.centre - HANDLE) < 0.006
    assert handle.pull_axis @ [-1.0, 0.0, 0.0] > 0.99
    assert handle.length == pytest.approx(0.1, abs=0.01)
    # Nothing stands above the table far from the fixture.
    assert find_handle(_drawer_cloud(), np.array([0.25, -0.25, 0.05]),
                       np.array([-1.0, 0.0, 0.0])) is None


def test_a_pull_reads_its_contact_release_axis_and_length():
    planned = plan_pull(_pull_path(), _drawer_cloud(), CAMERA, 2.0, ('open the drawer',))
    assert planned is not None
    handle, contact, release, axis, length = planned
    assert 0.95 <= contact <= 1.3
    assert 2.05 <= release <= 2.45
    assert axis @ [-1.0, 0.0, 0.0] > 0.99
    assert length == pytest.approx(0.1, abs=0.01)
    assert np.linalg.norm(handle.centre - HANDLE) < 0.006


@pytest.mark.parametrize('pull, rise', [((0.1, 0.0, 0.0), 0.0),   # pushed into the cabinet
                                        ((-0.1, 0.0, 0.0), 0.12),  # lifted
                                        ((-0.015, 0.0, 0.0), 0.0)])  # barely moved
def test_what_is_not_a_pull_is_refused(pull, rise):
    assert plan_pull(_pull_path(pull, rise), _drawer_cloud(), CAMERA, 1.1,
                     ('open the drawer',)) is None


def test_the_pulled_path_follows_the_axis_then_rises():
    times = np.arange(0.0, 3.01, 0.05)
    positions = np.column_stack([0.45 + 0.02 * np.sin(7 * times), 0.04 + 0.02 * times,
                                 np.full(len(times), 0.06)])
    turns = Rotation.from_euler('z', 0.3 * times[:, None]).as_quat()
    path = WristTrajectory(times, positions, turns, 'base', smoothed=True)
    mapping = EeMapping('franka_gripper', contact_time=1.0, grasp_dwell=0.5,
                        pull=(2.0, -1.0, 0.0, 0.0, 0.1))
    guided = guide_pull(path, path, mapping)
    start = positions[np.argmin(np.abs(times - 1.5))]
    pulling = (guided.times >= 1.5) & (guided.times <= 2.5)
    offsets = guided.positions[pulling] - start
    assert np.allclose(offsets[:, 1:], 0.0, atol=1e-9)  # on the line, nothing else
    assert np.all(np.diff(-offsets[:, 0]) >= -1e-12)  # outwards only
    assert -offsets[-1, 0] == pytest.approx(0.1, abs=1e-6)
    held = Rotation.from_quat(guided.quaternions[pulling])
    assert np.allclose((held[0].inv() * held).magnitude(), 0.0, atol=1e-9)
    assert guided.positions[-1, 2] - guided.positions[pulling][-1, 2] == pytest.approx(
        RETREAT_HEIGHT)
    # Before the dwell's end the embodiment's own path is untouched.
    early = guided.times < 1.45
    assert np.allclose(guided.positions[early], positions[times < 1.45])


def _hand_keypoints(n: int) -> np.ndarray:
    """Flat fingers along hand y: PIPs at 11 cm, tips at 16 cm from the wrist."""
    kp = np.zeros((n, 21, 3))
    for k, y in ((6, 0.11), (10, 0.11), (14, 0.11), (18, 0.11),
                 (8, 0.16), (12, 0.16), (16, 0.16), (20, 0.16)):
        kp[:, k] = [0.0, y, 0.0]
    return kp


def _wipe_path(strokes: int):
    """Down onto z = 0 at x = 0.3 over 0.5 s, `strokes` sweeps of 18 cm along x, then up."""
    times = np.arange(0.0, 0.5 + 0.6 * strokes + 0.5, 1.0 / 16.0)
    tips = []
    for t in times:
        if t < 0.5:
            p = [0.21, 0.0, 0.1 * (1 - t / 0.5)]
        elif t < 0.5 + 0.6 * strokes:
            phase = (t - 0.5) / 0.6
            u = phase % 1.0 if int(phase) % 2 == 0 else 1.0 - phase % 1.0
            p = [0.21 + 0.18 * u, 0.0, 0.0]
        else:
            p = [0.21 + 0.18 * (strokes % 2), 0.0, 0.2 * (t - 0.5 - 0.6 * strokes)]
        tips.append(p)
    wrist = np.asarray(tips) - [0.0, 0.16, 0.0]
    quats = np.tile([0.0, 0.0, 0.0, 1.0], (len(times), 1))
    return WristTrajectory(times, wrist, quats, 'base', smoothed=True,
                           finger_keypoints=_hand_keypoints(len(times)))


def test_a_wipe_goes_back_and_forth_on_the_surface_and_a_push_does_not():
    stretch = wipe_stretch(_wipe_path(3))
    assert stretch is not None
    times = _wipe_path(3).times
    assert times[stretch[0]] == pytest.approx(0.5, abs=0.15)  # within LOW of the surface
    assert times[stretch[1]] == pytest.approx(2.3, abs=0.15)
    assert wipe_stretch(_wipe_path(1)) is None  # one way: a push


def test_the_passes_cover_the_band_the_fingers_swept():
    strokes = np.column_stack([np.linspace(0.2, 0.38, 30), np.zeros(30), np.zeros(30)])
    fingers = np.array([0.0, 1.0, 0.0])
    times, points = raster(strokes, fingers, 0.05, start=1.0)
    assert times[0] == 1.0 and np.all(np.diff(times) > 0.0)
    along = np.unique(np.round(points[:, 1], 6))
    assert along.max() >= -1e-9 and along.min() <= -0.05 + 0.5 * PASS_PITCH + 1e-9
    assert np.all(np.diff(along) <= PASS_PITCH + 1e-9)
    assert points[:, 0].min() < 0.21 and points[:, 0].max() > 0.37
    speeds = np.linalg.norm(np.diff(points, axis=0), axis=1) / np.diff(times)
    assert np.allclose(speeds, speeds[0])


def test_the_wiping_hand_is_level_palm_down_and_pitched():
    fingers = np.array([np.cos(0.4), np.sin(0.4), 0.0])
    mount = level_mount(fingers, 0.3).as_matrix()
    assert np.allclose(mount[:, 0], [np.cos(0.3) * fingers[0], np.cos(0.3) * fingers[1],
                                     -np.sin(0.3)])
    assert mount[2, 2] == pytest.approx(0.0, abs=1e-12)  # no roll: the lateral axis is level
    assert mount[:, 1] @ [0.0, 0.0, 1.0] > 0.9  # the palm (mount -y) faces down


def test_the_wipe_guide_holds_height_and_orientation_then_lifts():
    times = np.arange(0.0, 2.0, 0.1)
    path = WristTrajectory(times, np.column_stack([times, np.zeros_like(times),
                                                   0.2 - 0.05 * times]),
                           np.tile([0.0, 0.0, 0.0, 1.0], (len(times), 1)), 'base',
                           smoothed=True)
    hold = Rotation.from_euler('y', 0.3).as_quat()
    samples = [(1.0, 0.5, 0.0), (1.2, 0.5, 0.05), (1.4, 0.5, 0.1)]
    mapping = EeMapping('g1_inspire', contact_time=1.0,
                        wipe=(0.03, *hold, *np.ravel(samples)))
    guided = guide_wipe(path, mapping)
    on = (guided.times >= 1.0) & (guided.times <= 1.4)
    assert np.allclose(guided.positions[on, 2], 0.03)
    assert np.allclose(guided.positions[on, :2], np.asarray(samples)[:, 1:])
    assert np.allclose(np.abs(guided.quaternions[on] @ hold), 1.0)
    assert guided.positions[-1, 2] > 0.1 and guided.times[-1] > 1.4
    # The approach comes down onto the first stroke point from above, turning smoothly.
    before = guided.times < 1.0
    assert np.all(guided.positions[before, 2] >= 0.03 - 1e-9)
    steps = (Rotation.from_quat(guided.quaternions[:-1]).inv()
             * Rotation.from_quat(guided.quaternions[1:])).magnitude()
    assert steps.max() < 0.15


def test_the_mapping_keeps_pull_and_wipe_for_a_replay():
    mapping = EeMapping('g1_inspire', contact_time=1.0, family='open',
                        pull=(2.0, -1.0, 0.0, 0.0, 0.1), wipe=(0.03, 0.0, 0.0, 0.0, 1.0))
    again = EeMapping.from_metadata(mapping.to_metadata())
    assert again.pull == mapping.pull and again.wipe == mapping.wipe
    assert again.family == 'open'
