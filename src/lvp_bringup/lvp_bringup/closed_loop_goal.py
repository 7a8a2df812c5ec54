"""The closed-loop half of a PlanAndExecute goal (`closed_loop: true`): the ROS adapter of
lvp_bringup.closed_loop.

For now in the sim world only (the scene rendered for the goal's seed): the fresh observation is
the sim camera, the re-plan lvp_sim's demonstrator conditioned on the scene measured in it (a
stand-in for the video model, labelled in the plan's metadata). The node parameter
`sim_disturbance_m` moves the cube after the plan is made, for tests and demonstrations. With
`closed_loop_segment_s` > 0 the motion is also checked between segments
(lvp_bringup.closed_loop_segments, on a sim of the goal's own that keeps its state): a failed
check stops the arm and re-plans from its current joint state; `sim_knock_out_m` knocks the
cube out of the grasp mid-lift for tests. Every
plan is archived: the first as `<goal>`, re-plan k as `<goal>-replan<k>` with its parent's
archive, the drift and the reason in the metadata's `replan` entry. Feedback carries the re-plan
count and the latest reason; a cancel during a re-plan ends CANCELED with nothing moved.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from lvp_common.artifacts import Observation

from lvp_bringup import goal_session as session
from lvp_bringup.closed_loop import (
    ClosedLoopConfig,
    ClosedLoopError,
    Replan,
    run_closed_loop,
    sim_observation,
    sim_replanner,
)
from lvp_bringup.pipeline_types import ErrorCode, PipelineResult, StageError
from lvp_interfaces.action import PlanAndExecute

if TYPE_CHECKING:
    from lvp_bringup.plan_and_execute_goal import GoalRun

DEFAULT_MAX_REPLANS = 2


def run_closed_loop_goal(run: GoalRun, observation: Observation, prompts: tuple[str, ...],
                         embodiment: str) -> PlanAndExecute.Result:
    """Plan, check the scene again, re-plan while it drifted, execute; archive every plan."""
    from lvp_planner.demonstration import DemonstrationError, synthetic_task_for

    node, goal = run.node, run.goal
    if run.world is None:
        raise session.invalid('closed_loop needs the sim world for now: execution_backend sim '
                              'and no goal image (re-planning from the live camera topics is '
                              'not implemented yet)')
    try:
        task = synthetic_task_for(prompts)
    except DemonstrationError as exc:
        raise session.invalid(f'closed_loop re-plans with the lvp_sim demonstrator: {exc}') \
            from exc
    world = run.world
    shift = float(node.param('sim_disturbance_m'))
    if shift:
        x, y = world.cube_xy
        world = replace(world, cube_xy=(x, y + shift))
        run.notes.append(f'sim_disturbance_m: the cube was moved {100 * shift:.1f} cm along the '
                         f'table\'s y after the plan was made')
        if run.executor is not None:
            run.executor = node.executor_for('sim', world)
    seed = int(goal.seed)
    run.result = PlanAndExecute.Result(sample_index=0, seed=seed)
    plan = run.plan(observation, prompts, seed)
    run.result.plan_source = plan.source.value
    run.check_cancel('planning')
    replanner = sim_replanner(world, task, seed, plan.num_frames)

    def observe() -> Observation:
        run.check_cancel('replanning')
        return sim_observation(world)

    def make_replan(fresh: Observation, seen, number: int):
        run.replans, run.replan_reason = number, run.replan_reason
        run.feedback('replanning', 0.0, 0.0)
        run.check_cancel('replanning')
        new = replanner(fresh, seen, number)
        run.check_cancel('replanning')
        return new

    def heard(record: Replan) -> None:
        run.replans, run.replan_reason = record.index, record.reason
        run.feedback('replanning', 1.0, 0.0)
        node.get_logger().info(f'closed loop: re-plan {record.index}: {record.reason}')

    loop = ClosedLoopConfig(max_replans=int(goal.max_replans) or DEFAULT_MAX_REPLANS)
    segment_s = float(node.param('closed_loop_segment_s'))
    error: StageError | None = None
    replans: list[Replan] = []
    outcome_result: PipelineResult | None = None
    try:
        if segment_s > 0.0 and run.executor is not None:
            outcome = _run_segmented(run, observation, plan, embodiment, make_replan, heard,
                                     loop.max_replans, segment_s, world)
        else:
            outcome = run_closed_loop(observation, plan, embodiment, run.pipeline_config(),
                                      observe, make_replan, loop, heard, run.stage_progress)
        outcome_result, replans = outcome.result, outcome.replans
        run.notes.extend(outcome.checks)
    except ClosedLoopError as exc:
        error, replans, outcome_result = exc, exc.replans, exc.result
        run.notes.extend(exc.checks)
    except StageError as exc:  # a stage failure or a cancel: archive the first plan with it
        error = exc
        outcome_result = exc.result
    run.result.replans = len(replans)
    run.result.replan_reasons = [r.reason for r in replans]
    final = replans[-1] if replans else None
    if outcome_result is not None:
        run.fill_result(outcome_result)
    archive_error = _archive_plans(run, plan, observation, replans, outcome_result, prompts,
                                   seed, error, embodiment)
    if error is not None:
        raise error
    if archive_error is not None:
        raise archive_error
    if final is not None:
        run.result.plan_source = final.plan.source.value
    run.feedback('archive', 1.0, 1.0)
    run.result.error_code = int(ErrorCode.SUCCESS)
    return run.result


def _run_segmented(run: GoalRun, observation: Observation, plan, embodiment: str, make_replan,
                   heard, max_replans: int, segment_s: float, world):
    """The mid-motion loop (closed_loop_segments) on a sim of its own that keeps its state for
    the goal (full-resolution camera), played on the joint states like any execution."""
    from lvp_exec.backends import backend_options_from_parameters, make_executor
    from lvp_sim.disturbances import KnockOutOfGrasp

    from lvp_bringup.closed_loop_segments import SegmentConfig, run_segmented_loop

    node = run.node
    options = replace(backend_options_from_parameters(node), sim_world=world)
    sim = make_executor('sim', None, options, node=node)
    sim.config = replace(sim.config, render_scale=1.0)
    sim.keep_state = True
    knock = float(node.param('sim_knock_out_m'))
    if knock:
        sim.step_hooks.append(KnockOutOfGrasp((0.0, knock)))
        run.notes.append(f'sim_knock_out_m: the cube leaves the grasp mid-lift and lands '
                         f'{100 * knock:.1f} cm along the table\'s y')
    shared, run.executor = run.executor, sim
    try:
        return run_segmented_loop(observation, plan, embodiment, run.pipeline_config(),
                                  make_replan, SegmentConfig(segment_s=segment_s,
                                                             max_replans=max_replans),
                                  heard, run.stage_progress, sim=sim)
    finally:
        run.executor = shared
        sim.close()


def _archive_plans(run: GoalRun, plan, observation: Observation, replans: list[Replan],
                   final: PipelineResult | None, prompts: tuple[str, ...], seed: int,
                   error: StageError | None, embodiment: str) -> StageError | None:
    """Archive the first plan and every re-plan (linked to its parent); the last one holds the
    run's artifacts and its error; result.archive_path is the last one's."""
    plans = [(plan, observation, None)] + [(r.plan, r.observation, r) for r in replans]
    names: list[str] = []
    problem: StageError | None = None
    for k, (each, obs, record) in enumerate(plans):
        last = k == len(plans) - 1
        outcome = final if last and final is not None else PipelineResult(embodiment, plan=each)
        meta = None if record is None else {
            'index': record.index, 'parent': record.parent, 'reason': record.reason,
            'drift_m': None if record.drift_m == float('inf') else round(record.drift_m, 4),
            'parent_archive': names[record.parent] if record.parent < len(names) else ''}
        run.result.archive_path = ''
        failure = error if last else None
        problem = problem or run.archive(outcome, each, obs, prompts, seed, failure,
                                         replan=meta, suffix=f'-replan{k}' if k else '')
        names.append(run.result.archive_path)
    return problem
