"""The Franka's hand stages: gripper events from the hand's aperture (retargeting), then the
grasp, place, push or press the demonstration shows, as an EeMapping (grasping).

The mapping itself (the TCP path from the human wrist) is `franka_gripper`'s.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from lvp_common.artifacts import GripperAction, GripperEvent, WristTrajectory

from lvp_bringup.embodiments.ee_mapping import EeMapping, approached_object, register_contact
from lvp_bringup.embodiments.franka_gripper import (
    franka_mapping,
    register_to_grasp,
    registration_grasps,
)
from lvp_bringup.embodiments.open_articulated import franka_pull_stage, sentence_pulls
from lvp_bringup.embodiments.task_family import (
    FamilyDecision,
    TaskFamily,
    classify_task_family,
    detector_shape,
)
from lvp_bringup.embodiments.task_motion import (
    PRESS_DEPTH,
    PUSH_CLEARANCE,
    RELEASE_DWELL,
    extent_along,
    press_release,
    push_stroke,
    set_down,
)
from lvp_bringup.pipeline_types import PipelineConfig, PipelineResult

FRANKA_HAND_MAX_WIDTH = 0.08
"""The Franka hand's full opening (m), commanded on release."""

GRASP_DWELL = 0.5
"""The TCP holds its grasp pose this long (s) after the close event before following the rest
of the demonstration: the hand closes at 0.1 m/s and builds its force over the last ~2 cm, a
human's fingers close faster (a pinch lifts ~0.3 s after the fingers meet the object)."""

FINGER_HALF_DEPTH = 0.012
"""Half the closed Franka fingers' depth (m) across the closing axis: the TCP's distance to
the fingers' face that pushes."""


def gripper_stage(result: PipelineResult, config: PipelineConfig) -> None:
    """Gripper open/close events from the hand's aperture (lvp_retarget.gripper)."""
    from lvp_retarget.gripper import GripperRetargetConfig, retarget_gripper_from_trajectory

    assert result.wrist_base is not None
    gripper = retarget_gripper_from_trajectory(
        result.wrist_base, config.gripper or GripperRetargetConfig())
    result.gripper = gripper
    result.gripper_events = gripper.events


