"""The interface a hand pose estimator implements to feed the tracker (MediaPipe, HaMeR, ...)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from lvp_common.artifacts import NUM_HAND_KEYPOINTS, Handedness
from lvp_common.geometry import as_array


class BackendError(RuntimeError):
    """A hand pose backend failed to load or to process a frame."""


@dataclass(frozen=True)
class HandDetection:
    """One hand found in one frame.

    keypoints_px: (21, 2) pixels, MediaPipe landmark order. keypoints_m: (21, 3) metres with
    camera-aligned axes (x right, y down, z away from the camera) and any origin near the hand.
    score: detection confidence in [0, 1]. label: the backend's handedness guess (None if it
    gives none) with label_score its confidence. mesh_vertices: (V, 3) metres in the same
    frame as keypoints_m, or None.
    """

    keypoints_px: np.ndarray
    keypoints_m: np.ndarray
    score: float
    label: Handedness | None = None
    label_score: float = 0.0
    mesh_vertices: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, 'keypoints_px', as_array(
            self.keypoints_px, (NUM_HAND_KEYPOINTS, 2), 'HandDetection.keypoints_px'))
        object.__setattr__(self, 'keypoints_m', as_array(
            self.keypoints_m, (NUM_HAND_KEYPOINTS, 3), 'HandDetection.keypoints_m'))
        if not 0.0 <= self.score <= 1.0:
            raise ValueError(f'HandDetection.score must lie in [0, 1], got {self.score}')
        if self.label is not None:
            object.__setattr__(self, 'label', Handedness(self.label))
        if self.mesh_vertices is not None:
            object.__setattr__(self, 'mesh_vertices', as_array(
                self.mesh_vertices, (None, 3), 'HandDetection.mesh_vertices'))

    @property
    def center_px(self) -> np.ndarray:
        """Centre of the keypoints' bounding box (pixels)."""
        return 0.5 * (self.keypoints_px.min(axis=0) + self.keypoints_px.max(axis=0))

    @property
    def size_px(self) -> float:
        """Diagonal of the keypoints' bounding box (pixels), at least 1."""
        extent = self.keypoints_px.max(axis=0) - self.keypoints_px.min(axis=0)
        return max(float(np.hypot(*extent)), 1.0)


@runtime_checkable
class HandPoseBackend(Protocol):
    """Estimates every visible hand in the frames of one clip, in order.

    `start_clip` is called before the first frame of each clip (a tracking backend resets its
    state there); `detect` receives RGB uint8 frames (H, W, 3) with strictly increasing
    timestamps (seconds). `mesh_faces` is (F, 3) triangle indices when the backend gives a
    mesh, else None.
    """

    name: str
    mesh_faces: np.ndarray | None

    def start_clip(self) -> None:
        """Forget any state from a previous clip."""
        ...

    def detect(self, frame_rgb: np.ndarray, timestamp_s: float) -> list[HandDetection]:
        """Return every hand found in `frame_rgb` (possibly none)."""
        ...

    def close(self) -> None:
        """Release the model."""
        ...
