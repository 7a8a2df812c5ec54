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


def test_place_needs_the_object_inside_the_region_and_resting_on_the_table():
    spec = TaskSpec('place', TaskKind.PLACE_IN_REGION, region_xy=(0.4, -0.15),
                    region_half_size=0.05)
    start = _state([0.4, 0.05, 0.025])
    outcome = evaluate_task(spec, start, _state([0.42, -0.13, 0.025]))
    assert outcome.success, outcome.message
    assert outcome.measured == pytest.approx(0.02)
    # Resting a little deeper or higher (contact softness) still counts.
    assert evaluate_task(spec, start, _state([0.42, -0.13, 0.0215])).success
    # Outside the region, or still held 1 cm above it (a push would pass: this one fails).
    assert not evaluate_task(spec, start, _state([0.4, -0.08, 0.025])).success
    held = evaluate_task(spec, start, _state([0.42, -0.13, 0.035]))
    assert not held.success and 'not resting' in held.message
    assert not evaluate_task(spec, start, _state([0.42, -0.13, 0.015])).success
    with pytest.raises(TaskError, match='positive'):
        TaskSpec('place', TaskKind.PLACE_IN_REGION, rest_tolerance=0.0)


def _step(world, seconds: float) -> None:
    import mujoco

    for _ in range(round(seconds / world.model.opt.timestep)):
        mujoco.mj_step(world.model, world.data)


def test_untouched_button_reads_zero_after_the_world_settles():
    """The cap used to rest on its base, 1.4 mm above the joint's upper limit: every state
    read 'button pressed -1.4 mm'. Stepped for a second, an untouched button reads 0."""
    from lvp_sim.tasks import read_scene_state

    world = build_world(WorldConfig())
    _step(world, 1.0)
    state = read_scene_state(world)
    assert state.button_travel == pytest.approx(0.0, abs=2e-4)
    outcome = evaluate_task(TaskSpec('press', TaskKind.PRESS), state, state)
    assert not outcome.success
    assert outcome.measured == pytest.approx(0.0, abs=2e-4)
    assert 'button pressed 0.0 mm' in outcome.message


def test_pressed_button_reads_its_travel_and_stays_down():
    from lvp_sim.tasks import read_scene_state
    from lvp_sim.world import BUTTON_JOINT, BUTTON_TRAVEL

    # Set 6 mm down, the cap stays there: neither its base nor gravity moves it.
    world = build_world(WorldConfig())
    world.data.qpos[world.joint_qpos_address(BUTTON_JOINT)] = -0.006
    _step(world, 1.0)
    assert read_scene_state(world).button_travel == pytest.approx(-0.006, abs=2e-4)
    # Pushed down by a 5 N finger for 0.4 s, it bottoms out and latches there when let go.
    world = build_world(WorldConfig())
    cap = world.model.body('button').id
    world.data.xfrc_applied[cap, 2] = -5.0
    _step(world, 0.4)
    world.data.xfrc_applied[cap, 2] = 0.0
    _step(world, 1.0)
    initial = SceneState({}, 0.0)
    outcome = evaluate_task(TaskSpec('press', TaskKind.PRESS), initial, read_scene_state(world))
    assert outcome.success, outcome.message
    assert outcome.measured == pytest.approx(BUTTON_TRAVEL, abs=5e-4)
