"""The arm's FollowJointTrajectory client: `FollowJointTrajectoryClient` sends a
`JointTrajectory` to a joint_trajectory_controller (e.g. franka_ros2's `fr3_arm_controller`),
with tolerances, and reports the controller's result and feedback. control_msgs is imported
when the client is built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import JointTrajectory
from lvp_common.ros.conversions import (
    duration_to_seconds,
    joint_trajectory_to_msg,
    seconds_to_duration,
)
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from lvp_exec.execution import ExecutionError
from lvp_exec.ros_action_client import (
    ActionServerTimeoutError,
    ExecutionStatus,
    execution_status,
    import_interface,
    wait_for,
)

DEFAULT_ARM_ACTION = '/fr3_arm_controller/follow_joint_trajectory'
"""franka_ros2's JointTrajectoryController of the FR3 (franka_fr3_moveit_config)."""


class TrajectoryExecutionError(ExecutionError):
    """The controller rejected, aborted or canceled a trajectory; `result` says why."""

    def __init__(self, result: TrajectoryExecutionResult) -> None:
        super().__init__(result.message)
        self.result = result


@dataclass(frozen=True)
class Tolerance:
    """Allowed deviation of a joint from its setpoint (rad, rad/s, rad/s^2).

    0: the controller's configured default; -1: no limit (control_msgs/JointTolerance).
    """

    position: float = 0.0
    velocity: float = 0.0
    acceleration: float = 0.0


ToleranceSpec = Tolerance | Mapping[str, Tolerance] | None
"""One Tolerance for every joint of the trajectory, one per joint name, or None (defaults)."""


@dataclass(frozen=True)
class TrajectoryControllerConfig:
    """Where the joint trajectory controller is and how strict the goal is."""

    action_name: str = DEFAULT_ARM_ACTION
    server_timeout: float = 5.0
    """s to wait for the action server before ActionServerTimeoutError."""
    response_timeout: float = 5.0
    """s to wait for the controller to accept a goal or a cancel request."""
    goal_time_tolerance: float = 0.5
    """s after the last point's time_from_start within which the goal tolerance must be met
    (0: the controller's default)."""
    path_tolerance: ToleranceSpec = None
    """Checked while moving; a violation aborts with PATH_TOLERANCE_VIOLATED."""
    goal_tolerance: ToleranceSpec = None
    """Checked at the end; a violation aborts with GOAL_TOLERANCE_VIOLATED."""
    result_margin: float = 10.0
    """s beyond duration + goal_time_tolerance to wait for the result before canceling."""
    joint_name_map: Mapping[str, str] = field(default_factory=dict)
    """Model joint name -> the controller's (e.g. panda_joint1 -> fr3_joint1); others kept."""


_ERROR_TEXT = {
    0: 'SUCCESSFUL',
    -1: 'INVALID_GOAL: the controller refused the trajectory (empty, times not increasing, '
        'or point sizes that do not match the joint names)',
    -2: 'INVALID_JOINTS: the trajectory names joints this controller does not command',
    -3: 'OLD_HEADER_TIMESTAMP: the trajectory header stamp lies in the past',
    -4: 'PATH_TOLERANCE_VIOLATED: a joint left its path tolerance while moving; the '
        'controller stopped the arm',
    -5: 'GOAL_TOLERANCE_VIOLATED: the arm did not settle within the goal tolerance by the '
        'end time + goal_time_tolerance',
}


def describe_error_code(error_code: int, error_string: str = '') -> str:
    """Return readable text for a FollowJointTrajectory result error code."""
    text = _ERROR_TEXT.get(error_code, f'error code {error_code} (not a documented '
                                       'FollowJointTrajectory code)')
    return f'{text}: {error_string}' if error_string else text


@dataclass(frozen=True)
class TrajectoryExecutionResult:
    """How a trajectory goal ended: the goal status and the controller's error code/string."""

    status: ExecutionStatus
    error_code: int
    error_string: str
    message: str

    @property
    def succeeded(self) -> bool:
        return self.status is ExecutionStatus.SUCCEEDED and self.error_code == 0

    def raise_for_status(self) -> None:
        """Raise TrajectoryExecutionError unless the trajectory succeeded."""
        if not self.succeeded:
            raise TrajectoryExecutionError(self)


