"""exec_node in its own process over loopback: ExecuteMotion goals on the sim and ros2_control.

The ros2_control run puts the fake joint_trajectory_controller (+ its JointState) and
franka_gripper of test/ros_helpers.py in this test process (test-only control_msgs /
franka_msgs from test/fixtures), and exec_node talks to them over loopback.
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
from lvp_common.artifacts import ROBOT_BASE_FRAME, GripperAction, GripperEvent
from lvp_common.ros.conversions import (
    gripper_event_to_msg,
    joint_trajectory_from_msg,
    wrist_trajectory_to_msg,
)
from lvp_common.ros.node import LATCHED
from lvp_exec.motion import MotionErrorCode
from lvp_exec.robots import load_panda
from lvp_exec.synthetic_paths import jump_sideways, smooth_joint_path, wrist_path_from_joints
from nav_msgs.msg import Path
from rclpy.action.client import ActionClient
from ros_helpers import (
    FR3_JOINTS,
    FakeFrankaGripper,
    FakeTrajectoryController,
    RosContext,
    goal_result,
    send_goal,
    spin_until,
    start_node,
    stop_node,
)
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

from lvp_common import topics
from lvp_interfaces.action import ExecuteMotion

pytestmark = pytest.mark.ros
Result = ExecuteMotion.Result


@pytest.fixture(scope='module')
def panda():
    return load_panda()


def ee_path(robot, seconds: float = 2.0, seed: int = 0, frame_id: str = ROBOT_BASE_FRAME):
    """A reachable EE path from the robot's home, `seconds` long at 16 fps."""
    joints = smooth_joint_path(robot, np.random.default_rng(seed),
                               num_frames=int(seconds * 16) + 1, amplitude=0.3)
    return wrist_path_from_joints(robot, joints, frame_id=frame_id)


def goal_for(path, embodiment: str = 'franka_gripper', events=(), **fields):
    return ExecuteMotion.Goal(embodiment=embodiment, ee_path=wrist_trajectory_to_msg(path),
                              gripper_events=[gripper_event_to_msg(e) for e in events], **fields)


def client_for(node) -> ActionClient:
    client = ActionClient(node, ExecuteMotion, topics.EXECUTE_MOTION_ACTION)
    assert spin_until(node, client.server_is_ready, 60.0), 'no execute_motion server'
    return client


def test_result_codes_are_the_action_constants():
    for code in MotionErrorCode:
        assert getattr(Result, code.name) == code.value


