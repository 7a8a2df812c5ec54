"""The wrist frame this stage outputs, defined from the 21 metric hand keypoints.

Origin: the wrist keypoint (MediaPipe landmark 0). Axes, for a right hand (as in
SYNTHETIC_HANDS.md): +y from the wrist towards the middle-finger knuckle (MCP), +z the palm
normal (out of the palm), +x = y x z, towards the thumb side. For a left hand the same rule
(y to the middle knuckle, z out of the palm, right-handed) puts +x towards the little finger.
The palm normal is the cross product of the wrist->index-MCP and wrist->little-MCP vectors
(sign flipped for a left hand), so the frame depends only on four palm landmarks that move
little with finger flexion.
"""

from __future__ import annotations

import numpy as np
from lvp_common.artifacts import Handedness

WRIST = 0
INDEX_MCP = 5
MIDDLE_MCP = 9
LITTLE_MCP = 17


class HandFrameError(ValueError):
    """The palm keypoints are degenerate (coincident or collinear)."""


def wrist_rotations(keypoints, handedness: Handedness | str) -> np.ndarray:
    """Return the wrist frame's rotation matrices (..., 3, 3) in the keypoints' frame."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape[-2:] != (21, 3):
        raise HandFrameError(f'expected keypoints (..., 21, 3), got {kp.shape}')
    sign = 1.0 if Handedness(handedness) == Handedness.RIGHT else -1.0
    wrist = kp[..., WRIST, :]
    normal = sign * np.cross(kp[..., INDEX_MCP, :] - wrist, kp[..., LITTLE_MCP, :] - wrist)
    forward = kp[..., MIDDLE_MCP, :] - wrist
    n_norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    if np.any(n_norm < 1e-9):
        raise HandFrameError('palm keypoints are collinear: cannot define the palm normal')
    z = normal / n_norm
    y = forward - np.sum(forward * z, axis=-1, keepdims=True) * z
    y_norm = np.linalg.norm(y, axis=-1, keepdims=True)
    if np.any(y_norm < 1e-9):
        raise HandFrameError('wrist and middle knuckle coincide: cannot define the y axis')
    y = y / y_norm
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=-1)
