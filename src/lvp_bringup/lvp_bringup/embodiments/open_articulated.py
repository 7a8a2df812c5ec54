"""Pull/open an articulated fixture (a drawer): find its handle, take it, pull along its line.

A hand that opens a drawer grasps a handle and drags it along the drawer's axis; the robot's
path must follow that axis exactly (a grasped handle on a slide joint cannot go anywhere else,
and tracking the reconstructed hand's few-centimetre wobble would pull the arm against the
joint). So only the human's timing and the extent of the pull come from the demonstration:

1. The handle (`find_handle`): in the scene cloud around where the camera ray through the
   hand's grasp point first meets a surface (`ray_anchor`; the monocular depth of the hand errs
   by centimetres, its ray by a degree), the fixture's points furthest out towards where the
   hand goes (the bar standing off the drawer's front) give the bar's centre (it is
   `HANDLE_THICKNESS` thick), its long axis and so the pull axis (its horizontal normal).
2. Contact, release and length (`plan_pull`): the hand's grasp points moved along their camera
   rays onto the handle's height and measured along the pull axis from the handle: the contact
   is where, low over the table, the hand turns there (least out along the axis), the release
   where its pull slows below PULL_END_SPEED of its peak speed, the length how far out from
   the handle it then is (the drawer opens as far as its handle goes).
3. Whether it is a pull at all: the length is at least MIN_PULL (half that when the sentence
   names a pull) and the hand rises less than MAX_PULL_RISE meanwhile.
4. The EE path (`guide_pull`): the embodiment's own mapping up to the contact (registered so the
   gripper's or the Inspire's grasp point meets the handle), a dwell while the fingers close,
   then, with the orientation held, a straight line from the handle along the axis, the
   length measured, in a minimum-jerk profile ending at the hand's release; then straight up
   by `RETREAT_HEIGHT` (the hand's own withdrawal, often a turn away from a handle it still
   touches, is not followed). The hand's depth noise never reaches the pull.

The pull is stored in the `EeMapping` (`family` 'open', `pull`: release time, axis, length), so a
replay re-makes the same path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from lvp_common.artifacts import WristTrajectory

from lvp_bringup.embodiments.ee_mapping import (
    EeMapping,
    contact_index,
    hand_grasp_points,
)

OPEN_FAMILY = 'open'
"""`EeMapping.family` of a pull on a handle."""
PULL_VERBS = ('open', 'pull', 'drag', 'draw')
"""Sentence words (prefixes) of a pull; the motion decides, the sentence breaks ties."""
MIN_PULL = 0.04
"""A hand that moves its grasp point at least this far (m) out along the handle's axis while
holding, and lifts it less than MAX_PULL_RISE, pulls."""
MAX_PULL_RISE = 0.05
LOW_BAND = 0.03
"""The contact is looked for where the hand's grasp point is within this (m) of its lowest."""
AT_HANDLE = 0.045
"""At the contact the hand is at most this far (m) short of the handle along the pull axis
(hooked fingers reach ~3 cm behind the bar; a push starts behind its object, the far side of
which would read as a handle, by its depth and more)."""
PULL_END_SPEED = 0.2
"""The pull ends when the hand's speed along the axis falls below this fraction of its peak
(for END_FRAMES frames, on its progress smoothed over SMOOTH_FRAMES frames)."""
END_FRAMES = 3
SMOOTH_FRAMES = 5
HANDLE_SEARCH_RADIUS = 0.08
"""The handle is looked for within this x-y distance (m) of the hand's grasp point at contact."""
HANDLE_THICKNESS = 0.02
"""The handle bar's assumed thickness (m) along the pull: its centre is half that in from its
outermost seen points."""
HANDLE_BAND = 0.02
"""Points within this (m) of the outermost along the pull axis belong to the bar."""
MIN_HANDLE_POINTS = 15
HANDLE_TRIES = 10
"""The handle is looked for from the contact guess, then from the hand's lowest frames, up to
this many."""
RETREAT_HEIGHT = 0.08
RETREAT_TIME = 0.8
"""After the release the EE holds 0.2 s, then rises RETREAT_HEIGHT (m) over RETREAT_TIME (s)."""


class PullError(ValueError):
    """The demonstration's pull cannot be mapped (no hold, no handle)."""


