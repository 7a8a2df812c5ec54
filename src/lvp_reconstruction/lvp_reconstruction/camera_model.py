"""Camera model for reconstruction: measured intrinsics, rescaled to the video, or a default.

The video plan may be rendered at a different size from the robot camera's image (the planner
resizes the observation to 832x480). Intrinsics are then rescaled per axis, which is exact for a
plain resize and wrong for a crop; a crop must be described by the caller's intrinsics.
When no intrinsics are known, an ideal pinhole with a default horizontal field of view is used
and the result is flagged `assumed` (every metric number downstream inherits that caveat).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from lvp_common.artifacts import CameraIntrinsics


class CameraModelError(ValueError):
    """Intrinsics cannot be matched to the video (bad size or matrix)."""


@dataclass(frozen=True)
class CameraModelConfig:
    """How to obtain intrinsics for the video's pixels.

    default_horizontal_fov_deg: field of view assumed when no intrinsics are given (degrees);
    60 deg is a typical webcam / RGB-D colour camera (RealSense D435 colour: 69 deg).
    max_aspect_change: largest relative change of aspect ratio accepted when rescaling measured
    intrinsics to the video size (a larger change means a crop, not a resize).
    """

    default_horizontal_fov_deg: float = 60.0
    max_aspect_change: float = 0.02


def intrinsics_from_matrix(camera_matrix, width: int, height: int, distortion=(),
                           assumed: bool = False) -> CameraIntrinsics:
    """Build intrinsics from a 3x3 K (or CameraInfo.k, 9 values) and plumb_bob distortion."""
    k = np.asarray(camera_matrix, dtype=np.float64).reshape(-1)
    if k.size != 9:
        raise CameraModelError(f'camera matrix must have 9 entries, got {k.size}')
    k = k.reshape(3, 3)
    if abs(k[0, 1]) > 1e-9 or not np.allclose(k[2], [0.0, 0.0, 1.0]) or abs(k[1, 0]) > 1e-9:
        raise CameraModelError(f'camera matrix is not a skew-free pinhole K: {k.tolist()}')
    return CameraIntrinsics(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]),
                            int(width), int(height), np.asarray(distortion, dtype=np.float64),
                            assumed=assumed)


def rescale_intrinsics(intrinsics: CameraIntrinsics, width: int, height: int,
                       max_aspect_change: float = 0.02) -> CameraIntrinsics:
    """Return intrinsics for the same camera image resized to `width` x `height` pixels."""
    if (intrinsics.width, intrinsics.height) == (width, height):
        return intrinsics
    if width <= 0 or height <= 0:
        raise CameraModelError(f'bad target image size {width}x{height}')
    sx = width / intrinsics.width
    sy = height / intrinsics.height
    if abs(sx / sy - 1.0) > max_aspect_change:
        raise CameraModelError(
            f'intrinsics are for {intrinsics.width}x{intrinsics.height} but the video is '
            f'{width}x{height}: aspect ratio changes by {abs(sx / sy - 1.0):.1%}, more than '
            f'{max_aspect_change:.1%} (a crop?); give intrinsics for the video itself')
    # Pixel centres: u_new + 0.5 = s * (u_old + 0.5).
    return replace(intrinsics, fx=intrinsics.fx * sx, fy=intrinsics.fy * sy,
                   cx=(intrinsics.cx + 0.5) * sx - 0.5, cy=(intrinsics.cy + 0.5) * sy - 0.5,
                   width=int(width), height=int(height))


def resolve_intrinsics(intrinsics: CameraIntrinsics | None, width: int, height: int,
                       config: CameraModelConfig | None = None) -> CameraIntrinsics:
    """Return intrinsics for a `width` x `height` video: given ones rescaled, or the default."""
    config = config or CameraModelConfig()
    if intrinsics is None:
        return CameraIntrinsics.from_fov(width, height, config.default_horizontal_fov_deg,
                                         assumed=True)
    return rescale_intrinsics(intrinsics, width, height, config.max_aspect_change)


def undistort_pixels(pixels, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Map distorted pixels (..., 2) to ideal pinhole pixels of the same K."""
    px = np.asarray(pixels, dtype=np.float64)
    if intrinsics.distortion.size == 0 or not np.any(intrinsics.distortion):
        return px.copy()
    flat = px.reshape(-1, 1, 2)
    k = intrinsics.matrix
    out = cv2.undistortPoints(flat, k, intrinsics.distortion, P=k)
    return np.asarray(out, dtype=np.float64).reshape(px.shape)
