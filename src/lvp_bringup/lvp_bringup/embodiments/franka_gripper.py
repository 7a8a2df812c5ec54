"""Franka arm + parallel gripper: its retargeting and grasping stages and its EE mapping.

The Franka hand's TCP goes where the human grasped. At the contact time (the first close event,
else lvp_grasp's human contact time) the grasp point is the centroid of the thumb, index and
middle fingertips in the wrist frame, and the closing axis runs from the thumb tip to the
index/middle tips; both are then held fixed in the hand frame for the whole path. The gripper
points straight down (z = -z of the base) and its closing axis (y) is the hand's closing axis
projected on the horizontal plane, so the gripper's yaw follows the hand. TCP heights are
clamped to `min_tcp_height` above the base plane (the table top).

Registration to the grasp: when lvp_grasp finds a top-down grasp (approach within 30 deg of
straight down) that the hand's grasp point comes within `max_grasp_offset` of, the contact time
becomes the hand's arrival there (`closest_approach`) and the whole TCP path is shifted (and
turned about the vertical) so that at that time the TCP sits exactly at that grasp, with its
closing axis (of equally narrow grasps, the one needing the least turn). The scene's depth
locates the object to millimetres, the hand's monocular reconstruction only to centimetres; the
rest of the path keeps the hand's motion relative to the grasp, except that the approach's last
`PREGRASP_HEIGHT` comes straight down onto the grasp (a diagonal approach sweeps the trailing
finger over the object). A task without a grasp (push, press) closes the gripper from the start
and registers the path to the object the hand approaches (`register_contact`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from lvp_common.artifacts import (
    GraspPlan,
    GripperAction,
    GripperEvent,
    HandCommands,
    WristTrajectory,
)
from lvp_common.geometry import continuous_quaternions
from scipy.spatial.transform import Rotation

from lvp_bringup.embodiments.ee_mapping import (
    APPROACH_LEAD,
    DEFAULT_HAND_GRASP_POINT,
    INDEX_TIP,
    MIDDLE_TIP,
    PREGRASP_HEIGHT,
    THUMB_TIP,
    EeMapping,
    above_first,
    approach_from,
    approached_object,
    closest_approach,
    contact_index,
    dwell_path,
    register_contact,
    vertical_final_approach,
)
from lvp_bringup.embodiments.embodiment import Embodiment
from lvp_bringup.embodiments.open_articulated import (
    franka_pull_stage,
    guide_pull,
    sentence_pulls,
)
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
    PlaceMotion,
    PushMotion,
    enter_where_reachable,
    extent_along,
    place_path,
    press_path,
    press_release,
    push_path,
    push_stroke,
    set_down,
)
from lvp_bringup.pipeline_types import (
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    StageError,
    StageRunner,
)

NAME = 'franka_gripper'

FRANKA_HAND_MAX_WIDTH = 0.08
"""The Franka hand's full opening (m), commanded on release."""

GRASP_DWELL = 0.5
"""The TCP holds its grasp pose this long (s) after the close event before following the rest
of the demonstration: the hand closes at 0.1 m/s and builds its force over the last ~2 cm, a
human's fingers close faster (a pinch lifts ~0.3 s after the fingers meet the object)."""

APPROACH_HEIGHT = 0.12
"""A path that starts lower than this (m, TCP above the table) gets a first waypoint this high
above its start, 0.5 s before it (`above_first`)."""

FINGER_HALF_DEPTH = 0.012
"""Half the closed Franka fingers' depth (m) across the closing axis: the TCP's distance to
the fingers' face that pushes."""


def franka_mapping(wrist: WristTrajectory, contact_time: float,
                   min_tcp_height: float) -> EeMapping:
    """Choose the wrist-frame grasp point and closing axis at the contact time."""
    if wrist.finger_keypoints is not None:
        kp = wrist.finger_keypoints[contact_index(wrist.times, contact_time)]
        tips = kp[[THUMB_TIP, INDEX_TIP, MIDDLE_TIP]]
        grasp_point = tips.mean(axis=0)
        axis = 0.5 * (kp[INDEX_TIP] + kp[MIDDLE_TIP]) - kp[THUMB_TIP]
        source = 'fingertips (thumb, index, middle) at contact'
    else:
        grasp_point = DEFAULT_HAND_GRASP_POINT.copy()
        axis = np.array([1.0, 0.0, 0.0])
        source = 'default palm grasp point (no finger keypoints)'
    norm = float(np.linalg.norm(axis))
    axis = axis / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])
    return EeMapping(
        NAME, float(contact_time), tuple(float(v) for v in grasp_point),
        tuple(float(v) for v in axis), float(min_tcp_height),
        description=(f'Franka TCP at the human grasp point ({source}, t = {contact_time:.2f} s; '
                     f'wrist frame {np.round(grasp_point, 3).tolist()} m), fixed in the hand '
                     f'frame; gripper pointing down, closing axis = the hand\'s thumb -> '
                     f'fingertips direction projected on the table (yaw follows the hand); '
                     f'TCP kept >= {min_tcp_height:.2f} m above the table'))


