"""The ros2_control backend against in-test fake servers speaking the real actions over rclpy.

The fake joint_trajectory_controller and franka_gripper (test/ros_helpers.py) run in an rclpy
context of their own on a background executor; the clients talk to them over loopback (Fast
DDS), as to a real robot. control_msgs / franka_msgs are the test-only fixtures of test/fixtures,
type-identical to the upstream packages (test_interface_fixtures.py).
"""

from __future__ import annotations

import importlib
import itertools
import time

import numpy as np
import pytest
from lvp_common.artifacts import GripperAction, GripperEvent, JointTrajectory
from lvp_common.ros.conversions import duration_to_seconds
from lvp_exec.franka_gripper_client import (
    DEFAULT_GRIPPER_NAMESPACE,
    FrankaGripperClient,
    GripperCommand,
    GripperCommandError,
    GripperConfig,
)
from lvp_exec.ros_action_client import (
    ActionServerTimeoutError,
    ExecutionStatus,
    MissingInterfaceError,
    StandaloneRosNode,
    import_interface,
)
from lvp_exec.trajectory_client import (
    FollowJointTrajectoryClient,
    Tolerance,
    TrajectoryControllerConfig,
    TrajectoryExecutionError,
    describe_error_code,
)
from ros_helpers import FR3_JOINTS, FakeFrankaGripper, FakeTrajectoryController

pytestmark = pytest.mark.ros

# built into the venv by `make venv` from test/fixtures (a real ROS install has the real ones)
importlib.import_module('control_msgs.action')
importlib.import_module('franka_msgs.action')

JOINTS = FR3_JOINTS
ACTION = '_arm_controller/follow_joint_trajectory'

# Each test gets fresh action names: the graph can still list the previous test's (shut down)
# servers for a moment, and a goal sent to those is lost.
_names = itertools.count()


@pytest.fixture
def ros(ros_domain_id):
    """A node for the fake robot and one for the clients, in two contexts, and a fresh name."""
    n = next(_names)
    with StandaloneRosNode(f'fake_robot_{n}', domain_id=ros_domain_id, threads=4) as robot, \
            StandaloneRosNode(f'backend_client_{n}', domain_id=ros_domain_id) as client:
        yield robot, client, f'/fake_{n}'


def ramp(duration=0.6, samples=13, joints=JOINTS):
    times = np.linspace(0.0, duration, samples)
    positions = np.outer(times / duration, np.linspace(0.1, 0.7, len(joints)))
    velocities = np.asarray(np.gradient(positions, times, axis=0))
    return JointTrajectory(times, joints, positions, velocities)


def test_trajectory_executes_with_feedback_and_goal_arrives_intact(ros):
    robot, client, prefix = ros
    fake = FakeTrajectoryController(robot.node, prefix + ACTION)
    config = TrajectoryControllerConfig(
        action_name=prefix + ACTION, goal_time_tolerance=0.25,
        path_tolerance=Tolerance(position=0.1),
        goal_tolerance={'fr3_joint7': Tolerance(position=0.01, velocity=0.05)})
    arm = FollowJointTrajectoryClient(client.node, config)
    trajectory = ramp()
    seen = []
    result = arm.execute(trajectory, feedback_callback=seen.append)
    assert result.succeeded, result.message
    assert result.status is ExecutionStatus.SUCCEEDED and result.error_code == 0

    goal = fake.goals[0]
    assert tuple(goal.trajectory.joint_names) == JOINTS
    np.testing.assert_allclose([list(p.positions) for p in goal.trajectory.points],
                               trajectory.positions)
    assert trajectory.velocities is not None
    np.testing.assert_allclose([list(p.velocities) for p in goal.trajectory.points],
                               trajectory.velocities)
    np.testing.assert_allclose(
        [duration_to_seconds(p.time_from_start) for p in goal.trajectory.points],
        trajectory.times, atol=1e-9)
    assert duration_to_seconds(goal.goal_time_tolerance) == pytest.approx(0.25)
    assert [(t.name, t.position) for t in goal.path_tolerance] == [(j, 0.1) for j in JOINTS]
    assert [(t.name, t.position, t.velocity) for t in goal.goal_tolerance] == [
        ('fr3_joint7', 0.01, 0.05)]
    # the multi-DOF component tolerances of the real goal stay empty: the arm has none
    assert list(goal.component_path_tolerance) == [] == list(goal.component_goal_tolerance)

    # feedback travels on its own topic: give the last ones a moment after the result
    deadline = time.monotonic() + 2.0
    while len(seen) < 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(seen) >= 5, seen
    assert seen[0].joint_names == JOINTS and seen[0].actual.shape == (7,)
    assert max(f.time_from_start for f in seen) > 0.5 * trajectory.duration
    assert fake.last_position is not None
    np.testing.assert_allclose(fake.last_position, trajectory.positions[-1], atol=1e-9)
    arm.destroy()


