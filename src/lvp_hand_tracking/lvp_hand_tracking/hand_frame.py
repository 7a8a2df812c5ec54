"""The hand (wrist) frame from palm keypoints, and MediaPipe's metric keypoints in camera axes.

Hand frame, right-handed, origin at the wrist keypoint, for either hand:
  +y  from the wrist to the middle-finger knuckle (middle MCP);
  +z  the palm normal, pointing out of the palm (the side the fingers close towards);
  +x  = y cross z: towards the thumb side (index MCP) on a right hand, towards the little finger
      on a left hand (a left hand is the mirror image, so its frame stays right-handed).
It is built from the wrist, index MCP, middle MCP and little MCP: the index-minus-little knuckle
direction, made orthogonal to y, is the across-palm axis.
"""

from __future__ import annotations

import numpy as np
from lvp_common.artifacts import NUM_HAND_KEYPOINTS, CameraIntrinsics, Handedness
from lvp_common.geometry import continuous_quaternions
from scipy.spatial.transform import Rotation

from lvp_hand_tracking.hand_skeleton import INDEX_MCP, LITTLE_MCP, MIDDLE_MCP, WRIST


class HandFrameError(ValueError):
    """Palm keypoints are degenerate (collapsed knuckles) so no hand frame exists."""


def _unit(v: np.ndarray, what: str, frames: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    bad = np.flatnonzero(norm[..., 0] < 1e-6)
    if bad.size:
        raise HandFrameError(f'{what} is degenerate (length < 1e-6 m) in frame '
                             f'{int(frames[bad[0]])}')
    return v / norm


def hand_frame_rotations(keypoints_m, handedness: Handedness | str) -> np.ndarray:
    """Return rotation matrices (T, 3, 3) whose columns are the hand frame's x, y, z axes.

    keypoints_m: (T, 21, 3) or (21, 3) metric keypoints in any right-handed frame; the result
    is the hand frame's orientation in that frame.
    """
    kp = np.asarray(keypoints_m, dtype=np.float64)
    single = kp.ndim == 2
    kp = kp.reshape(-1, NUM_HAND_KEYPOINTS, 3)
    frames = np.arange(len(kp))
    y = _unit(kp[:, MIDDLE_MCP] - kp[:, WRIST], 'wrist -> middle MCP', frames)
    across = kp[:, INDEX_MCP] - kp[:, LITTLE_MCP]
    across = across - np.sum(across * y, axis=1, keepdims=True) * y
    towards_thumb = _unit(across, 'little MCP -> index MCP across the palm', frames)
    # For a right hand, thumb-side x cross y is the palm normal; the left hand is its mirror.
    x = towards_thumb if Handedness(handedness) is Handedness.RIGHT else -towards_thumb
    z = np.cross(x, y)
    rot = np.stack([x, y, z], axis=2)
    return rot[0] if single else rot


def hand_frame_quaternions(keypoints_m, handedness: Handedness | str) -> np.ndarray:
    """Return the hand frame's orientation (T, 4) as sign-continuous quaternions (x, y, z, w)."""
    rot = hand_frame_rotations(np.asarray(keypoints_m).reshape(-1, NUM_HAND_KEYPOINTS, 3),
                               handedness)
    return continuous_quaternions(Rotation.from_matrix(rot).as_quat())


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
