"""Plan court: judge N candidate plans by a dry run before anything moves; execute the best.

Each candidate (a video plan for seed seed + k, from the video model or a demonstration planner)
goes through the video -> action half of the pipeline with nothing executed (`run_pipeline` with
plan_only: hand tracking, reconstruction, the embodiment's hand stages, IK, time
parameterization, the safety filter), then through these checks:

  hand track     fraction of frames with the hand detected, mean landmark confidence
  reconstruction median reprojection residual of the metric hand fit (px)
  IK             every waypoint reached (the IK stage fails otherwise) and joint-step continuity:
                 the largest joint change between consecutive waypoints
  safety         the safety filter passed (its stage fails otherwise)
  sim twin       where one exists (`SimTwin`: the lvp_sim world the robot acts in), the planned
                 trajectory executed in a fresh MuJoCo copy of that world, and the task's success
                 predicate (lvp_sim.tasks) evaluated on it when the task is known

A candidate failing any check is infeasible, with its reasons. The feasible ones get a score in
[0, 1] (`score`); the best executes (ties: the lower index), through `run_motion` from the
executor's current state. With no feasible candidate the court raises a StageError that lists
every candidate's reasons, and nothing moves. Nothing here imports ROS: the plan_and_execute node
and the `lvp` tool are thin adapters.

`num_candidates` subsumes the older `num_samples` (which executed the first sample that passed
every stage): a sample that passed every stage is a feasible candidate; the court judges them all
before any motion and picks by score.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import Observation, VideoPlan

from lvp_bringup.pipeline import run_motion, run_pipeline
from lvp_bringup.pipeline_types import (
    STAGES,
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    StageError,
)

PASS_THROUGH = (ErrorCode.CANCELED, ErrorCode.INVALID_GOAL)
"""Failures that end the goal at once instead of failing one candidate."""
TWIN_STAGE = 'sim_twin'
"""The stage name of the sim twin's rollout in verdicts (it never fails a goal by itself)."""


@dataclass(frozen=True)
class CourtConfig:
    """Thresholds of the checks and the weights of the score (each weight's term is in [0, 1])."""

    min_detected_fraction: float = 0.5
    """Fewest frames (fraction of the plan) with the hand detected."""
    min_mean_confidence: float = 0.3
    max_residual_px: float = 15.0
    """Largest median reprojection residual of the hand fit."""
    max_joint_step_rad: float = 0.6
    """Largest joint change between consecutive IK waypoints (a branch flip above it)."""
    weights: tuple[float, float, float, float, float] = (0.2, 0.2, 0.2, 0.15, 0.25)
    """Score weights: detection, confidence, residual, joint step, sim-twin margin."""

    def __post_init__(self) -> None:
        if not (0.0 <= self.min_detected_fraction <= 1.0 and 0.0 <= self.min_mean_confidence <= 1.0
                and self.max_residual_px > 0.0 and self.max_joint_step_rad > 0.0):
            raise ValueError(f'CourtConfig: thresholds out of range: {self}')
        if len(self.weights) != 5 or min(self.weights) < 0.0 or sum(self.weights) <= 0.0:
            raise ValueError(f'CourtConfig.weights must be 5 non-negative numbers, '
                             f'got {self.weights}')


@dataclass(frozen=True)
class SimTwin:
    """A sim copy of the world the robot acts in: an lvp_sim WorldConfig and, when the task is
    one lvp_sim knows, its success predicate (an lvp_sim TaskSpec)."""

    world_config: Any
    task_spec: Any = None
    sim: Any = None
    """lvp_exec SimConfig of the twin's MuJoCo executor (None: its defaults)."""