@dataclass(frozen=True)
class TrajectoryFeedback:
    """One controller feedback: positions (rad) of `joint_names` at the desired point's time."""

    joint_names: tuple[str, ...]
    time_from_start: float
    desired: np.ndarray
    actual: np.ndarray
    error: np.ndarray


def _feedback_from_msg(msg: Any) -> TrajectoryFeedback:
    return TrajectoryFeedback(
        joint_names=tuple(msg.joint_names),
        time_from_start=duration_to_seconds(msg.desired.time_from_start),
        desired=np.asarray(msg.desired.positions, dtype=np.float64),
        actual=np.asarray(msg.actual.positions, dtype=np.float64),
        error=np.asarray(msg.error.positions, dtype=np.float64))


class TrajectoryExecution:
    """One trajectory goal the controller accepted (or rejected): wait for it, or cancel it."""

    def __init__(self, goal_handle: ClientGoalHandle | None, result_timeout: float,
                 response_timeout: float,
                 rejected: TrajectoryExecutionResult | None = None) -> None:
        self._goal_handle = goal_handle
        self._result_timeout = result_timeout
        self._response_timeout = response_timeout
        self._result = rejected
        self._result_future = goal_handle.get_result_async() if goal_handle else None
        self.feedback: list[TrajectoryFeedback] = []

    @property
    def accepted(self) -> bool:
        return self._goal_handle is not None

    def done(self) -> bool:
        return self._result_future is None or self._result_future.done()

    def wait(self, timeout: float | None = None) -> TrajectoryExecutionResult:
        """Block until the goal ends; on timeout (default: the trajectory's duration + margins)
        cancel it, which stops the arm, and raise TimeoutError."""
        if self._result is not None or self._result_future is None:
            assert self._result is not None
            return self._result
        timeout = self._result_timeout if timeout is None else timeout
        try:
            response = wait_for(self._result_future, timeout, 'FollowJointTrajectory result')
        except TimeoutError:
            self.cancel()
            raise
        status = execution_status(response.status)
        code, text = int(response.result.error_code), str(response.result.error_string)
        if status is ExecutionStatus.CANCELED:
            message = f'trajectory canceled{": " + text if text else ""}'
        elif status is ExecutionStatus.SUCCEEDED and code == 0:
            message = 'trajectory executed'
        else:
            message = f'trajectory {status.value}: {describe_error_code(code, text)}'
        self._result = TrajectoryExecutionResult(status, code, text, message)
        return self._result

    def cancel(self) -> bool:
        """Ask the controller to cancel the goal (it stops the arm); True if it agreed."""
        if self._goal_handle is None or self.done():
            return False
        response = wait_for(self._goal_handle.cancel_goal_async(), self._response_timeout,
                         'FollowJointTrajectory cancel')
        return bool(response.goals_canceling)


def _tolerances(spec: ToleranceSpec, joint_names: tuple[str, ...], msg_type: Any) -> list:
    if spec is None:
        return []
    if isinstance(spec, Tolerance):
        per_joint = {name: spec for name in joint_names}
    else:
        unknown = set(spec) - set(joint_names)
        if unknown:
            raise ValueError(f'tolerances for joints {sorted(unknown)} that the trajectory '
                             f'does not contain ({list(joint_names)})')
        per_joint = dict(spec)
    return [msg_type(name=name, position=float(t.position), velocity=float(t.velocity),
                     acceleration=float(t.acceleration)) for name, t in per_joint.items()]


