"""Reconstruction stage: hand track (+ observation) -> metric wrist trajectories + scene cloud.

`reconstruct` chains: camera model -> per-frame robust PnP of the metric keypoints -> camera-motion
check (when the video frames are given) or compensation (when an external camera trajectory is
given) -> depth fusion (scale from contact with the scene, rejection of impossible depths) ->
outlier rejection and smoothing -> outputs in the camera optical frame and the robot base frame.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
from lvp_common.artifacts import (
    CAMERA_OPTICAL_FRAME,
    ROBOT_BASE_FRAME,
    CameraIntrinsics,
    HandMesh,
    HandTrack,
    Observation,
    PointCloud,
    WristTrajectory,
)
from lvp_common.geometry import (
    Pose,
    continuous_quaternions,
    rotation_angle_between,
    transform_poses,
)
from lvp_common.hand_frame import hand_frame_rotations
from lvp_common.hand_kinematics import PALM_LENGTH_M, HandSurface
from scipy.spatial.transform import Rotation

from lvp_reconstruction.camera_model import (
    CameraModelConfig,
    resolve_intrinsics,
    undistort_pixels,
)
from lvp_reconstruction.camera_motion import (
    CameraMotionConfig,
    CameraMotionReport,
    CameraTrajectory,
    estimate_camera_motion,
    to_first_camera,
)
from lvp_reconstruction.depth_fusion import (
    DepthFusionConfig,
    DepthScale,
    behind_scene,
    hand_surface_scale,
    sample_depth,
    scene_contact_scale,
)
from lvp_reconstruction.hand_fit import HandFit, HandFitConfig, fit_hand
from lvp_reconstruction.lifting import (
    MIDDLE_MCP,
    HandPoseFit,
    LiftingConfig,
    lift_hand,
    project,
)
from lvp_reconstruction.point_cloud import PointCloudConfig, back_project, transform_cloud
from lvp_reconstruction.smoothing import SmoothingConfig, fill_invalid, smooth_poses

_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix='lvp_camera_motion')
"""Runs the camera-motion check while the hand is lifted (2 cores: ~the check's time saved)."""


class ReconstructionError(ValueError):
    """The inputs cannot be reconstructed (mismatched sizes, no usable frame)."""


@dataclass(frozen=True)
class ReconstructionConfig:
    """All parameters of the stage, grouped by step (see each config for units and defaults)."""

    camera: CameraModelConfig = field(default_factory=CameraModelConfig)
    lifting: LiftingConfig = field(default_factory=LiftingConfig)
    hand_fit: HandFitConfig = field(default_factory=HandFitConfig)
    depth: DepthFusionConfig = field(default_factory=DepthFusionConfig)
    camera_motion: CameraMotionConfig = field(default_factory=CameraMotionConfig)
    smoothing: SmoothingConfig = field(default_factory=SmoothingConfig)
    point_cloud: PointCloudConfig = field(default_factory=PointCloudConfig)


@dataclass(frozen=True)
class ReconstructionReport:
    """What the stage measured and assumed.

    intrinsics_assumed: the camera model came from the default field of view.
    hand_scale: final factor applied to the track's metric keypoints.
    camera_moving: True/False from the background check, None when no frames were given.
    wrist_frame_offset_deg: median angle between this stage's wrist frame and the track's
      wrist_quaternions (both in the camera frame); a constant offset means the two frame
      conventions differ by a fixed rotation.
    """

    intrinsics_assumed: bool
    hand_scale: float
    depth_scale: DepthScale | None
    camera_motion: CameraMotionReport | None
    camera_moving: bool | None
    camera_motion_compensated: bool
    num_frames: int
    valid_frames: int
    rejected_fit: int
    rejected_depth_range: int
    rejected_behind_scene: int
    smoothing_outliers: int
    median_residual_px: float
    path_length_m: float
    extent_m: tuple[float, float, float]
    wrist_frame_offset_deg: float
    seconds_per_frame: float
    messages: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReconstructionResult:
    """The stage's outputs. Base-frame trajectories and clouds are None without camera_to_base.

    valid (T,): frames whose metric fit passed every check (others are interpolated).
    hand_fit: the articulated hand fit (lifting.method 'hand_model'; None for 'keypoints'), its
    scale as fitted (before depth fusion; `report.hand_scale` is the final one).
    """

    intrinsics: CameraIntrinsics
    wrist_camera_raw: WristTrajectory
    wrist_camera: WristTrajectory
    wrist_base_raw: WristTrajectory | None
    wrist_base: WristTrajectory | None
    point_cloud: PointCloud | None
    point_cloud_base: PointCloud | None
    valid: np.ndarray
    report: ReconstructionReport
    hand_fit: HandFit | None = None


OBSERVATION_STAND_IN_GREY = 128
"""Grey level of the RGB image that stands in when only depth or intrinsics are known."""


def assemble_observation(video_size: tuple[int, int], rgb: np.ndarray | None = None,
                         depth: np.ndarray | None = None,
                         intrinsics: CameraIntrinsics | None = None,
                         camera_to_base: Pose | None = None,
                         camera_frame: str = CAMERA_OPTICAL_FRAME,
                         base_frame: str = ROBOT_BASE_FRAME) -> Observation:
    """Build an Observation from the parts that are known (depth in metres, (H, W)).

    Without an RGB image a grey one stands in, of the depth image's size, else the intrinsics',
    else `video_size` (width, height); the scene cloud is then grey. Raises ReconstructionError
    naming the parts whose sizes disagree.
    """
    if rgb is not None:
        size, source = (int(rgb.shape[1]), int(rgb.shape[0])), 'the RGB image'
    elif depth is not None:
        size, source = (int(depth.shape[1]), int(depth.shape[0])), 'the depth image'
    elif intrinsics is not None:
        size, source = (intrinsics.width, intrinsics.height), 'the intrinsics'
    else:
        size, source = (int(video_size[0]), int(video_size[1])), 'the video'
    if depth is not None and (depth.ndim != 2 or (depth.shape[1], depth.shape[0]) != size):
        raise ReconstructionError(f'the depth image has shape {depth.shape} but {source} is '
                                  f'{size[0]}x{size[1]} (expected (H, W) = ({size[1]}, '
                                  f'{size[0]}))')
    if intrinsics is not None and (intrinsics.width, intrinsics.height) != size:
        raise ReconstructionError(f'the intrinsics are for {intrinsics.width}x'
                                  f'{intrinsics.height} but {source} is {size[0]}x{size[1]}')
    if rgb is None:
        rgb = np.full((size[1], size[0], 3), OBSERVATION_STAND_IN_GREY, np.uint8)
    return Observation(rgb, depth, intrinsics, camera_to_base, camera_frame=camera_frame,
                       base_frame=base_frame)


def _scale_pixels(pixels: np.ndarray, src: tuple[int, int], dst: tuple[int, int]) -> np.ndarray:
    """Map pixels of a src (w, h) image to a dst (w, h) resize of it (pixel centres kept)."""
    sx, sy = dst[0] / src[0], dst[1] / src[1]
    out = np.empty_like(pixels)
    out[..., 0] = (pixels[..., 0] + 0.5) * sx - 0.5
    out[..., 1] = (pixels[..., 1] + 0.5) * sy - 0.5
    return out


def _model_pixels(kp_cam: np.ndarray, intrinsics: CameraIntrinsics) -> np.ndarray:
    with np.errstate(invalid='ignore', divide='ignore'):
        return project(kp_cam, intrinsics.matrix)


def _fuse_depth(fit: HandPoseFit, valid: np.ndarray,
                intrinsics: CameraIntrinsics, observation: Observation | None,
                camera_trajectory: CameraTrajectory | None, camera_moving: bool | None,
                config: DepthFusionConfig, messages: list[str]
                ) -> tuple[HandPoseFit, DepthScale | None, np.ndarray]:
    """Return the rescaled fit, the scale outcome and (T,) frames behind the scene."""
    behind = np.zeros(len(valid), dtype=bool)
    if not config.enabled:
        return fit, None, behind
    kp_cam = fit.keypoints_camera()
    video_size = (intrinsics.width, intrinsics.height)
    if camera_trajectory is not None and camera_trajectory.depth is not None:
        depth = camera_trajectory.depth
        pixels = _scale_pixels(_model_pixels(kp_cam, intrinsics), video_size,
                               (depth.shape[2], depth.shape[1]))
        samples = np.stack([sample_depth(depth[i], pixels[i], config.window_px)
                            for i in range(len(depth))])
        scale = hand_surface_scale(kp_cam[..., 2], samples, valid, config)
        messages.append(scale.status)
        return fit.rescaled(scale.factor), scale, behind
    if observation is None or observation.depth is None:
        return fit, None, behind
    if camera_moving or camera_trajectory is not None:
        messages.append('scene depth not used: the camera moves, so the first image\'s depth '
                        'does not lie behind the hand in later frames')
        return fit, None, behind
    depth = observation.depth
    depth_size = (depth.shape[1], depth.shape[0])
    pixels = _scale_pixels(_model_pixels(kp_cam, intrinsics), video_size, depth_size)
    samples = sample_depth(depth, pixels, config.window_px)
    scale = scene_contact_scale(kp_cam[..., 2], samples, valid, config)
    if not config.contact_scale:
        estimate = 'none' if scale.estimate is None else f'{scale.estimate:.3f}'
        spread = ('' if scale.residual is None
                  else f', {100.0 * scale.residual:.1f} % residual')
        scale = DepthScale(1.0, scale.estimate, False,
                           f'contact scale not applied (depth.contact_scale off; measured '
                           f'{estimate}{spread})', scale.frames_used, source=scale.source,
                           residual=scale.residual)
    messages.append(scale.status)
    fit = fit.rescaled(scale.factor, scale.frame_factors)
    frame_factors = scale.factor * (np.ones(len(valid)) if scale.frame_factors is None
                                    else scale.frame_factors)
    behind = behind_scene(kp_cam[..., 2] * frame_factors[:, None], samples, config) & valid
    return fit, scale, behind


def hand_model_scale(track: HandTrack, config: LiftingConfig) -> float:
    """Return the kinematic hand's size for a track: its assumed palm length (or the track's).

    palm_length_m > 0: that wrist -> middle-MCP length; 0: the track's median metric one; both
    times hand_scale, relative to the model's own palm (PALM_LENGTH_M).
    """
    palm = config.palm_length_m
    if palm <= 0.0:
        kp = track.keypoints_m
        palm = float(np.median(np.linalg.norm(kp[:, MIDDLE_MCP] - kp[:, 0], axis=1)))
        if not np.isfinite(palm) or palm < 1e-3:
            raise ReconstructionError(f'the track\'s wrist -> middle-MCP length is degenerate '
                                      f'({palm:.3g} m); set lifting.palm_length_m')
    return palm * config.hand_scale / PALM_LENGTH_M


def hand_mesh(track: HandTrack, result: ReconstructionResult,
              surface: HandSurface | None = None) -> HandTrack:
    """Return the track with the fitted hand's surface as its mesh (the track if none fitted).

    Vertices (T, V, 3) are hand-centred with camera-aligned axes (origin at the wrist, as the
    track's keypoints_m), at the reconstruction's final hand size; faces once for the track.
    surface: the mesh layout (default: lvp_common.hand_kinematics.HandSurface()).
    """
    fit = result.hand_fit
    if fit is None:
        return track
    if fit.rotations.shape[0] != track.num_frames:
        raise ReconstructionError(f'the hand fit has {fit.rotations.shape[0]} frames, the '
                                  f'track {track.num_frames}')
    surface = surface or HandSurface()
    vertices = fit.mesh_vertices(surface, result.report.hand_scale)
    return replace(track, mesh=HandMesh(vertices, surface.faces_for(track.handedness)))


def _residuals(positions: np.ndarray, quaternions: np.ndarray, finger_keypoints: np.ndarray,
               pixels: np.ndarray, inliers: np.ndarray, intrinsics: CameraIntrinsics
               ) -> np.ndarray:
    """RMS reprojection error (px) of wrist poses carrying the wrist-frame keypoints."""
    rot = Rotation.from_quat(quaternions).as_matrix()
    pts = np.einsum('tij,tkj->tki', rot, finger_keypoints) + positions[:, None, :]
    err = np.linalg.norm(_model_pixels(pts, intrinsics) - pixels, axis=2)
    use = np.where(inliers.any(axis=1, keepdims=True), inliers, True)
    out = np.sqrt(np.sum(np.where(use, err**2, 0.0), axis=1) / use.sum(axis=1))
    return np.where(np.isfinite(out), out, 1e6)


def _path_stats(positions: np.ndarray) -> tuple[float, tuple[float, float, float]]:
    length = float(np.sum(np.linalg.norm(np.diff(positions, axis=0), axis=1)))
    extent = np.ptp(positions, axis=0)
    return length, (float(extent[0]), float(extent[1]), float(extent[2]))


def reconstruct(track: HandTrack, observation: Observation | None = None,
                config: ReconstructionConfig | None = None, *, frames: np.ndarray | None = None,
                camera_trajectory: CameraTrajectory | None = None) -> ReconstructionResult:
    """Reconstruct the metric wrist path (camera optical and robot base frames) and scene cloud.

    frames: the video plan's RGB frames (T, H, W, 3), for the camera-motion check.
    camera_trajectory: per-frame camera poses (and depth) to compensate camera motion; wrist
    poses are then expressed in the first frame's camera.
    """
    config = config or ReconstructionConfig()
    start = time.perf_counter()
    messages: list[str] = []
    n = track.num_frames
    width, height = (int(v) for v in track.image_size)
    if frames is not None:
        video = np.asarray(frames)
        if video.ndim != 4 or video.shape[0] != n or (video.shape[2], video.shape[1]) != (
                width, height):
            raise ReconstructionError(f'frames {video.shape} do not match the track ({n} '
                                      f'frames of {width}x{height})')
    if camera_trajectory is not None and camera_trajectory.num_frames != n:
        raise ReconstructionError(f'camera trajectory has {camera_trajectory.num_frames} '
                                  f'frames, the track {n}')
    given = observation.intrinsics if observation is not None else None
    if camera_trajectory is not None and camera_trajectory.intrinsics_at(0) is not None:
        given = camera_trajectory.intrinsics_at(0)
    intrinsics = resolve_intrinsics(given, width, height, config.camera)
    if intrinsics.assumed:
        messages.append(f'intrinsics assumed: {config.camera.default_horizontal_fov_deg} deg '
                        f'horizontal field of view')

    # the camera-motion check (OpenCV, which releases the GIL) runs beside the lifting
    motion_check = None if frames is None else _BACKGROUND.submit(
        estimate_camera_motion, frames, track.keypoints_px, intrinsics, config.camera_motion)
    pixels = undistort_pixels(track.keypoints_px, intrinsics)
    hand_fit = None
    if config.lifting.method == 'hand_model':
        hand_fit = fit_hand(pixels, intrinsics, track.handedness,
                            hand_model_scale(track, config.lifting), config.hand_fit,
                            detected=track.detected)
        fit = hand_fit.as_pose_fit()
    else:
        fit = lift_hand(pixels, track.keypoints_m, intrinsics, config.lifting, track.handedness)
    fit_ok = fit.valid.copy()

    motion = None
    if motion_check is not None:
        motion = motion_check.result()
        if motion.moving:
            messages.append(f'camera moves: background shifts up to '
                            f'{motion.max_displacement_px:.1f} px, rotates up to '
                            f'{motion.max_rotation_deg:.2f} deg')
        elif motion.unmeasured_pairs > (n - 1) // 2:
            messages.append(f'camera motion unmeasured in {motion.unmeasured_pairs} of {n - 1} '
                            f'frames (too little background texture): "static" is a guess')
    camera_moving = None if motion is None else motion.moving

    fit, depth_scale, behind = _fuse_depth(fit, fit_ok, intrinsics,
                                           observation, camera_trajectory, camera_moving,
                                           config.depth, messages)
    if fit.size_assumed and (depth_scale is None or not depth_scale.applied):
        messages.append(f'hand size assumed: wrist -> middle MCP '
                        f'{100.0 * config.lifting.palm_length_m * config.lifting.hand_scale:.1f}'
                        f' cm (lifting.palm_length_m x hand_scale)')
    scaled_m = fit.scaled_keypoints()
    wrist_z = np.einsum('tj,tj->t', fit.rotations[:, 2, :], scaled_m[:, 0, :]) \
        + fit.translations[:, 2]
    with np.errstate(invalid='ignore'):
        in_range = (wrist_z >= config.lifting.min_depth_m) & (
            wrist_z <= config.lifting.max_depth_m)
    has_pose = np.all(np.isfinite(fit.translations), axis=1)
    valid = has_pose & fit_ok & in_range & ~behind
    if not valid.any():
        raise ReconstructionError(
            f'no frame of {n} gave a usable metric fit (fit failed: {int((~fit_ok).sum())}, '
            f'depth out of [{config.lifting.min_depth_m}, {config.lifting.max_depth_m}] m: '
            f'{int((fit_ok & ~in_range).sum())}, behind the scene: {int(behind.sum())})')

    # Wrist frame: rotation of the keypoint-frame fit composed with the wrist axes of the model.
    model_rot = hand_frame_rotations(scaled_m, track.handedness)
    finger = np.einsum('tji,tkj->tki', model_rot, scaled_m - scaled_m[:, :1, :])
    wrist_rot = np.where(has_pose[:, None, None], fit.rotations @ model_rot, np.eye(3))
    positions = np.where(has_pose[:, None],
                         np.einsum('tij,tj->ti', fit.rotations, scaled_m[:, 0, :])
                         + np.nan_to_num(fit.translations), 0.0)
    quats = continuous_quaternions(Rotation.from_matrix(wrist_rot).as_quat())
    raw_p, raw_q = fill_invalid(track.times, positions, quats, valid)
    smooth = smooth_poses(track.times, raw_p, raw_q, valid, config.smoothing)
    raw_res = _residuals(raw_p, raw_q, finger, pixels, fit.inliers, intrinsics)
    smooth_res = _residuals(smooth.positions, smooth.quaternions, finger, pixels, fit.inliers,
                            intrinsics)
    offset = float(np.degrees(np.median(rotation_angle_between(track.wrist_quaternions,
                                                                raw_q))))

    compensated = camera_trajectory is not None
    smooth_p, smooth_q = smooth.positions, smooth.quaternions
    if compensated:
        assert camera_trajectory is not None
        raw_p, raw_q = to_first_camera(camera_trajectory, raw_p, raw_q)
        smooth_p, smooth_q = to_first_camera(camera_trajectory, smooth_p, smooth_q)
        messages.append('camera motion compensated: poses are in the first frame\'s camera')

    camera_frame = observation.camera_frame if observation is not None else CAMERA_OPTICAL_FRAME
    cam_raw = WristTrajectory(track.times, raw_p, raw_q, camera_frame, False, finger, raw_res)
    cam_smooth = WristTrajectory(track.times, smooth_p, smooth_q, camera_frame, True, finger,
                                 smooth_res)
    base_raw = base_smooth = None
    cloud = cloud_base = None
    if observation is not None and observation.camera_to_base is not None:
        extrinsic = observation.camera_to_base
        bp, bq = transform_poses(extrinsic, raw_p, raw_q)
        base_raw = WristTrajectory(track.times, bp, bq, observation.base_frame, False, finger,
                                   raw_res)
        bp, bq = transform_poses(extrinsic, smooth_p, smooth_q)
        base_smooth = WristTrajectory(track.times, bp, bq, observation.base_frame, True, finger,
                                      smooth_res)
    if observation is not None and observation.depth is not None:
        obs_h, obs_w = observation.depth.shape
        obs_intr = resolve_intrinsics(observation.intrinsics, obs_w, obs_h, config.camera)
        cloud = back_project(observation.depth, obs_intr, observation.rgb, config.point_cloud,
                             camera_frame)
        if observation.camera_to_base is not None:
            cloud_base = transform_cloud(cloud, observation.camera_to_base,
                                         observation.base_frame)

    length, extent = _path_stats(smooth_p)
    report = ReconstructionReport(
        intrinsics_assumed=intrinsics.assumed, hand_scale=fit.scale, depth_scale=depth_scale,
        camera_motion=motion, camera_moving=camera_moving,
        camera_motion_compensated=compensated, num_frames=n, valid_frames=int(valid.sum()),
        rejected_fit=int((~fit_ok).sum()), rejected_depth_range=int((fit_ok & ~in_range).sum()),
        rejected_behind_scene=int(behind.sum()), smoothing_outliers=int(smooth.outliers.sum()),
        median_residual_px=float(np.median(fit.residuals_px[valid])), path_length_m=length,
        extent_m=extent, wrist_frame_offset_deg=offset,
        seconds_per_frame=(time.perf_counter() - start) / n, messages=tuple(messages))
    return ReconstructionResult(intrinsics, cam_raw, cam_smooth, base_raw, base_smooth, cloud,
                                cloud_base, valid, report, hand_fit)
