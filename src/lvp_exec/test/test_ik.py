"""IK along wrist paths: reachable paths tracked to < 1 mm / 1 deg, unreachable ones refused."""

import numpy as np
import pytest
from lvp_common.artifacts import WristTrajectory
from lvp_common.geometry import rotation_angle_between
from lvp_exec.ik import (
    DampedLeastSquaresIk,
    IkConfig,
    PathFrameError,
    UnreachablePathError,
    WristPathSolver,
)
from lvp_exec.robots import G1ArmConfig, load_g1_arm, load_panda
from lvp_exec.synthetic_paths import smooth_joint_path, wrist_path_from_joints

ROBOTS = {'panda': load_panda, 'g1_right': load_g1_arm,
          'g1_left': lambda: load_g1_arm(G1ArmConfig(side='left'))}


@pytest.fixture(scope='module', params=sorted(ROBOTS))
def robot(request):
    return ROBOTS[request.param]()


def _ee_errors(robot, joint_positions, wrist_path):
    poses = [robot.ee_pose(q) for q in joint_positions]
    pos = np.array([p.position for p in poses])
    quat = np.array([p.quaternion for p in poses])
    return (np.linalg.norm(pos - wrist_path.positions, axis=1),
            rotation_angle_between(quat, wrist_path.quaternions))


@pytest.mark.parametrize('seed', range(8))
def test_reachable_paths_are_tracked_within_1mm_1deg(robot, seed):
    rng = np.random.default_rng(seed)
    joints = smooth_joint_path(robot, rng, amplitude=0.8)
    wrist_path = wrist_path_from_joints(robot, joints)
    current = joints[0] + rng.normal(0.0, 0.05, robot.num_joints)
    solver: WristPathSolver = DampedLeastSquaresIk(robot)
    result = solver.solve(wrist_path, current)
    pos_err, rot_err = _ee_errors(robot, result.positions, wrist_path)
    assert pos_err.max() < 1e-3
    assert np.degrees(rot_err.max()) < 1.0
    np.testing.assert_allclose(result.position_errors, pos_err, atol=1e-9)
    assert np.all(result.positions >= robot.limits.lower)
    assert np.all(result.positions <= robot.limits.upper)
    # Warm starts keep one IK branch: consecutive solutions close together.
    assert np.max(np.abs(np.diff(result.positions, axis=0))) < 0.3


def test_first_waypoint_is_solved_near_the_current_state(robot):
    rng = np.random.default_rng(3)
    joints = smooth_joint_path(robot, rng)
    result = DampedLeastSquaresIk(robot).solve(wrist_path_from_joints(robot, joints), joints[0])
    assert np.max(np.abs(result.positions[0] - joints[0])) < 1e-3
    np.testing.assert_array_equal(result.start, joints[0])


def test_path_leaving_the_workspace_is_refused_naming_the_waypoint(robot):
    rng = np.random.default_rng(1)
    joints = smooth_joint_path(robot, rng)
    wrist_path = wrist_path_from_joints(robot, joints)
    positions = wrist_path.positions.copy()
    positions[30:] += np.array([2.0, 0.0, 0.0])
    far = WristTrajectory(wrist_path.times, positions, wrist_path.quaternions, 'base_link')
    with pytest.raises(UnreachablePathError, match=r'waypoint 30 \(t = 1.875 s\)') as info:
        DampedLeastSquaresIk(robot).solve(far, joints[0])
    assert info.value.index == 30
    assert info.value.position_error > 1.0


def test_position_only_ik_ignores_orientation(robot):
    rng = np.random.default_rng(5)
    joints = smooth_joint_path(robot, rng)
    wrist_path = wrist_path_from_joints(robot, joints)
    flipped = WristTrajectory(wrist_path.times, wrist_path.positions,
                              np.tile([0.0, 0.0, 0.0, 1.0], (wrist_path.num_frames, 1)),
                              'base_link')
    solver = DampedLeastSquaresIk(robot, IkConfig(orientation_weight=0.0))
    result = solver.solve(flipped, joints[0])
    assert result.max_position_error < 1e-3


def test_wrong_frame_is_refused(robot):
    joints = smooth_joint_path(robot, np.random.default_rng(0))
    wrist_path = wrist_path_from_joints(robot, joints, frame_id='camera_color_optical_frame')
    with pytest.raises(PathFrameError, match='camera_color_optical_frame'):
        DampedLeastSquaresIk(robot).solve(wrist_path, joints[0])


def test_robot_base_frame_name_is_accepted(robot):
    joints = smooth_joint_path(robot, np.random.default_rng(0), num_frames=5)
    wrist_path = wrist_path_from_joints(robot, joints, frame_id=robot.base_frame)
    assert DampedLeastSquaresIk(robot).solve(wrist_path, joints[0]).positions.shape == (5, 7)
