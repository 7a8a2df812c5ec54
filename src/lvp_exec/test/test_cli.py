"""The `lvp_exec` tool: EE path file in, joint trajectory and sim video out, failures named."""

from __future__ import annotations

import os
from types import SimpleNamespace

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from lvp_common.artifacts import CameraIntrinsics, WristTrajectory  # noqa: E402
from lvp_common.cli_exit import ExitCode  # noqa: E402
from lvp_exec.cli import main  # noqa: E402
from lvp_exec.motion_file import (  # noqa: E402
    load_ee_path_npz,
    load_joint_trajectory_npz,
    save_ee_path_npz,
)
from lvp_exec.robots import load_panda  # noqa: E402
from lvp_exec.synthetic_paths import smooth_joint_path, wrist_path_from_joints  # noqa: E402


@pytest.fixture(scope='module')
def panda():
    return load_panda()


def reachable(robot, seconds: float = 2.0, seed: int = 0) -> WristTrajectory:
    joints = smooth_joint_path(robot, np.random.default_rng(seed),
                               num_frames=int(16 * seconds) + 1, amplitude=0.3)
    return wrist_path_from_joints(robot, joints)


def write_commands(path, close_at: float) -> None:
    """A commands file in lvp_retarget's --out layout: Inspire commands + one close event."""
    times = np.array([0.0, 1.0])
    np.savez_compressed(
        path, times=times, joint_names=np.array(['j1']), joint_positions=np.zeros((2, 1)),
        actuator_names=np.array(['a1']), normalized=np.ones((2, 1)),
        native=np.full((2, 1), 1000), gripper_widths=np.array([0.08, 0.0]),
        gripper_event_times=np.array([close_at]), gripper_event_actions=np.array(['close']),
        gripper_event_widths=np.array([0.0]))


def test_executes_in_sim_and_writes_trajectory_and_video(panda, tmp_path, capsys):
    from lvp_common.video_io import read_video

    path = save_ee_path_npz(tmp_path / 'ee.npz', reachable(panda))
    write_commands(tmp_path / 'commands.npz', close_at=1.0)
    out = tmp_path / 'motion.npz'
    code = main([str(path), '--out', str(out), '--commands', str(tmp_path / 'commands.npz'),
                 '--fps', '8'])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    for line in ("path 'ee'", 'commands: 1 gripper events', 'ik: 33 waypoints solved',
                 'timing: ', 'safety: passed', 'executing: done on sim',
                 'start state: panda home'):
        assert line in captured.out, captured.out
    trajectory = load_joint_trajectory_npz(out)
    assert trajectory.joint_names == panda.joint_names
    np.testing.assert_array_equal(trajectory.positions[0], panda.home)
    with np.load(out) as data:
        assert data['gripper_event_actions'].tolist() == ['close']
        assert np.max(np.abs(data['tracking_errors'])) < 0.005
        np.testing.assert_allclose(data['executed_positions'][-1], trajectory.positions[-1],
                                   atol=0.005)
    clip = read_video(tmp_path / 'motion.mp4')
    # 8 fps over the trajectory plus the sim's 0.5 s settle time
    assert abs(len(clip.frames) - 8 * (trajectory.duration + 0.5)) <= 2