@pytest.mark.parametrize('fail, code, words', [
    ('path', -4, 'PATH_TOLERANCE_VIOLATED'),
    ('goal', -5, 'GOAL_TOLERANCE_VIOLATED'),
    ('joints', -2, 'INVALID_JOINTS'),
])
def test_controller_errors_map_to_readable_results(ros, fail, code, words):
    robot, client, prefix = ros
    fake = FakeTrajectoryController(robot.node, prefix + ACTION)
    arm = FollowJointTrajectoryClient(
        client.node, TrajectoryControllerConfig(action_name=prefix + ACTION))
    if fail == 'joints':
        trajectory = ramp(duration=0.2, samples=3, joints=tuple(f'panda_joint{i}'
                                                                 for i in range(1, 8)))
    else:
        fake.fail = fail
        trajectory = ramp(duration=0.3, samples=4)
    result = arm.execute(trajectory)
    assert not result.succeeded
    assert result.status is ExecutionStatus.ABORTED and result.error_code == code
    assert words in result.message and result.error_string in result.message
    with pytest.raises(TrajectoryExecutionError, match=words):
        result.raise_for_status()
    arm.destroy()


def test_joint_name_map_renames_goal_joints(ros):
    robot, client, prefix = ros
    fake = FakeTrajectoryController(robot.node, prefix + ACTION)
    panda = tuple(f'panda_joint{i}' for i in range(1, 8))
    arm = FollowJointTrajectoryClient(client.node, TrajectoryControllerConfig(
        action_name=prefix + ACTION, joint_name_map=dict(zip(panda, JOINTS))))
    assert arm.execute(ramp(duration=0.2, samples=3, joints=panda)).succeeded
    assert tuple(fake.goals[0].trajectory.joint_names) == JOINTS
    arm.destroy()


def test_cancel_midway_stops_the_controller(ros):
    robot, client, prefix = ros
    fake = FakeTrajectoryController(robot.node, prefix + ACTION)
    arm = FollowJointTrajectoryClient(
        client.node, TrajectoryControllerConfig(action_name=prefix + ACTION))
    trajectory = ramp(duration=3.0, samples=31)
    execution = arm.send(trajectory)
    assert execution.accepted
    deadline = time.monotonic() + 5.0
    while not execution.feedback and time.monotonic() < deadline:
        time.sleep(0.02)
    assert execution.feedback, 'no feedback before cancel'
    assert arm.cancel()
    result = execution.wait(timeout=5.0)
    assert result.status is ExecutionStatus.CANCELED and not result.succeeded
    assert 'canceled' in result.message
    assert fake.canceled.is_set()
    assert fake.last_position is not None
    # stopped well before the end of the 3 s ramp
    assert fake.last_position[-1] < 0.5 * trajectory.positions[-1, -1]
    assert not arm.cancel(), 'nothing left to cancel'
    arm.destroy()


def test_no_server_times_out_with_clear_error(ros):
    _, client, _ = ros
    arm = FollowJointTrajectoryClient(client.node, TrajectoryControllerConfig(
        action_name='/no_such_controller/follow_joint_trajectory', server_timeout=0.5))
    with pytest.raises(ActionServerTimeoutError, match='no_such_controller'):
        arm.execute(ramp())
    gripper = FrankaGripperClient(client.node, GripperConfig(namespace='/no_gripper',
                                                             server_timeout=0.5))
    with pytest.raises(ActionServerTimeoutError, match='/no_gripper/homing'):
        gripper.homing()
    arm.destroy()
    gripper.destroy()


