"""End-effector path -> checked, timed joint trajectory -> execution: the motion stages.

`execute_motion` runs, in order; the first failure stops the run and nothing moves unless IK,
timing and the safety filter all passed:

    ik         DampedLeastSquaresIk along the EE path (targets in the robot base frame: the
               Franka TCP, the G1 hand mount), warm-started from the start state: the
               executor's measured joint positions, else the robot's home; a path that jumps
               (speed implied by its timestamps) or whose IK solutions jump in joint space is
               refused here (`check_ee_path`, `check_joint_steps`: UNREACHABLE)
    timing     `parameterize` (TOPP-RA) from the start state at rest to the last waypoint at rest
    safety     SafetyFilter.check of the sampled trajectory (the G1: with the Inspire fingertips
               at the commanded closure) against the start state
    executing  the Executor runs it, with the gripper events / hand commands moved from the
               plan's clock onto the trajectory's (`on_execution_clock`); skipped with plan_only

Every failure raises `MotionError` naming its stage (`MOTION_STAGES`), so that callers map
stages to their own error codes (`error_code_for` gives the ExecuteMotion action's). Reading the
start state from the executor is part of 'executing': it fails when the robot backend is not
there. A stop request (`should_stop`) ends the run with a MotionError whose `stopped` is True.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import GripperEvent, HandCommands, JointTrajectory, WristTrajectory

from lvp_exec.collision import CollisionModelError, LinkGeometry
from lvp_exec.embodiment_hardware import EndEffector, hardware_for_robot
from lvp_exec.execution import ExecutionError, ExecutionRequest, ExecutionStoppedError
from lvp_exec.hand_points import inspire_hand_points
from lvp_exec.ik import (
    DampedLeastSquaresIk,
    IkConfig,
    JointPath,
    PathFrameError,
    UnreachablePathError,
)
from lvp_exec.robots import RobotModel
from lvp_exec.safety import (
    PathDiscontinuityError,
    SafetyConfig,
    SafetyFilter,
    SafetyViolationError,
    check_ee_path,
    check_joint_steps,
    default_safety_config,
)
from lvp_exec.scene_obstacle import scene_obstacle
from lvp_exec.timing import TimedPath, TimingConfig, TimingError, parameterize

MOTION_STAGES = ('ik', 'timing', 'safety', 'executing')
"""The stages of `execute_motion`, in order."""

StageRunner = Callable[[str, Callable[[], Any]], Any]
"""run_stage(stage, work) -> work(): a caller's hook around each stage (progress, timing, its
own error handling); it must call `work` once and return its value."""


class MotionErrorCode(enum.IntEnum):
    """Result codes of lvp_interfaces/action/ExecuteMotion.action (= lvp_exec's exit status)."""

    SUCCESS = 0
    INVALID_GOAL = 1
    UNREACHABLE = 2
    SAFETY_VIOLATION = 3
    EXECUTION_FAILED = 4
    CANCELED = 5


def _never() -> bool:
    return False


@dataclass(frozen=True)
class MotionRequest:
    """What to move: EE targets on the plan's clock and the end effector's commands.

    ee_path: EE poses (the robot's `ee_frame`) in the robot base frame, times in s of the plan.
    gripper_events (Franka) / hand_commands (Inspire): on the same plan clock.
    should_stop: polled while the robot moves; True stops it.
    """

    robot: RobotModel
    ee_path: WristTrajectory
    gripper_events: tuple[GripperEvent, ...] = ()
    hand_commands: HandCommands | None = None
    should_stop: Callable[[], bool] = field(default=_never)
    scene_points: np.ndarray | None = None
    """The observed point cloud (N, 3; robot base frame, m): where given, the arm's links keep
    the safety filter's `link_clearance` from what it shows beyond the table, the robot itself
    and the surroundings of the EE path (lvp_exec.scene_obstacle)."""


@dataclass(frozen=True)
class MotionConfig:
    """Parameters of the stages; `safety` None = `default_safety_config(robot)` in the
    executor's `world_config` (the sim's layout) when it has one."""

    ik: IkConfig = field(default_factory=IkConfig)
    timing: TimingConfig = field(default_factory=TimingConfig)
    safety: SafetyConfig | None = None
    plan_only: bool = False
    """Stop after the safety filter: move nothing."""


@dataclass
class MotionResult:
    """What the stages produced so far (None where a stage did not run) and their wall times.

    start_joints: the state the trajectory starts at (rad); start_measured: it was read from
    the executor (else the robot's home). gripper_events / hand_commands: the request's, on the
    trajectory's clock (after timing). execution: the executor's own result object.
    """

    robot: RobotModel
    ee_path: WristTrajectory
    start_joints: np.ndarray | None = None
    start_measured: bool = False
    joint_path: JointPath | None = None
    timed: TimedPath | None = None
    gripper_events: tuple[GripperEvent, ...] = ()
    hand_commands: HandCommands | None = None
    execution: Any = None
    executed: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    """Wall time (s) per stage run."""
    passed: list[str] = field(default_factory=list)
    """The stages that completed, in order."""

    @property
    def trajectory(self) -> JointTrajectory | None:
        """The timed joint trajectory (t = 0 at the start state), or None before timing."""
        return None if self.timed is None else self.timed.trajectory


class MotionError(RuntimeError):
    """A motion stage failed: `stage` (one of MOTION_STAGES) and a message that names what
    failed (waypoint and residual, joint/frame, time, value and limit, the backend's error).

    `stopped`: the run was stopped on request: the executor stopped the robot (at `stopped_at`
    s of the trajectory), or a caller's `run_stage` refused to start the stage.
    `result`: what the stages before the failure produced. The original exception is
    `__cause__` (e.g. a SafetyViolationError with `joint`, `time`, `value`, `limit`).
    """

    def __init__(self, stage: str, message: str, result: MotionResult | None = None,
                 stopped: bool = False, stopped_at: float | None = None) -> None:
        self.stage = stage
        self.message = message
        self.result = result
        self.stopped = stopped
        self.stopped_at = stopped_at
        super().__init__(f'{stage}: {message}')


def error_code_for(error: MotionError) -> MotionErrorCode:
    """The ExecuteMotion result code of a failed stage."""
    if error.stopped:
        return MotionErrorCode.CANCELED
    if error.stage in ('ik', 'timing'):
        return MotionErrorCode.UNREACHABLE
    if error.stage == 'safety':
        return MotionErrorCode.SAFETY_VIOLATION
    return MotionErrorCode.EXECUTION_FAILED


def on_execution_clock(timed: TimedPath, events, commands: HandCommands | None
                       ) -> tuple[tuple[GripperEvent, ...], HandCommands | None]:
    """Re-time gripper events and hand commands from the plan clock to the trajectory's clock.

    TOPP-RA may slow the robot below the plan's pace and the approach from the current state
    comes first, so plan time t maps to `timed.execution_time(t)`; times before the first
    waypoint map to its arrival.
    """
    moved = tuple(GripperEvent(float(timed.execution_time(e.time)), e.action, e.width)
                  for e in events)
    if commands is not None:
        times = np.maximum.accumulate(np.asarray(timed.execution_time(commands.times)))
        keep = np.concatenate([[True], np.diff(times) > 1e-9])
        commands = HandCommands(times[keep], commands.joint_names,
                                commands.joint_positions[keep], commands.actuator_names,
                                commands.normalized[keep], commands.native[keep])
    return moved, commands


def _run_directly(_stage: str, work: Callable[[], Any]) -> Any:
    return work()


def _stage(stage: str, errors: tuple[type[BaseException], ...], work: Callable[[], Any],
           result: MotionResult, run_stage: StageRunner) -> Any:
    """Run one stage through `run_stage`, turning its known failures into MotionError."""
    def guarded() -> Any:
        try:
            return work()
        except ExecutionStoppedError as exc:
            raise MotionError(stage, str(exc), result, stopped=True,
                              stopped_at=exc.stopped_at) from exc
        except errors as exc:
            raise MotionError(stage, str(exc), result) from exc

    started = time.perf_counter()
    try:
        out = run_stage(stage, guarded)
    finally:
        result.timings[stage] = time.perf_counter() - started
    result.passed.append(stage)
    return out


def start_state(robot: RobotModel, executor: Any, result: MotionResult | None = None
                ) -> tuple[np.ndarray, bool]:
    """Return the joint state (rad) a trajectory must start at, and whether it was measured:
    the executor's start positions, else (no executor, or the sim) the robot's home."""
    try:
        current = None if executor is None else executor.start_positions(robot)
    except ExecutionError as exc:  # no joint states / lowstate: nothing can be planned from it
        raise MotionError('executing', f'cannot read the robot\'s current joint state: {exc}',
                          result) from exc
    if current is None:
        return np.asarray(robot.home, dtype=np.float64), False
    return np.asarray(current, dtype=np.float64), True


def execute_motion(request: MotionRequest, executor: Any = None,
                   config: MotionConfig | None = None, run_stage: StageRunner | None = None,
                   result: MotionResult | None = None) -> MotionResult:
    """Plan, check and (unless `config.plan_only`) execute `request` on `executor`.

    executor: an lvp_exec.execution.Executor; None (plan_only only) plans from the robot's home.
    run_stage: wraps every stage (see StageRunner); the default runs it. result: filled as the
    stages complete and returned; pass one in to keep what the stages produced whatever
    escapes (a MotionError also carries it). Raises MotionError naming the failed stage.
    """
    config = config or MotionConfig()
    run_stage = run_stage or _run_directly
    robot = request.robot
    if result is None:
        result = MotionResult(robot, request.ee_path)
    if executor is None and not config.plan_only:
        raise ValueError('execute_motion: an executor is needed unless config.plan_only')
    start, measured = start_state(robot, executor, result)
    result.start_joints, result.start_measured = start, measured

    ik = DampedLeastSquaresIk(robot, config.ik)
    # The sim checks against the world it simulates (its own layout, else the embodiment's).
    limits = config.safety or default_safety_config(robot, getattr(executor, 'world_config', None))

    def solve() -> JointPath:
        if request.ee_path.num_frames == 0:
            raise ValueError('the EE path has no poses')
        check_ee_path(request.ee_path, limits)
        joint_path = ik.solve(request.ee_path, start)
        check_joint_steps(robot, request.ee_path, joint_path.positions, limits)
        return joint_path

    result.joint_path = _stage('ik', (UnreachablePathError, PathFrameError,
                                      PathDiscontinuityError, ValueError), solve,
                               result, run_stage)
    joint_path = result.joint_path
    assert joint_path is not None
    result.timed = _stage('timing', (TimingError, ValueError),
                          lambda: parameterize(joint_path, robot.limits, config.timing),
                          result, run_stage)
    timed = result.timed
    assert timed is not None
    result.gripper_events, result.hand_commands = on_execution_clock(
        timed, request.gripper_events, request.hand_commands)
    commands = result.hand_commands

    def check() -> None:
        hand = None
        if commands is not None and \
                hardware_for_robot(robot).end_effector is EndEffector.INSPIRE_HAND:
            hand = inspire_hand_points(robot, commands, timed.trajectory.times)
        checked = limits
        geometry = LinkGeometry(robot) if limits.obstacles else None
        if geometry is not None and request.scene_points is not None:
            scene = scene_obstacle(request.scene_points, robot, geometry, start,
                                   request.ee_path.positions, limits.table_height)
            if scene is not None:
                checked = replace(limits, obstacles=(*limits.obstacles, scene))
        SafetyFilter(robot, checked, geometry).check(timed.trajectory, start, hand)

    _stage('safety', (SafetyViolationError, CollisionModelError), check, result, run_stage)
    if config.plan_only or executor is None:
        return result
    execution = ExecutionRequest(robot, timed.trajectory, result.gripper_events,
                                 result.hand_commands, request.should_stop)
    result.execution = _stage('executing', (ExecutionError,),
                              lambda: executor.execute(execution), result, run_stage)
    result.executed = True
    return result
