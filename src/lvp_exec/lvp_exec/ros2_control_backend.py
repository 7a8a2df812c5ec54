"""ros2_control execution backend: the arm's FollowJointTrajectory action and the Franka gripper.

`FollowJointTrajectoryClient` sends a `JointTrajectory` to a joint_trajectory_controller (e.g.
franka_ros2's `fr3_arm_controller`) and reports the controller's result; `FrankaGripperClient`
drives franka_gripper's Homing / Move / Grasp actions and plays `GripperEvent`s at their times;
`Ros2ControlExecutor` is the lvp_exec.execution.Executor built on both (start state from
sensor_msgs/JointState, stop on `should_stop`).

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

from lvp_exec.execution import ExecutionError, ExecutionRequest, ExecutionStoppedError

DEFAULT_ARM_ACTION = '/fr3_arm_controller/follow_joint_trajectory'
"""franka_ros2's JointTrajectoryController of the FR3 (franka_fr3_moveit_config)."""
DEFAULT_GRIPPER_NAMESPACE = '/franka_gripper'
"""franka_ros2 names its gripper node `franka_gripper` since v0.1.15 (May 2024; Jazzy and current
Humble); older installs name it `<arm_id>_gripper`: set the namespace to `/fr3_gripper` there."""
DEFAULT_JOINT_STATES_TOPIC = '/joint_states'
FR3_ARM_JOINTS = tuple(f'fr3_joint{i}' for i in range(1, 8))

_INSTALL_HINT = {
    'control_msgs': 'install ros-$ROS_DISTRO-control-msgs (part of ros2_control) and source it',
    'franka_msgs': 'build franka_ros2 (it provides franka_msgs) and source its workspace',
}


class MissingInterfaceError(ImportError):
    """A ROS interface package the backend needs is not installed or not sourced."""


class ActionServerTimeoutError(TimeoutError):
    """No action server answered under the configured name in time."""


class ControllerUnavailableError(ExecutionError):
    """Ros2ControlExecutor: an action server or the joint states did not appear in time."""


class ExecutionTimeoutError(ExecutionError):
    """Ros2ControlExecutor: the goal did not end by duration + tolerances + margin (canceled)."""


class StartStateMismatchError(ExecutionError):
    """The robot is not where the trajectory starts (it moved since the plan was made)."""


class TrajectoryExecutionError(ExecutionError):
    """The controller rejected, aborted or canceled a trajectory; `result` says why."""

    def __init__(self, result: TrajectoryExecutionResult) -> None:
        super().__init__(result.message)
        self.result = result


class GripperCommandError(ExecutionError):
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
            try:
                _connect(client, self._names[command],
                         f'franka_msgs/{command.value.capitalize()}',
                         max(deadline - time.monotonic(), 0.0))
            except ActionServerTimeoutError as exc:
                raise ActionServerTimeoutError(
                    f'{exc} The gripper node: `ros2 launch franka_gripper gripper.launch.py '
                    'robot_ip:=<ip>` (franka_ros2\'s moveit.launch.py includes it); its actions '
                    'are under /franka_gripper since franka_ros2 0.1.15, under /fr3_gripper '
                    'before: set the gripper action namespace to what `ros2 action list` '
                    'shows') from None

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


# ---------------------------------------------------------------- the Executor


PANDA_TO_FR3 = {f'panda_joint{i}': f'fr3_joint{i}' for i in range(1, 8)}
"""The Panda model's arm joints -> franka_ros2's FR3 controller joints (the same kinematics)."""


@dataclass(frozen=True)
class Ros2ControlExecutorConfig:
    """Where the arm controller, the gripper and the joint states are, and how long to wait.

    `controller.joint_name_map` renames the model's joints to the controller's (default: the
    Franka models' `panda_joint*` -> franka_ros2's `fr3_joint*`); the joint states are looked up
    under the same controller names. `gripper` None: no gripper (a request with gripper events
    is refused before anything moves). `arm_model`: the arm driven ('fr3' or 'panda', the
    lvp_exec.robots model name); a request planned for another model is refused before
    anything moves (its joint limits were not this arm's); None: not checked.
    """

    controller: TrajectoryControllerConfig = field(
        default_factory=lambda: TrajectoryControllerConfig(joint_name_map=PANDA_TO_FR3))
    gripper: GripperConfig | None = field(default_factory=GripperConfig)
    joint_states_topic: str = DEFAULT_JOINT_STATES_TOPIC
    joint_states_timeout: float = 5.0
    """s to wait for a sensor_msgs/JointState holding every arm joint."""
    start_tolerance: float | None = 0.05
    """rad: before sending, every joint must be this close to the trajectory's first point
    (the arm may have moved since the plan started from it); None: not checked."""
    stop_poll_period: float = 0.02
    """s between two `should_stop` calls while the arm moves."""
    stop_timeout: float = 5.0
    """s to wait for the controller to confirm a cancel."""
    arm_model: str | None = None