@dataclass(frozen=True)
class Handle:
    """A handle seen in the scene: bar centre (3,) and unit horizontal axes (base frame)."""

    centre: np.ndarray
    pull_axis: np.ndarray
    bar_axis: np.ndarray
    length: float
    points: int


def sentence_pulls(prompts: tuple[str, ...]) -> bool:
    """Whether the task sentence names a pull (open, pull, drag, draw ...)."""
    words = ' '.join(prompts).lower().replace(',', ' ').split()
    return any(w.startswith(PULL_VERBS) for w in words)


def find_handle(cloud, near: np.ndarray, pull_hint: np.ndarray,
                radius: float = HANDLE_SEARCH_RADIUS) -> Handle | None:
    """The handle nearest `near` (the hand's grasp point at contact, base frame): of the points
    more than 1.5 cm above the table within `radius` (x-y), those within HANDLE_BAND of the
    outermost along `pull_hint` (the handle stands off the fixture towards the puller). The
    bar's long axis is their principal x-y direction; the pull axis is its horizontal normal
    on the hint's side. None when too few points are seen there."""
    from lvp_grasp.top_face import table_height

    pts = cloud.points[np.all(np.isfinite(cloud.points), axis=1)]
    nearby = pts[np.linalg.norm(pts[:, :2] - near[:2], axis=1) <= 2.0 * radius]
    if len(nearby) < MIN_HANDLE_POINTS:
        return None
    table = table_height(nearby[:, 2])
    above = nearby[(nearby[:, 2] > table + 0.015)
                   & (np.linalg.norm(nearby[:, :2] - near[:2], axis=1) <= radius)]
    if len(above) < MIN_HANDLE_POINTS:
        return None
    hint = np.array([pull_hint[0], pull_hint[1], 0.0])
    pull = hint / max(float(np.linalg.norm(hint)), 1e-9)
    # The band is cut across the hint first, then across the bar's own normal (a hint off
    # the normal cuts the bar slantwise).
    for _ in range(3):
        along = above @ pull
        bar = above[along >= along.max() - HANDLE_BAND]
        if len(bar) < MIN_HANDLE_POINTS:
            return None
        xy = bar[:, :2] - bar[:, :2].mean(axis=0)
        _s, _v, vt = np.linalg.svd(xy, full_matrices=False)
        bar_axis = np.array([vt[0, 0], vt[0, 1], 0.0])
        normal = np.array([-bar_axis[1], bar_axis[0], 0.0])
        pull = normal if float(normal @ hint) >= 0.0 else -normal
    extent = xy @ vt[0]
    top = float(np.percentile(bar[:, 2], 95))
    outer = float(np.max(bar @ pull))
    centre_xy = bar[:, :2].mean(axis=0)
    centre = np.array([*centre_xy, top - 0.5 * HANDLE_THICKNESS])
    centre += (outer - 0.5 * HANDLE_THICKNESS - float(centre @ pull)) * pull
    return Handle(centre, pull, bar_axis, float(extent.max() - extent.min()), len(bar))


