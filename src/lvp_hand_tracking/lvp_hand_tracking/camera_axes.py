"""MediaPipe's metric keypoints in camera axes (the hand frame itself: lvp_common.hand_frame)."""

from __future__ import annotations

import numpy as np
from lvp_common.artifacts import CameraIntrinsics
from scipy.spatial.transform import Rotation


def view_ray_rotations(centers_px, intrinsics: CameraIntrinsics) -> np.ndarray:
    """Return rotations (T, 3, 3) turning the optical axis onto the ray through each pixel.

    MediaPipe predicts metric keypoints as if the hand crop were seen head-on; for a hand away
    from the image centre that view looks along the ray through the crop, not along the optical
    axis. Applying this rotation puts such keypoints into the camera optical frame's axes.
    """
    c = np.asarray(centers_px, dtype=np.float64).reshape(-1, 2)
    rays = np.stack([(c[:, 0] - intrinsics.cx) / intrinsics.fx,
                     (c[:, 1] - intrinsics.cy) / intrinsics.fy, np.ones(len(c))], axis=1)
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    axis = np.cross(np.array([0.0, 0.0, 1.0]), rays)
    sin = np.linalg.norm(axis, axis=1)
    angle = np.arctan2(sin, rays[:, 2])
    safe = np.where(sin[:, None] > 1e-12, axis / np.maximum(sin, 1e-12)[:, None], 0.0)
    return Rotation.from_rotvec(safe * angle[:, None]).as_matrix()