def test_reads_lvp_reconstruct_files_and_plans_only(panda, tmp_path, capsys):
    trajectory_file = pytest.importorskip('lvp_reconstruction.trajectory_file')
    base = reachable(panda, seed=1)
    camera = WristTrajectory(base.times, base.positions + 1.0, base.quaternions,
                             'camera_color_optical_frame', smoothed=True)
    residuals = np.zeros(base.num_frames)
    # what lvp_reconstruct --out writes, from a result carrying these trajectories
    result = SimpleNamespace(
        wrist_camera=WristTrajectory(camera.times, camera.positions, camera.quaternions,
                                     camera.frame_id, residuals_px=residuals),
        wrist_camera_raw=WristTrajectory(camera.times, camera.positions, camera.quaternions,
                                         camera.frame_id, residuals_px=residuals),
        wrist_base=WristTrajectory(base.times, base.positions, base.quaternions,
                                   base.frame_id, smoothed=True, residuals_px=residuals),
        wrist_base_raw=None, point_cloud=None, valid=np.ones(base.num_frames, bool),
        intrinsics=CameraIntrinsics.from_fov(416, 240, 60.0),
        report=SimpleNamespace(messages=()))
    path = trajectory_file.save_reconstruction_npz(tmp_path / 'track_traj.npz', result)
    loaded, name = load_ee_path_npz(path)
    assert name == 'base_smoothed'
    np.testing.assert_allclose(loaded.positions, base.positions)
    out = tmp_path / 'plan.npz'
    assert main([str(path), '--out', str(out), '--plan-only']) == 0
    captured = capsys.readouterr()
    assert "path 'base_smoothed'" in captured.out
    assert 'plan only: nothing executed' in captured.out
    assert 'executing' not in captured.out
    assert out.is_file() and not out.with_suffix('.mp4').exists()
    # the camera-frame path is refused by name, with the frame it is in
    code = main([str(path), '--out', str(out), '--path-name', 'camera_smoothed'])
    assert code == ExitCode.INVALID_GOAL
    assert 'camera_color_optical_frame' in capsys.readouterr().err


def test_unreachable_path_names_the_stage_and_waypoint(panda, tmp_path, capsys):
    far = reachable(panda)
    far = WristTrajectory(far.times, far.positions + np.array([2.0, 0.0, 0.0]),
                          far.quaternions, far.frame_id)
    path = save_ee_path_npz(tmp_path / 'far.npz', far)
    out = tmp_path / 'motion.npz'
    code = main([str(path), '--out', str(out)])
    captured = capsys.readouterr()
    assert code == ExitCode.UNREACHABLE
    assert 'lvp_exec: stopped at ik: FAILED (UNREACHABLE)' in captured.err
    assert 'at: waypoint 0, t = 0.000 s' in captured.err
    assert 'nothing executed' in captured.err
    assert not out.exists() and not out.with_suffix('.mp4').exists()


def test_table_collision_names_frame_time_and_value(panda, tmp_path, capsys):
    start = panda.ee_pose(panda.home)
    times = np.linspace(0.0, 2.0, 21)
    down = WristTrajectory(times, np.linspace(start.position, [0.5, 0.0, -0.05], len(times)),
                           np.tile(start.quaternion, (len(times), 1)), panda.base_frame)
    path = save_ee_path_npz(tmp_path / 'down.npz', down)
    code = main([str(path), '--out', str(tmp_path / 'motion.npz')])
    captured = capsys.readouterr()
    assert code == ExitCode.SAFETY_VIOLATION
    assert 'ik: 21 waypoints solved' in captured.out and 'timing: ' in captured.out
    assert 'safety: passed' not in captured.out
    assert 'stopped at safety: FAILED (SAFETY_VIOLATION)' in captured.err
    err_line = next(line for line in captured.err.splitlines() if line.startswith('  at: '))
    assert 'frame ' in err_line and 't = ' in err_line and 'value ' in err_line
    assert 'limit 0.0100' in err_line  # the table plane z = 0 plus 1 cm clearance


def test_bad_inputs_exit_1_naming_the_input(tmp_path, capsys):
    assert main([str(tmp_path / 'missing.npz'), '--out', str(tmp_path / 'o.npz')]) == 1
    assert 'missing.npz: file not found' in capsys.readouterr().err
    np.savez(tmp_path / 'other.npz', points=np.zeros((3, 3)))
    assert main([str(tmp_path / 'other.npz'), '--out', str(tmp_path / 'o.npz')]) == 1
    assert 'no path in the robot base frame' in capsys.readouterr().err


def test_motion_error_codes_map_onto_the_tools_table_by_name():
    from lvp_exec.cli import exit_code_for
    from lvp_exec.motion import MotionErrorCode

    assert {c.name: int(exit_code_for(c)) for c in MotionErrorCode} == {
        'SUCCESS': 0, 'INVALID_GOAL': 1, 'UNREACHABLE': 7, 'SAFETY_VIOLATION': 8,
        'EXECUTION_FAILED': 9, 'CANCELED': 10}
