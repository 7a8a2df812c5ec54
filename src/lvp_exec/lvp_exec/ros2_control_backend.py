"""ros2_control execution backend: the arm's FollowJointTrajectory action and the Franka gripper.

`FollowJointTrajectoryClient` sends a `JointTrajectory` to a joint_trajectory_controller (e.g.
franka_ros2's `fr3_arm_controller`) and reports the controller's result; `FrankaGripperClient`
drives franka_gripper's Homing / Move / Grasp actions and plays `GripperEvent`s at their times.

Threading: both clients block the calling thread while a goal runs and need the node they are
built on to be spun by an executor on *another* thread. Two ways to have that:
- from plain code: `with StandaloneRosNode(...) as ros:` gives a node in an rclpy context of
  its own, spun on a background thread; build the clients on `ros.node`;
- from a node of your own: spin it with a `MultiThreadedExecutor` and call the blocking methods
  from a thread or a callback group other than the clients' (each client uses its own
  reentrant group); with a `SingleThreadedExecutor`, calling them from a callback deadlocks.

control_msgs and franka_msgs are imported when a client is built, so that the ROS-free parts
of lvp_exec never need them; they come with every ros2_control / franka_ros2 install.
"""

from __future__ import annotations

import enum
import importlib
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import rclpy
from action_msgs.msg import GoalStatus
from lvp_common.artifacts import GripperAction, GripperEvent, JointTrajectory
from lvp_common.ros_conversions import (
    duration_to_seconds,
    joint_trajectory_to_msg,
    seconds_to_duration,
)
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.context import Context
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.node import Node
from rclpy.task import Future

DEFAULT_ARM_ACTION = '/fr3_arm_controller/follow_joint_trajectory'
DEFAULT_GRIPPER_NAMESPACE = '/fr3_gripper'

_INSTALL_HINT = {
    'control_msgs': 'install ros-$ROS_DISTRO-control-msgs (part of ros2_control) and source it',
    'franka_msgs': 'build franka_ros2 (it provides franka_msgs) and source its workspace',
}


class MissingInterfaceError(ImportError):
    """A ROS interface package the backend needs is not installed or not sourced."""


class ActionServerTimeoutError(TimeoutError):
    """No action server answered under the configured name in time."""


class TrajectoryExecutionError(RuntimeError):
    """The controller rejected, aborted or canceled a trajectory; `result` says why."""

    def __init__(self, result: TrajectoryExecutionResult) -> None:
        super().__init__(result.message)
        self.result = result


class GripperCommandError(RuntimeError):
    """A gripper action failed; `result` is the failed one, `completed` the ones before it."""

    def __init__(self, result: GripperResult,
                 completed: tuple[GripperResult, ...] = ()) -> None:
        super().__init__(result.message)
        self.result = result
        self.completed = completed


def import_interface(package: str, kind: str) -> Any:
    """Import `package.kind` (e.g. control_msgs.action), naming the package if it is missing."""
    try:
        return importlib.import_module(f'{package}.{kind}')
    except ImportError as exc:
        hint = _INSTALL_HINT.get(package, f'install and source {package}')
        raise MissingInterfaceError(
            f'the ros2_control backend needs the ROS package {package!r} ({package}.{kind} '
            f'could not be imported: {exc}); {hint}') from exc


# ---------------------------------------------------------------- rclpy plumbing


