"""One ExecuteMotion goal of `exec_node`: validate it, run lvp_exec.motion with feedback and
cancel, and fill the result (error code, failed stage, message, joint trajectory).

`MotionGoal(node, goal_handle).run()`; the node (lvp_exec.exec_node.ExecuteMotionNode) provides
its parameters, the arm models (`robot`), the execution backends and the display publishers.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from typing import Any

from lvp_common.artifacts import ArtifactError, GripperEvent
from lvp_common.ros.conversions import (
    gripper_event_from_msg,
    hand_commands_from_msg,
    joint_trajectory_to_msg,
    make_header,
    wrist_trajectory_from_msg,
)
from rclpy.action.server import ServerGoalHandle

from lvp_exec.backends import ExecutionSetupError, check_backend_fits, resolve_arm_model
from lvp_exec.embodiment_hardware import hardware_named, hardware_names, is_hardware
from lvp_exec.motion import (
    MotionConfig,
    MotionError,
    MotionErrorCode,
    MotionRequest,
    MotionResult,
    error_code_for,
    execute_motion,
)
from lvp_exec.robots import RobotModelError
from lvp_exec.safety import SafetyConfig
from lvp_exec.safety_parameters import safety_config_from_parameters
from lvp_interfaces.action import ExecuteMotion

STAGE_WEIGHTS = {'validation': 0.05, 'ik': 0.2, 'timing': 0.1, 'safety': 0.05, 'executing': 0.6}
"""Shares of overall_progress (renormalized without 'executing' for plan_only goals)."""

FEEDBACK_PERIOD = 0.1
"""s between two feedback messages while the robot moves."""

_UNEXPECTED_CODES = {'validation': MotionErrorCode.INVALID_GOAL,
                     'ik': MotionErrorCode.UNREACHABLE, 'timing': MotionErrorCode.UNREACHABLE,
                     'safety': MotionErrorCode.SAFETY_VIOLATION}
"""The error code of an unexpected exception, by the stage it escaped from (else
EXECUTION_FAILED)."""


class GoalRefusedError(Exception):
    """The goal cannot run: `code` (MotionErrorCode) and a message naming the field."""

    def __init__(self, code: MotionErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class MotionGoal:
    """One ExecuteMotion goal: validate, plan, check, execute, report."""

    def __init__(self, node: Any, goal_handle: ServerGoalHandle) -> None:
        self.node = node
        self.handle = goal_handle
        self.goal: ExecuteMotion.Goal = goal_handle.request
        self.result = ExecuteMotion.Result()
        stages = [s for s in STAGE_WEIGHTS if not (s == 'executing' and self.goal.plan_only)]
        total = sum(STAGE_WEIGHTS[s] for s in stages)
        self._weights = {s: STAGE_WEIGHTS[s] / total for s in stages}
        self._stage = 'validation'
        self._done = 0.0
        self._motion: MotionResult | None = None
        self._moving_since = 0.0
        self._last_feedback = 0.0

    def run(self) -> ExecuteMotion.Result:
        try:
            self._feedback('validation', 0.0)
            request, executor, safety = self._validate()
            self._finish_stage('validation')
            self.node.publish_path(request.ee_path)
            self._motion = MotionResult(request.robot, request.ee_path)
            execute_motion(request, executor,
                           MotionConfig(safety=safety, plan_only=bool(self.goal.plan_only)),
                           self._run_stage, self._motion)
            self.result.error_code = int(MotionErrorCode.SUCCESS)
        except GoalRefusedError as exc:
            self._fail('validation', exc.code, exc.message)
        except MotionError as exc:
            self._fail(exc.stage, error_code_for(exc), exc.message)
        except Exception as exc:  # a bug must still end the goal with a code, not a bare abort
            self.node.get_logger().error(f'unexpected error during {self._stage}: '
                                         f'{traceback.format_exc()}')
            self._fail(self._stage, _UNEXPECTED_CODES.get(self._stage,
                                                          MotionErrorCode.EXECUTION_FAILED),
                       f'internal error: {type(exc).__name__}: {exc}')
        motion = self._motion
        if motion is not None and motion.trajectory is not None:
            self.result.joint_trajectory = joint_trajectory_to_msg(
                motion.trajectory, make_header('', self.node.get_clock().now().to_msg()))
        return self.result

    def _fail(self, stage: str, code: MotionErrorCode, message: str) -> None:
        self.result.error_code = int(code)
        self.result.error_message = message
        self.result.failed_stage = stage

    # -- validation -------------------------------------------------------------------------

    def _validate(self) -> tuple[MotionRequest, Any, SafetyConfig]:
        goal, node = self.goal, self.node

        def invalid(message: str) -> GoalRefusedError:
            return GoalRefusedError(MotionErrorCode.INVALID_GOAL, message)

        embodiment = goal.embodiment
        if not is_hardware(embodiment):
            raise invalid(f'unknown embodiment {embodiment!r}; expected one of '
                          f'{hardware_names()}')
        hardware = hardware_named(embodiment)
        try:
            ee_path = wrist_trajectory_from_msg(goal.ee_path)
        except (ArtifactError, ValueError) as exc:
            raise invalid(f'ee_path: {exc}') from exc
        if ee_path.num_frames == 0:
            raise invalid('ee_path has no poses')
        backend = str(node.parameter('execution_backend'))
        try:  # plan for the arm the backend drives (plan_only goals too)
            arm_model = resolve_arm_model(str(node.parameter('arm_model')), backend)
        except ExecutionSetupError as exc:
            raise invalid(f'parameter arm_model: {exc}') from exc
        try:
            robot = node.robot(embodiment, arm_model)
        except RobotModelError as exc:
            raise GoalRefusedError(MotionErrorCode.EXECUTION_FAILED,
                              f'the {embodiment} model cannot be loaded: {exc}') from exc
        if ee_path.frame_id not in robot.base_frame_names:
            raise invalid(f'ee_path is in frame {ee_path.frame_id!r}; {embodiment} targets '
                          f'must be in the robot base frame '
                          f'({" or ".join(robot.base_frame_names)})')
        try:
            commands, more_events = hand_commands_from_msg(goal.hand_commands)
            events: tuple[GripperEvent, ...] = tuple(sorted(
                (*(gripper_event_from_msg(e) for e in goal.gripper_events), *more_events),
                key=lambda e: e.time))
        except (ArtifactError, ValueError) as exc:
            raise invalid(f'gripper_events / hand_commands: {exc}') from exc
        if hardware.takes_gripper_events and commands is not None:
            raise invalid(f'{embodiment} takes gripper_events, not Inspire hand_commands')
        if not hardware.takes_gripper_events and events:
            raise invalid(f'{embodiment} takes hand_commands, not gripper events')
        executor = None
        if not goal.plan_only:
            try:
                check_backend_fits(backend, embodiment)
            except ExecutionSetupError as exc:
                raise invalid(f'{exc} (parameter execution_backend): send a plan_only goal or '
                              f'use another backend') from exc
            try:
                executor = node.backends.executor(backend)
            except ExecutionSetupError as exc:
                raise GoalRefusedError(MotionErrorCode.EXECUTION_FAILED, str(exc)) from exc
        try:
            safety = safety_config_from_parameters(
                node, robot, getattr(executor, 'world_config', None))
        except ValueError as exc:
            raise GoalRefusedError(MotionErrorCode.EXECUTION_FAILED,
                                   f'the node\'s safety parameters are invalid: {exc}') from exc
        request = MotionRequest(robot, ee_path, events, commands, should_stop=self._should_stop)
        return request, executor, safety

    # -- stages, feedback and cancel ----------------------------------------------------------

    def _run_stage(self, stage: str, work: Callable[[], Any]) -> Any:
        """execute_motion's stage hook: stop here on cancel, report progress, publish the
        trajectory once it passed the safety filter."""
        if self.handle.is_cancel_requested:
            raise MotionError(stage, f'canceled by the client before {stage}', self._motion,
                              stopped=True)
        self._feedback(stage, 0.0)
        if stage == 'executing':
            self._moving_since = time.monotonic()
        out = work()
        trajectory = None if self._motion is None else self._motion.trajectory
        if stage == 'safety' and trajectory is not None:
            self.node.publish_trajectory(joint_trajectory_to_msg(
                trajectory, make_header('', self.node.get_clock().now().to_msg())))
        self._finish_stage(stage)
        return out

    def _should_stop(self) -> bool:
        """Polled by the executor while the robot moves: feedback by wall time, then cancel."""
        now = time.monotonic()
        motion = self._motion
        if now - self._last_feedback >= FEEDBACK_PERIOD and motion is not None and (
                motion.trajectory is not None):
            elapsed = now - self._moving_since
            self._feedback('executing', min(1.0, elapsed / max(motion.trajectory.duration,
                                                               1e-6)))
        return bool(self.handle.is_cancel_requested)

    def _finish_stage(self, stage: str) -> None:
        self._feedback(stage, 1.0)
        self._done += self._weights.get(stage, 0.0)

    def _feedback(self, stage: str, progress: float) -> None:
        self._stage = stage
        self._last_feedback = time.monotonic()
        overall = self._done + self._weights.get(stage, 0.0) * progress
        self.handle.publish_feedback(ExecuteMotion.Feedback(
            stage=stage, stage_progress=float(progress), overall_progress=float(min(overall,
                                                                                    1.0))))
