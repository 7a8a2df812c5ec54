"""The hand (wrist) frame from palm keypoints: the one definition every stage uses.

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
from scipy.spatial.transform import Rotation

from lvp_common.artifacts import HAND_KEYPOINT_NAMES, NUM_HAND_KEYPOINTS, Handedness
from lvp_common.geometry import continuous_quaternions

WRIST = HAND_KEYPOINT_NAMES.index('wrist')
INDEX_MCP = HAND_KEYPOINT_NAMES.index('index_mcp')
MIDDLE_MCP = HAND_KEYPOINT_NAMES.index('middle_mcp')
LITTLE_MCP = HAND_KEYPOINT_NAMES.index('little_mcp')


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
