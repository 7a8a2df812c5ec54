"""MuJoCo backend: the planned trajectory is tracked; a frame of the scene renders."""

import numpy as np
import pytest
from lvp_exec.ik import DampedLeastSquaresIk
from lvp_exec.robots import load_g1_arm, load_panda
from lvp_exec.safety import SafetyFilter
from lvp_exec.sim import MujocoArmSim, SimConfig, build_model, mujoco_urdf, write_video
from lvp_exec.synthetic_paths import smooth_joint_path, wrist_path_from_joints
from lvp_exec.timing import parameterize

ROBOTS = {'panda': load_panda, 'g1_right': load_g1_arm}
JOINT_TOLERANCE = 0.005
"""rad; measured 0.3 mrad (Panda) and 0.1 mrad (G1) with the default gains."""
EE_TOLERANCE = 0.002
"""m; measured 0.2 mm (Panda) and 0.05 mm (G1)."""


@pytest.fixture(scope='module', params=sorted(ROBOTS))
def robot(request):
    return ROBOTS[request.param]()


def test_urdf_for_mujoco_has_no_dae_or_package_paths(robot):
    xml = mujoco_urdf(robot)
    assert 'package://' not in xml
    assert '.dae' not in xml
    model = build_model(robot)
    for name in robot.joint_names:
        assert model.joint(name).qposadr.shape == (1,)


def test_planned_trajectory_is_tracked(robot):
    joints = smooth_joint_path(robot, np.random.default_rng(0), amplitude=0.5)
    path = DampedLeastSquaresIk(robot).solve(wrist_path_from_joints(robot, joints), robot.home)
    trajectory = parameterize(path, robot.limits).trajectory
    SafetyFilter(robot).check(trajectory, robot.home)
    result = MujocoArmSim(robot).execute(trajectory)
    np.testing.assert_array_equal(result.executed.times, trajectory.times)
    assert result.max_tracking_error < JOINT_TOLERANCE
    assert result.max_ee_error < EE_TOLERANCE
    assert result.frames.shape[0] == 0


def test_offscreen_frame_shows_the_scene():
    robot = load_panda()
    sim = MujocoArmSim(robot, SimConfig(render_width=160, render_height=120))
    sim.reset(robot.home)
    frame = sim.render()
    assert frame.shape == (120, 160, 3) and frame.dtype == np.uint8
    # Table (brown), robot (light grey) and background: more than a blank image.
    assert frame.std() > 20.0
    assert np.any((frame[..., 0] > 100) & (frame[..., 2] < 90))


def test_execution_video_is_rendered_and_written(tmp_path):
    robot = load_panda()
    joints = smooth_joint_path(robot, np.random.default_rng(1), num_frames=9, amplitude=0.2)
    path = DampedLeastSquaresIk(robot).solve(wrist_path_from_joints(robot, joints), robot.home)
    trajectory = parameterize(path, robot.limits).trajectory
    config = SimConfig(render_fps=5.0, render_width=96, render_height=72)
    result = MujocoArmSim(robot, config).execute(trajectory)
    assert result.frames.shape[1:] == (72, 96, 3)
    assert len(result.frames) >= int(trajectory.duration * 5.0)
    video = write_video(result.frames, tmp_path / 'execution.mp4', result.frame_rate)
    assert video.stat().st_size > 1000