def registration_grasps(plan: GraspPlan, wrist: WristTrajectory,
                        max_offset: float) -> list[tuple[Any, float]]:
    """The top-down candidates (approach within 30 deg of straight down) that the hand's grasp
    point comes within `max_offset` of, with when it got there: [(candidate, time)], best-ranked
    first."""
    found = []
    for candidate in plan.candidates:
        if -candidate.pose.rotation[2, 2] < np.cos(np.radians(30.0)):
            continue
        time, nearest = closest_approach(wrist, candidate.pose.position)
        if nearest <= max_offset:
            found.append((candidate, time))
    return found


def register_to_grasp(wrist: WristTrajectory, mapping: EeMapping, grasp,
                      reference_closing_axis: np.ndarray) -> EeMapping:
    """Shift and turn a Franka mapping so the TCP meets `grasp` (GraspCandidate) at contact."""
    assert mapping.contact_time is not None
    tcp = franka_tcp_path(wrist, mapping, reference_closing_axis)
    k = contact_index(wrist.times, mapping.contact_time)
    offset = grasp.pose.position - tcp.positions[k]
    y_path = Rotation.from_quat(tcp.quaternions[k]).apply([0.0, 1.0, 0.0])
    y_grasp = grasp.pose.rotation[:, 1]
    yaw = float(np.arctan2(y_path[0] * y_grasp[1] - y_path[1] * y_grasp[0],
                           y_path[0] * y_grasp[0] + y_path[1] * y_grasp[1]))
    if abs(yaw) > np.pi / 2:  # a parallel gripper closes the same along y and -y
        yaw -= np.sign(yaw) * np.pi
    note = (f'; registered to the detected grasp at {np.round(grasp.pose.position, 3).tolist()} '
            f'm (path shifted {100 * np.linalg.norm(offset):.1f} cm, turned '
            f'{np.degrees(yaw):+.0f} deg)')
    return replace(mapping, path_offset=tuple(float(v) for v in offset), yaw_offset=yaw,
                   description=mapping.description + note)


def franka_tcp_path(wrist: WristTrajectory, mapping: EeMapping,
                    reference_closing_axis: np.ndarray | None = None) -> WristTrajectory:
    """Return Franka TCP targets (base frame) for a human wrist path under `mapping`."""
    rot = Rotation.from_quat(wrist.quaternions)
    positions = wrist.positions + rot.apply(np.asarray(mapping.grasp_point))
    if mapping.path_offset:
        positions = positions + np.asarray(mapping.path_offset)
    positions[:, 2] = np.maximum(positions[:, 2], mapping.min_tcp_height)
    if mapping.path_offset and mapping.grasps and mapping.contact_time is not None:
        k = contact_index(wrist.times, mapping.contact_time)
        positions[:k + 1] = vertical_final_approach(positions[:k + 1], PREGRASP_HEIGHT)
    closing = Rotation.from_euler('z', mapping.yaw_offset).apply(
        rot.apply(np.asarray(mapping.closing_axis)))
    down = np.array([0.0, 0.0, -1.0])
    previous = (np.array([0.0, 1.0, 0.0]) if reference_closing_axis is None
                else np.asarray(reference_closing_axis, dtype=np.float64))
    quats = np.zeros((wrist.num_frames, 4))
    for i, axis in enumerate(closing):
        y = np.array([axis[0], axis[1], 0.0])
        if np.linalg.norm(y) < 1e-3:  # closing axis vertical: keep the last yaw
            y = previous
        y = y / np.linalg.norm(y)
        # A parallel gripper is symmetric: of y and -y take the one nearer the last yaw.
        if float(np.dot(y, previous)) < 0.0:
            y = -y
        x = np.cross(y, down)
        quats[i] = Rotation.from_matrix(np.stack([x, y, down], axis=1)).as_quat()
        previous = y
    return WristTrajectory(wrist.times, positions, continuous_quaternions(quats),
                           wrist.frame_id, smoothed=wrist.smoothed)


def _gripper_stage(result: PipelineResult, config: PipelineConfig) -> None:
    from lvp_retarget.gripper import GripperRetargetConfig, retarget_gripper_from_trajectory

    assert result.wrist_base is not None
    gripper = retarget_gripper_from_trajectory(
        result.wrist_base, config.gripper or GripperRetargetConfig())
    result.gripper = gripper
    result.gripper_events = gripper.events


def _grasp_stage(result: PipelineResult, config: PipelineConfig) -> None:
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


def load_robot(config: PipelineConfig) -> Any:
    """Load the Franka arm model: config.arm_model, else the arm the configured executor drives."""
    from lvp_exec.backends import ExecutionSetupError, executor_arm_model, resolve_arm_model
    from lvp_exec.robots import load_franka

    try:
        arm = (resolve_arm_model(config.arm_model, 'sim') if config.arm_model
               else executor_arm_model(config.executor) if config.executor is not None
               else resolve_arm_model('', 'sim'))
    except ExecutionSetupError as exc:
        raise StageError('ik', ErrorCode.INVALID_GOAL, str(exc)) from exc
    return load_franka(arm)


