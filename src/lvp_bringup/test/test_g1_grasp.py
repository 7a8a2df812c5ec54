"""G1 + Inspire grasp registration geometry: where the Inspire holds an object, and the
top-down pinch it is turned into."""

import numpy as np
from lvp_bringup.embodiments.g1_inspire import inspire_grasp, top_down_pinch
from lvp_common.artifacts import HandCommands
from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT
from lvp_grasp.top_face import TopFace
from lvp_retarget.dexterous import grasp_commands
from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS, InspireKinematics
from scipy.spatial.transform import Rotation

JOINTS = tuple(a.joint for a in INSPIRE_ACTUATORS)
NAMES = tuple(a.name for a in INSPIRE_ACTUATORS)


def _commands(normalized: np.ndarray, times: np.ndarray) -> HandCommands:
    q = np.array([[a.closed_position + n * (a.open_position - a.closed_position)
                   for a, n in zip(INSPIRE_ACTUATORS, row)] for row in normalized])
    return HandCommands(times, JOINTS, q, NAMES, normalized, np.rint(normalized * 1000))


def _grasp(width: float):
    times = np.arange(32) / 16.0
    normalized = np.tile([0.1, 0.1, 0.1, 0.1, 0.1, 0.0], (32, 1))
    commands = grasp_commands(_commands(normalized, times), 1.0, 'right', squeeze=0.0)
    return inspire_grasp(commands, 'right', 1.0, width)


def test_grasp_point_is_midway_where_the_tips_are_the_object_width_apart():
    kinematics = InspireKinematics('right')
    for width in (0.04, 0.06):
        point, chord = _grasp(width)
        # Some closure along open -> closed puts the tips `width` apart with `point` midway.
        opened = np.array([a.open_position for a in INSPIRE_ACTUATORS])
        opened[-1] = INSPIRE_ACTUATORS[-1].closed_position
        closed = np.array([a.closed_position + 0.1 * (a.open_position - a.closed_position)
                           for a in INSPIRE_ACTUATORS])
        closed[-1] = INSPIRE_ACTUATORS[-1].closed_position
        best = min((np.linalg.norm(INSPIRE_BASE_IN_MOUNT @ (0.5 * (t[0] + t[1:3].mean(0)))
                                   - point), np.linalg.norm(t[1:3].mean(0) - t[0]))
                   for t in (kinematics.tip_positions(JOINTS, opened + f * (closed - opened))
                             for f in np.linspace(0.0, 1.0, 41)))
        assert best[0] < 1e-9 and abs(best[1] - width) < 0.006, (width, best)
        np.testing.assert_allclose(np.linalg.norm(chord), 1.0)
    # A narrower object is held with the fingers further closed: the grasp point moves.
    assert np.linalg.norm(_grasp(0.04)[0] - _grasp(0.06)[0]) > 0.002


def test_top_down_pinch_is_level_across_the_face_with_the_palm_down():
    _point, chord = _grasp(0.05)
    yaw = np.radians(30.0)
    axes = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
    face = TopFace(np.zeros(3), (0.05, 0.05), axes, 0.0, 0.05)
    current = Rotation.from_euler('xyz', [0.3, -0.2, 0.4])
    pinch = top_down_pinch(chord, face, current)
    across = pinch.apply(chord)
    assert abs(across[2]) < 1e-4  # level
    assert max(abs(across[:2] @ axes[0]), abs(across[:2] @ axes[1])) > 1.0 - 1e-4
    palm = pinch.apply([0.0, -1.0, 0.0])
    assert palm[2] < -0.6  # facing down, as far as a level chord allows
    # Of the four pinches across a square face, the one that turns the hand least.
    turns = []
    for axis in axes:
        for sign in (1.0, -1.0):
            target = np.array([sign * axis[0], sign * axis[1], 0.0])
            other, _ = Rotation.align_vectors([target, [0, 0, -1.0]], [chord, [0, -1.0, 0]],
                                              weights=[1e6, 1.0])
            turns.append((current.inv() * other).magnitude())
    assert (current.inv() * pinch).magnitude() <= min(turns) + 1e-9
    # A long side is not pinched across.
    long_face = TopFace(np.zeros(3), (0.05, 0.15), axes, 0.0, 0.05)
    across = top_down_pinch(chord, long_face, current).apply(chord)
    assert abs(across[:2] @ axes[0]) > 1.0 - 1e-4


def test_task_sentence_decides_whether_the_hand_grasps():
    from lvp_bringup.embodiments.ee_mapping import task_grasps

    assert task_grasps(('pick up the green cube',))
    assert task_grasps(('put the cup on the plate',))
    assert task_grasps(('pick up the cube', 'press the button'))  # a sub-task grasps
    assert not task_grasps(('push the green cube onto the yellow square',))
    assert not task_grasps(('press the red button',))
    assert task_grasps(('the cube',))  # no verb: a grasp, the common case


def test_mount_is_raised_only_where_the_fingertips_would_go_too_deep():
    from lvp_bringup.embodiments.g1_inspire import fingertips_above
    from lvp_common.artifacts import WristTrajectory
    from lvp_exec.hand_points import inspire_fingertips
    from lvp_exec.robots import load_g1_arm
    from lvp_exec.safety import default_safety_config

    robot = load_g1_arm()
    config = default_safety_config(robot)
    assert config.table_height is not None
    floor = config.table_height + config.hand_clearance
    down = Rotation.from_matrix(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0],
                                          [-1.0, 0.0, 0.0]]))  # fingers (mount x) down
    times = np.arange(4) * 0.25
    heights = config.table_height + np.array([0.30, 0.15, 0.10, 0.30])
    path = WristTrajectory(times, np.column_stack([np.full(4, 0.25), np.full(4, -0.2), heights]),
                           np.tile(down.as_quat(), (4, 1)), robot.base_frame)
    commands = _commands(np.ones((4, 6)), times)  # open: fingertips ~21 cm out
    raised = fingertips_above(path, commands, robot)
    tips = inspire_fingertips(robot, commands, times).points
    lowest = raised.positions[:, 2] + np.min(tips @ down.as_matrix().T, axis=1)[:, 2]
    np.testing.assert_allclose(raised.positions[[0, 3]], path.positions[[0, 3]])  # clear
    np.testing.assert_allclose(lowest[1:3], floor + 0.01, atol=1e-9)  # raised just enough
    np.testing.assert_allclose(raised.positions[:, :2], path.positions[:, :2])