def test_gripper_events_run_in_order_at_their_times(ros):
    robot, client, prefix = ros
    fake = FakeFrankaGripper(robot.node, prefix + '_gripper')
    gripper = FrankaGripperClient(client.node, GripperConfig(namespace=prefix + '_gripper'))
    gripper.wait_for_servers()
    assert gripper.homing().success
    events = (GripperEvent(0.6, GripperAction.OPEN, 0.08),
              GripperEvent(0.3, GripperAction.CLOSE, 0.03),
              GripperEvent(0.0, GripperAction.OPEN, 0.06))
    start = time.monotonic()
    results = gripper.execute_events(events, start_time=start)
    assert [(r.command, r.width) for r in results] == [
        (GripperCommand.MOVE, 0.06), (GripperCommand.GRASP, 0.03), (GripperCommand.MOVE, 0.08)]
    assert all(r.success for r in results)
    assert fake.calls == [('homing', None), ('move', 0.06), ('grasp', 0.03), ('move', 0.08)]
    # each goal reaches the server no earlier than its event's time (no wall-clock upper bound:
    # a loaded machine may run late, never early)
    arrivals = [t - start for t in fake.call_times[1:]]
    assert all(a >= e - 1e-3 for a, e in zip(arrivals, (0.0, 0.3, 0.6))), arrivals
    assert results[1].current_width == pytest.approx(0.03)
    assert results[2].current_width == pytest.approx(0.08)
    gripper.destroy()


def test_failed_grasp_is_reported(ros):
    robot, client, prefix = ros
    fake = FakeFrankaGripper(robot.node, prefix + '_gripper')
    fake.object_width = None  # nothing between the fingers: they close to 0
    gripper = FrankaGripperClient(client.node, GripperConfig(namespace=prefix + '_gripper'))
    result = gripper.grasp(0.03)
    assert not result.success and result.status is ExecutionStatus.ABORTED
    assert 'outside the grasp epsilon' in result.message and 'grasp to 0.0300 m' in result.message

    events = (GripperEvent(0.0, GripperAction.OPEN, 0.08),
              GripperEvent(0.05, GripperAction.CLOSE, 0.03),
              GripperEvent(0.1, GripperAction.OPEN, 0.08))
    fake.calls.clear()
    with pytest.raises(GripperCommandError, match='grasp to 0.0300 m failed') as error:
        gripper.execute_events(events)
    assert [r.command for r in error.value.completed] == [GripperCommand.MOVE]
    assert [c[0] for c in fake.calls] == ['move', 'grasp'], 'nothing runs after the failure'

    # a close event of width 0 (object width unknown) holds any object up to max_width
    fake.object_width = 0.05
    assert gripper.execute_event(GripperEvent(0.0, GripperAction.CLOSE, 0.0)).success
    with pytest.raises(ValueError, match='outside'):
        gripper.move(0.1)
    gripper.destroy()


def test_missing_controller_is_named_with_how_to_start_it(ros):
    _, client, _ = ros
    arm = FollowJointTrajectoryClient(client.node, TrajectoryControllerConfig(
        action_name='/r1/fr3_arm_controller/follow_joint_trajectory', server_timeout=0.3))
    with pytest.raises(ActionServerTimeoutError) as error:
        arm.execute(ramp())
    text = str(error.value)
    assert "controller 'fr3_arm_controller' is not running" in text
    assert 'franka_fr3_moveit_config moveit.launch.py' in text
    assert 'spawner fr3_arm_controller' in text
    gripper = FrankaGripperClient(client.node, GripperConfig(namespace='/r1/franka_gripper',
                                                             server_timeout=0.3))
    with pytest.raises(ActionServerTimeoutError, match='gripper.launch.py') as error:
        gripper.wait_for_servers()
    assert '/r1/franka_gripper/homing' in str(error.value)
    arm.destroy()
    gripper.destroy()


def test_gripper_actions_default_to_franka_ros2s_names(ros):
    """franka_ros2 >= 0.1.15 serves the gripper as node `franka_gripper`."""
    robot, client, _ = ros
    assert DEFAULT_GRIPPER_NAMESPACE == '/franka_gripper' == GripperConfig().namespace
    fake = FakeFrankaGripper(robot.node, '/franka_gripper')
    gripper = FrankaGripperClient(client.node)
    gripper.wait_for_servers()
    assert gripper.move(0.05).success
    assert fake.calls == [('move', 0.05)]
    gripper.destroy()


def test_missing_interface_package_is_named():
    with pytest.raises(MissingInterfaceError, match="'no_such_msgs'"):
        import_interface('no_such_msgs', 'action')
    assert 'OLD_HEADER_TIMESTAMP' in describe_error_code(-3)
    assert 'not a documented' in describe_error_code(-42, 'vendor code')
