"""Mid-motion closed loop (ROS-free): execute in segments, look between them, re-plan from the
robot's current state when the scene left the plan.

`run_segmented_loop` executes a plan through the pipeline on a sim executor that keeps its state
between executions (`MujocoExecutor(keep_state=True)`). The execution is watched: at trajectory
time 0 and every `SegmentConfig.segment_s` after it (the segment boundaries), the progress is
measured against the plan:
- before the plan's grasp (its first CLOSE event, or its Inspire commands closing past half
  way), while the hand is still away from the object, the fresh camera view
  (`MujocoExecutor.observe`: the live sim state, the robot's own pixels without depth) must show
  the object within `drift_threshold_m` of where the plan grasps it (the first plan: the object
  nearest its grasp in the planning cloud, `closed_loop.planned_object`; a re-plan: where the
  fresh view showed it);
- once the gripper had time to close, it must hold something (`_Watch.holding`: a Franka
  gripper wider than `hold_min_width_m`, an Inspire finger held off its commanded angle); an
  empty grasp, and the camera not showing the object within `drift_threshold_m` of
  where the plan has it (in the hand, with the EE), mean the object left the grasp.
A failed check stops the arm where it is (the executor holds it) and the task is planned again
(`replan`: fresh observation, the object's centre seen near the plan's grasp point, re-plan
number) from the live observation, starting from the arm's CURRENT joint state (the executor's
`start_positions`; a continuing Franka gripper opens first, as a plan starts with an open hand),
up to `max_replans` times, every re-plan recorded (`Replan`) with its parent and reason.
The motion's last sample is checked too: a plan that ends with its object dropped is not done.

Scope: the executor must continue from its state (the sim's keep_state; a real robot always
does, but observing mid-motion there needs the camera topics, not wired yet). In sim the re-plan
is lvp_sim's demonstrator conditioned on the measured scene, a stand-in for the video model
(`closed_loop.sim_replanner`); the checks use the camera and the end effector's joint state
only, never the simulator's object poses (the robot's pixels are removed with the sim's geom
segmentation, where a real self-filter renders the arm's model at its joint state).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import GripperAction, Observation, VideoPlan
from lvp_exec.execution import ExecutionRequest, ExecutionStoppedError
from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS

from lvp_bringup.closed_loop import (
    ClosedLoopError,
    ClosedLoopOutcome,
    Replan,
    object_in_view,
    planned_object,
)
from lvp_bringup.pipeline import run_motion, run_pipeline
from lvp_bringup.pipeline_types import ErrorCode, PipelineConfig, ProgressCallback, StageError

INSPIRE_FINGERS = ('little', 'ring', 'middle', 'index', 'thumb_bend')
"""The Inspire actuators that close on an object (thumb_rotation only turns the thumb)."""
INSPIRE_PINCH = ('index', 'thumb_bend')
"""The ones a held object stops (a pinch); the others may close past a small object."""


@dataclass(frozen=True)
class SegmentConfig:
    """Segment length, what counts as drift, and the re-plan budget."""

    segment_s: float = 0.5
    """Execution time (s) between two checks."""
    drift_threshold_m: float = 0.03
    """Before the grasp: largest horizontal distance (m) between the object seen and where the
    plan grasps it."""
    approach_clearance_m: float = 0.10
    """Before the grasp the object is only checked while the EE is farther than this (m) from the
    grasp point (closer, the hand hides it from the camera)."""
    hold_min_width_m: float = 0.01
    """After the grasp: a gripper closed below this width (m) holds nothing, unless the camera
    sees the object within drift_threshold_m of where the plan has it (in the hand)."""
    hold_min_gap_rad: float = 0.3
    """After the grasp, Inspire hand: a held object stops the index or the thumb this far (rad)
    off its commanded angle; an empty hand's reach theirs."""
    grasp_settle_s: float = 0.6
    """Time (s) after the CLOSE event before the grasp is checked (the fingers close)."""
    max_replans: int = 2

    def __post_init__(self) -> None:
        if not (self.segment_s > 0.0 and self.drift_threshold_m > 0.0
                and self.hold_min_width_m > 0.0 and self.max_replans >= 0):
            raise ValueError(f'SegmentConfig: segment_s, drift_threshold_m and hold_min_width_m '
                             f'must be > 0 and max_replans >= 0, got {self}')


@dataclass
class Finding:
    """A failed check: when, why, the fresh observation and where the object was seen."""

    time: float
    reason: str
    drift_m: float
    observation: Observation
    seen: np.ndarray | None


