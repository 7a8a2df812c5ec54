"""Ros2ControlExecutor (the Executor of lvp_exec.execution) against the fake ros2_control servers.

The fake joint_trajectory_controller (publishing its JointState like joint_state_broadcaster)
and franka_gripper of test/ros_helpers.py run in an rclpy context of their own; the executor
talks to them over loopback with real actions and topics.
"""

from __future__ import annotations

import importlib
import itertools
import time
from dataclasses import dataclass

import numpy as np
import pytest
from lvp_common.artifacts import GripperAction, GripperEvent, JointTrajectory
from lvp_exec.execution import ExecutionError, ExecutionRequest, ExecutionStoppedError
from lvp_exec.franka_gripper_client import GripperCommandError, GripperConfig
from lvp_exec.ros2_control_backend import (
    PANDA_TO_FR3,
    ControllerUnavailableError,
    Ros2ControlExecutionResult,
    Ros2ControlExecutor,
    Ros2ControlExecutorConfig,
    StartStateMismatchError,
)
from lvp_exec.ros_action_client import StandaloneRosNode
from lvp_exec.trajectory_client import TrajectoryControllerConfig, TrajectoryExecutionError
from ros_helpers import FakeFrankaGripper, FakeTrajectoryController

pytestmark = pytest.mark.ros

importlib.import_module('control_msgs.action')  # the test/fixtures interfaces must be built
importlib.import_module('franka_msgs.action')

PANDA = tuple(PANDA_TO_FR3)
START = np.array([0.0, -0.3, 0.0, -2.2, 0.0, 1.9, 0.8])
_names = itertools.count(100)


@dataclass
class Arm:
    """The part of lvp_exec.robots.RobotModel an executor reads."""

    joint_names: tuple[str, ...] = PANDA


def ramp(duration: float = 0.6, samples: int = 13) -> JointTrajectory:
    """Panda joints from START, every joint moving by up to 0.3 rad."""
    times = np.linspace(0.0, duration, samples)
    s = 0.5 - 0.5 * np.cos(np.pi * times / duration)
    positions = START + np.outer(s, np.linspace(0.05, 0.3, 7))
    return JointTrajectory(times, PANDA, positions,
                           np.asarray(np.gradient(positions, times, axis=0)))


@pytest.fixture
def robot_and_client(ros_domain_id):
    """A fake Franka (controller + joint states + gripper) and a client node; fresh names."""
    n = next(_names)
    prefix = f'/fake_{n}'
    with StandaloneRosNode(f'fake_franka_{n}', domain_id=ros_domain_id, threads=4) as robot, \
            StandaloneRosNode(f'executor_client_{n}', domain_id=ros_domain_id,
                              threads=2) as client:
        controller = FakeTrajectoryController(
            robot.node, f'{prefix}/arm_controller/follow_joint_trajectory',
            joint_states_topic=f'{prefix}/joint_states', initial=START)
        gripper = FakeFrankaGripper(robot.node, f'{prefix}/gripper')
        config = Ros2ControlExecutorConfig(
            controller=TrajectoryControllerConfig(
                action_name=f'{prefix}/arm_controller/follow_joint_trajectory',
                joint_name_map=PANDA_TO_FR3),
            gripper=GripperConfig(namespace=f'{prefix}/gripper'),
            joint_states_topic=f'{prefix}/joint_states')
        executor = Ros2ControlExecutor(client.node, config)
        yield executor, controller, gripper, config
        executor.close()


def test_start_positions_come_from_joint_states(robot_and_client):
    executor, _controller, _gripper, _ = robot_and_client
    np.testing.assert_allclose(executor.start_positions(Arm()), START)
    assert executor.name == 'ros2_control'


def test_full_run_with_gripper_events_at_their_times(robot_and_client):
    executor, controller, gripper, _ = robot_and_client
    trajectory = ramp(duration=0.8, samples=17)
    events = (GripperEvent(0.5, GripperAction.CLOSE, 0.03),
              GripperEvent(0.0, GripperAction.OPEN, 0.08),
              GripperEvent(0.9, GripperAction.OPEN, 0.08))  # after the arm's end
    result = executor.execute(ExecutionRequest(Arm(), trajectory, events))
    assert isinstance(result, Ros2ControlExecutionResult)
    assert result.trajectory.succeeded, result.trajectory.message
    assert [(r.command.value, r.width) for r in result.gripper] == [
        ('move', 0.08), ('grasp', 0.03), ('move', 0.08)]
    assert gripper.calls == [('move', 0.08), ('grasp', 0.03), ('move', 0.08)]
    # each action starts at its trajectory time (the controller's clock), not before
    assert controller.start_time is not None
    offsets = np.array(gripper.call_times) - controller.start_time
    # (no upper bound: a loaded machine may start an action late, and the third waits for the
    # grasp to finish; the order is checked above)
    assert np.all(offsets >= np.array([0.0, 0.5, 0.9]) - 0.05), offsets
    assert result.duration >= 0.9
    goal = controller.goals[0]
    assert tuple(goal.trajectory.joint_names) == tuple(PANDA_TO_FR3.values())
    np.testing.assert_allclose(controller.last_position, trajectory.positions[-1], atol=1e-9)
    executed = result.executed()
    assert executed is not None and executed.positions.shape[1] == 7
    # each reported position is the trajectory at its reported time (controller joint order =
    # panda order here); the result can overtake the last feedback messages, so the last one
    # reported need not be the end
    planned = np.array([[np.interp(t, trajectory.times, trajectory.positions[:, j])
                         for j in range(7)] for t in executed.times])
    np.testing.assert_allclose(executed.positions, planned, atol=1e-6)
    assert len(executed.times) >= 2