def run_hand_stages(result: PipelineResult, config: PipelineConfig, runner: StageRunner) -> None:
    """Gripper events from the hand's aperture (retargeting), then the grasp (grasping)."""
    runner.run('retargeting', (ValueError,), lambda: _gripper_stage(result, config))
    runner.run('grasping', (ValueError,), lambda: _grasp_stage(result, config))


def ee_path(wrist: WristTrajectory, mapping: EeMapping, robot: Any,
            commands: HandCommands | None = None) -> WristTrajectory:
    """TCP targets (base frame) for a base-frame human wrist path under `mapping`."""
    if mapping.contact_time is not None:
        wrist = approach_from(wrist, mapping.contact_time - APPROACH_LEAD)
    # The home TCP's closing axis picks the sign of the first yaw (least wrist rotation).
    path = franka_tcp_path(wrist, mapping, robot.ee_pose(robot.home).rotation[:, 1])
    if mapping.push and mapping.contact_time is not None:
        path = _push_tcp_path(path, mapping, robot.ee_pose(robot.home).rotation[:, 1])
    if mapping.place and mapping.contact_time is not None:
        p = np.asarray(mapping.place)
        path = place_path(path, mapping.contact_time, PlaceMotion(p[0], p[1], p[2:5]))
    if mapping.press and mapping.contact_time is not None:
        # A closed gripper presses alike at any yaw: the home posture's (least wrist turn).
        q = _down_quaternion(robot.ee_pose(robot.home).rotation[:, 1])
        path = press_path(path, mapping.contact_time, np.asarray(mapping.press[:3]),
                          mapping.press[3])
        path = replace(path, quaternions=np.tile(q, (path.num_frames, 1)))
    if mapping.grasp_dwell > 0.0 and mapping.contact_time is not None:
        path = dwell_path(path, mapping.contact_time, mapping.grasp_dwell)
    if mapping.place:
        path = dwell_path(path, mapping.place[1] + mapping.grasp_dwell, RELEASE_DWELL)
    if mapping.contact_time is not None:
        path = enter_where_reachable(path, robot, mapping.contact_time)
    if path.positions[0, 2] < APPROACH_HEIGHT:
        # The arm's own move onto the path (joint space) must not sweep low over the table.
        path = above_first(path, APPROACH_HEIGHT - float(path.positions[0, 2]), 0.5)
    return guide_pull(path, wrist, mapping)


def world_config() -> Any:
    """The lvp_sim world layout: the Franka base on the table top at the table's origin."""
    from lvp_sim.world import world_config_for

    return world_config_for(NAME)


def reconstruction_config() -> Any:
    """The articulated hand fit with MediaPipe's landmark offsets (both measured on this
    layout's camera views): on held-out seeds it set the grasp within reach where keypoint
    PnP put the pinching hand ~10 cm too near the camera."""
    from lvp_reconstruction.hand_fit import MEDIAPIPE_LANDMARK_OFFSETS_MM, HandFitConfig
    from lvp_reconstruction.lifting import LiftingConfig
    from lvp_reconstruction.pipeline import ReconstructionConfig

    return ReconstructionConfig(
        lifting=LiftingConfig(method='hand_model'),
        hand_fit=HandFitConfig(landmark_offsets_mm=MEDIAPIPE_LANDMARK_OFFSETS_MM))


EMBODIMENT = Embodiment(
    name=NAME, base_frame='panda_link0', hand_stages=('retargeting', 'grasping'),
    load_robot=load_robot, run_hand_stages=run_hand_stages, ee_path=ee_path,
    world_config=world_config, reconstruction=reconstruction_config)


def _push_tcp_path(path: WristTrajectory, mapping: EeMapping,
                   home_closing: np.ndarray) -> WristTrajectory:
    """The push stroke of `mapping.push` (`task_motion.push_path`), the gripper pointing down
    with its closing axis across the push (the fingers side by side against the face)."""
    assert mapping.contact_time is not None
    p = np.asarray(mapping.push)
    direction = p[3:6]
    closing = np.array([-direction[1], direction[0], 0.0])
    if float(np.dot(closing, home_closing)) < 0.0:
        closing = -closing
    q = _down_quaternion(closing)
    path = push_path(path, mapping.contact_time, p[:3], PushMotion(direction, p[6], p[7]), q)
    return replace(path, quaternions=np.tile(q, (path.num_frames, 1)))


def _down_quaternion(closing: np.ndarray) -> np.ndarray:
    """The TCP pointing straight down with its closing axis (y) along `closing` projected on
    the table (x, y, z, w)."""
    y = np.array([closing[0], closing[1], 0.0])
    y /= max(float(np.linalg.norm(y)), 1e-9)
    down = np.array([0.0, 0.0, -1.0])
    return Rotation.from_matrix(np.stack([np.cross(y, down), y, down], axis=1)).as_quat()