def test_execute_motion_in_sim(panda, ros_domain_id):
    server = start_node('lvp_exec.exec_node', {'execution_backend': 'sim'}, ros_domain_id)
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('execute_motion_test', context=context)
            paths: list[Path] = []
            trajectories: list[JointTrajectoryMsg] = []
            node.create_subscription(Path, topics.MOTION_EE_PATH, paths.append, LATCHED)
            node.create_subscription(JointTrajectoryMsg, topics.MOTION_JOINT_TRAJECTORY,
                                     trajectories.append, LATCHED)
            client = client_for(node)

            # a reachable path executes: stages in order, the trajectory from the sim's home
            path = ee_path(panda)
            feedback: list = []
            handle = send_goal(client, node, goal_for(
                path, events=(GripperEvent(1.0, GripperAction.CLOSE, 0.0),)),
                lambda msg: feedback.append(msg.feedback))
            assert handle.accepted
            result = goal_result(handle, node)
            assert result.error_code == Result.SUCCESS, (result.failed_stage,
                                                         result.error_message)
            assert result.failed_stage == '' and result.error_message == ''
            trajectory = joint_trajectory_from_msg(result.joint_trajectory)
            assert trajectory.joint_names == panda.joint_names
            np.testing.assert_allclose(trajectory.positions[0], panda.home, atol=1e-9)
            end = panda.ee_pose(trajectory.positions[-1]).position
            assert np.linalg.norm(end - path.positions[-1]) < 0.001
            assert spin_until(node, lambda: any(f.stage == 'executing' for f in feedback), 5.0)
            stages = list(dict.fromkeys(f.stage for f in feedback))
            assert stages == ['validation', 'ik', 'timing', 'safety', 'executing'], stages
            overall = [f.overall_progress for f in feedback]
            assert overall == sorted(overall) and overall[-1] == pytest.approx(1.0)

            # the display topics, latched: the EE path and the checked trajectory
            assert spin_until(node, lambda: bool(paths) and bool(trajectories), 10.0)
            assert len(paths[-1].poses) == path.num_frames
            assert paths[-1].header.frame_id == ROBOT_BASE_FRAME
            shown = joint_trajectory_from_msg(trajectories[-1])
            np.testing.assert_allclose(shown.positions, trajectory.positions)

            # plan only: the same plan, nothing executed
            feedback.clear()
            result = goal_result(send_goal(client, node, goal_for(path, plan_only=True),
                                           lambda msg: feedback.append(msg.feedback)), node)
            assert result.error_code == Result.SUCCESS, result.error_message
            planned = joint_trajectory_from_msg(result.joint_trajectory)
            np.testing.assert_allclose(planned.positions, trajectory.positions, atol=1e-9)
            spin_until(node, lambda: False, 0.3)
            assert 'executing' not in {f.stage for f in feedback}

            # refusals, each with its code and stage
            result = goal_result(send_goal(client, node, goal_for(path, 'ur5_gripper')), node)
            assert result.error_code == Result.INVALID_GOAL
            assert result.failed_stage == 'validation' and 'ur5_gripper' in result.error_message
            in_camera = ee_path(panda, frame_id='camera_color_optical_frame')
            result = goal_result(send_goal(client, node, goal_for(in_camera)), node)
            assert result.error_code == Result.INVALID_GOAL
            assert 'camera_color_optical_frame' in result.error_message
            far = dataclasses.replace(path, positions=path.positions + [2.0, 0.0, 0.0])
            result = goal_result(send_goal(client, node, goal_for(far)), node)
            assert result.error_code == Result.UNREACHABLE, result.error_message
            assert result.failed_stage == 'ik' and 'unreachable' in result.error_message
            assert len(result.joint_trajectory.points) == 0
            node.destroy_node()
    finally:
        log = stop_node(server)
        print(f'exec_node log:\n{log}')
    assert 'goal done: SUCCESS' in log and 'goal done: UNREACHABLE at ik' in log, log