@dataclass
class _Watch:
    """The checks of one execution (the should_stop of its request)."""

    executor: Any
    request: ExecutionRequest
    config: SegmentConfig
    log: list[str]
    label: str
    target: np.ndarray | None = None
    """The object's centre (base frame) where the plan grasps it; None: the EE's grasp point."""
    finding: Finding | None = None
    next_check: float = 0.0
    close_time: float | None = None
    ee: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))

    def __post_init__(self) -> None:
        closes = [e.time for e in self.request.gripper_events if e.action is GripperAction.CLOSE]
        self.close_time = min(closes) if closes else None
        commands = self.request.hand_commands
        if commands is not None:  # the Inspire hand: closing when its fingers pass half way
            fingers = [commands.actuator_names.index(n) for n in INSPIRE_FINGERS]
            closing = np.flatnonzero(np.mean(commands.normalized[:, fingers], axis=1) < 0.5)
            self.close_time = float(commands.times[closing[0]]) if len(closing) else None
        self.ee = np.asarray(self.request.robot.ee_positions(self.request.trajectory.positions))

    def holding(self, now: float) -> tuple[bool, str]:
        """Whether the end effector holds something now, by its joints: a Franka gripper wider
        than hold_min_width_m; an Inspire hand with a finger held off the angle it is commanded
        to by more than hold_min_gap_rad, index or thumb (an empty hand's reach theirs)."""
        c = self.config
        positions = self.executor.end_effector_positions()
        commands = self.request.hand_commands
        if commands is None:
            width = float(np.sum(positions))
            return (width >= c.hold_min_width_m,
                    f'the gripper at {1000 * width:.0f} mm (holds from '
                    f'{1000 * c.hold_min_width_m:g} mm)')
        names = list(self.executor.world_for(self.request.robot).ee_joints)
        gaps = []
        for actuator in INSPIRE_ACTUATORS:
            if actuator.name not in INSPIRE_PINCH:
                continue
            k = commands.actuator_names.index(actuator.name)
            n = float(np.interp(now, commands.times, commands.normalized[:, k]))
            target = actuator.closed_position + n * (actuator.open_position
                                                     - actuator.closed_position)
            joint = next(i for i, j in enumerate(names) if j.endswith(actuator.joint))
            gaps.append(abs(float(positions[joint]) - target))
        return (max(gaps) >= c.hold_min_gap_rad,
                f'index and thumb {gaps[0]:.2f} and {gaps[1]:.2f} rad off their commanded '
                f'angles (holds from {c.hold_min_gap_rad:g} rad)')

    def _ee_at(self, t: float) -> np.ndarray:
        times = self.request.trajectory.times
        return np.array([np.interp(t, times, self.ee[:, k]) for k in range(3)])

    def _look(self, near: np.ndarray, expected: np.ndarray, planar: bool) -> tuple[
            Observation, np.ndarray | None, float]:
        """A fresh observation, the object seen in it near `near` (None: not seen) and its
        distance (m; horizontal when `planar`, inf when not seen) from `expected`."""
        fresh = self.executor.observe()
        seen = object_in_view(fresh, near)
        if seen is None:
            return fresh, None, float('inf')
        axes = slice(0, 2) if planar else slice(0, 3)
        return fresh, seen, float(np.linalg.norm(seen[axes] - expected[axes]))

    def should_stop(self) -> bool:
        if self.request.should_stop():
            return True  # a cancel: no finding
        now = float(self.executor.sim_time)
        if now + 1e-9 < self.next_check:
            return False
        self.next_check += self.config.segment_s
        self.finding = self.check(now)
        return self.finding is not None

    def check(self, now: float) -> Finding | None:
        """Measure the progress at trajectory time `now` against the plan."""
        c = self.config
        if self.close_time is None:
            return None  # nothing grasped: nothing to compare (pushes, presses)
        at_grasp = self._ee_at(self.close_time)
        grasp = at_grasp if self.target is None else self.target
        if now < self.close_time:
            if np.linalg.norm(self._ee_at(now) - at_grasp) <= c.approach_clearance_m:
                return None
            fresh, seen, drift = self._look(grasp, grasp, planar=True)
            if drift <= c.drift_threshold_m:
                self.log.append(f'{self.label} t = {now:.2f} s: object {100 * drift:.1f} cm from '
                                f'the grasp point: on plan')
                return None
            where = ('not seen near the grasp point' if seen is None else
                     f'{100 * drift:.1f} cm from where the plan grasps it')
            return Finding(now, f'at t = {now:.2f} s, before the grasp: the object is {where} '
                                f'(threshold {100 * c.drift_threshold_m:g} cm)', drift, fresh,
                           seen)
        if now < self.close_time + c.grasp_settle_s:
            return None
        holds, state = self.holding(now)
        if holds:
            self.log.append(f'{self.label} t = {now:.2f} s: {state}: on plan')
            return None
        expected = grasp + self._ee_at(now) - at_grasp  # in the hand, moving with the EE
        fresh, seen, drift = self._look(grasp, expected, planar=False)
        if drift <= c.drift_threshold_m:  # narrow, but the camera sees it move with the hand
            self.log.append(f'{self.label} t = {now:.2f} s: {state}, but the object is seen '
                            f'{100 * drift:.1f} cm from the hand: on plan')
            return None
        where = ('is not seen near the grasp point' if seen is None else
                 f'is seen {100 * drift:.1f} cm from where the plan has it')
        return Finding(now, f'at t = {now:.2f} s, after the grasp: {state}: the object left '
                            f'the grasp and {where}', drift, fresh, seen)


