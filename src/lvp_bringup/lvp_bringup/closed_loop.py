"""Closed-loop re-planning (ROS-free): look again before moving, re-plan when the scene drifted.

A plan is made from one observation; by the time the robot moves, the object may have moved
(pushed, slipped, put back elsewhere). `run_closed_loop` dry-runs the plan (every stage, nothing
moved), takes a fresh observation (`observe`: the camera now; in sim the rendered camera), finds
the object the plan acts on in it (lvp_grasp's top-face finder on the fresh RGB-D point cloud,
searched around where the plan grasps) and measures how far it is from where the plan grasps it.
Within `drift_threshold_m` the plan executes; beyond it the task is planned again from the fresh
observation (`replan`), up to `max_replans` times, each re-plan recorded with its parent and the
reason. When the budget is spent the run fails and nothing moves.

Scope: this loop checks once, at the segment boundary before the motion starts. Checks between
segments of a motion (stop, re-plan from the arm's current joint state, go on) are
lvp_bringup.closed_loop_segments, on a sim executor that keeps its state
(`MujocoExecutor(keep_state=True)`); it reuses `object_in_view`, `Replan` and the outcome types
here. Not yet: either loop on a real robot (the fresh observation from the camera topics). The
sim's re-plan is lvp_sim's demonstrator conditioned on the scene measured in the fresh
observation, a stand-in for the video model (whose re-plan would take the fresh frames as history
latents).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
from lvp_common.artifacts import Observation, VideoPlan

from lvp_bringup.pipeline import run_motion, run_pipeline
from lvp_bringup.pipeline_types import (
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    ProgressCallback,
    StageError,
)


@dataclass(frozen=True)
class ClosedLoopConfig:
    """When to re-plan and how often."""

    drift_threshold_m: float = 0.02
    """Largest horizontal distance (m) between where the plan grasps the object and where the
    fresh observation shows it, for the plan to execute."""
    max_replans: int = 2

    def __post_init__(self) -> None:
        if not self.drift_threshold_m > 0.0 or self.max_replans < 0:
            raise ValueError(f'ClosedLoopConfig: drift_threshold_m must be > 0 and max_replans '
                             f'>= 0, got {self.drift_threshold_m}, {self.max_replans}')


@dataclass
class Replan:
    """One re-plan: its number (1, 2, ...), the plan it replaces (0 = the original), why."""

    index: int
    parent: int
    reason: str
    drift_m: float
    plan: VideoPlan
    observation: Observation


@dataclass
class ClosedLoopOutcome:
    """The executed (or, plan only, chosen) run, every re-plan, and each check's finding."""

    result: PipelineResult
    replans: list[Replan] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)


class ClosedLoopError(StageError):
    """The loop ended without a motion (re-plan budget spent) or its motion failed; `replans`
    and `checks` say what happened before."""

    def __init__(self, error: StageError, replans: list[Replan], checks: list[str]) -> None:
        super().__init__(error.stage, error.code, error.message)
        self.result = error.result
        self.replans = replans
        self.checks = checks


def object_in_view(observation: Observation, near: np.ndarray) -> np.ndarray | None:
    """The centre (base frame, m) of the object whose top face lies nearest `near` in the
    observation's RGB-D point cloud, or None (no depth, no camera pose, nothing seen there)."""
    from lvp_grasp.top_face import TopFaceGraspDetector
    from lvp_reconstruction.point_cloud import PointCloudConfig, back_project, transform_cloud

    if (observation.depth is None or observation.camera_to_base is None
            or observation.intrinsics is None):
        return None
    cloud = back_project(observation.depth, observation.intrinsics,
                         config=PointCloudConfig(stride=2))
    cloud = transform_cloud(cloud, observation.camera_to_base, observation.base_frame)
    finder = TopFaceGraspDetector()
    face = finder.find_top_face(cloud, np.asarray(near, dtype=float))
    if face is None:
        return None
    # searched around `near`, a face is cut off where the search circle ends: look again
    # around the face's own centre (as the pipeline's grasp registration does)
    for _ in range(2):
        again = finder.find_top_face(cloud, face.centre)
        if again is None:
            break
        face = again
    return face.centre - np.array([0.0, 0.0, 0.5 * face.height])


def planned_object(result: PipelineResult) -> np.ndarray | None:
    """Where the plan expects the object it acts on (base frame): the object in the planning
    observation's cloud that the hand's grasp point comes nearest (what the EE path is
    registered to), or None when there is none."""
    from lvp_bringup.embodiments.ee_mapping import approached_object

    rec = result.reconstruction
    if rec is None or rec.point_cloud_base is None or result.wrist_base is None:
        return None
    found = approached_object(rec.point_cloud_base, result.wrist_base)
    return None if found is None else np.asarray(found[1], dtype=float)


