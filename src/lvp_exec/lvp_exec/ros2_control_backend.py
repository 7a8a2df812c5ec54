"""ros2_control execution backend: `Ros2ControlExecutor`, the lvp_exec.execution.Executor of
the Franka on ros2_control: the arm through `trajectory_client.FollowJointTrajectoryClient`,
the gripper through `franka_gripper_client.FrankaGripperClient` (`GripperEvent`s played at their
times), start state from sensor_msgs/JointState, stop on `should_stop`.

Threading and the node the clients need: `lvp_exec.ros_action_client` (`StandaloneRosNode`).
control_msgs and franka_msgs are imported when a client is built, so that the ROS-free parts
of lvp_exec never need them; they come with every ros2_control / franka_ros2 install.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lvp_common.artifacts import GripperEvent, JointTrajectory
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from lvp_exec.execution import ExecutionError, ExecutionRequest, ExecutionStoppedError
from lvp_exec.franka_gripper_client import (
    FrankaGripperClient,
    GripperCommandError,
    GripperConfig,
    GripperResult,
)
from lvp_exec.ros_action_client import (
    ActionServerTimeoutError,
    ExecutionStatus,
    StandaloneRosNode,
)
from lvp_exec.trajectory_client import (
    FollowJointTrajectoryClient,
    TrajectoryControllerConfig,
    TrajectoryExecution,
    TrajectoryExecutionResult,
    TrajectoryFeedback,
)

DEFAULT_JOINT_STATES_TOPIC = '/joint_states'


FR3_ARM_JOINTS = tuple(f'fr3_joint{i}' for i in range(1, 8))


class ControllerUnavailableError(ExecutionError):
    """Ros2ControlExecutor: an action server or the joint states did not appear in time."""


class ExecutionTimeoutError(ExecutionError):
    """Ros2ControlExecutor: the goal did not end by duration + tolerances + margin (canceled)."""


class StartStateMismatchError(ExecutionError):
    """The robot is not where the trajectory starts (it moved since the plan was made)."""


PANDA_TO_FR3 = {f'panda_joint{i}': f'fr3_joint{i}' for i in range(1, 8)}
"""The Panda model's arm joints -> franka_ros2's FR3 controller joints (the same kinematics)."""


@dataclass
class _JointStateWaiter:
    """One read_joint_positions call waiting for a JointState that names all its joints."""

    wanted: tuple[str, ...]
    done: threading.Event = field(default_factory=threading.Event)
    seen: set[str] = field(default_factory=set)
    positions: np.ndarray | None = None


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
        self._state_lock = threading.Lock()
        self._state_waiters: list[_JointStateWaiter] = []
        self._state_subscription: Any = None

    # -- joint states ----------------------------------------------------------------------

    def _controller_names(self, joints: Iterable[str]) -> tuple[str, ...]:
        names = self.config.controller.joint_name_map
        return tuple(names.get(joint, joint) for joint in joints)

    def read_joint_positions(self, joints: tuple[str, ...]) -> np.ndarray:
        """Return the positions (rad) of model joints `joints` from the next JointState message
        that holds all of them (a robot may publish its gripper's joints separately)."""
        wanted = self._controller_names(joints)
        topic = self.config.joint_states_topic
        waiter = _JointStateWaiter(wanted)
        with self._state_lock:
            self._ensure_joint_state_subscription()
            self._state_waiters.append(waiter)
        try:
            timeout = self.config.joint_states_timeout
            if not waiter.done.wait(timeout):
                if waiter.seen:
                    raise ControllerUnavailableError(
                        f'the sensor_msgs/JointState messages on {topic!r} lack joints '
                        f'{sorted(set(wanted) - waiter.seen)} (they name '
                        f'{sorted(waiter.seen)}); set the controller joint names '
                        f'(joint_name_map) to the robot\'s')
                raise ControllerUnavailableError(
                    f'no sensor_msgs/JointState on {topic!r} within {timeout:.1f} s: is the '
                    'joint_state_broadcaster running (and in this ROS_DOMAIN_ID)?')
        finally:
            with self._state_lock:
                self._state_waiters.remove(waiter)
        positions = waiter.positions
        assert positions is not None
        if not np.all(np.isfinite(positions)):
            raise ControllerUnavailableError(
                f'JointState on {topic!r} has non-finite positions for {list(wanted)}: '
                f'{positions.tolist()}')
        return positions

    def _ensure_joint_state_subscription(self) -> None:
        # One subscription for the executor's life: destroying one per read while the node's
        # executor spins can make rclpy's wait set raise InvalidHandle and stop the node.
        if self._state_subscription is not None:
            return
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import JointState

        # best effort: matches reliable and best-effort publishers (joint_state_broadcaster)
        self._state_subscription = self._node.create_subscription(
            JointState, self.config.joint_states_topic, self._on_joint_state,
            qos_profile_sensor_data, callback_group=self._group)

    def _on_joint_state(self, msg: Any) -> None:
        names = list(msg.name)
        with self._state_lock:
            for waiter in self._state_waiters:
                if waiter.done.is_set():
                    continue
                waiter.seen.update(names)
                if all(name in names for name in waiter.wanted) and \
                        len(msg.position) == len(names):
                    waiter.positions = np.array(
                        [msg.position[names.index(n)] for n in waiter.wanted])
                    waiter.done.set()

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
        """Destroy the action clients, the joint-state subscription (and the own node, if
        any)."""
        for client in (getattr(self, '_arm', None), getattr(self, '_gripper', None)):
            if client is not None:
                client.destroy()
        if getattr(self, '_state_subscription', None) is not None:
            self._node.destroy_subscription(self._state_subscription)
            self._state_subscription = None
        if self._own is not None:
            self._own.close()
            self._own = None