def test_execute_motion_on_ros2_control_and_cancel(panda, ros_domain_id):
    """execution_backend ros2_control against a fake FR3 controller, joint states, gripper."""
    importlib.import_module('control_msgs.action')  # the test/fixtures interfaces
    from lvp_exec.ros_action_client import StandaloneRosNode

    prefix = '/fake_exec'
    with StandaloneRosNode('fake_franka', domain_id=ros_domain_id, threads=4) as robot:
        controller = FakeTrajectoryController(
            robot.node, f'{prefix}/arm_controller/follow_joint_trajectory',
            joint_states_topic=f'{prefix}/joint_states', initial=panda.home)
        gripper = FakeFrankaGripper(robot.node, f'{prefix}/gripper')
        server = start_node('lvp_exec.exec_node', {
            'execution_backend': 'ros2_control',
            'controller_action': f'{prefix}/arm_controller/follow_joint_trajectory',
            'gripper_action_namespace': f'{prefix}/gripper',
            'joint_states_topic': f'{prefix}/joint_states'}, ros_domain_id)
        try:
            with RosContext(ros_domain_id) as context:
                import rclpy

                node = rclpy.create_node('execute_motion_test', context=context)
                client = client_for(node)

                # a full run: the controller gets the trajectory under its own joint names,
                # starting where the (fake) robot's joint states say the arm is
                opening = GripperEvent(0.5, GripperAction.OPEN, 0.08)
                result = goal_result(send_goal(client, node, goal_for(
                    ee_path(panda, 1.5), events=(opening,))), node)
                assert result.error_code == Result.SUCCESS, (result.failed_stage,
                                                             result.error_message)
                (sent,) = controller.goals
                assert tuple(sent.trajectory.joint_names) == FR3_JOINTS
                first = np.array(sent.trajectory.points[0].positions)
                np.testing.assert_allclose(first, panda.home, atol=1e-6)
                assert ('move', pytest.approx(0.08)) in gripper.calls, gripper.calls

                # a path that jumps 0.4 m sideways in 1 ms: refused at ik naming the waypoint,
                # the controller gets nothing
                jumping = jump_sideways(ee_path(panda, 3.0, seed=2))
                result = goal_result(send_goal(client, node, goal_for(jumping)), node)
                assert result.error_code == Result.UNREACHABLE, result.error_message
                assert result.failed_stage == 'ik'
                assert 'from waypoint 23 to 24 (t = 1.438 s)' in result.error_message
                assert len(result.joint_trajectory.points) == 0
                # NaN in a pose: the goal is refused naming the waypoint and the field
                broken = wrist_trajectory_to_msg(ee_path(panda, 1.0))
                broken.poses[5].position.y = float('nan')
                result = goal_result(send_goal(client, node, ExecuteMotion.Goal(
                    embodiment='franka_gripper', ee_path=broken)), node)
                assert result.error_code == Result.INVALID_GOAL
                assert 'waypoint 5 (t = 0.312 s)' in result.error_message, result.error_message
                assert 'non-finite pose: position [' in result.error_message
                assert 'nan' in result.error_message
                assert len(controller.goals) == 1  # only the first, good goal moved the arm

                # g1_inspire goals are refused by a Franka backend, unless plan_only
                result = goal_result(send_goal(client, node, goal_for(
                    ee_path(panda), 'g1_inspire')), node)
                assert result.error_code == Result.INVALID_GOAL, result.error_message
                assert 'ros2_control' in result.error_message

                # cancel while the arm moves: the controller goal is canceled too; a second
                # goal meanwhile is rejected
                controller.started.clear()
                feedback: list = []
                handle = send_goal(client, node, goal_for(ee_path(panda, 4.0, seed=3)),
                                   lambda msg: feedback.append(msg.feedback))
                assert handle.accepted
                assert spin_until(node, controller.started.is_set, 30.0), 'never executed'
                assert not send_goal(client, node, goal_for(ee_path(panda))).accepted
                cancel = handle.cancel_goal_async()
                assert spin_until(node, cancel.done, 10.0)
                result = goal_result(handle, node)
                assert result.error_code == Result.CANCELED, (result.failed_stage,
                                                              result.error_message)
                assert result.failed_stage == 'executing'
                assert 'stopped on request' in result.error_message, result.error_message
                assert controller.canceled.wait(5.0), 'the controller goal was not canceled'
                assert len(result.joint_trajectory.points) > 1
                node.destroy_node()
        finally:
            log = stop_node(server)
            print(f'exec_node log:\n{log}')
    assert 'goal done: SUCCESS' in log and 'goal done: CANCELED' in log, log


def test_safety_limits_are_parameters_per_embodiment(panda):
    """`safety.<embodiment>.<name>` parameters: declared with the embodiment's defaults, read
    back into the SafetyConfig the goals are checked with; a bad value names the parameter."""
    import rclpy
    from lvp_exec.robots import load_g1_arm
    from lvp_exec.safety import default_safety_config
    from lvp_exec.safety_parameters import (
        SAFETY_PARAMETERS,
        declare_safety_parameters,
        safety_config_from_parameters,
    )
    from rclpy.parameter import Parameter

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node('safety_parameters_test', context=context, parameter_overrides=[
            Parameter('safety.franka_gripper.link_clearance', value=0.05),
            Parameter('safety.g1_inspire.max_joint_step', value=float('nan'))])
        declare_safety_parameters(node)
        names = {name for name in node._parameters if name.startswith('safety.')}
        assert names == {f'safety.{e}.{n}' for e in ('franka_gripper', 'g1_inspire')
                         for n in SAFETY_PARAMETERS}
        config = safety_config_from_parameters(node, panda)
        default = default_safety_config(panda)
        assert config.link_clearance == 0.05
        assert config.workspace_min == default.workspace_min
        assert config.obstacles == default.obstacles and config.obstacles
        assert list(node.get_parameter('safety.g1_inspire.workspace_min').value) == [
            -0.1, -0.8, -0.6]
        with pytest.raises(ValueError, match='safety.g1_inspire.max_joint_step'):
            safety_config_from_parameters(node, load_g1_arm())
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