@dataclass
class Verdict:
    """What the court decided about one candidate."""

    index: int
    seed: int
    feasible: bool = False
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    """Why it is infeasible (empty when feasible); what was measured otherwise."""
    failed_stage: str = ''
    error_code: int = int(ErrorCode.SUCCESS)
    metrics: dict[str, float] = field(default_factory=dict)
    plan_source: str = ''
    executed: bool = False
    wall_s: float = 0.0

    def summary(self) -> str:
        state = 'feasible' if self.feasible else 'infeasible'
        why = '; '.join(self.reasons) if self.reasons else 'no objection'
        return f'candidate {self.index} (seed {self.seed}): {state}, score {self.score:.3f}: {why}'

    def to_metadata(self) -> dict[str, Any]:
        """The verdict as plain data (archive metadata)."""
        return {'index': self.index, 'seed': self.seed, 'feasible': self.feasible,
                'score': round(self.score, 4), 'reasons': list(self.reasons),
                'failed_stage': self.failed_stage, 'error_code': self.error_code,
                'metrics': {k: round(float(v), 5) for k, v in self.metrics.items()},
                'executed': self.executed, 'plan_source': self.plan_source}


@dataclass
class Candidate:
    """A judged candidate: its verdict, plan, the dry run's artifacts and its failure if any."""

    verdict: Verdict
    plan: VideoPlan | None = None
    result: PipelineResult | None = None
    error: StageError | None = None
    twin_outcome: Any = None
    """lvp_sim TaskOutcome of the sim-twin rollout (None: no twin, task unknown, or not run)."""


@dataclass
class CourtOutcome:
    """Every candidate (in order) and the chosen one (it executed unless plan only)."""

    candidates: list[Candidate]
    chosen: Candidate

    @property
    def verdicts(self) -> list[Verdict]:
        return [c.verdict for c in self.candidates]


class CourtError(StageError):
    """The court ended without a successful motion: no candidate was feasible (`chosen` None),
    or the chosen one's motion failed or was stopped. `candidates`: every judged candidate."""

    def __init__(self, error: StageError, candidates: list[Candidate],
                 chosen: Candidate | None) -> None:
        super().__init__(error.stage, error.code, error.message)
        self.result = error.result
        self.candidates = candidates
        self.chosen = chosen


CandidateProgress = Callable[[int, str, float, float], None]
"""progress(candidate index (num_candidates = the chosen one executing), stage,
stage_progress, overall progress within that candidate)."""


def _no_progress(_index: int, _stage: str, _fraction: float, _overall: float) -> None:
    """Report nothing."""


def plan_metrics(result: PipelineResult) -> dict[str, float]:
    """What the dry run measured (only the quantities its stages produced)."""
    out: dict[str, float] = {}
    if result.tracking is not None:
        out['detected_fraction'] = float(result.tracking.detected_fraction)
    if result.hand_track is not None and len(result.hand_track.confidence):
        out['mean_confidence'] = float(np.mean(result.hand_track.confidence))
    if result.reconstruction is not None:
        out['residual_px'] = float(result.reconstruction.report.median_residual_px)
    path = result.joint_path
    if path is not None and len(path.positions):
        # between waypoints only: the move from the start state to the first one is the
        # approach, which time parameterization spreads over as long as it needs
        steps = np.abs(np.diff(path.positions, axis=0))
        out['max_joint_step_rad'] = float(steps.max()) if len(steps) else 0.0
        out['ik_max_error_mm'] = 1000.0 * path.max_position_error
    if result.timed is not None:
        out['duration_s'] = float(result.timed.trajectory.duration)
    return out


def check_metrics(metrics: dict[str, float], config: CourtConfig) -> list[str]:
    """The reasons the measured quantities make a candidate infeasible (empty: none)."""
    reasons = []
    detected = metrics.get('detected_fraction')
    if detected is not None and detected < config.min_detected_fraction:
        reasons.append(f'hand detected in {detected:.0%} of the frames (needs '
                       f'{config.min_detected_fraction:.0%})')
    confidence = metrics.get('mean_confidence')
    if confidence is not None and confidence < config.min_mean_confidence:
        reasons.append(f'mean hand confidence {confidence:.2f} (needs '
                       f'{config.min_mean_confidence:.2f})')
    residual = metrics.get('residual_px')
    if residual is not None and not residual <= config.max_residual_px:
        reasons.append(f'hand fit residual {residual:.1f} px (at most '
                       f'{config.max_residual_px:g} px)')
    step = metrics.get('max_joint_step_rad')
    if step is not None and step > config.max_joint_step_rad:
        reasons.append(f'joint step {step:.2f} rad between waypoints (at most '
                       f'{config.max_joint_step_rad:g} rad: the IK path is discontinuous)')
    return reasons


