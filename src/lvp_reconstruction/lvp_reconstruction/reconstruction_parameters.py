"""The reconstruction node's parameters: the node's own, the `group.field` ones that fill a
ReconstructionConfig, and the camera_to_base extrinsic. ROS-free (values in, config out)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from lvp_common.artifacts import CAMERA_OPTICAL_FRAME, ROBOT_BASE_FRAME
from lvp_common.geometry import Pose

from lvp_reconstruction.reconstruct import ReconstructionConfig

PARAMETERS: dict[str, tuple[Any, str]] = {
    'base_frame': (ROBOT_BASE_FRAME, 'frame_id of the base-frame outputs'),
    'camera_frame': (CAMERA_OPTICAL_FRAME, 'frame_id of the camera-frame outputs when neither '
                     'the CameraInfo, the images nor the HandTrack header names one'),
    'input_settle_s': (0.5, 'wait this long (s) after a HandTrack before reconstructing, so '
                       'that latched observation messages arriving with it are used'),
    'tf_timeout_s': (1.0, 'camera_to_base empty: wait up to this long (s) at each HandTrack '
                     'for the camera frame in base_frame on /tf_static and /tf'),
}
CAMERA_TO_BASE_DESCRIPTION = (
    'camera optical frame pose in the base frame: [x, y, z, qx, qy, qz, qw] (m, quaternion; '
    'write every value with a decimal point); empty = looked up in TF (the camera frame '
    'of the CameraInfo/image header in base_frame); without it: camera-frame outputs only and '
    'an error logged')

_DEFAULTS = ReconstructionConfig()
CONFIG_PARAMETERS: dict[str, str] = {
    'camera.default_horizontal_fov_deg': 'horizontal field of view (deg) assumed without '
                                         'CameraInfo',
    'lifting.method': "hand_model: fit the articulated hand to the clip's 2D keypoints (and "
                      'publish its mesh); keypoints: per-frame PnP of the metric keypoints',
    'lifting.palm_length_m': 'assumed wrist -> middle-MCP length (m) of the clip-wide hand; '
                             "0 keeps the track's metric size",
    'lifting.hand_scale': 'multiplies the clip-wide hand after sizing (1.06 undoes '
                          "MediaPipe's shrink when palm_length_m is 0)",
    'lifting.min_inliers': 'a frame with fewer inlier keypoints is rejected',
    'lifting.max_residual_px': 'a frame with a larger inlier reprojection RMS (px) is rejected',
    'lifting.min_depth_m': 'a frame with the wrist nearer than this (m) is rejected',
    'lifting.max_depth_m': 'a frame with the wrist farther than this (m) is rejected',
    'depth.enabled': 'use the depth image: reject hands behind the scene (and the contact '
                     'scale when depth.contact_scale)',
    'depth.contact_scale': 'apply the hand scale measured from contact with scene depth',
    'depth.min_scale': 'smallest hand-scale correction accepted from scene depth',
    'depth.max_scale': 'largest hand-scale correction accepted from scene depth',
    'smoothing.hampel_sigmas': 'robust sigmas beyond which a frame is an outlier',
    'smoothing.savgol_window': 'Savitzky-Golay window on positions (odd, frames)',
    'smoothing.savgol_order': 'Savitzky-Golay polynomial order',
    'smoothing.depth_half_window': 'frames on each side in the robust fit of the wrist distance '
                                   'along the camera ray (0: Savitzky-Golay only)',
    'smoothing.rotation_sigma_frames': 'Gaussian sigma (frames) of the rotation average',
    'point_cloud.stride': 'scene cloud: keep every stride-th pixel in both directions',
    'point_cloud.min_depth_m': 'scene cloud: nearest depth kept (m)',
    'point_cloud.max_depth_m': 'scene cloud: farthest depth kept (m)',
}
"""Parameters named `group.field` after ReconstructionConfig; defaults from its dataclasses."""


def config_default(name: str) -> Any:
    group, field = name.split('.')
    return getattr(getattr(_DEFAULTS, group), field)


def config_from_parameters(values: dict[str, Any]) -> ReconstructionConfig:
    """Return the default ReconstructionConfig with the `group.field` values replaced."""
    groups: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        group, field = name.split('.')
        groups.setdefault(group, {})[field] = value
    return replace(_DEFAULTS, **{group: replace(getattr(_DEFAULTS, group), **fields)
                                 for group, fields in groups.items()})


def camera_to_base_pose(values) -> Pose | None:
    """Parse the `camera_to_base` parameter: None when empty, else a Pose (ValueError if bad)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return None
    if v.size != 7 or not np.all(np.isfinite(v)) or np.linalg.norm(v[3:]) < 1e-9:
        raise ValueError(f'camera_to_base must be empty or 7 finite numbers [x, y, z, qx, qy, qz, '
                         f'qw] with a non-zero quaternion, got {v.tolist()}')
    return Pose(v[:3], v[3:])