@dataclass(frozen=True)
class Ros2ControlExecutionResult:
    """How a request ran on ros2_control: the controller's result, the gripper actions done,
    the controller feedback (actual positions, controller joint names) and the wall time (s)
    from goal acceptance to the end."""

    trajectory: TrajectoryExecutionResult
    gripper: tuple[GripperResult, ...]
    feedback: tuple[TrajectoryFeedback, ...]
    duration: float

    def executed(self) -> JointTrajectory | None:
        """The actual joint positions (rad) the controller reported, on its own clock."""
        if not self.feedback:
            return None
        times = np.array([f.time_from_start for f in self.feedback])
        keep = np.concatenate([[True], np.diff(times) > 0.0])
        positions = np.array([f.actual for f in self.feedback])[keep]
        return JointTrajectory(times[keep], self.feedback[0].joint_names, positions)


class _GripperEventRun:
    """Plays gripper events on a thread, each at `start` + event.time (time.monotonic s)."""

    def __init__(self, gripper: FrankaGripperClient, events: tuple[GripperEvent, ...],
                 start: float) -> None:
        self._gripper = gripper
        self._events = events
        self._start = start
        self._stop = threading.Event()
        self.results: list[GripperResult] = []
        self.error: ExecutionError | None = None
        self._thread = threading.Thread(target=self._run, name='lvp_gripper_events',
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for event in self._events:
                if self._stop.wait(max(self._start + event.time - time.monotonic(), 0.0)):
                    return
                result = self._gripper.execute_event(event)
                if self._stop.is_set():
                    return
                if not result.success:
                    self.error = GripperCommandError(result, tuple(self.results))
                    return
                self.results.append(result)
        except ExecutionError as exc:
            self.error = exc
        except (TimeoutError, ValueError) as exc:
            self.error = ExecutionError(f'gripper: {exc}')

    def done(self) -> bool:
        return not self._thread.is_alive()

    def stop(self, timeout: float) -> None:
        """Skip the remaining events and cancel the gripper action in progress."""
        self._stop.set()
        try:
            self._gripper.cancel()
        except TimeoutError:
            pass  # the gripper action then ends on its own (action_timeout at most)
        self._thread.join(timeout)


class Ros2ControlExecutor:
    """lvp_exec.execution.Executor on ros2_control: FollowJointTrajectory + franka_gripper.

    `start_positions` reads the arm's joints from sensor_msgs/JointState; `execute` checks that
    the arm is still there, sends the trajectory to the joint_trajectory_controller, plays the
    gripper events at their trajectory times (Grasp on close, Move on open), polls
    `should_stop` (cancel the controller goal and the gripper action, raise
    ExecutionStoppedError) and raises an ExecutionError subclass on any failure.

    `node`: an rclpy node spun by a MultiThreadedExecutor on other threads (the calls here
    block; see the module docstring); None: a StandaloneRosNode of its own (`domain_id`).
    """

    name = 'ros2_control'

    @property
    def arm_model(self) -> str:
        """The Franka arm model driven ('' when the config does not say): plan for this one."""
        return self.config.arm_model or ''

    def __init__(self, node: Node | None = None,
                 config: Ros2ControlExecutorConfig | None = None, *,
                 domain_id: int | None = None) -> None:
        self.config = config or Ros2ControlExecutorConfig()
        self._own = None
        if node is None:
            self._own = StandaloneRosNode('lvp_ros2_control_executor', domain_id=domain_id,
                                          threads=2)
            node = self._own.node
        self._node = node
        try:
            self._arm = FollowJointTrajectoryClient(node, self.config.controller)
            self._gripper = (None if self.config.gripper is None
                             else FrankaGripperClient(node, self.config.gripper))
        except BaseException:
            self.close()
            raise
        self._group = ReentrantCallbackGroup()

    # -- joint states ----------------------------------------------------------------------

    def _controller_names(self, joints: Iterable[str]) -> tuple[str, ...]:
        names = self.config.controller.joint_name_map
        return tuple(names.get(joint, joint) for joint in joints)

    def read_joint_positions(self, joints: tuple[str, ...]) -> np.ndarray:
        """Return the positions (rad) of model joints `joints` from the next JointState message
        that holds all of them (a robot may publish its gripper's joints separately)."""
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import JointState

        wanted = self._controller_names(joints)
        topic = self.config.joint_states_topic
        found: list[np.ndarray] = []
        seen: set[str] = set()
        got = threading.Event()

        def on_state(msg: JointState) -> None:
            if got.is_set():
                return
            names = list(msg.name)
            seen.update(names)
            if all(name in names for name in wanted) and len(msg.position) == len(names):
                found.append(np.array([msg.position[names.index(n)] for n in wanted]))
                got.set()

        # best effort: matches reliable and best-effort publishers (joint_state_broadcaster)
        subscription = self._node.create_subscription(
            JointState, topic, on_state, qos_profile_sensor_data, callback_group=self._group)
        try:
            timeout = self.config.joint_states_timeout
            if not got.wait(timeout):
                if seen:
                    raise ControllerUnavailableError(
                        f'the sensor_msgs/JointState messages on {topic!r} lack joints '
                        f'{sorted(set(wanted) - seen)} (they name {sorted(seen)}); set the '
                        f'controller joint names (joint_name_map) to the robot\'s')
                raise ControllerUnavailableError(
                    f'no sensor_msgs/JointState on {topic!r} within {timeout:.1f} s: is the '
                    'joint_state_broadcaster running (and in this ROS_DOMAIN_ID)?')
        finally:
            self._node.destroy_subscription(subscription)
        positions = found[0]
        if not np.all(np.isfinite(positions)):
            raise ControllerUnavailableError(
                f'JointState on {topic!r} has non-finite positions for {list(wanted)}: '
                f'{positions.tolist()}')
        return positions

    def start_positions(self, robot: Any) -> np.ndarray:
        """The arm's current joint positions in `robot.joint_names` order (rad)."""
        return self.read_joint_positions(tuple(robot.joint_names))

    # -- execution ---------------------------------------------------------------------------

    def execute(self, request: ExecutionRequest) -> Ros2ControlExecutionResult:
        """Run the trajectory and the gripper events; block until both ended.

        Raises ExecutionStoppedError when `request.should_stop()` turns True (arm goal and
        gripper action canceled), TrajectoryExecutionError (controller rejected / aborted),
        GripperCommandError, ControllerUnavailableError, StartStateMismatchError,
        ExecutionTimeoutError: all ExecutionError.
        """
        trajectory = request.trajectory
        events = tuple(sorted(request.gripper_events, key=lambda e: e.time))
        commands = request.hand_commands
        if commands is not None and len(commands.times):
            raise ExecutionError('the ros2_control backend drives a parallel gripper, not a '
                                 'dexterous hand: the request has Inspire hand commands')
        planned_for = getattr(request.robot, 'name', None)
        if self.config.arm_model and planned_for != self.config.arm_model:
            raise ExecutionError(
                f'the ros2_control backend drives a {self.config.arm_model!r} arm but the '
                f'motion was planned for {planned_for!r}: its joint limits were not checked '
                f'against the arm driven; plan with arm_model {self.config.arm_model!r} '
                '(nothing sent)')
        if events and self._gripper is None:
            raise ExecutionError(f'the request has {len(events)} gripper events but no gripper '
                                 'is configured (gripper action namespace empty)')
        if request.should_stop():
            raise ExecutionStoppedError('stopped before the trajectory was sent', 0.0)
        try:  # every server must be there before anything moves
            self._arm.wait_for_server()
            if events and self._gripper is not None:
                self._gripper.wait_for_servers()
        except ActionServerTimeoutError as exc:
            raise ControllerUnavailableError(str(exc)) from exc
        self._check_start(trajectory)
        try:
            execution = self._arm.send(trajectory)
        except ValueError as exc:
            raise ExecutionError(f'cannot send the trajectory: {exc}') from exc
        except TimeoutError as exc:
            raise ControllerUnavailableError(str(exc)) from exc
        start = time.monotonic()
        if not execution.accepted:
            execution.wait().raise_for_status()
        gripper_run = (_GripperEventRun(self._gripper, events, start)
                       if events and self._gripper is not None else None)
        try:
            result = self._follow(request, execution, gripper_run, start)
        finally:
            if gripper_run is not None and not gripper_run.done():
                gripper_run.stop(self.config.stop_timeout)
        return Ros2ControlExecutionResult(
            result, tuple(gripper_run.results) if gripper_run else (),
            tuple(execution.feedback), time.monotonic() - start)

    def _check_start(self, trajectory: JointTrajectory) -> None:
        tolerance = self.config.start_tolerance
        if tolerance is None:
            return
        current = self.read_joint_positions(tuple(trajectory.joint_names))
        error = np.abs(current - trajectory.positions[0])
        worst = int(np.argmax(error))
        if error[worst] > tolerance:
            raise StartStateMismatchError(
                f'{trajectory.joint_names[worst]} is at {current[worst]:.4f} rad but the '
                f'trajectory starts at {trajectory.positions[0, worst]:.4f} rad (more than '
                f'{tolerance} rad apart): the arm moved since the plan was made; nothing sent')

    def _follow(self, request: ExecutionRequest, execution: TrajectoryExecution,
                gripper_run: _GripperEventRun | None,
                start: float) -> TrajectoryExecutionResult:
        """Poll until the arm goal and the gripper events ended; stop or fail on the way."""
        cfg = self.config
        duration = request.trajectory.duration
        deadline = (start + duration + cfg.controller.goal_time_tolerance
                    + cfg.controller.result_margin)
        while not execution.done():
            if request.should_stop():
                self._stop(execution, gripper_run, start, duration)
            if gripper_run is not None and gripper_run.error is not None:
                self._cancel(execution)
                raise gripper_run.error
            if time.monotonic() > deadline:
                self._cancel(execution)
                raise ExecutionTimeoutError(
                    f'{cfg.controller.action_name} gave no result {deadline - start:.1f} s '
                    f'after the start of a {duration:.2f} s trajectory; the goal was canceled')
            time.sleep(cfg.stop_poll_period)
        try:
            result = execution.wait(timeout=cfg.controller.response_timeout)
        except TimeoutError as exc:
            raise ExecutionTimeoutError(str(exc)) from exc
        result.raise_for_status()
        while gripper_run is not None and not gripper_run.done():
            if request.should_stop():
                self._stop(execution, gripper_run, start, duration)
            time.sleep(cfg.stop_poll_period)
        if gripper_run is not None and gripper_run.error is not None:
            raise gripper_run.error
        return result

    def _cancel(self, execution: TrajectoryExecution) -> None:
        """Cancel the arm goal and wait (stop_timeout at most) until the controller ended it."""
        try:
            execution.cancel()
            execution.wait(timeout=self.config.stop_timeout)
        except TimeoutError:
            pass  # raising the failure matters more; the controller stops on its own abort

    def _stop(self, execution: TrajectoryExecution, gripper_run: _GripperEventRun | None,
              start: float, duration: float) -> None:
        stopped_at = time.monotonic() - start
        try:
            execution.cancel()
        except TimeoutError:
            pass  # reported below: the result does not say canceled
        if gripper_run is not None:
            gripper_run.stop(self.config.stop_timeout)
        try:
            result: TrajectoryExecutionResult | None = execution.wait(
                timeout=self.config.stop_timeout)
        except TimeoutError:
            result = None
        if result is None:
            how = (f'{self.config.controller.action_name} did not confirm the cancel within '
                   f'{self.config.stop_timeout:g} s')
        elif result.status is ExecutionStatus.CANCELED:
            how = 'the controller canceled the goal and holds the arm where it stopped'
        else:
            how = f'the goal had already ended ({result.message})'
        raise ExecutionStoppedError(
            f'stopped on request at t = {stopped_at:.2f} s of the {duration:.2f} s '
            f'trajectory: {how}', stopped_at)

    def close(self) -> None:
        """Destroy the action clients (and the own node, if any)."""
        for client in (getattr(self, '_arm', None), getattr(self, '_gripper', None)):
            if client is not None:
                client.destroy()
        if self._own is not None:
            self._own.close()
            self._own = None