def score(metrics: dict[str, float], twin_margin: float | None, config: CourtConfig) -> float:
    """The candidate's score in [0, 1]: higher is better. twin_margin: the task predicate's
    measured / threshold in the sim twin (None: no twin or no predicate: counted as 0.5)."""
    def clip(v: float) -> float:
        return float(min(max(v, 0.0), 1.0))

    terms = (clip(metrics.get('detected_fraction', 0.0)),
             clip(metrics.get('mean_confidence', 0.0)),
             clip(1.0 - metrics.get('residual_px', config.max_residual_px)
                  / config.max_residual_px),
             clip(1.0 - metrics.get('max_joint_step_rad', config.max_joint_step_rad)
                  / config.max_joint_step_rad),
             0.5 if twin_margin is None else clip(twin_margin / 2.0))
    weights = config.weights
    return float(sum(w * t for w, t in zip(weights, terms)) / sum(weights))


def twin_rollout(result: PipelineResult, twin: SimTwin, config: PipelineConfig):
    """Execute the dry run's plan in a fresh MuJoCo copy of the twin's world; return the task
    predicate's lvp_sim TaskOutcome (None when the task is unknown). Raises StageError when the
    sim refuses or cannot follow the motion."""
    from lvp_sim.mujoco_executor import MujocoExecutor, SimConfig

    assert result.wrist_base is not None and result.mapping is not None
    trial = copy.copy(result)
    trial.messages = list(result.messages)
    trial.timings = dict(result.timings)
    executor = MujocoExecutor(twin.world_config, twin.sim or SimConfig(render_fps=0.0))
    try:
        run_motion(trial, result.wrist_base, result.mapping,
                   replace(config, plan_only=False, executor=executor))
    finally:
        executor.close()
    if twin.task_spec is None:
        return None
    from lvp_sim.tasks import evaluate_task

    return evaluate_task(twin.task_spec, trial.execution.initial_state,
                         trial.execution.final_state)


def judge(index: int, seed: int, plan: VideoPlan, observation: Observation, embodiment: str,
          config: PipelineConfig, court: CourtConfig, twin: SimTwin | None = None,
          progress: Callable[[str, float, float], None] | None = None) -> Candidate:
    """Dry-run one candidate plan and decide on it (CANCELED / INVALID_GOAL still raise)."""
    started = time.perf_counter()
    verdict = Verdict(index, seed, plan_source=plan.source.value)
    candidate = Candidate(verdict, plan)
    dry = replace(config, plan_only=True, executor=None)
    try:
        candidate.result = run_pipeline(observation, plan, embodiment, dry, progress)
    except StageError as exc:
        if exc.code in PASS_THROUGH:
            raise
        candidate.error, candidate.result = exc, exc.result
        verdict.failed_stage, verdict.error_code = exc.stage, int(exc.code)
        verdict.reasons.append(f'{exc.stage}: {exc.message}')
    result = candidate.result
    verdict.metrics = plan_metrics(result) if result is not None else {}
    verdict.reasons.extend(check_metrics(verdict.metrics, court))
    margin = None
    if candidate.error is None and result is not None and twin is not None:
        try:
            outcome = twin_rollout(result, twin, config)
        except StageError as exc:
            if exc.code in PASS_THROUGH:
                raise
            verdict.reasons.append(f'{TWIN_STAGE}: the sim twin could not run the motion '
                                   f'({exc.stage}: {exc.message})')
            verdict.failed_stage, verdict.error_code = TWIN_STAGE, int(exc.code)
        else:
            candidate.twin_outcome = outcome
            if outcome is not None:
                margin = float(outcome.measured / outcome.threshold)
                verdict.metrics['twin_margin'] = margin
                if not outcome.success:
                    verdict.reasons.append(f'{TWIN_STAGE}: task not done in the sim twin '
                                           f'({outcome.message})')
                    verdict.failed_stage = TWIN_STAGE
                    verdict.error_code = int(ErrorCode.EXECUTION_FAILED)
    verdict.feasible = not verdict.reasons
    if not verdict.feasible and not verdict.failed_stage:  # a threshold of the court failed it
        verdict.failed_stage, verdict.error_code = 'court', int(ErrorCode.UNREACHABLE)
    verdict.score = score(verdict.metrics, margin, court)
    verdict.wall_s = time.perf_counter() - started
    return candidate