class WatchedExecutor:
    """A keep_state sim executor whose executions are stopped by the segment checks."""

    name = 'sim'

    def __init__(self, inner: Any, config: SegmentConfig, log: list[str], label: str,
                 target: np.ndarray | None = None, runs: Any = None) -> None:
        self.inner = inner
        self.runs = runs if runs is not None else inner
        """What executes the requests: `inner` or a wrapper of it."""
        self.world_config = getattr(inner, 'world_config', None)
        self.config = config
        self.log = log
        self.label = label
        self.target = target
        self.watch: _Watch | None = None

    def start_positions(self, robot: Any) -> np.ndarray | None:
        return self.inner.start_positions(robot)

    def execute(self, request: ExecutionRequest) -> Any:
        watch = self.watch = _Watch(self.inner, request, self.config, self.log, self.label,
                                    self.target)
        result = self.runs.execute(replace(request, should_stop=watch.should_stop))
        end = float(request.trajectory.times[-1])
        watch.finding = watch.check(max(end, float(self.inner.sim_time)))
        if watch.finding is not None:
            raise ExecutionStoppedError(f'the last check failed: {watch.finding.reason}',
                                        stopped_at=watch.finding.time)
        return result


def run_segmented_loop(observation: Observation, plan: VideoPlan, embodiment: str,
                       config: PipelineConfig,
                       replan: Callable[[Observation, np.ndarray | None, int], VideoPlan],
                       loop: SegmentConfig | None = None,
                       on_replan: Callable[[Replan], None] | None = None,
                       progress: ProgressCallback | None = None,
                       sim: Any = None) -> ClosedLoopOutcome:
    """Execute `plan` in segments with a check between them; on a failed check stop, re-plan
    from the live observation and the arm's current state, and go on.

    sim: a sim executor with keep_state (its state is reset at the start), config.executor by
    default; config.executor executes (it may wrap `sim`, e.g. a joint-state playback). A stage
    failure raises ClosedLoopError (with the re-plans so far); a cancel (StageError CANCELED not
    caused by a check) ends the loop at once with the arm held; a spent re-plan budget raises
    ClosedLoopError with the arm held where the last check stopped it.
    """
    loop = loop or SegmentConfig()
    inner = sim if sim is not None else config.executor
    if inner is None or not getattr(inner, 'keep_state', False) or config.plan_only:
        raise ValueError('run_segmented_loop needs an executor that keeps its state between '
                         'executions (MujocoExecutor(keep_state=True)) and plan_only False')
    inner.forget_state()
    replans: list[Replan] = []
    checks: list[str] = []
    # The first plan starts where the sim resets (the trajectory's first sample): its video ->
    # action half runs once, plan only, to find the object it grasps (in the planning cloud);
    # then only its motion stages run again, on the watched executor.
    first = run_pipeline(observation, plan, embodiment,
                         replace(config, plan_only=True, executor=None), progress)
    target = planned_object(first)
    current_obs, current_plan = observation, plan
    for attempt in range(loop.max_replans + 1):
        watched = WatchedExecutor(inner, loop, checks, f'plan {attempt}', target,
                                  config.executor)
        run = replace(config, executor=watched)
        try:
            if attempt == 0:
                assert first.wrist_base is not None and first.mapping is not None
                result = run_motion(first, first.wrist_base, first.mapping, run, None, progress)
            else:
                result = run_pipeline(current_obs, current_plan, embodiment, run, progress)
        except StageError as exc:
            if attempt == 0:
                exc.result = first
            finding = None if watched.watch is None else watched.watch.finding
            if finding is None:
                if exc.code is ErrorCode.CANCELED:
                    raise
                raise ClosedLoopError(exc, replans, checks) from exc
            checks.append(f'plan {attempt}: {finding.reason}: stopped')
            if attempt == loop.max_replans:
                error = StageError('executing', ErrorCode.EXECUTION_FAILED,
                                   f'the scene left the plan ({finding.reason}) and the re-plan '
                                   f'budget ({loop.max_replans}) is spent: the arm holds where '
                                   f'it stopped')
                error.result = exc.result
                raise ClosedLoopError(error, replans, checks) from exc
            new_plan = replan(finding.observation, finding.seen, attempt + 1)
            record = Replan(attempt + 1, attempt, finding.reason, finding.drift_m, new_plan,
                            finding.observation)
            replans.append(record)
            if on_replan is not None:
                on_replan(record)
            # the re-plan grasps the object where the fresh observation showed it
            current_obs, current_plan, target = finding.observation, new_plan, finding.seen
            continue
        checks.append(f'plan {attempt}: executed to its end, every check on plan')
        return ClosedLoopOutcome(result, replans, checks)
    raise AssertionError('unreachable: the loop returns or raises')
