import numpy as np
import pytest
from lvp_common.artifacts import (
    CAMERA_OPTICAL_FRAME,
    ROBOT_BASE_FRAME,
    CameraIntrinsics,
    HandTrack,
    Observation,
)
from lvp_common.geometry import Pose, rotation_angle_between
from lvp_common.hand_frame import hand_frame_rotations
from lvp_reconstruction.camera_motion import CameraTrajectory
from lvp_reconstruction.lifting import LiftingConfig
from lvp_reconstruction.point_cloud import PointCloudConfig, back_project
from lvp_reconstruction.reconstruct import ReconstructionConfig, ReconstructionError, reconstruct
from lvp_reconstruction.synthetic_hand import SyntheticSequence, make_track, wrist_path
from scipy.spatial.transform import Rotation

# These tests exercise the per-frame keypoint PnP (lifting.method 'keypoints'): the synthetic
# hand's keypoints are not the kinematic hand's (test_hand_fit covers 'hand_model').
KEYPOINTS = ReconstructionConfig(lifting=LiftingConfig(method='keypoints'))
# The track's own metric size (exact in these sequences) instead of the assumed palm length.
TRACK_SIZE = ReconstructionConfig(lifting=LiftingConfig(method='keypoints', palm_length_m=0.0))
CAMERA_TO_BASE = Pose(np.array([0.6, -0.1, 0.8]),
                      Rotation.from_euler('xyz', [-120.0, 0.0, -90.0], degrees=True).as_quat())


def test_full_reconstruction_on_synthetic_ground_truth():
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=1.0, metric_noise_m=0.002, outlier_fraction=0.3,
                       seed=5)
    obs = Observation(np.zeros((480, 832, 3), np.uint8), intrinsics=seq.intrinsics,
                      camera_to_base=CAMERA_TO_BASE)
    result = reconstruct(track, obs, KEYPOINTS)
    figures = {}
    for name, traj in (('raw', result.wrist_camera_raw), ('smoothed', result.wrist_camera)):
        pos = 1000 * np.linalg.norm(traj.positions - seq.wrist_positions, axis=1)
        ang = np.degrees(rotation_angle_between(traj.quaternions, seq.wrist_quaternions))
        figures[name] = (np.median(pos), pos.max(), np.median(ang), ang.max())
        print(f'{name}: position median {figures[name][0]:.1f} mm max {figures[name][1]:.1f} mm;'
              f' orientation median {figures[name][2]:.1f} deg max {figures[name][3]:.1f} deg')
    # Raw: see test_lifting. Smoothing averages ~9 frames of independent noise: observed
    # median 2 mm / 1.7 deg, max ~10 mm / 5 deg (ends, where Savitzky-Golay extrapolates).
    assert figures['smoothed'][0] < 5.0 and figures['smoothed'][1] < 15.0
    assert figures['smoothed'][2] < 3.0 and figures['smoothed'][3] < 8.0
    assert figures['smoothed'][0] < figures['raw'][0]
    report = result.report
    assert not report.intrinsics_assumed and report.valid_frames == 49
    assert report.median_residual_px < 6.0
    assert result.wrist_camera.frame_id == CAMERA_OPTICAL_FRAME and result.wrist_camera.smoothed
    assert not result.wrist_camera_raw.smoothed
    # Finger keypoints in the wrist frame: wrist at the origin, middle knuckle in the y-z plane.
    finger = result.wrist_camera.finger_keypoints
    assert finger is not None
    assert np.abs(finger[:, 0]).max() < 1e-12
    assert np.all(finger[:, 9, 1] > 0.08) and np.abs(finger[:, 9, 0]).max() < 1e-9


def test_base_frame_is_the_extrinsic_applied_to_the_camera_frame():
    seq = wrist_path(20)
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0)
    obs = Observation(np.zeros((480, 832, 3), np.uint8), intrinsics=seq.intrinsics,
                      camera_to_base=CAMERA_TO_BASE)
    result = reconstruct(track, obs, TRACK_SIZE)
    base = result.wrist_base_raw
    assert base is not None and base.frame_id == ROBOT_BASE_FRAME
    assert base.positions == pytest.approx(CAMERA_TO_BASE.transform_points(seq.wrist_positions))
    rot = Rotation.from_quat(CAMERA_TO_BASE.quaternion) * Rotation.from_quat(
        seq.wrist_quaternions)
    assert np.degrees(rotation_angle_between(base.quaternions, rot.as_quat())).max() < 1e-6
    assert result.wrist_base is not None and result.wrist_base.smoothed