def _min_jerk(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u ** 3 * (10.0 - 15.0 * u + 6.0 * u * u)


def guide_pull(path: WristTrajectory, wrist: WristTrajectory,
               mapping: EeMapping) -> WristTrajectory:
    """Make an EE path (the embodiment's own, already dwelled) pull along `mapping.pull` from
    its pose at the contact (see the module's step 4): the pull runs, in a minimum-jerk
    profile, from the end of the grasp dwell to the hand's release (both on the dwelled
    clock). `wrist` is unused but kept for the embodiments' uniform call."""
    del wrist
    if not mapping.pull or mapping.contact_time is None:
        return path
    release, ax, ay, az, distance = mapping.pull
    axis = np.array([ax, ay, az])
    begin = mapping.contact_time + mapping.grasp_dwell
    end = release + mapping.grasp_dwell
    times = path.times
    kc = contact_index(times, begin)
    start, hold = path.positions[kc].copy(), path.quaternions[kc].copy()
    keep = times <= end
    pulling = (times >= times[kc]) & keep
    progress = distance * _min_jerk((times - times[kc]) / max(end - times[kc], 1e-3))
    positions, quats = path.positions.copy(), path.quaternions.copy()
    positions[pulling] = start + progress[pulling, None] * axis
    quats[pulling] = hold
    finish = start + distance * axis
    after_times = end + np.array([0.2, 0.2 + 0.5 * RETREAT_TIME, 0.2 + RETREAT_TIME])
    after = finish + np.outer([0.0, 0.5, 1.0], [0.0, 0.0, RETREAT_HEIGHT])
    kept = np.flatnonzero(keep)
    if times[kept[-1]] < end:  # the path ends on the pull's end
        kept_times = np.append(times[kept], end)
        positions = np.vstack([positions[kept], finish])
        quats = np.vstack([quats[kept], hold])
        kept = np.append(kept, kept[-1])
    else:
        kept_times, positions, quats = times[kept], positions[kept], quats[kept]
    fingers = None
    if path.finger_keypoints is not None:
        fingers = np.concatenate([path.finger_keypoints[kept],
                                  np.repeat(path.finger_keypoints[kept][-1:], 3, axis=0)])
    return WristTrajectory(np.concatenate([kept_times, after_times]),
                           np.vstack([positions, after]),
                           np.vstack([quats, np.repeat(hold[None], 3, axis=0)]),
                           path.frame_id, smoothed=path.smoothed, finger_keypoints=fingers)


def ray_anchor(cloud, camera: np.ndarray, point: np.ndarray,
               radius: float = 0.02) -> np.ndarray | None:
    """The first scene point (nearest the camera) within `radius` (m) of the camera ray through
    `point`: where the hand's grasp point really is up to its monocular depth error (the ray is
    good to ~1 deg, the depth to centimetres); None if the ray hits nothing seen."""
    pts = cloud.points[np.all(np.isfinite(cloud.points), axis=1)]
    ray = point - camera
    ray = ray / max(float(np.linalg.norm(ray)), 1e-9)
    rel = pts - camera
    along = rel @ ray
    off = np.linalg.norm(rel - along[:, None] * ray, axis=1)
    hit = np.flatnonzero((off <= radius) & (along > 0.0))
    return None if hit.size == 0 else pts[hit[np.argmin(along[hit])]]


def _rise_release(heights: np.ndarray, times: np.ndarray, k0: int, rise: float) -> float:
    """The first time after index `k0` that the height exceeds its value there by `rise`."""
    up = np.flatnonzero(heights[k0:] > heights[k0] + rise)
    return float(times[k0 + up[0]] if up.size else times[-1])


def plan_pull(wrist: WristTrajectory, cloud, camera: np.ndarray | None, contact_guess: float,
              prompts: tuple[str, ...]) -> tuple[Handle, float, float, np.ndarray,
                                                 float] | None:
    """Whether and how the demonstration pulls a handle: (the handle, contact and release
    times, pull axis, pull length), or None (no handle seen, or no pull).

    The handle is looked for around the first surface on the camera ray through the hand's
    grasp point at `contact_guess` (`ray_anchor`), on the side the hand ends up on
    (`find_handle`), else at the hand's lowest frames. The contact, release and length are
    read as the module's step 2 says; None also when the length is short (step 3), the hand
    rises MAX_PULL_RISE or starts more than AT_HANDLE short of the handle."""
    from lvp_bringup.embodiments.task_motion import on_plane

    if cloud is None:
        return None
    points = hand_grasp_points(wrist)
    times = wrist.times
    k = contact_index(times, contact_guess)
    handle = None
    # The lowest frames first: at the end of the pull the hand is where the (closed, seen)
    # drawer is not; where the ray meets a handle, the hand was holding it.
    for i in [k, *np.argsort(points[:, 2])[:HANDLE_TRIES]]:
        anchor = None if camera is None else ray_anchor(cloud, camera, points[i])
        handle = find_handle(cloud, points[i] if anchor is None else anchor,
                             points[-1] - points[i])
        if handle is not None:
            break
    if handle is None:
        return None
    flat = points if camera is None else on_plane(points, camera, float(handle.centre[2]))
    along = (flat - handle.centre) @ handle.pull_axis
    low = np.flatnonzero(points[:, 2] <= points[:, 2].min() + LOW_BAND)
    # The hand comes to the handle from the pull's side or from above and turns there.
    k0 = int(low[np.argmin(along[low])])
    if k0 >= len(times) - 2:
        return None
    # The pull's end: once under way (half of MIN_PULL out), the first slow-down below
    # PULL_END_SPEED of the fastest so far that lasts END_FRAMES frames, on the progress
    # smoothed over SMOOTH_FRAMES (a one-frame tracking dip is no end); the withdrawal after
    # it is not followed.
    kernel = np.ones(SMOOTH_FRAMES) / SMOOTH_FRAMES
    padded = np.pad(along, SMOOTH_FRAMES // 2, mode='edge')
    smooth = np.convolve(padded, kernel, mode='valid')[:len(along)]
    speed = np.gradient(smooth, times)[k0:]
    fastest = np.maximum.accumulate(np.maximum(speed, 0.0))
    slow = (smooth[k0:] - smooth[k0] > 0.5 * MIN_PULL) & (speed < PULL_END_SPEED * fastest)
    lasting = np.convolve(slow.astype(int), np.ones(END_FRAMES, dtype=int), mode='valid')
    ended = np.flatnonzero(lasting == END_FRAMES)
    k1 = k0 + int(ended[0]) if ended.size else len(times) - 1
    # The drawer opens as far as the handle went: the grasp point's way out from the handle.
    length = max(float(smooth[k1]), 0.0)
    rise = float(np.max(points[k0:k1 + 1, 2]) - points[k0, 2])
    if length < MIN_PULL and not (length >= 0.5 * MIN_PULL and sentence_pulls(prompts)):
        return None
    if rise >= MAX_PULL_RISE or along[k0] < -AT_HANDLE:
        return None  # lifted, or pushed from behind the object
    contact, release = float(times[k0]), float(times[k1])
    return handle, contact, float(release), handle.pull_axis, length


def with_pull(mapping: EeMapping, release: float, axis: np.ndarray, distance: float,
              note: str) -> EeMapping:
    """`mapping` with the pull guide and its description."""
    return replace(mapping, family=OPEN_FAMILY,
                   pull=(float(release), *(float(v) for v in axis), float(distance)),
                   description=mapping.description + (
                       f'; pull: from the contact the EE follows the axis '
                       f'{np.round(axis, 2).tolist()} by the hand\'s progress along it (up to '
                       f'{100 * distance:.1f} cm), lets go at t = {release:.2f} s and rises '
                       f'{100 * RETREAT_HEIGHT:.0f} cm{note}'))


PULL_DWELL = 0.6
"""The Franka holds its grasp pose this long (s) while its fingers close on the handle, before
the pull (the human's fingers close faster)."""
FRANKA_OPEN_WIDTH = 0.08


def _prompts(result) -> tuple[str, ...]:
    return result.plan.prompts if result.plan is not None else ()


def _lowest(wrist: WristTrajectory) -> float:
    """When the hand's grasp point is lowest: on the handle (s), a first guess of the contact."""
    return float(wrist.times[int(np.argmin(hand_grasp_points(wrist)[:, 2]))])


def _pull_plan(result):
    """`plan_pull` on a pipeline result: (wrist, contact, handle, release, axis, length)."""
    wrist, rec = result.wrist_base, result.reconstruction
    assert wrist is not None
    cloud = None if rec is None else rec.point_cloud_base
    observation = result.observation
    camera = (None if observation is None or observation.camera_to_base is None
              else observation.camera_to_base.position)
    planned = plan_pull(wrist, cloud, camera, _lowest(wrist), _prompts(result))
    if planned is None:
        return None
    handle, contact, release, axis, length = planned
    return wrist, contact, handle, release, axis, length


def franka_pull_stage(result, config) -> bool:
    """Franka: when the demonstration pulls (`plan_pull`), grasp the handle from above across
    its bar (closing along the pull axis), pull along the axis, let go, rise; set the gripper
    events and the mapping and return True. False (nothing changed) when it does not pull."""
    from lvp_common.artifacts import GripperAction, GripperEvent
    from lvp_common.geometry import Pose

    from lvp_bringup.embodiments.franka_gripper import franka_mapping, register_to_grasp

    planned = _pull_plan(result)
    if planned is None:
        return False
    wrist, contact, handle, release, axis, distance = planned
    mapping = franka_mapping(wrist, contact, config.min_tcp_height)
    note = ''
    if handle is not None:
        down = np.array([0.0, 0.0, -1.0])
        rotation = np.stack([np.cross(axis, down), axis, down], axis=1)

        @dataclass(frozen=True)
        class _HandleGrasp:
            pose: Pose

        reference = result.robot.ee_pose(result.robot.home).rotation[:, 1]
        mapping = register_to_grasp(wrist, mapping, _HandleGrasp(
            Pose.from_rotation_matrix(handle.centre, rotation)), reference)
        note = f' (handle seen: {handle.points} points, bar {100 * handle.length:.0f} cm long)'
    else:
        result.messages.append('pull: no handle seen near the hand\'s grasp point; the TCP '
                               'follows the hand\'s grasp point to the contact')
    mapping = replace(mapping, grasp_dwell=PULL_DWELL)
    result.mapping = with_pull(mapping, release, axis, distance, note)
    result.gripper_events = (
        GripperEvent(contact, GripperAction.CLOSE, 0.0),
        GripperEvent(release + PULL_DWELL, GripperAction.OPEN, FRANKA_OPEN_WIDTH))
    result.messages.append(f'pull: the hand takes the handle at {contact:.2f} s, pulls '
                           f'{100 * distance:.1f} cm and lets go at {release:.2f} s: the gripper '
                           f'closes at the contact, holds {PULL_DWELL:.1f} s, then pulls')
    return True


HOOK_IN_TIPS = np.array([-0.025, 0.018, 0.0])
"""Where the Inspire holds a hooked bar, from its thumb/index/middle tips' centroid at the
contact's closure (G1 hand-mount frame, m): back towards the wrist and up towards the palm,
inside the curl of the fingers."""


def g1_pull_stage(result, mapping: EeMapping) -> bool:
    """G1 + Inspire: when the demonstration pulls, hook the handle as the human does (the hand
    keeps the human's orientation, fingers over and behind the bar): the path is shifted so
    that the Inspire's hook point (`HOOK_IN_TIPS` from its tips at the contact) meets the bar
    at the contact; the fingers open until then and close pressed (`grasp_commands`), the EE
    pulls along the axis, the fingers open as the human's, the EE rises. Sets the hand
    commands and the mapping and returns True; False (nothing changed) without a pull."""
    from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT
    from lvp_retarget.dexterous import grasp_commands
    from lvp_retarget.inspire_hand import InspireKinematics
    from scipy.spatial.transform import Rotation

    from lvp_bringup.embodiments.ee_mapping import dwell_commands
    from lvp_bringup.embodiments.g1_inspire import GRASP_DWELL, g1_mount_path

    if result.hand_commands is None:
        return False
    planned = _pull_plan(result)
    if planned is None:
        return False
    wrist, contact, handle, release, axis, distance = planned
    side = 'left' if result.robot.name.startswith('g1_left') else 'right'
    commands = grasp_commands(result.hand_commands, contact, side)
    kc = contact_index(commands.times, contact)
    tips = InspireKinematics(side).tip_positions(commands.joint_names,
                                                 commands.joint_positions[kc])
    hook = INSPIRE_BASE_IN_MOUNT @ tips[:3].mean(axis=0) + HOOK_IN_TIPS
    k = contact_index(wrist.times, contact)
    mount = Rotation.from_quat(g1_mount_path(wrist, mapping).quaternions[k])
    offset = handle.centre - (wrist.positions[k] + mount.apply(hook))
    result.hand_commands = dwell_commands(commands, contact, GRASP_DWELL)
    mapping = replace(mapping, contact_time=contact, grasp_dwell=GRASP_DWELL,
                      path_offset=tuple(float(v) for v in offset))
    note = (f' (handle seen at {np.round(handle.centre, 3).tolist()} m, {handle.points} '
            f'points; the Inspire hooks it, path shifted {100 * np.linalg.norm(offset):.1f} cm)')
    result.mapping = with_pull(mapping, release, axis, distance, note)
    result.messages.append(f'pull: the hand takes the handle at {contact:.2f} s, pulls '
                           f'{100 * distance:.1f} cm and lets go at {release:.2f} s')
    return True
