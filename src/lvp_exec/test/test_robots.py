"""Robot models: joints, limits and end-effector frames from example-robot-data."""

import numpy as np
import pytest
from lvp_common.geometry import Pose
from lvp_exec.robots import (
    PANDA_ACCELERATION_LIMITS,
    G1ArmConfig,
    RobotModelError,
    load_g1_arm,
    load_panda,
    load_robot,
)


def test_panda_model_has_seven_arm_joints_and_urdf_limits():
    robot = load_panda()
    assert robot.joint_names == tuple(f'panda_joint{i}' for i in range(1, 8))
    assert robot.ee_frame == 'panda_hand_tcp'
    assert robot.base_frame == 'panda_link0'
    np.testing.assert_allclose(robot.limits.upper[3], -0.0698)
    np.testing.assert_allclose(robot.limits.velocity, [2.175] * 4 + [2.61] * 3)
    np.testing.assert_allclose(robot.limits.acceleration, PANDA_ACCELERATION_LIMITS)


def test_panda_tcp_is_hand_offset_along_flange_z():
    robot = load_panda()
    q = robot.home
    hand = robot.model.getFrameId('panda_hand')
    robot.frame_positions(q, [hand])
    hand_pose = robot.data.oMf[hand]
    tcp = robot.ee_placement(q)
    np.testing.assert_allclose(hand_pose.actInv(tcp).translation, [0.0, 0.0, 0.1034], atol=1e-9)


@pytest.mark.parametrize('side', ['right', 'left'])
def test_g1_arm_reduced_to_seven_joints_of_one_side(side):
    robot = load_g1_arm(G1ArmConfig(side=side))
    assert robot.joint_names == tuple(
        f'{side}_{j}_joint' for j in ('shoulder_pitch', 'shoulder_roll', 'shoulder_yaw',
                                       'elbow', 'wrist_roll', 'wrist_pitch', 'wrist_yaw'))
    assert robot.model.nq == 7
    assert robot.ee_frame == f'{side}_hand_mount'
    assert 'waist_yaw_joint' in robot.nominal_full_configuration
    assert len(robot.nominal_full_configuration) == 22
    assert np.all(robot.limits.velocity <= 3.0)


def test_g1_default_mount_is_the_rubber_hand_frame():
    robot = load_g1_arm()
    q = robot.home
    rubber = robot.model.getFrameId('right_rubber_hand')
    robot.frame_positions(q, [rubber])
    np.testing.assert_allclose(robot.ee_placement(q).homogeneous,
                               robot.data.oMf[rubber].homogeneous, atol=1e-9)


def test_g1_hand_mount_transform_moves_the_ee_frame():
    mount = Pose(np.array([0.1, 0.0, 0.02]), np.array([0.0, 0.0, np.sin(0.25), np.cos(0.25)]))
    robot = load_g1_arm(G1ArmConfig(hand_mount=mount))
    q = robot.home
    wrist = robot.model.getFrameId('right_wrist_yaw_link')
    robot.frame_positions(q, [wrist])
    relative = robot.data.oMf[wrist].actInv(robot.ee_placement(q))
    np.testing.assert_allclose(relative.homogeneous, mount.as_matrix(), atol=1e-9)


def test_g1_left_and_right_arms_mirror():
    right, left = load_g1_arm(), load_g1_arm(G1ArmConfig(side='left'))
    pr, pl = right.ee_pose(right.home).position, left.ee_pose(left.home).position
    np.testing.assert_allclose(pl, pr * np.array([1.0, -1.0, 1.0]), atol=1e-4)


def test_locked_pose_changes_the_reduced_model():
    straight = load_g1_arm()
    bent = load_g1_arm(G1ArmConfig(locked_pose={'waist_yaw_joint': 0.3}))
    assert not np.allclose(straight.ee_pose(straight.home).position,
                           bent.ee_pose(bent.home).position)


def test_bad_robot_names_are_refused():
    with pytest.raises(RobotModelError, match='unknown robot'):
        load_robot('ur5')
    with pytest.raises(RobotModelError, match='side'):
        load_g1_arm(G1ArmConfig(side='middle'))
    with pytest.raises(RobotModelError, match='not in the description'):
        load_g1_arm(G1ArmConfig(locked_pose={'tail_joint': 0.1}))