def test_missing_intrinsics_use_the_default_field_of_view_and_say_so():
    intr = CameraIntrinsics.from_fov(832, 480, 60.0, assumed=False)
    seq = wrist_path(20, intrinsics=intr)
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0)
    result = reconstruct(track, None, TRACK_SIZE)
    assert result.report.intrinsics_assumed and result.intrinsics.assumed
    assert any('assumed' in m for m in result.report.messages)
    # The default is the field of view the sequence was rendered with: exact recovery.
    assert result.wrist_camera_raw.positions == pytest.approx(seq.wrist_positions, abs=1e-6)
    assert result.wrist_base is None and result.point_cloud is None


def test_point_cloud_of_a_tilted_plane_is_exact():
    intr = CameraIntrinsics(500.0, 480.0, 161.0, 118.5, 320, 240)
    normal = np.array([0.0, -0.6, -0.8])  # a table seen from above and in front
    offset = -0.7  # plane: normal . X = offset
    v, u = np.mgrid[0:240, 0:320]
    rays = np.stack([(u - intr.cx) / intr.fx, (v - intr.cy) / intr.fy, np.ones_like(u, float)],
                    axis=-1)
    depth = (offset / (rays @ normal)).astype(np.float64)
    depth[:10] = np.nan  # invalid rows
    rgb = np.zeros((240, 320, 3), np.uint8)
    rgb[..., 0] = u % 256
    cloud = back_project(depth, intr, rgb, PointCloudConfig(stride=3, max_depth_m=5.0))
    assert cloud.frame_id == CAMERA_OPTICAL_FRAME
    assert len(cloud.points) == len(range(12, 240, 3)) * len(range(0, 320, 3))
    assert cloud.points @ normal == pytest.approx(np.full(len(cloud.points), offset), abs=1e-9)
    assert intr.project(cloud.points) == pytest.approx(
        np.stack([u[12::3, ::3].ravel(), v[12::3, ::3].ravel()], axis=1), abs=1e-6)
    assert cloud.colors is not None and np.array_equal(cloud.colors[:, 0],
                                                       (u[12::3, ::3] % 256).ravel())
    near = back_project(depth, intr, None, PointCloudConfig(stride=3, max_depth_m=0.9))
    assert near.points[:, 2].max() <= 0.9 and len(near.points) < len(cloud.points)


def test_pipeline_outputs_scene_cloud_in_both_frames():
    seq = wrist_path(12)
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0)
    depth = np.full((480, 832), 2.0, np.float32)
    obs = Observation(np.zeros((480, 832, 3), np.uint8), depth, seq.intrinsics,
                      camera_to_base=CAMERA_TO_BASE)
    result = reconstruct(track, obs, TRACK_SIZE)
    assert result.point_cloud is not None and result.point_cloud_base is not None
    assert result.point_cloud_base.frame_id == ROBOT_BASE_FRAME
    assert result.point_cloud_base.points == pytest.approx(
        CAMERA_TO_BASE.transform_points(result.point_cloud.points))
    # A wall 2 m away is never touched by a hand ~0.5 m away: the scale is kept.
    assert result.report.depth_scale is not None and not result.report.depth_scale.applied
    assert result.report.hand_scale == 1.0


def test_external_camera_trajectory_is_compensated():
    base_seq = wrist_path(20)
    # The camera orbits: frame t's camera sees the world-fixed hand path from a new pose.
    cams = tuple(Pose(np.array([0.01 * i, -0.005 * i, 0.0]),
                      Rotation.from_euler('y', 0.8 * i, degrees=True).as_quat())
                 for i in range(20))
    kp_local = np.stack([c.inverse().transform_points(k)
                         for c, k in zip(cams, base_seq.keypoints_camera)])
    local_seq = SyntheticSequence(base_seq.times, kp_local, kp_local[:, 0].copy(),
                                  Rotation.from_matrix(hand_frame_rotations(kp_local, 'right'))
                                  .as_quat(), base_seq.intrinsics)
    track = make_track(local_seq, pixel_noise_px=0.0, metric_noise_m=0.0)
    result = reconstruct(track, None, TRACK_SIZE, camera_trajectory=CameraTrajectory(
        cams, intrinsics=(base_seq.intrinsics,)))
    assert result.report.camera_motion_compensated
    assert result.wrist_camera_raw.positions == pytest.approx(base_seq.wrist_positions, abs=1e-6)


def test_mismatched_frames_are_refused():
    seq = wrist_path(10)
    track: HandTrack = make_track(seq)
    with pytest.raises(ReconstructionError, match='frames'):
        reconstruct(track, None, frames=np.zeros((9, 480, 832, 3), np.uint8))
