"""The embodiment registry: names compared in one module, and a third embodiment added through
it (the G1's left arm with the left Inspire hand) that runs the pipeline in sim."""

import os
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault('MUJOCO_GL', 'egl')

from lvp_bringup.embodiments import (  # noqa: E402
    EMBODIMENTS,
    UnknownEmbodimentError,
    embodiment_named,
    g1_inspire,  # noqa: E402
    register,
    unregister,
)
from lvp_bringup.pipeline import PipelineConfig, StageError, run_pipeline  # noqa: E402
from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration  # noqa: E402
from lvp_sim.hand_model import HandConfig  # noqa: E402

PACKAGE = Path(__file__).resolve().parents[1] / 'lvp_bringup'


def test_embodiment_names_appear_only_in_their_own_modules():
    names = {name: PACKAGE / 'embodiments' / f'{name}.py' for name in EMBODIMENTS}
    pattern = re.compile('|'.join(rf'[\'"]{re.escape(name)}[\'"]' for name in EMBODIMENTS))
    found = []
    for path in sorted(PACKAGE.rglob('*.py')):
        for line in path.read_text().splitlines():
            for match in pattern.finditer(line):
                literal = match.group(0)[1:-1]
                if path == names[literal]:
                    continue
                found.append(f'{path.relative_to(PACKAGE)}: {line.strip()}')
    assert not found, 'embodiment names outside their registry module:\n' + '\n'.join(found)


def test_unknown_embodiment_names_the_choices():
    with pytest.raises(UnknownEmbodimentError, match=r"'spot_arm'.*franka_gripper"):
        embodiment_named('spot_arm')
    with pytest.raises(ValueError, match='already registered'):
        register(embodiment_named(EMBODIMENTS[0]))


def mirrored(world):
    """The G1 layout mirrored left-right (the objects before the robot's left shoulder), the
    cube 3 cm nearer the midline.

    The left arm reuses the right hand's mapping (G1_HAND_IN_MOUNT, top-down pinch) untuned: in
    the exact mirror image seeds 0-2 miss IK by 6-16 mm; here seed 1 plans.
    """
    def flip(xy):
        return (xy[0], -xy[1])

    camera = replace(world.camera, target=(world.camera.target[0], -world.camera.target[1],
                                           world.camera.target[2]))
    cube = flip(world.cube_xy)
    return replace(world, cube_xy=(cube[0], cube[1] - 0.03), cup_xy=flip(world.cup_xy),
                   button_xy=flip(world.button_xy),
                   target_region_xy=flip(world.target_region_xy), camera=camera)


@pytest.fixture
def left_g1():
    """A toy third embodiment: the G1's left arm with the left Inspire, in a mirrored layout."""
    right_layout = g1_inspire.EMBODIMENT.world_config
    toy = g1_inspire.make_embodiment('g1_left_inspire', 'left',
                                     world=lambda: mirrored(right_layout()))
    register(toy)
    try:
        yield toy
    finally:
        unregister(toy.name)


def test_a_third_embodiment_added_through_the_registry_runs_the_pipeline(left_g1):
    demo = render_demonstration(DemonstrationConfig(
        seed=1, num_frames=49, world=left_g1.world_config(), hand=HandConfig(side='left')))
    try:
        result = run_pipeline(demo.observation, demo.plan, left_g1.name,
                              PipelineConfig(plan_only=True))
    except StageError as exc:
        pytest.fail(f'{exc} / messages: {exc.result.messages if exc.result else None}')
    assert result.robot.name.startswith('g1_left')
    assert result.robot.ee_frame.startswith('left')
    assert result.mapping is not None and result.mapping.embodiment == left_g1.name
    assert result.hand_track is not None and result.hand_track.handedness.value == 'left'
    assert result.hand_commands is not None and len(result.hand_commands.times) > 0
    assert result.trajectory is not None and not result.executed
    assert set(result.timings) >= {'hand_tracking', 'reconstruction', 'retargeting', 'ik',
                                   'timing', 'safety'}
    assert 'grasping' not in result.timings
    # The archive's EE mapping names the toy embodiment, so replay finds it in the registry.
    assert 'registered to the object' in result.mapping.description


@pytest.fixture
def left_g1_hardware():
    """The toy third embodiment registered in both registries: its hardware (lvp_exec) and its
    motion mapping (lvp_bringup), the G1's left arm with the left Inspire in a mirrored layout."""
    from lvp_exec import embodiment_hardware

    hardware = embodiment_hardware.g1_inspire_hardware('g1_left_inspire', 'left')
    right_layout = g1_inspire.EMBODIMENT.world_config
    toy = g1_inspire.make_embodiment(hardware, world=lambda: mirrored(right_layout()))
    embodiment_hardware.register(hardware)
    try:
        register(toy)
        try:
            yield toy
        finally:
            unregister(toy.name)
    finally:
        embodiment_hardware.unregister(hardware.name)


def test_a_third_embodiment_executes_in_sim(left_g1_hardware):
    """run_pipeline on the toy through execution: the left arm and the left Inspire hand move in
    MuJoCo (seed 1 lifts the cube 7.5 cm; seed 0 is refused at ik, an IK jump)."""
    from lvp_exec.embodiment_hardware import EndEffector, hardware_named
    from lvp_sim.mujoco_executor import MujocoExecutor
    from lvp_sim.tasks import evaluate_task

    toy = left_g1_hardware
    assert hardware_named(toy.name) is toy.hardware
    assert toy.hardware.end_effector is EndEffector.INSPIRE_HAND and toy.hardware.side == 'left'
    demo = render_demonstration(DemonstrationConfig(
        seed=1, num_frames=49, world=toy.world_config(), hand=HandConfig(side='left')))
    executor = MujocoExecutor(world_config=toy.world_config())
    try:
        result = run_pipeline(demo.observation, demo.plan, toy.name,
                              PipelineConfig(executor=executor))
    except StageError as exc:
        pytest.fail(f'{exc} / messages: {exc.result.messages if exc.result else None}')
    finally:
        executor.close()
    assert set(result.timings) >= {'hand_tracking', 'reconstruction', 'retargeting', 'ik',
                                   'timing', 'safety', 'executing'}
    assert result.executed and result.execution is not None
    execution = result.execution
    assert result.robot.name == 'g1_left_arm'
    assert execution.executed.joint_names == result.robot.joint_names
    assert all(name.startswith('left_') for name in execution.executed.joint_names)
    assert execution.end_effector_joints[0].startswith('inspire_')
    # the left arm moved: its wrist travelled, and it tracked the plan
    ee = result.robot.ee_positions(execution.executed.positions)
    assert float(np.ptp(ee, axis=0).max()) > 0.1
    assert execution.max_tracking_error < toy.hardware.sim_path_tolerance_rad
    outcome = evaluate_task(demo.task_spec, execution.initial_state, execution.final_state)
    assert outcome.success, outcome.message
