"""Path shaping per task family (place, push) shared by the embodiments (ROS-free).

A monocular hand's depth errs by centimetres to a decimetre (the ray through a keypoint is
good to ~1 deg), so displacements that decide a task (where an object is set down, how far it
is pushed) are read on the table: each hand point is moved along its camera ray onto the
horizontal plane at the object's height (`on_plane`), where the hand is when it holds or pushes
the object. The robot's path is then built around the object found in the scene cloud:

- place (`set_down`, `place_path`): the EE meets the grasp at the contact, leaves upwards, is
  carried so that at the set-down time it is at the grasp displaced by the hand's displacement
  on the plane, at the grasp's height, comes straight down onto it, holds until the release
  and leaves straight up;
- push (`push_stroke`, `push_path`): the EE comes down behind the object (on the side away from
  the push), moves straight along the push direction as far as the hand did on the plane, in
  the hand's timing, then leaves straight up.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lvp_common.artifacts import WristTrajectory

from lvp_bringup.embodiments.ee_mapping import (
    PREGRASP_HEIGHT,
    contact_index,
    descend_onto,
    hand_grasp_points,
)

CARRY_HEIGHT = 0.06
"""A carried object clears the table by rising at least this (m) between pick-up and set-down
(less within as far horizontally from either end: a 45 degree cone)."""
RELEASE_DWELL = 0.4
"""The EE holds its set-down pose this long (s) after the release while the fingers open."""
PUSH_CLEARANCE = 0.012
"""Gap (m) between the object's face and the EE's contact point at the start of a push."""
PRESS_DEPTH = 0.004
"""How far (m) below the top of the pressed object the Franka TCP goes (its fingertips reach
~1 cm below the TCP: a button with 1 cm travel is pressed ~6 mm)."""
HAND_AHEAD = 0.01
"""How far (m) the pushing fingers' contact lies ahead of the hand's grasp point."""


@dataclass(frozen=True)
class PlaceMotion:
    """A place read from the hand: set-down and release times (s), displacement (m, base)."""

    set_down_time: float
    release_time: float
    displacement: np.ndarray


@dataclass(frozen=True)
class PushMotion:
    """A push read from the hand: unit direction (base, horizontal), the object's travel (m),
    end and start times (s)."""

    direction: np.ndarray
    length: float
    end_time: float
    start_time: float = 0.0


def on_plane(points: np.ndarray, camera_origin: np.ndarray, height: float) -> np.ndarray:
    """Move points (N, 3) along their rays from `camera_origin` onto the plane z = `height`."""
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    rays = points - camera_origin
    dz = np.where(np.abs(rays[:, 2]) < 1e-6, -1e-6, rays[:, 2])
    s = (height - camera_origin[2]) / dz
    return camera_origin + s[:, None] * rays


def set_down(wrist: WristTrajectory, contact_time: float, camera_origin: np.ndarray,
             height: float, release_time: float | None = None,
             rise: float = 0.04) -> PlaceMotion | None:
    """Where and when the hand sets the object it picked up at `contact_time` down: the lowest
    point of the hand after it has risen `rise` (m), its displacement from the pick-up on the
    plane z = `height`; the release at `release_time` (e.g. the aperture's opening) when given
    and later, else when the hand leaves that point. None when the hand never comes down."""
    points = hand_grasp_points(wrist)
    k = contact_index(wrist.times, contact_time)
    risen = np.flatnonzero(points[k:, 2] > points[k, 2] + rise)
    if risen.size == 0:
        return None
    start = k + int(risen[0])
    s = start + int(np.argmin(points[start:, 2]))
    if points[s, 2] > points[k, 2] + rise:
        return None
    flat = on_plane(points[[k, s]], camera_origin, height)
    displacement = np.array([*(flat[1, :2] - flat[0, :2]), 0.0])
    stay = s
    while stay + 1 < len(points) and np.linalg.norm(points[stay + 1] - points[s]) < 0.01:
        stay += 1
    release = float(wrist.times[stay])
    if release_time is not None and release_time > wrist.times[s]:
        release = float(release_time)
    return PlaceMotion(float(wrist.times[s]), release, displacement)


def push_stroke(wrist: WristTrajectory, contact_time: float, camera_origin: np.ndarray,
                centre: np.ndarray, face, low: float = 0.035) -> PushMotion:
    """The push the hand makes on the object (`centre`, top `face`: lvp_grasp TopFace) it
    reaches at `contact_time`: the stroke is the stretch around it where the hand stays within
    `low` (m) of that height. On the plane at the object's centre height, the direction runs
    from the stretch's start to the point farthest from it; the object ends where the hand's
    farthest point (+ HAND_AHEAD) holds its trailing face, which sets the length (m, the
    object's travel). The stroke starts when the hand is within 4 cm of that face."""
    from scipy.ndimage import median_filter

    points = hand_grasp_points(wrist)
    k = contact_index(wrist.times, contact_time)
    heights = median_filter(points[:, 2], size=5, mode='nearest')  # one-frame depth glitches
    is_low = heights <= heights[k] + low
    start, end = k, k
    while start > 0 and is_low[start - 1]:
        start -= 1
    while end + 1 < len(points) and is_low[end + 1]:
        end += 1
    flat = on_plane(points[start:end + 1], camera_origin, float(centre[2]))[:, :2]
    far = int(np.argmax(np.linalg.norm(flat - flat[0], axis=1)))
    moved = flat[far] - flat[0]
    if float(np.linalg.norm(moved)) < 1e-3:
        raise ValueError('the hand does not move along the table after the contact: no push')
    direction = np.array([*(moved / np.linalg.norm(moved)), 0.0])
    extent = extent_along(face, direction)
    along = (flat - centre[:2]) @ direction[:2]
    travel = float(along[far]) + HAND_AHEAD + extent
    if travel <= 0.0:
        raise ValueError(f'the hand stops {-100 * travel:.1f} cm short of the object: no push')
    first = int(np.flatnonzero(along[:far + 1] >= -(extent + 0.04))[0])
    return PushMotion(direction, travel, float(wrist.times[start + far]),
                      float(wrist.times[start + first]))


def extent_along(face, direction: np.ndarray) -> float:
    """Half the extent (m) of a top face (lvp_grasp TopFace) along a horizontal direction."""
    return 0.5 * float(sum(abs(float(np.dot(direction[:2], np.asarray(axis)[:2]))) * side
                           for side, axis in zip(face.sides, face.axes, strict=True)))


def _lift_off(positions: np.ndarray, height: float,
              vertical: float | None = None) -> np.ndarray:
    """Make a departure (the first row: where it leaves from) go up first (`descend_onto`
    backwards in time)."""
    return descend_onto(positions[::-1], height, vertical)[::-1]


def place_path(path: WristTrajectory, contact_time: float, place: PlaceMotion,
               height: float = CARRY_HEIGHT) -> WristTrajectory:
    """Reshape EE targets that meet the grasp at `contact_time` into the place (module doc)."""
    times, positions = path.times, path.positions.copy()
    kc = contact_index(times, contact_time)
    ks = contact_index(times, place.set_down_time)
    kr = max(contact_index(times, place.release_time), ks)
    if ks <= kc + 1:
        return path
    target = positions[kc] + place.displacement
    u = np.clip((times - times[kc]) / max(times[ks] - times[kc], 1e-6), 0.0, 1.0)
    ramp = u ** 3 * (10.0 - 15.0 * u + 6.0 * u * u)
    positions += ramp[:, None] * (target - positions[ks])
    positions[ks:kr + 1] = target
    seg = positions[kc:ks + 1]
    top = int(np.argmax(seg[:, 2]))
    # Up, then down (the hand's bobbing while it carries is not followed); straight up and
    # down within half the carry height, so that at its top (at least the carry height, the
    # cone below) the carry is on its ramp: a vertical zone up to the top would put the whole
    # horizontal move into the one step where lift-off and descent meet.
    seg[:top + 1, 2] = np.maximum.accumulate(seg[:top + 1, 2])
    seg[top:, 2] = np.maximum.accumulate(seg[top:, 2][::-1])[::-1]
    seg[:top + 1] = _lift_off(seg[:top + 1], height, 0.5 * height)
    seg[top:] = descend_onto(seg[top:], height, 0.5 * height)
    cone = np.minimum(np.linalg.norm(seg[:, :2] - seg[0, :2], axis=1),
                      np.linalg.norm(seg[:, :2] - seg[-1, :2], axis=1))
    seg[:, 2] = np.maximum(seg[:, 2], target[2] + np.minimum(cone, height))
    positions[kr:] = _lift_off(positions[kr:], PREGRASP_HEIGHT)
    # The object is carried as it was grasped: the grasp's orientation until the release (a
    # tracked hand's orientation wobbles by 10-30 deg).
    quats = path.quaternions.copy()
    quats[kc:kr + 1] = quats[kc]
    return WristTrajectory(times, positions, quats, path.frame_id, smoothed=path.smoothed)


def push_path(path: WristTrajectory, contact_time: float, start: np.ndarray,
              push: PushMotion, quaternion: np.ndarray | None = None) -> WristTrajectory:
    """Reshape EE targets into a push (module doc): at `start` (base, m) at the contact, along
    `push` to its end time (the hand's progress), orientation fixed at `quaternion` (else the
    contact's) through the stroke."""
    times, positions = path.times, path.positions.copy()
    quats = path.quaternions.copy()
    kc = contact_index(times, contact_time)
    ke = max(contact_index(times, push.end_time), kc + 1)
    stroke = push.direction * push.length
    # Progress along the stroke: the path's own progress, monotone, from 0 to 1.
    along = (positions[kc:ke + 1] - positions[kc]) @ push.direction
    progress = np.maximum.accumulate(np.clip(along / max(along[-1], 1e-6), 0.0, 1.0))
    if along[-1] <= 1e-3:
        progress = np.linspace(0.0, 1.0, ke - kc + 1)
    progress[-1] = 1.0
    positions[:kc] += start - positions[kc]
    positions[kc:ke + 1] = start + progress[:, None] * stroke
    positions[ke + 1:] += positions[ke] - path.positions[ke]
    positions[:kc + 1] = descend_onto(positions[:kc + 1], PREGRASP_HEIGHT)
    positions[ke:] = _lift_off(positions[ke:], PREGRASP_HEIGHT)
    q = quats[kc] if quaternion is None else np.asarray(quaternion)
    quats[kc:ke + 1] = q
    return WristTrajectory(times, positions, quats, path.frame_id, smoothed=path.smoothed)


def enter_where_reachable(path: WristTrajectory, robot, contact_time: float) -> WristTrajectory:
    """Drop the waypoints before `contact_time` up to the last one the arm cannot reach (lvp_exec's
    IK from the robot's home posture along the path, its tolerances): the robot's own approach
    from its current state then enters the demonstrated path where it becomes reachable.
    Waypoints from the contact on are kept: if they are out of reach, IK refuses the plan
    naming the waypoint and its distance."""
    from lvp_exec.ik import DampedLeastSquaresIk, UnreachablePathError

    ik = DampedLeastSquaresIk(robot)
    home = np.asarray(robot.home, dtype=np.float64)
    first = 0
    kc = contact_index(path.times, contact_time)
    while first < kc:
        prefix = WristTrajectory(path.times[first:kc + 1], path.positions[first:kc + 1],
                                 path.quaternions[first:kc + 1], path.frame_id)
        try:
            ik.solve(prefix, home)
            break
        except UnreachablePathError as exc:
            if first + exc.index >= kc:
                break  # the contact itself: left to the IK stage's refusal
            first += exc.index + 1
    if first == 0:
        return path
    fingers = None if path.finger_keypoints is None else path.finger_keypoints[first:]
    return WristTrajectory(path.times[first:], path.positions[first:], path.quaternions[first:],
                           path.frame_id, smoothed=path.smoothed, finger_keypoints=fingers)


def press_release(wrist: WristTrajectory, contact_time: float, low: float = 0.035) -> float:
    """When the hand, having pressed at `contact_time`, first rises `low` (m) above it (s)."""
    points = hand_grasp_points(wrist)
    k = contact_index(wrist.times, contact_time)
    above = np.flatnonzero(points[k:, 2] > points[k, 2] + low)
    return float(wrist.times[k + int(above[0])] if above.size else wrist.times[-1])


def press_path(path: WristTrajectory, contact_time: float, point: np.ndarray,
               release_time: float) -> WristTrajectory:
    """Reshape EE targets into a press: straight down onto `point` (base, m) at the contact,
    held there until `release_time`, then straight up; orientation held from the contact."""
    times, positions = path.times, path.positions.copy()
    quats = path.quaternions.copy()
    kc = contact_index(times, contact_time)
    kr = max(contact_index(times, release_time), kc)
    positions[:kc] += point - positions[kc]
    positions[kc:kr + 1] = point
    positions[kr + 1:] += point - path.positions[kr]
    positions[:kc + 1] = descend_onto(positions[:kc + 1], PREGRASP_HEIGHT)
    positions[kr:] = _lift_off(positions[kr:], PREGRASP_HEIGHT)
    quats[kc:kr + 1] = quats[kc]
    return WristTrajectory(times, positions, quats, path.frame_id, smoothed=path.smoothed)
