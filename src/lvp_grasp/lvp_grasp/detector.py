"""The grasp detector interface: the embedded antipodal sampler and learned detectors plug in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from lvp_common.artifacts import GraspCandidate, GraspPlan, PointCloud
from lvp_common.geometry import as_array


class GraspError(ValueError):
    """Grasp detection input is unusable (frames disagree, no points, bad request)."""


@dataclass(frozen=True)
class GraspRequest:
    """Where to grasp: the human's contact point and approach direction in the cloud's frame.

    contact_point: (3,) metres, or None to search the whole cloud. approach: (3,) unit vector the
    hand moved along to reach the object (the gripper's z should follow it), or None.
    """

    contact_point: np.ndarray | None = None
    approach: np.ndarray | None = None
    max_candidates: int = 10

    def __post_init__(self) -> None:
        if self.contact_point is not None:
            object.__setattr__(self, 'contact_point',
                               as_array(self.contact_point, (3,), 'GraspRequest.contact_point'))
        if self.approach is not None:
            approach = as_array(self.approach, (3,), 'GraspRequest.approach')
            norm = float(np.linalg.norm(approach))
            if norm < 1e-9:
                raise GraspError(f'GraspRequest.approach must be non-zero, got {approach}')
            object.__setattr__(self, 'approach', approach / norm)
        if self.max_candidates < 1:
            raise GraspError(f'max_candidates must be >= 1, got {self.max_candidates}')


@runtime_checkable
class GraspDetector(Protocol):
    """A grasp detector: ranked parallel-gripper candidates (best first) on a point cloud.

    Poses are in the cloud's frame, gripper frame z = approach, y = closing axis. A learned
    detector (GraspNet-style) implements this on its own network and weights.
    """

    def detect(self, cloud: PointCloud, request: GraspRequest) -> tuple[GraspCandidate, ...]:
        """Return grasp candidates for `cloud`, best first (at most request.max_candidates)."""
        ...


class FirstFoundDetector:
    """Ask detectors in order and return the first non-empty answer (e.g. antipodal, then
    top-face grasps for single-view clouds that show only one side of the object)."""

    def __init__(self, *detectors: GraspDetector) -> None:
        if not detectors:
            raise GraspError('FirstFoundDetector needs at least one detector')
        self.detectors = detectors

    def detect(self, cloud: PointCloud, request: GraspRequest) -> tuple[GraspCandidate, ...]:
        for detector in self.detectors:
            found = detector.detect(cloud, request)
            if found:
                return found
        return ()


def plan_grasps(cloud: PointCloud, detector: GraspDetector, request: GraspRequest | None = None,
                close_time: float | None = None, open_time: float | None = None) -> GraspPlan:
    """Detect grasps and package them with the human's close/open times (s) as a GraspPlan."""
    candidates = detector.detect(cloud, request or GraspRequest())
    return GraspPlan(candidates=tuple(candidates), frame_id=cloud.frame_id,
                     close_time=close_time, open_time=open_time)
