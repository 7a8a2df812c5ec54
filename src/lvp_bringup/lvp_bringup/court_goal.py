"""The plan court half of a PlanAndExecute goal (num_candidates > 1): the ROS adapter of
lvp_bringup.plan_court.

Plans every candidate through the goal's planner, lets the court judge and execute, then
archives every candidate (its verdict and score in the archive's metadata, the executed one
marked; the chosen one last, so that its artifacts are the latest on the lvp/ topics) and fills
the result's `candidates`. Feedback carries each verdict as soon as it is decided.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lvp_common.artifacts import Observation

from lvp_bringup.pipeline_types import ErrorCode, PipelineResult, StageError
from lvp_bringup.plan_court import (
    Candidate,
    CourtError,
    SimTwin,
    Verdict,
    candidate_seeds,
    run_court,
)
from lvp_interfaces.action import PlanAndExecute
from lvp_interfaces.msg import CandidateVerdict

if TYPE_CHECKING:
    from lvp_bringup.plan_and_execute_goal import GoalRun


def verdict_to_msg(verdict: Verdict, archive_path: str = '') -> CandidateVerdict:
    """A court Verdict as an lvp_interfaces CandidateVerdict."""
    names = sorted(verdict.metrics)
    return CandidateVerdict(index=verdict.index, seed=verdict.seed, feasible=verdict.feasible,
                            score=float(verdict.score), reasons=list(verdict.reasons),
                            failed_stage=verdict.failed_stage, metric_names=names,
                            metric_values=[float(verdict.metrics[n]) for n in names],
                            executed=verdict.executed, archive_path=archive_path)


def sim_twin(run: GoalRun, prompts: tuple[str, ...], embodiment: str) -> SimTwin | None:
    """The sim twin of a goal: with execution_backend sim, the lvp_sim world the robot acts in
    and, when the task is an lvp_sim task, its success predicate; None otherwise (noted)."""
    from lvp_bringup.embodiments import embodiment_named

    backend = run.node.param('execution_backend')
    if backend != 'sim':
        run.notes.append(f'plan court: no sim twin (execution_backend {backend!r}): candidates '
                         f'are judged by their dry run alone')
        return None
    world = (getattr(run.executor, 'world_config', None) or run.world
             or embodiment_named(embodiment).world_config())
    from lvp_planner.demonstration import DemonstrationError, synthetic_task_for
    from lvp_sim.tasks import task_spec_for

    try:
        spec = task_spec_for(synthetic_task_for(prompts), world)
    except DemonstrationError:
        run.notes.append('plan court: the task is not an lvp_sim task: the sim twin runs each '
                         'candidate without a success predicate')
        spec = None
    return SimTwin(world, spec)


def run_court_goal(run: GoalRun, observation: Observation, prompts: tuple[str, ...],
                   embodiment: str, count: int) -> PlanAndExecute.Result:
    """Judge `count` candidates, execute the best feasible one, archive all; the result."""
    run.set_court(count)
    twin = sim_twin(run, prompts, embodiment)
    seeds = candidate_seeds(int(run.goal.seed), count)

    def plan_for(index: int, seed: int):
        run.set_candidate(index)
        plan = run.plan(observation, prompts, seed)
        run.check_cancel('planning')
        return plan

    def judged(verdict: Verdict) -> None:
        run.add_verdict(verdict_to_msg(verdict))
        run.node.get_logger().info(f'plan court: {verdict.summary()}')

    def progress(index: int, stage: str, fraction: float, overall: float) -> None:
        run.set_candidate(index)
        run.stage_progress(stage, fraction, overall)

    config = run.pipeline_config()
    error: StageError | None = None
    candidates: list[Candidate] = []
    chosen: Candidate | None = None
    try:
        outcome = run_court(plan_for, observation, embodiment, seeds, config, twin=twin,
                            judged=judged, progress=progress)
        candidates, chosen = outcome.candidates, outcome.chosen
    except CourtError as exc:
        error, candidates, chosen = exc, exc.candidates, exc.chosen
    if error is None and chosen is not None and run.handle.is_cancel_requested:
        executed = chosen.verdict.executed
        error = StageError('executing' if executed else 'archive', ErrorCode.CANCELED,
                           'canceled by the client as the motion ended: it had run to its end'
                           if executed else 'canceled by the client before archiving')
    if chosen is not None and chosen.result is not None and run.goal.plan_only:
        run.play(chosen.result)
    result = PlanAndExecute.Result()
    if chosen is not None:
        result.sample_index, result.seed = chosen.verdict.index, chosen.verdict.seed
        result.plan_source = chosen.verdict.plan_source
    run.result = result
    archive_error = _archive_all(run, candidates, chosen, observation, prompts, embodiment,
                                 error)
    if chosen is not None and chosen.result is not None:
        run.fill_result(chosen.result)
    if error is not None:
        raise error
    if archive_error is not None:
        raise archive_error
    run.feedback('archive', 1.0, 1.0)
    result.error_code = int(ErrorCode.SUCCESS)
    return result


def _archive_all(run: GoalRun, candidates: list[Candidate], chosen: Candidate | None,
                 observation: Observation, prompts: tuple[str, ...], embodiment: str,
                 error: StageError | None) -> StageError | None:
    """Archive every candidate (the chosen one last); fill result.candidates with the paths."""
    archive_error: StageError | None = None
    paths: dict[int, str] = {}
    order = [c for c in candidates if c is not chosen] + ([chosen] if chosen else [])
    for candidate in order:
        verdict = candidate.verdict
        run.set_candidate(verdict.index)
        outcome: Any = candidate.result or PipelineResult(embodiment=embodiment,
                                                        plan=candidate.plan)
        run.result.archive_path = ''
        failure = error if candidate is chosen else candidate.error
        problem = run.archive(outcome, candidate.plan, observation, prompts, verdict.seed,
                              failure, verdict.to_metadata())
        archive_error = archive_error or problem
        paths[verdict.index] = run.result.archive_path
    if chosen is not None:
        run.result.archive_path = paths.get(chosen.verdict.index, '')
    elif candidates:
        run.result.archive_path = paths.get(candidates[0].verdict.index, '')
    run.result.candidates = [verdict_to_msg(c.verdict, paths.get(c.verdict.index, ''))
                             for c in candidates]
    return archive_error
