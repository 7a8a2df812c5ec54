"""run_pipeline never moves the robot along a path that jumps: the issue-23 case end to end."""

from __future__ import annotations

import dataclasses
import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import pytest  # noqa: E402
from lvp_bringup.pipeline import ErrorCode, PipelineConfig, StageError, run_pipeline  # noqa: E402
from lvp_exec.synthetic_paths import jump_sideways  # noqa: E402
from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration  # noqa: E402
from lvp_sim.world import world_config_for  # noqa: E402
from recording_executor import RecordingExecutor  # noqa: E402


def test_a_reconstructed_path_that_jumps_is_refused_before_anything_moves(monkeypatch):
    """The reconstruction's base-frame wrist path jumps 0.4 m sideways within 1 ms mid-way (a
    fault injected at the reconstruction's output): the run ends UNREACHABLE at ik, naming the
    waypoint; the executor is never asked to move."""
    import lvp_reconstruction.reconstruct as reconstruction

    real = reconstruction.reconstruct

    def jumping(*args, **kwargs):
        rec = real(*args, **kwargs)
        assert rec.wrist_base is not None
        return dataclasses.replace(rec, wrist_base=jump_sideways(rec.wrist_base))

    monkeypatch.setattr(reconstruction, 'reconstruct', jumping)
    demo = render_demonstration(DemonstrationConfig(
        task='reach_grasp_lift', seed=0, num_frames=33,
        world=world_config_for('franka_gripper')))
    executor = RecordingExecutor(demo.world_config)
    with pytest.raises(StageError) as info:
        run_pipeline(demo.observation, demo.plan, 'franka_gripper',
                     PipelineConfig(executor=executor))
    error = info.value
    assert error.stage == 'ik' and error.code is ErrorCode.UNREACHABLE
    assert 'the EE path jumps' in error.message and 'max_ee_speed' in error.message
    assert 'waypoint' in error.message
    assert executor.requests == []
    assert error.result is not None and not error.result.executed
    assert error.result.execution is None