def run_closed_loop(observation: Observation, plan: VideoPlan, embodiment: str,
                    config: PipelineConfig, observe: Callable[[], Observation],
                    replan: Callable[[Observation, np.ndarray | None, int], VideoPlan],
                    loop: ClosedLoopConfig | None = None,
                    on_replan: Callable[[Replan], None] | None = None,
                    progress: ProgressCallback | None = None) -> ClosedLoopOutcome:
    """Dry-run `plan`, check the scene in a fresh observation, re-plan while it drifted, then
    execute with `config` (nothing moves when config.plan_only).

    replan(fresh observation, the object's measured centre or None, re-plan number) -> a plan.
    A stage failure of any plan raises its StageError; a cancel (StageError CANCELED from
    `progress`, `observe` or `replan`) ends the loop at once. Raises ClosedLoopError when the
    re-plan budget is spent or the motion fails.
    """
    loop = loop or ClosedLoopConfig()
    dry = replace(config, plan_only=True, executor=None)
    replans: list[Replan] = []
    checks: list[str] = []
    current_obs, current_plan = observation, plan
    for attempt in range(loop.max_replans + 1):
        result = run_pipeline(current_obs, current_plan, embodiment, dry, progress)
        target = planned_object(result)
        fresh = observe()
        seen = None if target is None else object_in_view(fresh, target)
        if target is None:
            checks.append(f'plan {attempt}: no object under its grasp point in the planning '
                          f'observation: executed without a drift check')
            drift = 0.0
        elif seen is None:
            drift = float('inf')
        else:
            drift = float(np.linalg.norm(seen[:2] - target[:2]))
        if drift <= loop.drift_threshold_m:
            if target is not None:
                checks.append(f'plan {attempt}: object {100 * drift:.1f} cm from where the plan '
                              f'grasps it (threshold {100 * loop.drift_threshold_m:g} cm): '
                              f'executing')
            outcome = ClosedLoopOutcome(result, replans, checks)
            if config.plan_only:
                return outcome
            assert result.wrist_base is not None and result.mapping is not None
            try:
                run_motion(result, result.wrist_base, result.mapping, config, None, progress)
            except StageError as exc:
                exc.result = result
                raise ClosedLoopError(exc, replans, checks) from exc
            return outcome
        reason = ('the object the plan grasps is not seen near its grasp point'
                  if seen is None else
                  f'the object is {100 * drift:.1f} cm from where the plan grasps it '
                  f'(threshold {100 * loop.drift_threshold_m:g} cm)')
        checks.append(f'plan {attempt}: {reason}')
        if attempt == loop.max_replans:
            error = StageError('executing', ErrorCode.EXECUTION_FAILED,
                               f'the scene drifted from the plan ({reason}) and the re-plan '
                               f'budget ({loop.max_replans}) is spent: nothing moved')
            error.result = result
            raise ClosedLoopError(error, replans, checks)
        new_plan = replan(fresh, seen, attempt + 1)
        record = Replan(attempt + 1, attempt, reason, drift, new_plan, fresh)
        replans.append(record)
        if on_replan is not None:
            on_replan(record)
        current_obs, current_plan = fresh, new_plan
    raise AssertionError('unreachable: the loop returns or raises')


REPLAN_STAND_IN = ('lvp_sim demonstrator conditioned on the scene measured in the fresh '
                   'observation: a stand-in for the video model')
"""How a sim re-plan is labelled (plan metadata 'replan')."""


def sim_observation(world_config) -> Observation:
    """The lvp_sim world's camera now (RGB-D, exact intrinsics and pose), hand hidden."""
    from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration

    return render_demonstration(DemonstrationConfig(num_frames=8, world=world_config,
                                                    jitter=0.0)).observation


def sim_replanner(world_config, task: str, seed: int, num_frames: int = 49
                  ) -> Callable[[Observation, np.ndarray | None, int], VideoPlan]:
    """A `replan` for run_closed_loop in the lvp_sim world `world_config` (its layout): the
    demonstration of `task` with the cube where the fresh observation shows it (its yaw kept),
    labelled REPLAN_STAND_IN."""
    from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration

    def make(_observation: Observation, seen: np.ndarray | None, number: int) -> VideoPlan:
        if seen is None:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             'the sim demonstrator needs the object\'s position, and the fresh '
                             'observation does not show it near the plan\'s grasp point')
        table_xy = world_config.robot_mount.transform_points(np.asarray(seen)[None])[0, :2]
        world = replace(world_config, cube_xy=(float(table_xy[0]), float(table_xy[1])))
        plan = render_demonstration(DemonstrationConfig(task=task, seed=seed,
                                                        num_frames=num_frames, world=world,
                                                        jitter=0.0)).plan
        plan.metadata['replan'] = REPLAN_STAND_IN
        plan.metadata['replan_number'] = str(number)
        return plan

    return make