def choose(candidates: list[Candidate]) -> Candidate | None:
    """The feasible candidate with the best score (ties: the lower index); None if none."""
    feasible = [c for c in candidates if c.verdict.feasible]
    return max(feasible, key=lambda c: (c.verdict.score, -c.verdict.index), default=None)


def _stage_rank(stage: str) -> int:
    order = ('planning', *STAGES[:-1], 'court', TWIN_STAGE)
    return order.index(stage) if stage in order else -1


def no_feasible_error(candidates: list[Candidate]) -> CourtError:
    """The goal's failure when no candidate is feasible: the furthest stage any candidate
    reached (its error code) and every candidate's reasons."""
    furthest = max(candidates, key=lambda c: _stage_rank(c.verdict.failed_stage))
    stage = furthest.verdict.failed_stage or 'court'
    code = ErrorCode(furthest.verdict.error_code or ErrorCode.EXECUTION_FAILED)
    reasons = ' | '.join(c.verdict.summary() for c in candidates)
    error = StageError(stage, code, f'none of the {len(candidates)} candidate plans is feasible; '
                                    f'nothing moved: {reasons}')
    error.result = furthest.result
    return CourtError(error, candidates, None)


def candidate_seeds(seed: int, num_candidates: int) -> list[int]:
    """The candidates' seeds: seed, seed + 1, ..."""
    return [int(seed) + k for k in range(max(1, int(num_candidates)))]


def run_court(plan_for: Callable[[int, int], VideoPlan], observation: Observation,
              embodiment: str, seeds: list[int], config: PipelineConfig,
              court: CourtConfig | None = None, twin: SimTwin | None = None,
              judged: Callable[[Verdict], None] | None = None,
              progress: CandidateProgress | None = None) -> CourtOutcome:
    """Plan (plan_for(index, seed)), judge every candidate, then execute the best feasible one
    with `config` (its executor; nothing moves when config.plan_only).

    `judged` hears each verdict as it is decided. A planning failure fails that candidate only;
    CANCELED and INVALID_GOAL while judging end the court at once (a plain StageError). Raises
    CourtError when no candidate is feasible (`no_feasible_error`) or the chosen candidate's
    motion fails or is stopped.
    """
    court = court or CourtConfig()
    report = progress or _no_progress
    candidates: list[Candidate] = []
    for index, seed in enumerate(seeds):
        report(index, 'planning', 0.0, 0.0)
        try:
            plan = plan_for(index, seed)
        except StageError as exc:
            if exc.code in PASS_THROUGH:
                raise
            verdict = Verdict(index, seed, reasons=[f'planning: {exc.message}'],
                              failed_stage='planning', error_code=int(exc.code))
            candidate = Candidate(verdict, error=exc)
        else:
            candidate = judge(index, seed, plan, observation, embodiment, config, court, twin,
                              lambda s, f, o, i=index: report(i, s, f, o))
        candidates.append(candidate)
        if judged is not None:
            judged(candidate.verdict)
    chosen = choose(candidates)
    if chosen is None:
        raise no_feasible_error(candidates)
    outcome = CourtOutcome(candidates, chosen)
    result = chosen.result
    assert result is not None and result.wrist_base is not None and result.mapping is not None
    if not config.plan_only:
        try:
            run_motion(result, result.wrist_base, result.mapping, config, None,
                       lambda s, f, o: report(len(seeds), s, f, o))
        except StageError as exc:
            chosen.verdict.executed = result.executed
            exc.result = result
            raise CourtError(exc, candidates, chosen) from exc
        chosen.verdict.executed = result.executed
    return outcome
