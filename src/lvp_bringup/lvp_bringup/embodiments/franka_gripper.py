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

The retargeting and grasping stages that choose the mapping are in `franka_stages`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from lvp_common.artifacts import GraspPlan, HandCommands, WristTrajectory
from lvp_common.geometry import continuous_quaternions
from lvp_exec.embodiment_hardware import FRANKA_GRIPPER
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
    closest_approach,
    contact_index,
    dwell_path,
    vertical_final_approach,
)
from lvp_bringup.embodiments.embodiment import Embodiment
from lvp_bringup.embodiments.open_articulated import guide_pull
from lvp_bringup.embodiments.task_motion import (
    RELEASE_DWELL,
    PlaceMotion,
    PushMotion,
    enter_where_reachable,
    place_path,
    press_path,
    push_path,
)
from lvp_bringup.pipeline_types import (
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    StageError,
    StageRunner,
)

NAME = FRANKA_GRIPPER.name

APPROACH_HEIGHT = 0.12
"""A path that starts lower than this (m, TCP above the table) gets a first waypoint this high
above its start, 0.5 s before it (`above_first`)."""


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
    from lvp_bringup.embodiments.franka_stages import grasp_stage, gripper_stage

    runner.run('retargeting', (ValueError,), lambda: gripper_stage(result, config))
    runner.run('grasping', (ValueError,), lambda: grasp_stage(result, config))


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
    from lvp_reconstruction.reconstruct import ReconstructionConfig

    return ReconstructionConfig(
        lifting=LiftingConfig(method='hand_model'),
        hand_fit=HandFitConfig(landmark_offsets_mm=MEDIAPIPE_LANDMARK_OFFSETS_MM))


EMBODIMENT = Embodiment(
    hardware=FRANKA_GRIPPER, base_frame='panda_link0', hand_stages=('retargeting', 'grasping'),
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
