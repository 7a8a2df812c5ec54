"""The Franka gripper client: `FrankaGripperClient` drives franka_gripper's Homing / Move /
Grasp actions (franka_msgs, imported when the client is built).
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lvp_common.artifacts import GripperAction, GripperEvent
from rclpy.action import ActionClient
from rclpy.action.client import ClientGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from lvp_exec.execution import ExecutionError
from lvp_exec.ros_action_client import (
    ActionServerTimeoutError,
    ExecutionStatus,
    connect_action,
    execution_status,
    import_interface,
    wait_for,
)

DEFAULT_GRIPPER_NAMESPACE = '/franka_gripper'
"""franka_ros2 names its gripper node `franka_gripper` since v0.1.15 (May 2024; Jazzy and current
Humble); older installs name it `<arm_id>_gripper`: set the namespace to `/fr3_gripper` there."""


class GripperCommandError(ExecutionError):
    """A gripper action failed; `result` is the failed one, `completed` the ones before it."""

    def __init__(self, result: GripperResult,
                 completed: tuple[GripperResult, ...] = ()) -> None:
        super().__init__(result.message)
        self.result = result
        self.completed = completed


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
        # a cancel that comes while a goal is sent but not yet accepted is kept for it
        self._lock = threading.Lock()
        self._sending = False
        self._cancel_pending = False

    def wait_for_servers(self, timeout: float | None = None) -> None:
        """Raise ActionServerTimeoutError unless all three gripper actions appear in time."""
        deadline = time.monotonic() + (self.config.server_timeout if timeout is None
                                       else timeout)
        for command, client in self._clients.items():
            try:
                connect_action(client, self._names[command],
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
        """Cancel the gripper goal in progress, if any; a goal sent but not yet accepted is
        canceled as soon as it is (returns False then)."""
        with self._lock:
            handle = self._active
            if handle is None:
                self._cancel_pending = self._sending
                return False
        return self._cancel(handle)

    def _cancel(self, handle: ClientGoalHandle) -> bool:
        response = wait_for(handle.cancel_goal_async(), self.config.server_timeout,
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
        connect_action(client, name, f'franka_msgs/{command.value.capitalize()}',
                 self.config.server_timeout)
        widths: list[float] = []
        with self._lock:
            self._sending, self._cancel_pending = True, False
        try:
            handle = wait_for(client.send_goal_async(
                goal, feedback_callback=lambda m: widths.append(float(m.feedback.current_width))),
                self.config.server_timeout, f'goal to {name}')
        except BaseException:
            with self._lock:
                self._sending = False
            raise
        accepted = handle is not None and handle.accepted
        with self._lock:  # from sending to active in one step: no cancel falls in between
            self._sending = False
            if accepted:
                self._active = handle
            cancel_now, self._cancel_pending = self._cancel_pending and accepted, False
        if handle is None or not accepted:
            return GripperResult(command, width, False, f'{name} rejected the goal',
                                 ExecutionStatus.REJECTED)
        try:
            if cancel_now:  # a stop came while the goal was on its way
                self._cancel(handle)
            response = wait_for(handle.get_result_async(), self.config.action_timeout,
                             f'{name} result')
        finally:
            with self._lock:
                self._active = None
        status = execution_status(response.status)
        return GripperResult(command, width,
                             bool(response.result.success) and status is
                             ExecutionStatus.SUCCEEDED,
                             str(response.result.error), status,
                             widths[-1] if widths else math.nan)
