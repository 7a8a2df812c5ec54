"""G1 arm + Inspire hand: its retargeting stage and its EE mapping.

The hand-mount frame follows the wrist with a fixed hand-to-mount rotation (`G1_HAND_IN_MOUNT`).
The observation's camera_to_base is in the G1's base frame (the pelvis). Registration to the
object (`register_to_object`): the object is the one (lvp_grasp's top-face finder) the human's
grasp point (thumb, index and middle fingertips' centroid) comes nearest, within
`max_grasp_offset`; the contact is the grasp point's arrival there. The Inspire commands become
`grasp_commands`: fingers open until the contact (retargeted curled fingers would sweep the
object away), thumb already in opposition, then closing as the human's, pressed GRASP_SQUEEZE
further so that position control holds the object. The hand is turned, phased in over the
APPROACH_LEAD before the contact, into the top-down pinch across the object nearest its own
orientation (`top_down_pinch`: the Inspire's thumb -> finger line level, palm down), and the
path is shifted so that the Inspire's grasp point (`inspire_grasp`: midway between its thumb
and finger tips where they are the object's width apart) meets the object's centre at the
contact. Waypoints whose commanded fingertips would reach deeper into the table than the safety
filter allows are raised just enough (`fingertips_above`).

`make_embodiment(hardware or name, side)` builds the registry entry for either arm (this module
registers `G1_INSPIRE`, the arm PipelineConfig.g1_side names, the right one by default).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from lvp_common.artifacts import HandCommands, WristTrajectory
from lvp_common.geometry import continuous_quaternions
from lvp_exec.embodiment_hardware import (
    G1_INSPIRE,
    EmbodimentHardware,
    g1_inspire_hardware,
    hardware_named,
    is_hardware,
)
from scipy.spatial.transform import Rotation

from lvp_bringup.embodiments.ee_mapping import (
    APPROACH_LEAD,
    PREGRASP_HEIGHT,
    EeMapping,
    above_first,
    approach_from,
    approached_object,
    contact_index,
    descend_onto,
    dwell_commands,
    dwell_path,
    register_contact,
)
from lvp_bringup.embodiments.embodiment import Embodiment
from lvp_bringup.embodiments.open_articulated import g1_pull_stage, guide_pull, sentence_pulls
from lvp_bringup.embodiments.task_family import (
    TaskFamily,
    classify_task_family,
    detector_shape,
)
from lvp_bringup.embodiments.task_motion import (
    PUSH_CLEARANCE,
    RELEASE_DWELL,
    PlaceMotion,
    PushMotion,
    enter_where_reachable,
    extent_along,
    place_path,
    push_path,
    push_stroke,
    set_down,
)
from lvp_bringup.embodiments.wipe_contact import g1_wipe_stage, guide_wipe, sentence_wipes
from lvp_bringup.pipeline_types import PipelineConfig, PipelineResult, StageRunner

NAME = G1_INSPIRE.name


G1_HAND_IN_MOUNT = Rotation.from_matrix(np.array([
    [0.0, 1.0, 0.0],    # mount x = hand y (wrist -> fingers: the hand points along mount x)
    [0.0, 0.0, -1.0],   # mount y = -(palm normal)
    [-1.0, 0.0, 0.0],   # mount z = -(hand x)
])).as_quat()
"""Orientation of the human hand frame (x thumb side, y fingers, z palm normal) in the G1
`<side>_hand_mount` frame (x along the forearm out of the wrist)."""


PRE_APPROACH_HEIGHT = 0.08
PRE_APPROACH_TIME = 0.5
"""The G1 approaches the first pose of its path from up to PRE_APPROACH_HEIGHT (m) above it (no
higher than its home pose), over the last PRE_APPROACH_TIME (s): the Inspire's thumb and
fingers reach 15-21 cm below the mount, and a sideways approach at the path's height drags
them over the table."""


GRASP_DWELL = 0.5
"""The G1 hand holds its grasp pose this long (s) while the Inspire closes, before following
the rest of the demonstration (the human's fingers close faster than the Inspire's)."""


def g1_mapping(mount_frame: str, embodiment: str = NAME) -> EeMapping:
    """The G1 hand-mount mapping: a fixed hand-to-mount rotation, positions unchanged."""
    return EeMapping(
        embodiment, None, hand_in_mount=tuple(float(v) for v in G1_HAND_IN_MOUNT),
        description=(f'G1 {mount_frame} follows the human wrist with a fixed hand-to-mount '
                     f'rotation (fingers along the mount x axis, palm facing mount -y)'))


def g1_mount_path(wrist: WristTrajectory, mapping: EeMapping) -> WristTrajectory:
    """Return G1 hand-mount targets (the wrist path's frame) for a human wrist path."""
    hand_in_mount = Rotation.from_quat(np.asarray(mapping.hand_in_mount))
    mount = Rotation.from_quat(wrist.quaternions) * hand_in_mount.inv()
    if mapping.grasp_turn and mapping.contact_time is not None:
        phase = np.clip((wrist.times - mapping.contact_time + APPROACH_LEAD) / APPROACH_LEAD,
                        0.0, 1.0)
        turn = Rotation.from_quat(np.asarray(mapping.grasp_turn))
        mount = Rotation.from_rotvec(phase[:, None] * turn.as_rotvec()) * mount
    mount = mount.as_quat()
    positions = wrist.positions.copy()
    if mapping.path_offset:
        positions = positions + np.asarray(mapping.path_offset)
    if mapping.path_offset and mapping.grasp_turn and mapping.contact_time is not None:
        k = contact_index(wrist.times, mapping.contact_time)
        positions[:k + 1] = descend_onto(positions[:k + 1], PREGRASP_HEIGHT)
    return WristTrajectory(wrist.times, positions, continuous_quaternions(mount),
                           wrist.frame_id, smoothed=wrist.smoothed)


def inspire_grasp(commands: HandCommands, side: str, contact_time: float,
                  width: float) -> tuple[np.ndarray, np.ndarray]:
    """Where the Inspire hand holds an object `width` wide, in the G1 hand-mount frame: the
    grasp point (m) and the unit chord from the thumb tip to the index/middle tips there.

    `commands` are shaped by `grasp_commands`: open on arrival at `contact_time`, closed
    tightest within GRASP_CLOSING_WINDOW after it. Along that closing (joint-space
    interpolation), the object's centre belongs midway between the thumb tip and the
    index/middle tips' mean where they are `width` apart (the tightest point when they never
    are).
    """
    from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT
    from lvp_retarget.dexterous import GRASP_CLOSING_WINDOW
    from lvp_retarget.inspire_hand import InspireKinematics

    kinematics = InspireKinematics(side)
    times = commands.times

    def tips(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = kinematics.tip_positions(commands.joint_names, q)
        return p[0], p[1:3].mean(axis=0)

    def gap(q: np.ndarray) -> float:
        thumb, fingers = tips(q)
        return float(np.linalg.norm(fingers - thumb))

    before = np.flatnonzero(times < contact_time)
    after = np.flatnonzero((times >= contact_time)
                           & (times <= contact_time + GRASP_CLOSING_WINDOW))
    if after.size == 0:
        after = np.array([int(np.argmin(np.abs(times - contact_time)))])
    closed = commands.joint_positions[after[int(np.argmin(
        [gap(q) for q in commands.joint_positions[after]]))]]
    opened = commands.joint_positions[before[-1] if before.size else after[0]]
    q = opened
    for fraction in np.linspace(0.0, 1.0, 41)[1:]:
        if gap(q) <= width:
            break
        q = opened + fraction * (closed - opened)
    thumb, fingers = tips(q)
    chord = (fingers - thumb) / max(float(np.linalg.norm(fingers - thumb)), 1e-9)
    return INSPIRE_BASE_IN_MOUNT @ (0.5 * (thumb + fingers)), INSPIRE_BASE_IN_MOUNT @ chord


PINCH_TILTS = tuple(np.radians([0.0, 15.0, 30.0, 45.0]))
"""Tilts (rad) about the pinch chord tried, in order, when the level pinch is out of reach."""


def top_down_pinches(chord: np.ndarray, face, current: Rotation) -> list[Rotation]:
    """The G1 hand-mount orientations (base frame) of a top-down pinch of the object whose top
    face (lvp_grasp TopFace) is `face`: the Inspire's thumb -> finger `chord` (mount frame)
    level and across the object (along a side no longer than 1.2 x the short side), the palm
    as near facing down as that allows, or tilted about the chord by up to 45 deg (fingers
    reaching further: the arm's reach); least tilt, then least turn from `current` first."""
    shortest = min(face.sides)
    palm = np.array([0.0, -1.0, 0.0])  # the Inspire palm faces the mount's -y
    found = []
    for side, axis in zip(face.sides, face.axes, strict=True):
        if side > 1.2 * shortest:
            continue
        for sign in (1.0, -1.0):
            across = np.array([sign * axis[0], sign * axis[1], 0.0])
            level = Rotation.align_vectors([across, [0.0, 0.0, -1.0]], [chord, palm],
                                           weights=[1e6, 1.0])[0]
            for tilt in PINCH_TILTS:
                for turn_sign in ((1.0,) if tilt == 0.0 else (1.0, -1.0)):
                    rotation = Rotation.from_rotvec(turn_sign * tilt * across) * level
                    found.append((tilt, (current.inv() * rotation).magnitude(), len(found),
                                  rotation))
    return [f[3] for f in sorted(found, key=lambda f: f[:3])]


def top_down_pinch(chord: np.ndarray, face, current: Rotation) -> Rotation:
    """The top-down pinch (`top_down_pinches`) nearest `current` (least turn)."""
    return top_down_pinches(chord, face, current)[0]


def reachable_pinch(robot, pinches: list[Rotation], centres: list[np.ndarray],
                    held: np.ndarray) -> tuple[Rotation, bool]:
    """Of `pinches` (least turn first), the first whose mount poses holding each of `centres`
    (the pick-up, and the set-down of a place) with the Inspire grasp point `held` (mount
    frame), and the poses PREGRASP_HEIGHT above them, the arm reaches (lvp_exec IK from its
    home posture); the first one and False when none is."""
    from lvp_exec.ik import DampedLeastSquaresIk, UnreachablePathError

    ik = DampedLeastSquaresIk(robot)
    for rotation in pinches:
        mounts = [centre - rotation.apply(held) + [0.0, 0.0, lift]
                  for centre in centres for lift in (PREGRASP_HEIGHT, 0.0)]
        quats = np.tile(rotation.as_quat(), (len(mounts), 1))
        path = WristTrajectory(np.arange(len(mounts), dtype=np.float64), np.stack(mounts),
                               quats, robot.base_frame_names[0])
        try:
            ik.solve(path, np.asarray(robot.home, dtype=np.float64))
        except UnreachablePathError:
            continue
        return rotation, True
    return pinches[0], False


def register_to_object(result: PipelineResult, mapping: EeMapping, max_offset: float,
                       grasp: bool | None = True) -> EeMapping:
    """Shift a G1 mapping so the Inspire hand holds the nearest seen object at contact.

    The object is the one the human's grasp point comes nearest (`approached_object`); the
    contact time becomes the grasp point's arrival there (`closest_approach`); the path is
    shifted so that, then, the Inspire's grasp point (`inspire_grasp` of the retargeted
    closing) sits at the object's centre. The hand commands become `grasp_commands` (open on
    arrival, pressed closed after), which the grasp point is computed from."""
    from lvp_retarget.dexterous import GRASP_SQUEEZE, grasp_commands

    wrist, rec = result.wrist_base, result.reconstruction
    cloud = None if rec is None else rec.point_cloud_base
    if wrist is None or cloud is None or result.hand_commands is None:
        result.messages.append('registration: no scene cloud; the hand follows the '
                               'reconstructed wrist path')
        return mapping
    found = approached_object(cloud, wrist)
    if found is not None and found[3] > max_offset:
        result.messages.append(f'registration: the hand\'s grasp point comes no closer than '
                               f'{100 * found[3]:.1f} cm to the nearest object\'s centre '
                               f'(> {100 * max_offset:.0f} cm): path not registered')
        found = None
    prompts = result.plan.prompts if result.plan is not None else ()
    decision = classify_task_family(wrist, None if found is None else found[2], prompts,
                                    detector_shape(result.hand_track))
    result.messages.append(f'task family: {decision.reason}')
    mapping = replace(mapping, family=decision.family.value)
    # A pull on a handle (open_articulated) slides like a push: a push or press pulls only
    # when the sentence says so.
    pulls = (decision.family not in (TaskFamily.PUSH, TaskFamily.PRESS)
             or sentence_pulls(prompts))
    # A wipe (wipe_contact) slides along the surface like a push; a lift, place or press (the
    # hand rises off the table between its low stretches) wipes only when the sentence says so.
    wipes = decision.family is TaskFamily.PUSH or sentence_wipes(prompts)
    if (pulls and g1_pull_stage(result, mapping)) or (wipes and g1_wipe_stage(result, mapping)):
        assert result.mapping is not None
        return result.mapping
    if grasp is None:
        grasp = decision.family in (TaskFamily.LIFT, TaskFamily.PLACE)
    if found is None:
        result.messages.append('registration: no object seen near the hand\'s grasp point; '
                               'the hand follows the reconstructed wrist path')
        return mapping
    face, centre, time, _nearest = found
    camera = None if result.observation is None or result.observation.camera_to_base is None \
        else np.asarray(result.observation.camera_to_base.position, dtype=np.float64)
    if not grasp:
        # A push or press: the hand's grasp point meets the object; fingers as retargeted.
        if decision.family is not TaskFamily.PUSH or camera is None:
            return register_contact(wrist, mapping, centre, time)
        push = push_stroke(wrist, time, camera, centre, face)
        gap = extent_along(face, push.direction) + PUSH_CLEARANCE
        start = centre - gap * push.direction
        mapping = register_contact(wrist, mapping, start, push.start_time)
        length = push.length + PUSH_CLEARANCE
        return replace(mapping, push=(*map(float, start), *map(float, push.direction), length,
                                      push.end_time),
                       description=mapping.description + (
            f'; push: the foremost Inspire fingertip from {100 * gap:.1f} cm behind the '
            f'object centre, {100 * length:.1f} cm along '
            f'{np.round(push.direction[:2], 2).tolist()} (the hand\'s push on the table '
            f'plane) until t = {push.end_time:.2f} s'))
    side = 'left' if result.robot.name.startswith('g1_left') else 'right'
    result.hand_commands = grasp_commands(result.hand_commands, time, side)
    result.messages.append(f'retargeting: the Inspire fingers stay open until the contact at '
                           f'{time:.2f} s (pre-grasp opening, thumb already in opposition), '
                           f'then close as the human\'s do, pressed {GRASP_SQUEEZE:.1f} further')
    held, chord = inspire_grasp(result.hand_commands, side, time, min(face.sides))
    k = contact_index(wrist.times, time)
    mount = Rotation.from_quat(g1_mount_path(wrist, mapping).quaternions[k])
    place = None
    if decision.family is TaskFamily.PLACE and camera is not None:
        place = set_down(wrist, time, camera, float(centre[2]))
    centres = [centre] if place is None else [centre, centre + place.displacement]
    target, reachable = reachable_pinch(result.robot, top_down_pinches(chord, face, mount),
                                        centres, held)
    if not reachable:
        result.messages.append('registration: no top-down pinch of the object is within the '
                               'arm\'s reach from its home posture; the least-turn one is kept')
    turn = target * mount.inv()
    mount = target
    mapping = replace(mapping, grasp_turn=tuple(float(v) for v in turn.as_quat()))
    offset = centre - (wrist.positions[k] + mount.apply(held))
    note = (f'; registered to the object at {np.round(centre, 3).tolist()} m at '
            f't = {time:.2f} s (hand turned {np.degrees(turn.magnitude()):.0f} deg into a '
            f'top-down pinch across the object over the last {APPROACH_LEAD:.1f} s before it, '
            f'path shifted {100 * np.linalg.norm(offset):.1f} cm so '
            f'the Inspire grasp point meets the object)')
    result.hand_commands = dwell_commands(result.hand_commands, time, GRASP_DWELL)
    mapping = replace(mapping, contact_time=float(time), grasp_dwell=GRASP_DWELL,
                      path_offset=tuple(float(v) for v in offset),
                      description=mapping.description + note + (
                          f'; the hand holds there {GRASP_DWELL:.1f} s while it closes'))
    if place is None:
        return mapping
    release = place.release_time + GRASP_DWELL  # on the dwelled clock
    result.hand_commands = dwell_commands(result.hand_commands, release, RELEASE_DWELL)
    d = place.displacement
    return replace(mapping, place=(place.set_down_time, place.release_time, *map(float, d)),
                   description=mapping.description + (
                       f'; place: set down {100 * np.linalg.norm(d):.1f} cm from the pick-up '
                       f'(the hand\'s displacement on the table plane) at '
                       f't = {place.set_down_time:.2f} s, held until {place.release_time:.2f} s '
                       f'+ {RELEASE_DWELL:.1f} s while the fingers open'))


def fingertips_above(path: WristTrajectory, commands: HandCommands, robot,
                     margin: float = 0.01) -> WristTrajectory:
    """Raise G1 hand-mount waypoints so that the Inspire fingertips at the commanded closure
    and its palm stay `margin` above the lowest the safety filter allows (table plane +
    hand_clearance, the palm + table_clearance;
    the margin covers the spline between waypoints), as the Franka TCP is kept above
    `min_tcp_height`."""
    from lvp_exec.hand_points import inspire_hand_points
    from lvp_exec.safety import default_safety_config

    config = default_safety_config(robot)
    if config.table_height is None:
        return path
    hand = inspire_hand_points(robot, commands, path.times)  # fingertips + palm, mount frame
    floors = config.table_height + hand.table_clearances(config) + margin
    rotations = Rotation.from_quat(path.quaternions).as_matrix()
    heights = path.positions[:, 2:3] + np.einsum('tij,tkj->tki', rotations, hand.points)[..., 2]
    raise_by = np.maximum(np.max(floors - heights, axis=1), 0.0)
    if not np.any(raise_by > 0.0):
        return path
    positions = path.positions.copy()
    positions[:, 2] += raise_by
    return replace(path, positions=positions)


def _dexterous_stage(result: PipelineResult, config: PipelineConfig) -> None:
    from lvp_retarget.dexterous import DexterousRetargetConfig, retarget_wrist_trajectory

    assert result.wrist_base is not None and result.hand_track is not None
    result.hand_commands = retarget_wrist_trajectory(
        result.wrist_base, result.hand_track.handedness,
        config.dexterous or DexterousRetargetConfig())
    robot = result.robot
    mapping = g1_mapping(robot.ee_frame, result.embodiment)
    result.mapping = register_to_object(result, mapping, config.max_grasp_offset, config.grasp)



def ee_path(wrist: WristTrajectory, mapping: EeMapping, robot: Any,
            commands: HandCommands | None = None) -> WristTrajectory:
    """Hand-mount targets (base frame) for a base-frame human wrist path under `mapping`."""
    if mapping.contact_time is not None:
        wrist = approach_from(wrist, mapping.contact_time - APPROACH_LEAD)
    path = g1_mount_path(wrist, mapping)
    if mapping.push and mapping.contact_time is not None and commands is not None:
        path = _push_mount_path(path, mapping, robot, commands)
    if mapping.place and mapping.contact_time is not None:
        p = np.asarray(mapping.place)
        path = place_path(path, mapping.contact_time, PlaceMotion(p[0], p[1], p[2:5]))
    home_height = float(robot.ee_pose(robot.home).position[2])
    if path.positions[0, 2] < home_height:
        path = above_first(path, min(PRE_APPROACH_HEIGHT,
                                     home_height - float(path.positions[0, 2])),
                           PRE_APPROACH_TIME)
    if mapping.grasp_dwell > 0.0 and mapping.contact_time is not None:
        path = dwell_path(path, mapping.contact_time, mapping.grasp_dwell)
    if mapping.place:
        path = dwell_path(path, mapping.place[1] + mapping.grasp_dwell, RELEASE_DWELL)
    path = guide_wipe(guide_pull(path, wrist, mapping), mapping)
    if commands is not None:
        path = fingertips_above(path, commands, robot)  # commands are on the dwelled clock
    if mapping.contact_time is not None:
        path = enter_where_reachable(path, robot, mapping.contact_time)
    return path


def _push_mount_path(path: WristTrajectory, mapping: EeMapping, robot,
                     commands: HandCommands) -> WristTrajectory:
    """The push stroke of `mapping.push` for the hand mount: the Inspire fingertip foremost
    along the push (at the contact's finger commands and hand orientation) starts at the push's
    start point and slides along it (`task_motion.push_path`)."""
    from lvp_exec.hand_points import inspire_fingertips

    assert mapping.contact_time is not None
    p = np.asarray(mapping.push)
    direction = p[3:6]
    k = contact_index(path.times, mapping.contact_time)
    tips = inspire_fingertips(robot, commands, path.times[k:k + 1]).points[0]  # mount frame
    tips = Rotation.from_quat(path.quaternions[k]).apply(tips)
    # Of the fingertips within 3 cm of the lowest (those at the object's height), the foremost.
    low = tips[tips[:, 2] <= tips[:, 2].min() + 0.03]
    foremost = low[int(np.argmax(low @ direction))]
    return push_path(path, mapping.contact_time, p[:3] - foremost,
                     PushMotion(direction, p[6], p[7]))


def run_hand_stages(result: PipelineResult, config: PipelineConfig, runner: StageRunner) -> None:
    """Inspire commands from the hand's keypoints, registered to the object (retargeting)."""
    runner.run('retargeting', (ValueError,), lambda: _dexterous_stage(result, config))


def world_config() -> Any:
    """The lvp_sim world layout: a G1 behind the table, objects before its right shoulder."""
    from lvp_sim.world import world_config_for

    return world_config_for(NAME)


def make_embodiment(name: str | EmbodimentHardware, side: str | None = None,
                    world=world_config) -> Embodiment:
    """A G1 arm with its Inspire hand in the `world` layout. `name`: its hardware spec, or the
    name of a registered one, or a new name: then a G1 + Inspire fixed to `side`
    (`g1_inspire_hardware`, for the caller to register in lvp_exec.embodiment_hardware)."""
    if isinstance(name, EmbodimentHardware):
        hardware = name
    elif is_hardware(name):
        hardware = hardware_named(name)
    else:
        hardware = g1_inspire_hardware(name, side or 'right')

    def load_robot(config: PipelineConfig) -> Any:
        return hardware.load_robot(side=side or config.g1_side)

    return Embodiment(hardware=hardware, base_frame='pelvis', hand_stages=('retargeting',),
                      load_robot=load_robot, run_hand_stages=run_hand_stages, ee_path=ee_path,
                      world_config=world)


EMBODIMENT = make_embodiment(G1_INSPIRE)