class StandaloneRosNode:
    """An rclpy node in a context of its own, spun by an executor on a background thread.

    For using the clients from plain code: `with StandaloneRosNode('lvp_exec') as ros:
    FollowJointTrajectoryClient(ros.node).execute(trajectory)`. `threads` > 1 uses a
    MultiThreadedExecutor (action servers whose execute callbacks block need it).
    """

    def __init__(self, name: str = 'lvp_exec_backend', domain_id: int | None = None,
                 args: list[str] | None = None, threads: int = 1) -> None:
        self.context = Context()
        rclpy.init(args=args, context=self.context, domain_id=domain_id)
        try:
            self.node = rclpy.create_node(name, context=self.context)
        except BaseException:
            self.context.try_shutdown()
            raise
        self._executor = (MultiThreadedExecutor(num_threads=threads, context=self.context)
                          if threads > 1 else SingleThreadedExecutor(context=self.context))
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=f'{name}_spin', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except ExternalShutdownException:
                break
            except Exception as exc:  # one failing callback must not stop the spinning
                self.node.get_logger().error(f'callback raised {exc!r}')

    def close(self) -> None:
        """Stop spinning, destroy the node and shut the context down."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.context.try_shutdown()

    def __enter__(self) -> StandaloneRosNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait(future: Future, timeout: float | None, what: str) -> Any:
    """Block until `future` is done (another thread spins its node) and return its result."""
    done = threading.Event()
    if not future.done():
        future.add_done_callback(lambda _future: done.set())
        if not future.done() and not done.wait(timeout):
            raise TimeoutError(
                f'{what}: no answer after {timeout:.1f} s (is the node spun by an executor on '
                'another thread? see lvp_exec.ros2_control_backend)')
    return future.result()


def _connect(client: ActionClient, name: str, type_name: str, timeout: float) -> None:
    if not client.wait_for_server(timeout_sec=timeout):
        raise ActionServerTimeoutError(
            f'no {type_name} action server at {name!r} after {timeout:.1f} s; is the '
            'controller / gripper node running (and in this ROS_DOMAIN_ID)?')


class ExecutionStatus(str, enum.Enum):
    SUCCEEDED = 'succeeded'
    ABORTED = 'aborted'
    CANCELED = 'canceled'
    REJECTED = 'rejected'


_STATUS = {GoalStatus.STATUS_SUCCEEDED: ExecutionStatus.SUCCEEDED,
           GoalStatus.STATUS_CANCELED: ExecutionStatus.CANCELED,
           GoalStatus.STATUS_ABORTED: ExecutionStatus.ABORTED}


def _status(goal_status: int) -> ExecutionStatus:
    return _STATUS.get(goal_status, ExecutionStatus.ABORTED)


# ---------------------------------------------------------------- arm


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
            response = _wait(self._result_future, timeout, 'FollowJointTrajectory result')
        except TimeoutError:
            self.cancel()
            raise
        status = _status(response.status)
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
        response = _wait(self._goal_handle.cancel_goal_async(), self._response_timeout,
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
        """Raise ActionServerTimeoutError unless the controller's action appears in time."""
        _connect(self._client, self.config.action_name, 'control_msgs/FollowJointTrajectory',
                 self.config.server_timeout if timeout is None else timeout)

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

        handle = _wait(self._client.send_goal_async(goal, feedback_callback=on_feedback),
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


# ---------------------------------------------------------------- gripper


@dataclass(frozen=True)
class GripperConfig:
    """franka_gripper's actions and how `GripperEvent`s become goals (m, m/s, N)."""

    namespace: str = DEFAULT_GRIPPER_NAMESPACE
    server_timeout: float = 5.0
    action_timeout: float = 15.0
    """s to wait for one Homing / Move / Grasp result."""
    max_width: float = 0.08
    """Franka Hand's largest opening; wider commands are refused."""
    move_speed: float = 0.1
    grasp_speed: float = 0.05
    grasp_force: float = 30.0
    epsilon_inner: float = 0.005
    """How much narrower than commanded the grasped width may be."""
    epsilon_outer: float = 0.005
    """How much wider than commanded it may be. A close event of width 0 (object width
    unknown) uses `max_width` instead: any object the fingers stop on counts as held."""


class GripperCommand(str, enum.Enum):
    HOMING = 'homing'
    MOVE = 'move'
    GRASP = 'grasp'


@dataclass(frozen=True)
class GripperResult:
    """How one gripper action ended; `current_width` is the last feedback width (m) or NaN."""

    command: GripperCommand
    width: float
    success: bool
    error: str
    status: ExecutionStatus
    current_width: float = math.nan

    @property
    def message(self) -> str:
        target = '' if self.command is GripperCommand.HOMING else f' to {self.width:.4f} m'
        if self.success:
            return f'gripper {self.command.value}{target} succeeded'
        return (f'gripper {self.command.value}{target} failed ({self.status.value})'
                f'{": " + self.error if self.error else ""}')


class FrankaGripperClient:
    """franka_gripper's Homing, Move and Grasp actions under `config.namespace`.

    The node must be spun by an executor on another thread (see the module docstring).
    """

    def __init__(self, node: Node, config: GripperConfig | None = None) -> None:
        self.config = config or GripperConfig()
        actions = import_interface('franka_msgs', 'action')
        self._epsilon = import_interface('franka_msgs', 'msg').GraspEpsilon
        self._types = {GripperCommand.HOMING: actions.Homing, GripperCommand.MOVE: actions.Move,
                       GripperCommand.GRASP: actions.Grasp}
        group = ReentrantCallbackGroup()
        namespace = self.config.namespace.rstrip('/')
        self._names = {command: f'{namespace}/{command.value}' for command in GripperCommand}
        self._clients = {command: ActionClient(node, self._types[command], self._names[command],
                                               callback_group=group)
                         for command in GripperCommand}
        self._active: ClientGoalHandle | None = None

    def wait_for_servers(self, timeout: float | None = None) -> None:
        """Raise ActionServerTimeoutError unless all three gripper actions appear in time."""
        deadline = time.monotonic() + (self.config.server_timeout if timeout is None
                                       else timeout)
        for command, client in self._clients.items():
            _connect(client, self._names[command], f'franka_msgs/{command.value.capitalize()}',
                     max(deadline - time.monotonic(), 0.0))

    def homing(self) -> GripperResult:
        return self._call(GripperCommand.HOMING, self._types[GripperCommand.HOMING].Goal(),
                          math.nan)

    def move(self, width: float, speed: float | None = None) -> GripperResult:
        """Move the fingers to `width` (m) without force control."""
        goal = self._types[GripperCommand.MOVE].Goal(
            width=self._check_width(width),
            speed=float(self.config.move_speed if speed is None else speed))
        return self._call(GripperCommand.MOVE, goal, width)

    def grasp(self, width: float, force: float | None = None, speed: float | None = None,
              epsilon_inner: float | None = None,
              epsilon_outer: float | None = None) -> GripperResult:
        """Close on an object of `width` (m) with `force` (N); fails if the fingers stop
        outside [width - epsilon_inner, width + epsilon_outer]."""
        cfg = self.config
        goal = self._types[GripperCommand.GRASP].Goal(
            width=self._check_width(width),
            epsilon=self._epsilon(
                inner=float(cfg.epsilon_inner if epsilon_inner is None else epsilon_inner),
                outer=float(cfg.epsilon_outer if epsilon_outer is None else epsilon_outer)),
            speed=float(cfg.grasp_speed if speed is None else speed),
            force=float(cfg.grasp_force if force is None else force))
        return self._call(GripperCommand.GRASP, goal, width)

    def execute_event(self, event: GripperEvent) -> GripperResult:
        """close -> Grasp at the event's width; open -> Move to it."""
        if event.action is GripperAction.CLOSE:
            outer = self.config.max_width if event.width == 0.0 else None
            return self.grasp(event.width, epsilon_outer=outer)
        return self.move(event.width)

    def execute_events(self, events: Iterable[GripperEvent], start_time: float | None = None
                       ) -> tuple[GripperResult, ...]:
        """Run `events` in time order, each at `start_time` + event.time (time.monotonic s;
        default now), after the previous one finished; raise GripperCommandError on the
        first failure, with the results so far."""
        start = time.monotonic() if start_time is None else start_time
        results: list[GripperResult] = []
        for event in sorted(events, key=lambda e: e.time):
            delay = start + event.time - time.monotonic()
            if delay > 0.0:
                time.sleep(delay)
            result = self.execute_event(event)
            if not result.success:
                raise GripperCommandError(result, tuple(results))
            results.append(result)
        return tuple(results)

    def cancel(self) -> bool:
        """Cancel the gripper goal in progress, if any."""
        handle = self._active
        if handle is None:
            return False
        response = _wait(handle.cancel_goal_async(), self.config.server_timeout,
                         'gripper cancel')
        return bool(response.goals_canceling)

    def destroy(self) -> None:
        for client in self._clients.values():
            client.destroy()

    def _check_width(self, width: float) -> float:
        if not (0.0 <= width <= self.config.max_width):
            raise ValueError(f'gripper width {width} m outside [0, {self.config.max_width}] m')
        return float(width)

    def _call(self, command: GripperCommand, goal: Any, width: float) -> GripperResult:
        client, name = self._clients[command], self._names[command]
        _connect(client, name, f'franka_msgs/{command.value.capitalize()}',
                 self.config.server_timeout)
        widths: list[float] = []
        handle = _wait(client.send_goal_async(
            goal, feedback_callback=lambda m: widths.append(float(m.feedback.current_width))),
            self.config.server_timeout, f'goal to {name}')
        if handle is None or not handle.accepted:
            return GripperResult(command, width, False, f'{name} rejected the goal',
                                 ExecutionStatus.REJECTED)
        self._active = handle
        try:
            response = _wait(handle.get_result_async(), self.config.action_timeout,
                             f'{name} result')
        finally:
            self._active = None
        status = _status(response.status)
        return GripperResult(command, width,
                             bool(response.result.success) and status is
                             ExecutionStatus.SUCCEEDED,
                             str(response.result.error), status,
                             widths[-1] if widths else math.nan)