def test_stop_midway_cancels_the_controller_and_gripper_goals(robot_and_client):
    executor, controller, gripper, _ = robot_and_client
    gripper.travel_time = 3.0  # a grasp still closing when the stop comes
    trajectory = ramp(duration=3.0, samples=31)
    events = (GripperEvent(0.1, GripperAction.CLOSE, 0.03),
              GripperEvent(2.5, GripperAction.OPEN, 0.08))
    polls = []

    def should_stop() -> bool:
        # 0.6 s into the motion (the start-state read and goal set-up before it take a
        # load-dependent time)
        polls.append(time.monotonic())
        start = controller.start_time
        return controller.started.is_set() and start is not None and \
            time.monotonic() - start > 0.6

    with pytest.raises(ExecutionStoppedError, match='stopped on request') as stopped:
        executor.execute(ExecutionRequest(Arm(), trajectory, events, should_stop=should_stop))
    assert 'canceled the goal' in str(stopped.value)
    # stopped inside the 3 s motion (how soon after 0.6 s depends on the machine's load)
    assert stopped.value.stopped_at is not None and 0.2 < stopped.value.stopped_at < 2.5
    assert controller.canceled.is_set()
    assert gripper.canceled.wait(3.0), 'the grasp in progress was not canceled'
    assert [c[0] for c in gripper.calls] == ['grasp'], 'an event after the stop ran'
    assert controller.last_position is not None
    moved = controller.last_position - START
    assert np.all(moved < 0.9 * (trajectory.positions[-1] - START) + 1e-9)
    # polled while moving, not once (how often depends on the machine's load)
    assert sum(p >= controller.start_time for p in polls) >= 2


@pytest.mark.parametrize('fail, words', [('path', 'PATH_TOLERANCE_VIOLATED'),
                                         ('goal', 'GOAL_TOLERANCE_VIOLATED')])
def test_controller_abort_raises_execution_error(robot_and_client, fail, words):
    executor, controller, _gripper, _ = robot_and_client
    controller.fail = fail
    with pytest.raises(TrajectoryExecutionError, match=words) as error:
        executor.execute(ExecutionRequest(Arm(), ramp(duration=0.4, samples=9)))
    assert isinstance(error.value, ExecutionError)
    assert error.value.result.error_code in (-4, -5)


def test_failed_grasp_cancels_the_arm(robot_and_client):
    executor, controller, gripper, _ = robot_and_client
    gripper.object_width = None  # nothing between the fingers
    events = (GripperEvent(0.1, GripperAction.CLOSE, 0.03),)
    with pytest.raises(GripperCommandError, match='grasp to 0.0300 m failed'):
        executor.execute(ExecutionRequest(Arm(), ramp(duration=3.0, samples=31), events))
    assert controller.canceled.is_set()


def test_arm_away_from_the_trajectory_start_sends_nothing(robot_and_client):
    executor, controller, _gripper, _ = robot_and_client
    trajectory = ramp()
    moved = trajectory.positions.copy()
    moved[:, 3] += 0.2
    with pytest.raises(StartStateMismatchError, match='panda_joint4 is at -2.2000 rad'):
        executor.execute(ExecutionRequest(Arm(), JointTrajectory(trajectory.times, PANDA,
                                                                 moved)))
    assert controller.goals == []


def test_missing_servers_and_joint_states_are_named(ros_domain_id):
    n = next(_names)
    with StandaloneRosNode(f'lonely_client_{n}', domain_id=ros_domain_id) as client:
        config = Ros2ControlExecutorConfig(
            controller=TrajectoryControllerConfig(
                action_name='/no_such_controller/follow_joint_trajectory', server_timeout=0.3),
            gripper=GripperConfig(namespace='/no_gripper', server_timeout=0.3),
            joint_states_topic=f'/no_joint_states_{n}', joint_states_timeout=0.3)
        executor = Ros2ControlExecutor(client.node, config)
        with pytest.raises(ControllerUnavailableError, match=f"'/no_joint_states_{n}'"):
            executor.start_positions(Arm())
        with pytest.raises(ControllerUnavailableError, match='no_such_controller'):
            executor.execute(ExecutionRequest(Arm(), ramp()))
        with pytest.raises(ExecutionError, match='dexterous'):
            from lvp_common.artifacts import HandCommands

            commands = HandCommands(np.zeros(1), (), np.zeros((1, 0)), ('a',), np.zeros((1, 1)),
                                    np.zeros((1, 1), dtype=int))
            executor.execute(ExecutionRequest(Arm(), ramp(), hand_commands=commands))
        executor.close()


def test_joint_states_without_the_arm_joints_are_reported(robot_and_client):
    executor, _controller, _gripper, config = robot_and_client
    renamed = Ros2ControlExecutor(executor._node, Ros2ControlExecutorConfig(
        controller=TrajectoryControllerConfig(action_name=config.controller.action_name),
        gripper=None, joint_states_topic=config.joint_states_topic, joint_states_timeout=0.5))
    with pytest.raises(ControllerUnavailableError, match='lack joints') as error:
        renamed.start_positions(Arm())
    assert 'fr3_joint1' in str(error.value)
    renamed.close()
