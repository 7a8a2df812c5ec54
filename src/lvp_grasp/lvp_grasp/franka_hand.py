"""A box model of the Franka Hand for grasp collision checks, in the gripper frame.

Gripper frame (the `GraspCandidate` convention): origin at the grasp point midway between the
finger pads, z = approach direction (from the palm towards the fingertips), y = closing axis,
x = y cross z. The fingertips reach `depth` past the
grasp point; the finger pads span finger_length back from the tips; the palm sits behind them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FRANKA_HAND_MAX_WIDTH = 0.08


class GripperModelError(ValueError):
    """The gripper model's dimensions are unusable."""


@dataclass(frozen=True)
class FrankaHandModel:
    """Box dimensions (metres) approximating the Franka Hand with its standard fingers.

    max_width: the largest opening between the finger pads. finger_length: pad length along z.
    finger_width: pad extent along x. finger_thickness: pad extent along y. palm_size: (x, y, z)
    extent of the hand body behind the fingers.
    """

    max_width: float = FRANKA_HAND_MAX_WIDTH
    finger_length: float = 0.045
    finger_width: float = 0.02
    finger_thickness: float = 0.012
    palm_size: tuple[float, float, float] = (0.06, 0.21, 0.065)

    def __post_init__(self) -> None:
        values = (self.max_width, self.finger_length, self.finger_width, self.finger_thickness,
                  *self.palm_size)
        if any(not np.isfinite(v) or v <= 0.0 for v in values):
            raise GripperModelError(f'gripper dimensions must be positive, got {values}')

    def boxes(self, depth: float, opening: float | None = None) -> np.ndarray:
        """Return (3, 2, 3) boxes [left finger, right finger, palm] as (min, max) corners.

        depth: how far the fingertips reach past the grasp point (m); opening: distance between
        the finger pads (defaults to max_width, the pre-grasp opening).
        """
        half = 0.5 * (self.max_width if opening is None else opening)
        fx = 0.5 * self.finger_width
        z_tip, z_base = depth, depth - self.finger_length
        t = self.finger_thickness
        px, py, pz = (0.5 * self.palm_size[0], 0.5 * self.palm_size[1], self.palm_size[2])
        return np.array([
            [[-fx, half, z_base], [fx, half + t, z_tip]],
            [[-fx, -half - t, z_base], [fx, -half, z_tip]],
            [[-px, -py, z_base - pz], [px, py, z_base]],
        ])

    def closing_region(self, depth: float) -> np.ndarray:
        """Return the (2, 3) box swept by the finger pads when closing (min, max corners)."""
        half = 0.5 * self.max_width
        fx = 0.5 * self.finger_width
        return np.array([[-fx, -half, depth - self.finger_length], [fx, half, depth]])


def points_in_box(points_local: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Return a mask of points (..., 3) inside an axis-aligned box (2, 3) of their frame."""
    return np.all((points_local >= box[0]) & (points_local <= box[1]), axis=-1)


def gripper_box_poses(pose_matrix: np.ndarray, model: FrankaHandModel, depth: float,
                      opening: float | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Return (4x4 pose of the box centre in the grasp's parent frame, size (3,)) per box."""
    boxes = model.boxes(depth, opening)
    out = []
    for lo, hi in boxes:
        centre = np.eye(4)
        centre[:3, 3] = 0.5 * (lo + hi)
        out.append((pose_matrix @ centre, hi - lo))
    return out
