"""run_pipeline keeps the arm clear of what the observation's depth shows (scene_check):
a rendered sim episode is planned, then a box is put into its point cloud where the arm's
forearm passes, and the same motion is refused at `safety` naming the scene cloud."""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from lvp_bringup.pipeline import ErrorCode, PipelineConfig, StageError, run_motion, run_pipeline  # noqa: E402,E501
from lvp_common.artifacts import PointCloud  # noqa: E402
from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration  # noqa: E402
from lvp_sim.world import world_config_for  # noqa: E402


@pytest.fixture(scope='module')
def planned():
    demo = render_demonstration(DemonstrationConfig(
        task='reach_grasp_lift', seed=2, world=world_config_for('franka_gripper')))
    return run_pipeline(demo.observation, demo.plan, 'franka_gripper',
                        PipelineConfig(plan_only=True))


def with_box_on_the_arm(result):
    """`result` with a 10 cm box of points added to its cloud around panda_link4 at the
    middle of the planned motion (well away from the EE path)."""
    robot = result.robot
    trajectory = result.trajectory
    q = trajectory.positions[len(trajectory.times) // 2]
    elbow = robot.frame_positions(q, (robot.model.getFrameId('panda_link4'),))[0]
    rng = np.random.default_rng(0)
    box = elbow + rng.uniform(-0.05, 0.05, (3000, 3))
    cloud = result.reconstruction.point_cloud_base
    reconstruction = dataclasses.replace(result.reconstruction, point_cloud_base=PointCloud(
        np.vstack([cloud.points, box]), cloud.frame_id))
    return dataclasses.replace(result, reconstruction=reconstruction, timed=None,
                               joint_path=None), float(np.min(np.linalg.norm(
                                   result.ee_path.positions - elbow, axis=1)))


def test_the_sim_scene_alone_passes_the_scene_check(planned):
    assert planned.trajectory is not None and not planned.executed
    assert planned.reconstruction.point_cloud_base is not None  # the check had a cloud


def test_a_box_in_the_cloud_on_the_arms_way_is_refused(planned):
    result, from_ee = with_box_on_the_arm(planned)
    assert from_ee > 0.2  # not the task's surroundings: the arm's own way
    with pytest.raises(StageError) as error:
        run_motion(result, planned.wrist_base, planned.mapping, PipelineConfig(plan_only=True))
    assert error.value.stage == 'safety' and error.value.code == ErrorCode.SAFETY_VIOLATION
    assert 'scene cloud' in error.value.message and 'panda_link' in error.value.message
    # with the check off, the same cloud is not looked at
    result, _ = with_box_on_the_arm(planned)
    done = run_motion(result, planned.wrist_base, planned.mapping,
                      PipelineConfig(plan_only=True, scene_check=False))
    assert done.trajectory is not None