class FollowJointTrajectoryClient:
    """Execute joint trajectories on a ros2_control joint_trajectory_controller.

    The node must be spun by an executor on another thread (see the module docstring).
    """

    def __init__(self, node: Node,
                 config: TrajectoryControllerConfig | None = None) -> None:
        self.config = config or TrajectoryControllerConfig()
        self._action = import_interface('control_msgs', 'action').FollowJointTrajectory
        self._tolerance_msg = import_interface('control_msgs', 'msg').JointTolerance
        self._client = ActionClient(node, self._action, self.config.action_name,
                                    callback_group=ReentrantCallbackGroup())
        self._active: TrajectoryExecution | None = None

    def wait_for_server(self, timeout: float | None = None) -> None:
        """Raise ActionServerTimeoutError, naming the controller and how to start it, unless
        the controller's action appears in time."""
        timeout = self.config.server_timeout if timeout is None else timeout
        if self._client.wait_for_server(timeout_sec=timeout):
            return
        action = self.config.action_name
        parts = action.strip('/').split('/')  # <namespace>/<controller>/follow_joint_trajectory
        controller = parts[-2] if len(parts) > 1 else action
        raise ActionServerTimeoutError(
            f'no control_msgs/FollowJointTrajectory action server at {action!r} after '
            f'{timeout:.1f} s: the joint trajectory controller {controller!r} is not running '
            '(or not in this ROS_DOMAIN_ID). franka_ros2\'s franka_bringup franka.launch.py '
            'starts only state broadcasters; start the controller with `ros2 launch '
            'franka_fr3_moveit_config moveit.launch.py robot_ip:=<ip>` (it spawns '
            f'fr3_arm_controller), or load it into the running controller_manager with `ros2 '
            f'run controller_manager spawner {controller}` (its type and joints in the '
            'controller_manager\'s parameters); `ros2 control list_controllers` shows what runs')

    def build_goal(self, trajectory: JointTrajectory) -> Any:
        """Return the FollowJointTrajectory goal for `trajectory` (header stamp 0: start now)."""
        if len(trajectory.times) == 0:
            raise ValueError('cannot execute an empty JointTrajectory')
        if not np.all(np.isfinite(trajectory.positions)):
            raise ValueError('JointTrajectory.positions contain NaN or inf')
        names = self.config.joint_name_map
        if names:
            trajectory = replace(trajectory, joint_names=tuple(
                names.get(name, name) for name in trajectory.joint_names))
        goal = self._action.Goal()
        goal.trajectory = joint_trajectory_to_msg(trajectory)
        goal.path_tolerance = _tolerances(self.config.path_tolerance, trajectory.joint_names,
                                          self._tolerance_msg)
        goal.goal_tolerance = _tolerances(self.config.goal_tolerance, trajectory.joint_names,
                                          self._tolerance_msg)
        goal.goal_time_tolerance = seconds_to_duration(self.config.goal_time_tolerance)
        return goal

    def send(self, trajectory: JointTrajectory,
             feedback_callback: Callable[[TrajectoryFeedback], None] | None = None
             ) -> TrajectoryExecution:
        """Send `trajectory` and return once the controller accepted or rejected it."""
        goal = self.build_goal(trajectory)
        self.wait_for_server()
        feedback: list[TrajectoryFeedback] = []

        def on_feedback(message: Any) -> None:
            item = _feedback_from_msg(message.feedback)
            feedback.append(item)
            if feedback_callback is not None:
                feedback_callback(item)

        handle = wait_for(self._client.send_goal_async(goal, feedback_callback=on_feedback),
                       self.config.response_timeout, f'goal to {self.config.action_name}')
        result_timeout = (trajectory.duration + self.config.goal_time_tolerance
                          + self.config.result_margin)
        if handle is None or not handle.accepted:
            rejected = TrajectoryExecutionResult(
                ExecutionStatus.REJECTED, -1, '',
                f'{self.config.action_name} rejected the goal (a joint_trajectory_controller '
                'rejects unknown joints, malformed trajectories, and goals while inactive)')
            execution = TrajectoryExecution(None, result_timeout,
                                            self.config.response_timeout, rejected)
        else:
            execution = TrajectoryExecution(handle, result_timeout,
                                            self.config.response_timeout)
        execution.feedback = feedback
        self._active = execution
        return execution

    def execute(self, trajectory: JointTrajectory,
                feedback_callback: Callable[[TrajectoryFeedback], None] | None = None,
                timeout: float | None = None) -> TrajectoryExecutionResult:
        """Send `trajectory` and block until the controller reports how it ended."""
        return self.send(trajectory, feedback_callback).wait(timeout)

    def cancel(self) -> bool:
        """Cancel the goal in progress, if any (the controller stops the arm)."""
        return self._active.cancel() if self._active is not None else False

    def destroy(self) -> None:
        self._client.destroy()
