# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""The drawer and the dirt patch: physics, success predicates, demonstrations."""

import mujoco
import numpy as np
import pytest
from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration
from lvp_sim.fixtures_articulated import (
    DrawerConfig,
    FixtureError,
    WipePatchConfig,
    cell_travel,
    fixtures_for_task,
)
from lvp_sim.tasks import TaskKind, TaskSpec, evaluate_task, read_scene_state
from lvp_sim.world import build_world, world_config_for


def _step(world, seconds: float, force=None) -> None:
    for _ in range(int(seconds / world.model.opt.timestep)):
        if force is not None:
            force(world.data)
        mujoco.mj_step(world.model, world.data)


@pytest.mark.parametrize('embodiment', ['franka_gripper', 'g1_inspire'])
def test_a_drawer_pulled_by_its_handle_opens_and_an_untouched_one_stays_shut(embodiment):
    world = build_world(fixtures_for_task('open_drawer', world_config_for(embodiment)))
    spec = TaskSpec('open_drawer', TaskKind.OPEN_DRAWER)
    initial = read_scene_state(world)
    _step(world, 0.5)
    untouched = evaluate_task(spec, initial, read_scene_state(world))
    assert not untouched.success and abs(untouched.measured) < 1e-3
    handle = world.model.geom('drawer_handle').bodyid
    assert world.config.drawer is not None
    pull = world.config.drawer.pull_direction

    def pulling(data) -> None:
        data.xfrc_applied[handle, :3] = 6.0 * pull if data.time < 1.3 else 0.0

    _step(world, 1.5, pulling)
    opened = evaluate_task(spec, initial, read_scene_state(world))
    assert opened.success, opened.message
    # It stays where it was left (friction loss, no spring).
    at_release = opened.measured
    _step(world, 0.5)
    assert read_scene_state(world).drawer_opening == pytest.approx(at_release, abs=1e-3)


def test_a_short_pull_fails_the_drawer_predicate():
    spec = TaskSpec('open_drawer', TaskKind.OPEN_DRAWER)
    world = build_world(fixtures_for_task('open_drawer', world_config_for('franka_gripper')))
    initial = read_scene_state(world)
    adr = world.joint_qpos_address('drawer_slide')
    world.data.qpos[adr] = 0.03
    outcome = evaluate_task(spec, initial, read_scene_state(world))
    assert not outcome.success and outcome.measured == pytest.approx(0.03)


def _press_cells(world, which) -> None:
    """Push the chosen dirt cells down with 2 N for 0.2 s (as a finger on them would)."""
    ids = [world.model.body(name).id for name in which]
    world.data.time = 0.0

    def pushing(data) -> None:
        data.xfrc_applied[ids, 2] = -2.0 if data.time < 0.2 else 0.0

    _step(world, 0.5, pushing)


def test_wipe_coverage_counts_the_cells_pushed_down_and_they_stay_down():
    world = build_world(fixtures_for_task('wipe', world_config_for('g1_inspire')))
    patch = world.config.wipe_patch
    assert patch is not None
    spec = TaskSpec('wipe', TaskKind.WIPE)
    initial = read_scene_state(world)
    _step(world, 0.3)
    assert read_scene_state(world).wipe_coverage == 0.0
    names = patch.cell_names()
    _press_cells(world, names[:len(names) // 2])
    partial = evaluate_task(spec, initial, read_scene_state(world))
    assert not partial.success and partial.measured == pytest.approx(0.5)
    _press_cells(world, names[len(names) // 2:])
    full = evaluate_task(spec, initial, read_scene_state(world))
    assert full.success and full.measured == pytest.approx(1.0)
    assert np.all(cell_travel(world.model, world.data, patch) <= -0.5 * patch.raise_height)


def test_fixture_configs_refuse_bad_sizes():
    with pytest.raises(FixtureError, match='handle_height'):
        DrawerConfig(handle_height=0.2)
    with pytest.raises(FixtureError, match='travel'):
        DrawerConfig(travel=0.5)
    with pytest.raises(FixtureError, match='cells'):
        WipePatchConfig(rows=0)
    with pytest.raises(ValueError, match='min_coverage'):
        TaskSpec('wipe', TaskKind.WIPE, min_coverage=1.5)


def test_other_tasks_keep_their_world_without_fixtures():
    layout = world_config_for('franka_gripper')
    assert fixtures_for_task('push', layout) == layout
    assert read_scene_state(build_world(layout)).drawer_opening == 0.0


@pytest.mark.parametrize('task, embodiment', [('open_drawer', 'franka_gripper'),
                                              ('open_drawer', 'g1_inspire'),
                                              ('wipe', 'g1_inspire')])
def test_fixture_demonstrations_render_and_succeed(task, embodiment):
    demo = render_demonstration(DemonstrationConfig(task=task, seed=3, num_frames=24, fps=8.0,
                                                    world=world_config_for(embodiment)))
    assert demo.outcome.success, demo.outcome.message
    assert demo.plan.frames.shape == (24, 480, 832, 3)
    assert demo.ground_truth.in_image.all()
    progress = demo.ground_truth.fixture_state
    assert progress is not None
    assert progress[0] == 0.0 and np.all(np.diff(progress) >= -1e-9)
    assert progress[-1] == pytest.approx(demo.outcome.measured if task == 'wipe'
                                         else demo.final_state.drawer_opening)
    # The hand touches the fixture only inside the contact window.
    assert demo.ground_truth.contact.any() and not demo.ground_truth.contact[0]
    # The observation (hand hidden) shows the closed drawer / the dirty patch.
    assert demo.initial_state.drawer_opening == 0.0 and demo.initial_state.wipe_coverage == 0.0