def grasp_stage(result: PipelineResult, config: PipelineConfig) -> None:
    """Read the task family, then grasp (registered to lvp_grasp's top-down grasp), pull a
    handle, or push/press (`_contact_stage`); set the gripper events and the mapping."""
    from lvp_grasp.detector import GraspError
    from lvp_grasp.human_contact import find_human_contact
    from lvp_grasp.planning import grasp_plan_from_demonstration

    wrist = result.wrist_base
    rec = result.reconstruction
    assert wrist is not None and rec is not None
    cloud = rec.point_cloud_base
    events = result.gripper_events
    found = None if cloud is None else approached_object(cloud, wrist)
    if found is not None and found[3] > config.max_grasp_offset:
        found = None
    decision = read_family(result, wrist, found)
    # A pull (open_articulated) slides like a push; a push or press pulls only when the
    # sentence says so.
    pulls = decision.family not in (TaskFamily.PUSH, TaskFamily.PRESS) or sentence_pulls(
        result.plan.prompts if result.plan is not None else ())
    if pulls and franka_pull_stage(result, config):  # a pull on a handle (open_articulated)
        return
    grasp_task = config.grasp
    if grasp_task is None:
        grasp_task = decision.family in (TaskFamily.LIFT, TaskFamily.PLACE)
    if not grasp_task:
        _contact_stage(result, config, wrist, found, decision)
        return
    grasp = None
    if cloud is None:
        if config.require_grasp_candidate:
            raise GraspError('no depth: no scene point cloud to grasp on')
        result.messages.append('grasping: no depth image, no scene cloud: grasp detection '
                               'skipped; the TCP follows the hand\'s grasp point')
        contact_time = find_human_contact(wrist, events).time
    else:
        plan = grasp_plan_from_demonstration(cloud, wrist, events)
        result.grasp_plan = plan
        contact_time = plan.close_time
        eligible = registration_grasps(plan, wrist, config.max_grasp_offset)
        if eligible:
            # Of grasps about as narrow as the best one (a square's two sides), the one the
            # hand's own closing axis is nearest to.
            narrowest = min(c.width for c, _t in eligible)
            eligible = [(c, t) for c, t in eligible if c.width <= narrowest + 0.01]
            reference = result.robot.ee_pose(result.robot.home).rotation[:, 1]
            turns = [abs(register_to_grasp(wrist, franka_mapping(
                wrist, t, config.min_tcp_height), c, reference).yaw_offset) for c, t in eligible]
            grasp, contact_time = eligible[int(np.argmin(turns))]
        elif config.require_grasp_candidate:
            raise GraspError(f'no top-down grasp the hand comes within '
                             f'{100 * config.max_grasp_offset:.0f} cm of')
        else:
            result.messages.append(f'grasping: no top-down grasp the hand comes within '
                                   f'{100 * config.max_grasp_offset:.0f} cm of '
                                   f'({len(plan.candidates)} candidates); the TCP follows the '
                                   f'hand\'s grasp point')
    if contact_time is None:
        contact_time = float(wrist.times[len(wrist.times) // 2])
    if not any(e.action is GripperAction.CLOSE for e in events):
        # The aperture never crossed the close threshold (e.g. a power grasp around a 5 cm cube
        # keeps thumb and index 4-5 cm apart): close when the hand reached the object.
        result.gripper_events = tuple(sorted(
            (*events, GripperEvent(float(contact_time), GripperAction.CLOSE, 0.0)),
            key=lambda e: e.time))
        source = ('the hand reached the grasp' if grasp is not None
                  else 'lvp_grasp.human_contact')
        result.messages.append(f'retargeting: no close event from the hand aperture; gripper '
                               f'closes at the contact time {contact_time:.2f} s ({source})')
        released = human_release(wrist, float(contact_time), config)
        if released is not None:
            result.gripper_events = (*result.gripper_events, GripperEvent(
                released, GripperAction.OPEN, FRANKA_HAND_MAX_WIDTH))
            result.messages.append(f'retargeting: the hand lets go at {released:.2f} s (its '
                                   f'aperture opened 1.5 cm past its grip): gripper opens')
    mapping = replace(franka_mapping(wrist, float(contact_time), config.min_tcp_height),
                      family=decision.family.value, grasp_dwell=GRASP_DWELL)
    if grasp is not None:
        reference = result.robot.ee_pose(result.robot.home).rotation[:, 1]
        mapping = register_to_grasp(wrist, mapping, grasp, reference)
    if decision.family is TaskFamily.PLACE:
        mapping = _place(result, wrist, mapping, found, grasp, config)
    # The grasp's close stays where it is (at or just after the contact, inside the dwell);
    # everything after it comes GRASP_DWELL later, as the path does.
    closes = [e for e in result.gripper_events if e.action is GripperAction.CLOSE]
    grasp_close = closes[0] if closes else None
    result.gripper_events = tuple(
        replace(e, time=e.time + GRASP_DWELL)
        if e.time > float(contact_time) and e is not grasp_close else e
        for e in result.gripper_events)
    result.mapping = replace(mapping, description=mapping.description + (
        f'; the TCP holds the grasp {GRASP_DWELL:.1f} s while the gripper closes'))


def read_family(result: PipelineResult, wrist: WristTrajectory, found) -> FamilyDecision:
    """The task family from the hand's motion (`classify_task_family`) at its arrival at the
    object `found` (ee_mapping.approached_object; None: its lowest point); the plan's sentence
    breaks ties. Reported in the messages."""
    prompts = result.plan.prompts if result.plan is not None else ()
    decision = classify_task_family(wrist, None if found is None else found[2], prompts,
                                    detector_shape(result.hand_track))
    result.messages.append(f'task family: {decision.reason}')
    return decision


def camera_origin(result: PipelineResult) -> np.ndarray | None:
    """The camera's position in the base frame (m), or None when the observation has none."""
    obs = result.observation
    if obs is None or obs.camera_to_base is None:
        return None
    return np.asarray(obs.camera_to_base.position, dtype=np.float64)


def _place(result: PipelineResult, wrist: WristTrajectory, mapping: EeMapping, found, grasp,
           config: PipelineConfig) -> EeMapping:
    """A place: where the hand sets the object down (`task_motion.set_down` on the table
    plane at the object's centre height), the gripper opening there."""
    camera = camera_origin(result)
    assert mapping.contact_time is not None
    centre = (found[1] if found is not None else
              grasp.pose.position if grasp is not None else None)
    if camera is None or centre is None:
        result.messages.append('place: no camera pose or no object: the TCP follows the hand')
        return mapping
    released = human_release(wrist, mapping.contact_time, config)
    place = set_down(wrist, mapping.contact_time, camera, float(centre[2]), released)
    if place is None:
        result.messages.append('place: the hand never comes back down after the pick-up: the '
                               'TCP follows the hand')
        return mapping
    others = [e for e in result.gripper_events if e.action is not GripperAction.OPEN
              or e.time <= mapping.contact_time]
    result.gripper_events = tuple(sorted(
        (*others, GripperEvent(place.release_time, GripperAction.OPEN, FRANKA_HAND_MAX_WIDTH)),
        key=lambda e: e.time))
    d = place.displacement
    return replace(mapping, place=(place.set_down_time, place.release_time, *map(float, d)),
                   description=mapping.description + (
                       f'; place: set down {100 * np.linalg.norm(d):.1f} cm from the pick-up '
                       f'(the hand\'s displacement on the table plane) at '
                       f't = {place.set_down_time:.2f} s, gripper opens at '
                       f'{place.release_time:.2f} s and holds {RELEASE_DWELL:.1f} s'))


def human_release(wrist: WristTrajectory, contact: float,
                  config: PipelineConfig) -> float | None:
    """When the human's thumb and index open after grasping at `contact` (lvp_retarget's
    `release_time` on the hand apertures), or None."""
    from lvp_retarget.gripper import GripperRetargetConfig, hand_apertures, release_time

    if wrist.finger_keypoints is None:
        return None
    gripper = config.gripper or GripperRetargetConfig()
    fingers = wrist.finger_keypoints
    apertures = hand_apertures(fingers, gripper.reference_palm_length)
    return release_time(wrist.times, apertures, contact)


def _contact_stage(result: PipelineResult, config: PipelineConfig, wrist: WristTrajectory,
                   found, decision: FamilyDecision) -> None:
    """Franka, a task without a grasp (push, press): the gripper closes at the start (its
    fingertips together push and press), the TCP follows the human's grasp point, registered
    to the object the hand approaches (`register_contact`); a push becomes a straight stroke
    from behind the object along the hand's push on the table plane (`task_motion`)."""
    start = float(wrist.times[0])
    result.gripper_events = (GripperEvent(start, GripperAction.CLOSE, 0.0),)
    result.messages.append('grasping: the task grasps nothing (push/press): the gripper closes '
                           'at the start and its fingertips do the contact')
    time = found[2] if found is not None else float(wrist.times[len(wrist.times) // 2])
    mapping = replace(franka_mapping(wrist, time, config.min_tcp_height), grasps=False,
                      family=decision.family.value)
    if found is None:
        result.messages.append('registration: no object the hand comes within '
                               f'{100 * config.max_grasp_offset:.0f} cm of; the TCP follows '
                               'the reconstructed path')
        result.mapping = mapping
        return
    face, centre = found[0], found[1]
    camera = camera_origin(result)
    if decision.family is TaskFamily.PRESS:
        top = float(face.centre[2])
        point = np.array([centre[0], centre[1], max(top - PRESS_DEPTH, config.min_tcp_height)])
        release = press_release(wrist, found[2])
        mapping = register_contact(wrist, mapping, point, found[2])
        result.mapping = replace(mapping, press=(*map(float, point), release),
                                 description=mapping.description + (
            f'; press: straight down onto the top centre, {1000 * PRESS_DEPTH:.0f} mm below '
            f'its top, held until t = {release:.2f} s (the hand rises), then straight up'))
        return
    if decision.family is not TaskFamily.PUSH or camera is None:
        result.mapping = register_contact(wrist, mapping, centre, found[2])
        return
    push = push_stroke(wrist, found[2], camera, centre, face)
    gap = extent_along(face, push.direction) + PUSH_CLEARANCE + FINGER_HALF_DEPTH
    start_point = centre - gap * push.direction
    start_point[2] = max(float(centre[2]), config.min_tcp_height)
    mapping = register_contact(wrist, mapping, start_point, push.start_time)
    length = push.length + PUSH_CLEARANCE
    result.mapping = replace(mapping, push=(*map(float, start_point), *map(float, push.direction),
                                            length, push.end_time),
                             description=mapping.description + (
        f'; push: from {100 * gap:.1f} cm behind the object centre, {100 * length:.1f} cm '
        f'along {np.round(push.direction[:2], 2).tolist()} (the hand\'s push on the table '
        f'plane) until t = {push.end_time:.2f} s, fingers across the push'))
