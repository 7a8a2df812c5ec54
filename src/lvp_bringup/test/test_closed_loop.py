"""Closed-loop re-planning (ROS-free) in the lvp_sim world: the cube is displaced after the plan
was made; the loop sees it in the fresh camera view, re-plans and succeeds; without a re-plan
budget nothing moves; a cancel during the re-plan ends CANCELED."""

from __future__ import annotations

import os
from dataclasses import replace

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from lvp_bringup.closed_loop import (  # noqa: E402
    REPLAN_STAND_IN,
    ClosedLoopConfig,
    ClosedLoopError,
    object_in_view,
    run_closed_loop,
    sim_observation,
    sim_replanner,
)
from lvp_bringup.pipeline import ErrorCode, PipelineConfig, StageError  # noqa: E402
from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration  # noqa: E402
from lvp_sim.tasks import evaluate_task, task_spec_for  # noqa: E402
from lvp_sim.world import world_config_for  # noqa: E402
from recording_executor import RecordingExecutor  # noqa: E402

SEED = 2
SHIFT = (0.0, 0.06)
"""The disturbance: the cube moved 6 cm along the table's y after planning."""


@pytest.fixture(scope='module')
def setup():
    demo = render_demonstration(DemonstrationConfig(seed=SEED, num_frames=49,
                                                    world=world_config_for('franka_gripper')))
    x, y = demo.world_config.cube_xy
    moved = replace(demo.world_config, cube_xy=(x + SHIFT[0], y + SHIFT[1]))
    return demo, moved


def test_a_displaced_cube_is_seen_replanned_for_and_lifted(setup):
    demo, moved = setup
    executor = RecordingExecutor(moved)
    heard: list = []
    fresh = sim_observation(moved)
    seen = object_in_view(fresh, np.array([0.45, 0.1, 0.02]))
    truth = moved.robot_mount.inverse().transform_points(
        np.array([[*moved.cube_xy, moved.cube_half_size]]))[0]
    assert seen is not None and np.linalg.norm(seen[:2] - truth[:2]) < 0.015, (seen, truth)
    outcome = run_closed_loop(demo.observation, demo.plan, 'franka_gripper',
                              PipelineConfig(executor=executor), lambda: fresh,
                              sim_replanner(moved, 'reach_grasp_lift', SEED),
                              ClosedLoopConfig(max_replans=2), on_replan=heard.append)
    assert len(outcome.replans) >= 1 and heard == outcome.replans
    first = outcome.replans[0]
    assert (first.index, first.parent) == (1, 0)
    assert 'cm from where the plan grasps it' in first.reason and first.drift_m > 0.04
    assert first.plan.metadata['replan'] == REPLAN_STAND_IN
    assert len(executor.requests) == 1  # only the re-plan moved the robot
    result = outcome.result
    lift = evaluate_task(task_spec_for('reach_grasp_lift', moved),
                         result.execution.initial_state, result.execution.final_state)
    assert lift.success, lift.message
    assert 'executing' in outcome.checks[-1]


def test_no_replan_budget_moves_nothing(setup):
    demo, moved = setup
    executor = RecordingExecutor(moved)
    with pytest.raises(ClosedLoopError) as info:
        run_closed_loop(demo.observation, demo.plan, 'franka_gripper',
                        PipelineConfig(executor=executor), lambda: sim_observation(moved),
                        sim_replanner(moved, 'reach_grasp_lift', SEED),
                        ClosedLoopConfig(max_replans=0))
    assert info.value.code is ErrorCode.EXECUTION_FAILED
    assert 're-plan budget (0) is spent: nothing moved' in info.value.message
    assert executor.requests == []


def test_a_cancel_during_the_replan_ends_canceled_without_motion(setup):
    demo, moved = setup
    executor = RecordingExecutor(moved)

    def canceled_replan(_observation, _seen, _number):
        raise StageError('planning', ErrorCode.CANCELED, 'canceled by the client during planning')

    with pytest.raises(StageError) as info:
        run_closed_loop(demo.observation, demo.plan, 'franka_gripper',
                        PipelineConfig(executor=executor), lambda: sim_observation(moved),
                        canceled_replan)
    assert info.value.code is ErrorCode.CANCELED and info.value.stage == 'planning'
    assert executor.requests == []


def test_an_undisturbed_scene_executes_the_plan_as_made(setup):
    demo, _ = setup
    executor = RecordingExecutor(demo.world_config)

    def no_replan(*_args):
        raise AssertionError('re-planned an undisturbed scene')

    outcome = run_closed_loop(demo.observation, demo.plan, 'franka_gripper',
                              PipelineConfig(executor=executor),
                              lambda: sim_observation(demo.world_config), no_replan)
    assert outcome.replans == [] and len(executor.requests) == 1
    assert 'executing' in outcome.checks[0]
    with pytest.raises(ValueError, match='drift_threshold_m'):
        ClosedLoopConfig(drift_threshold_m=0.0)
