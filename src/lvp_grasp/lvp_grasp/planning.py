"""The grasp stage end to end: human contact from the demonstration -> ranked grasps."""

from __future__ import annotations

from collections.abc import Sequence

from lvp_common.artifacts import (
    GraspPlan,
    GripperAction,
    GripperEvent,
    PointCloud,
    WristTrajectory,
)

from lvp_grasp.antipodal import AntipodalGraspDetector
from lvp_grasp.detector import FirstFoundDetector, GraspDetector, GraspError, plan_grasps
from lvp_grasp.human_contact import HumanContactConfig, find_human_contact
from lvp_grasp.top_face import TopFaceGraspDetector


def default_detector() -> GraspDetector:
    """Antipodal grasps where the cloud shows both contacts, else top-face grasps."""
    return FirstFoundDetector(AntipodalGraspDetector(), TopFaceGraspDetector())


def grasp_plan_from_demonstration(cloud: PointCloud, trajectory: WristTrajectory,
                                  events: Sequence[GripperEvent] = (),
                                  detector: GraspDetector | None = None,
                                  contact_config: HumanContactConfig | None = None,
                                  max_candidates: int = 10) -> GraspPlan:
    """Return grasps on `cloud` where and how the human grasped, with the close/open times.

    The detector defaults to `default_detector()`.
    """
    if trajectory.frame_id != cloud.frame_id:
        raise GraspError(f'wrist trajectory is in {trajectory.frame_id!r} but the cloud is in '
                         f'{cloud.frame_id!r}: transform one into the other first')
    contact = find_human_contact(trajectory, events, contact_config)
    opens = [e.time for e in events if e.action is GripperAction.OPEN and e.time > contact.time]
    return plan_grasps(cloud, detector or default_detector(),
                       contact.grasp_request(max_candidates), close_time=contact.time,
                       open_time=min(opens) if opens else None)
