"""Where, when and from which direction the human grasped: wrist path + grip closing.

The contact time is the first close event (from lvp_retarget's gripper retargeting), or, when no
event is given, the first time the thumb-index distance has closed `closing_fraction` of the way
from its largest value before its minimum to that minimum (a hand closing on an object stops at
the object's surface and then holds: the minimum itself can fall anywhere in the hold, even
during the lift). The contact point is the
midpoint of the thumb and index fingertips at that time, in the trajectory's frame (the wrist
position when the trajectory has no finger keypoints). The approach direction is the wrist's
displacement over the `approach_window` before contact; when the wrist barely moved, the
direction from the wrist to the contact point stands in for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from lvp_common.artifacts import GripperAction, GripperEvent, WristTrajectory
from lvp_common.geometry import Pose, interpolate_poses

from lvp_grasp.detector import GraspError, GraspRequest

THUMB_TIP, INDEX_TIP = 4, 8


@dataclass(frozen=True)
class HumanContactConfig:
    """approach_window: seconds of wrist motion before contact that define the approach.
    min_approach_travel: metres the wrist must move in that window for its motion to count.
    """

    approach_window: float = 0.5
    min_approach_travel: float = 0.02

    def __post_init__(self) -> None:
        if self.approach_window <= 0.0 or self.min_approach_travel < 0.0:
            raise GraspError(f'approach_window must be > 0 s and min_approach_travel >= 0 m, '
                             f'got {self.approach_window} and {self.min_approach_travel}')


@dataclass(frozen=True)
class HumanContact:
    """The human's grasp: time (s), contact point (3,) m and approach (3,) unit, in frame_id."""

    time: float
    point: np.ndarray
    approach: np.ndarray | None
    frame_id: str

    def grasp_request(self, max_candidates: int = 10) -> GraspRequest:
        """Return the grasp request that searches around this contact."""
        return GraspRequest(contact_point=self.point, approach=self.approach,
                            max_candidates=max_candidates)


def _keypoints_at(trajectory: WristTrajectory, time: float) -> np.ndarray | None:
    if trajectory.finger_keypoints is None:
        return None
    kp = trajectory.finger_keypoints.reshape(trajectory.num_frames, -1)
    flat = np.array([np.interp(time, trajectory.times, kp[:, k]) for k in range(kp.shape[1])])
    return flat.reshape(-1, 3)


def _pose_at(trajectory: WristTrajectory, time: float) -> Pose:
    position, quaternion = interpolate_poses(trajectory.times, trajectory.positions,
                                             trajectory.quaternions, [time])
    return Pose(position[0], quaternion[0])


def contact_time(trajectory: WristTrajectory, events: Sequence[GripperEvent] = (),
                 closing_fraction: float = 0.75) -> float:
    """Return the first close event's time, else when the thumb-index gap has closed
    `closing_fraction` of the way to its minimum (see the module docstring)."""
    closes = [e.time for e in events if e.action is GripperAction.CLOSE]
    if closes:
        return float(min(closes))
    if trajectory.finger_keypoints is None:
        raise GraspError('no close event and no finger keypoints: cannot tell when the human '
                         'grasped')
    if not 0.0 < closing_fraction <= 1.0:
        raise GraspError(f'closing_fraction must lie in (0, 1], got {closing_fraction}')
    gaps = np.linalg.norm(trajectory.finger_keypoints[:, THUMB_TIP]
                          - trajectory.finger_keypoints[:, INDEX_TIP], axis=1)
    k_min = int(np.argmin(gaps))
    widest = float(gaps[:k_min + 1].max())
    level = widest - closing_fraction * (widest - float(gaps[k_min]))
    k = int(np.flatnonzero(gaps[:k_min + 1] <= level + 1e-12)[0])
    if k == 0:
        return float(trajectory.times[0])
    # interpolate the crossing between frames k-1 and k
    g0, g1 = float(gaps[k - 1]), float(gaps[k])
    u = 0.0 if g0 == g1 else (g0 - level) / (g0 - g1)
    return float(trajectory.times[k - 1] + u * (trajectory.times[k] - trajectory.times[k - 1]))


def find_human_contact(trajectory: WristTrajectory, events: Sequence[GripperEvent] = (),
                       config: HumanContactConfig | None = None) -> HumanContact:
    """Find the human's contact time, point and approach direction in the trajectory's frame."""
    config = config or HumanContactConfig()
    time = contact_time(trajectory, events)
    if not trajectory.times[0] <= time <= trajectory.times[-1]:
        raise GraspError(f'contact time {time} s lies outside the trajectory '
                         f'[{trajectory.times[0]}, {trajectory.times[-1]}] s')
    wrist = _pose_at(trajectory, time)
    keypoints = _keypoints_at(trajectory, time)
    if keypoints is None:
        point = wrist.position
    else:
        point = wrist.transform_points(0.5 * (keypoints[THUMB_TIP] + keypoints[INDEX_TIP]))
    earlier = _pose_at(trajectory, max(trajectory.times[0], time - config.approach_window))
    travel = wrist.position - earlier.position
    approach: np.ndarray | None = None
    if np.linalg.norm(travel) >= max(config.min_approach_travel, 1e-9):
        approach = travel / np.linalg.norm(travel)
    elif np.linalg.norm(point - wrist.position) > 1e-6:
        approach = (point - wrist.position) / np.linalg.norm(point - wrist.position)
    return HumanContact(time=time, point=np.asarray(point, dtype=np.float64), approach=approach,
                        frame_id=trajectory.frame_id)
