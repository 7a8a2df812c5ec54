"""A task sentence without a grasp (press) changes what the Franka does: the gripper closes at
the start and no grasp is registered; the path still meets the object the hand approached."""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
from lvp_bringup.embodiments.task_motion import PRESS_DEPTH  # noqa: E402
from lvp_bringup.pipeline import PipelineConfig, run_pipeline  # noqa: E402
from lvp_common.artifacts import GripperAction  # noqa: E402
from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration  # noqa: E402
from lvp_sim.world import world_config_for  # noqa: E402


def test_franka_press_closes_first_and_meets_the_button():
    demo = render_demonstration(DemonstrationConfig(
        task='press', seed=1, num_frames=33, world=world_config_for('franka_gripper')))
    result = run_pipeline(demo.observation, demo.plan, 'franka_gripper',
                          PipelineConfig(plan_only=True))
    events = result.gripper_events
    assert len(events) == 1 and events[0].action is GripperAction.CLOSE
    assert result.wrist_base is not None and result.mapping is not None
    assert events[0].time == result.wrist_base.times[0]
    assert not result.mapping.grasps and result.mapping.path_offset
    assert result.grasp_plan is None  # no grasp detection for a press
    # At the registered contact the TCP is at the button (top centre, half its height down).
    assert result.ee_path is not None
    k = int(np.argmin(np.abs(result.ee_path.times - result.mapping.contact_time)))
    layout = demo.world_config
    from lvp_common.geometry import Pose

    button = (layout.robot_mount.inverse() @ Pose(
        np.array([*layout.button_xy, layout.table_top_z]), np.array([0.0, 0.0, 0.0, 1.0]))
    ).position  # the button's foot in the robot base frame
    assert np.linalg.norm(result.ee_path.positions[k, :2] - button[:2]) < 0.015
    # Down on the button: PRESS_DEPTH below its top (3.4 cm above its foot).
    assert result.ee_path.positions[k, 2] - button[2] < 0.034 - 0.9 * PRESS_DEPTH
    assert any('grasps nothing' in m for m in result.messages)
