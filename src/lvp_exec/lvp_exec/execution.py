"""The one interface every execution backend implements (MuJoCo sim, ros2_control, Unitree).

The pipeline (lvp_bringup) plans a checked joint trajectory and hands it, with the gripper events
(Franka) or the dexterous hand commands (Inspire), to an `Executor`. A backend either runs it to
the end and returns its own result object, or raises an `ExecutionError` subclass: it never
returns after running part of a trajectory silently. `should_stop` is polled while the robot moves
(the cancel of PlanAndExecute): when it returns True the backend stops the robot (holds position,
cancels the controller goal, ramps the takeover weight out) and raises `ExecutionStoppedError`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from lvp_common.artifacts import GripperEvent, HandCommands, JointTrajectory


class ExecutionError(RuntimeError):
    """The robot did not complete the trajectory: rejected, aborted, diverged or timed out."""


class ExecutionStoppedError(ExecutionError):
    """The backend stopped the robot on request (`should_stop`) at `stopped_at` s."""

    def __init__(self, message: str, stopped_at: float | None = None) -> None:
        super().__init__(message)
        self.stopped_at = stopped_at


def _never() -> bool:
    return False


@dataclass(frozen=True)
class ExecutionRequest:
    """What to execute: the arm trajectory (starting at the robot's current state, at rest) and
    the end effector's commands on the same clock (trajectory time 0 = start of motion)."""

    robot: Any
    """lvp_exec.robots.RobotModel of the arm."""
    trajectory: JointTrajectory
    gripper_events: tuple[GripperEvent, ...] = ()
    hand_commands: HandCommands | None = None
    should_stop: Callable[[], bool] = field(default=_never)


class Executor(Protocol):
    """An execution backend."""

    name: str
    """'sim', 'ros2_control' or 'unitree'."""

    def start_positions(self, robot: Any) -> np.ndarray | None:
        """Return the arm's current joint positions (robot.joint_names order, rad), or None when
        the backend starts wherever it is told (the sim starts at robot.home)."""
        ...

    def execute(self, request: ExecutionRequest) -> Any:
        """Run the request to the end and return the backend's result; raise ExecutionError."""
        ...
