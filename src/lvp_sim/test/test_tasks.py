"""Task success predicates on hand-made scene states."""

import numpy as np
import pytest
from lvp_common.geometry import Pose
from lvp_sim.tasks import SceneState, TaskError, TaskKind, TaskSpec, evaluate_task
from lvp_sim.world import WorldConfig, build_world


def _state(cube_xyz, button_travel: float = 0.0) -> SceneState:
    return SceneState({'cube': Pose(np.array(cube_xyz), np.array([0.0, 0.0, 0.0, 1.0]))},
                      button_travel)


def test_lift_needs_five_centimetres():
    spec = TaskSpec('lift', TaskKind.LIFT)
    start = _state([0.4, 0.0, 0.025])
    assert evaluate_task(spec, start, _state([0.45, 0.0, 0.085])).success
    outcome = evaluate_task(spec, start, _state([0.4, 0.0, 0.06]))
    assert not outcome.success
    assert outcome.measured == pytest.approx(0.035)


def test_push_needs_the_object_inside_the_region_and_on_the_table():
    spec = TaskSpec('push', TaskKind.PUSH_TO_REGION, region_xy=(0.4, -0.15),
                    region_half_size=0.05)
    start = _state([0.4, 0.05, 0.025])
    assert evaluate_task(spec, start, _state([0.43, -0.12, 0.025])).success
    assert not evaluate_task(spec, start, _state([0.4, -0.08, 0.025])).success
    assert not evaluate_task(spec, start, _state([0.4, -0.15, 0.2])).success


def test_press_needs_button_travel():
    spec = TaskSpec('press', TaskKind.PRESS)
    start = _state([0.4, 0.0, 0.025])
    assert evaluate_task(spec, start, _state([0.4, 0.0, 0.025], -0.006)).success
    assert not evaluate_task(spec, start, _state([0.4, 0.0, 0.025], -0.002)).success


def test_missing_object_and_bad_thresholds_raise():
    with pytest.raises(TaskError, match='no object'):
        evaluate_task(TaskSpec('lift', TaskKind.LIFT, 'mug'), _state([0, 0, 0]),
                      _state([0, 0, 0]))
    with pytest.raises(TaskError, match='positive'):
        TaskSpec('lift', TaskKind.LIFT, lift_height=0.0)


def test_untouched_world_satisfies_no_task():
    from lvp_sim.tasks import read_scene_state

    world = build_world(WorldConfig())
    state = read_scene_state(world)
    assert state.object_poses['cube'].position[2] == pytest.approx(0.025)
    for spec in (TaskSpec('lift', TaskKind.LIFT),
                 TaskSpec('push', TaskKind.PUSH_TO_REGION,
                          region_xy=world.config.target_region_xy),
                 TaskSpec('press', TaskKind.PRESS)):
        assert not evaluate_task(spec, state, state).success
