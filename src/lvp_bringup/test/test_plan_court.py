"""The plan court (ROS-free): candidates judged by a dry run and a sim-twin rollout, the best
feasible one executed, nothing moved when none is feasible. Plans are lvp_sim demonstrations,
some flawed on purpose (lvp_sim.plan_flaws)."""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import pytest  # noqa: E402
from lvp_bringup.pipeline import ErrorCode, PipelineConfig  # noqa: E402
from lvp_bringup.plan_court import (  # noqa: E402
    Candidate,
    CourtConfig,
    CourtError,
    SimTwin,
    Verdict,
    check_metrics,
    choose,
    run_court,
    score,
)
from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration  # noqa: E402
from lvp_sim.plan_flaws import FlawPolicy, flawed_layout, render_with_flaw  # noqa: E402
from lvp_sim.tasks import task_spec_for  # noqa: E402
from lvp_sim.world import world_config_for  # noqa: E402
from recording_executor import RecordingExecutor  # noqa: E402

NUM_FRAMES = 49
SEED = 5


@pytest.fixture(scope='module')
def scene():
    return render_demonstration(DemonstrationConfig(seed=SEED, num_frames=8,
                                                    world=world_config_for('franka_gripper')))


def _court(scene, flaws, plan_only=False):
    world = world_config_for('franka_gripper')
    executor = RecordingExecutor(scene.world_config)
    planned: list[int] = []

    def plan_for(index: int, seed: int):
        planned.append(seed)
        return render_with_flaw(DemonstrationConfig(seed=seed, num_frames=NUM_FRAMES,
                                                    world=world), flaws[index]).plan

    seeds = [SEED + k for k in range(len(flaws))]
    heard: list[Verdict] = []
    twin = SimTwin(scene.world_config, task_spec_for('reach_grasp_lift', scene.world_config))
    config = PipelineConfig(executor=executor, plan_only=plan_only)
    try:
        return run_court(plan_for, scene.observation, 'franka_gripper', seeds, config,
                         twin=twin, judged=heard.append), executor, heard, planned
    except CourtError as exc:
        return exc, executor, heard, planned


def test_the_best_feasible_candidate_executes_and_the_flawed_ones_have_reasons(scene):
    outcome, executor, heard, planned = _court(scene, ['wrong_object', 'out_of_reach', None])
    assert not isinstance(outcome, CourtError), outcome
    assert planned == [SEED, SEED + 1, SEED + 2]
    assert [v.index for v in heard] == [0, 1, 2]  # each verdict as it was decided
    wrong, reach, good = outcome.verdicts
    assert outcome.chosen.verdict is good and good.feasible and good.executed
    assert not wrong.feasible and wrong.failed_stage == 'sim_twin'
    # the gripper closes on nothing, or runs into the cup: the twin says so either way
    assert 'sim twin' in wrong.reasons[-1], wrong.reasons
    assert not reach.feasible and reach.failed_stage == 'ik', reach.reasons
    assert reach.reasons[0].startswith('ik: ') and reach.error_code == ErrorCode.UNREACHABLE
    assert not wrong.executed and not reach.executed
    assert 0.0 < good.score <= 1.0 and good.metrics['twin_margin'] >= 1.0
    # the executor ran the chosen plan only, once (the twin rollouts ran in their own sim)
    assert len(executor.requests) == 1
    result = outcome.chosen.result
    assert result is not None and result.executed
    from lvp_sim.tasks import evaluate_task
    lift = evaluate_task(task_spec_for('reach_grasp_lift', scene.world_config),
                         result.execution.initial_state, result.execution.final_state)
    assert lift.success, lift.message


def test_no_feasible_candidate_moves_nothing_and_reports_every_reason(scene):
    error, executor, heard, _ = _court(scene, ['missed_grasp', 'wrong_object'])
    assert isinstance(error, CourtError) and error.chosen is None
    assert executor.requests == []
    assert len(error.candidates) == 2 and len(heard) == 2
    assert error.code is ErrorCode.EXECUTION_FAILED and error.stage == 'sim_twin'
    assert 'none of the 2 candidate plans is feasible; nothing moved' in error.message
    assert 'candidate 0 (seed 5): infeasible' in error.message
    assert 'candidate 1 (seed 6): infeasible' in error.message


def test_plan_only_court_chooses_without_moving(scene):
    outcome, executor, _, _ = _court(scene, [None, 'missed_grasp'], plan_only=True)
    assert not isinstance(outcome, CourtError), outcome
    assert outcome.chosen.verdict.index == 0 and not outcome.chosen.verdict.executed
    assert executor.requests == []
    assert not outcome.verdicts[1].feasible


def test_choose_score_and_thresholds():
    def cand(index, feasible, value):
        return Candidate(Verdict(index, index, feasible=feasible, score=value))

    best = choose([cand(0, False, 0.9), cand(1, True, 0.5), cand(2, True, 0.7)])
    assert best is not None and best.verdict.index == 2
    tie = choose([cand(0, True, 0.5), cand(1, True, 0.5)])
    assert tie is not None and tie.verdict.index == 0  # ties: the lower index
    assert choose([cand(0, False, 0.9)]) is None
    config = CourtConfig()
    good = {'detected_fraction': 1.0, 'mean_confidence': 0.9, 'residual_px': 2.0,
            'max_joint_step_rad': 0.05}
    assert check_metrics(good, config) == []
    worse = dict(good, residual_px=10.0)
    assert score(good, 1.5, config) > score(worse, 1.5, config) > score(worse, 0.2, config)
    bad = dict(good, detected_fraction=0.2, max_joint_step_rad=1.2)
    reasons = check_metrics(bad, config)
    assert len(reasons) == 2 and 'hand detected in 20%' in reasons[0]
    assert 'joint step 1.20 rad' in reasons[1]
    with pytest.raises(ValueError, match='weights'):
        CourtConfig(weights=(1.0, 0.0))  # type: ignore[arg-type]  (the wrong length on purpose)


def test_flaw_policy_is_reproducible_at_its_rate():
    policy = FlawPolicy(0.5)
    draws = [policy.flaw_for(s) for s in range(400)]
    assert draws == [policy.flaw_for(s) for s in range(400)]
    rate = sum(d is not None for d in draws) / len(draws)
    assert 0.42 < rate < 0.58, rate
    assert {d for d in draws if d} == {'wrong_object', 'out_of_reach', 'missed_grasp'}
    assert FlawPolicy(0.0).flaw_for(3) is None and FlawPolicy(1.0).flaw_for(3) is not None
    assert draws != [FlawPolicy(0.5, flaw_seed=1).flaw_for(s) for s in range(400)]
    with pytest.raises(ValueError, match='flaw rate'):
        FlawPolicy(1.5)
    world = world_config_for('franka_gripper')
    swapped = flawed_layout(world, 'wrong_object')
    assert swapped.cube_xy == world.cup_xy and swapped.cup_xy == world.cube_xy
