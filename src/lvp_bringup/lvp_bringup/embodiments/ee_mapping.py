"""The EE mapping record and the path shaping every embodiment shares.

An `EeMapping` says how a human wrist path became end-effector targets (stored in the archive so
`lvp replay` is exact). The helpers here find when and where the hand meets an object
(`closest_approach`, `approached_object`), register a contact-only path to it
(`register_contact`) and shape a path in time (`approach_from`, `above_first`, `dwell_path`);
each embodiment module (franka_gripper, g1_inspire) builds its own mapping from them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from lvp_common.artifacts import HandCommands, WristTrajectory
from scipy.spatial.transform import Rotation

THUMB_TIP, INDEX_TIP, MIDDLE_TIP = 4, 8, 12
"""MediaPipe landmark indices of the fingertips that define the human grasp point."""

PREGRASP_HEIGHT = 0.06
"""A registered Franka approach comes straight down onto the grasp over its last 6 cm
(`vertical_final_approach`)."""


APPROACH_LEAD = 1.0
"""With a known contact time, the robot joins the demonstrated path this long (s) before it:
the earlier motion (the hand entering the view, often beyond the arm's reach and the least
reliably tracked) is replaced by the robot's own approach from its current state."""


CONTACT_TOLERANCE = 0.01
"""The contact time is the first time the hand's grasp point is within this (m) of its closest
approach to the object it grasps (`closest_approach`)."""


DEFAULT_HAND_GRASP_POINT = np.array([0.0, 0.1, 0.05])
"""Grasp point in the wrist frame (m) when a path has no finger keypoints: ~10 cm along the
fingers, 5 cm out of the palm (where a palm-down power grasp holds a 5 cm cube)."""



@dataclass(frozen=True)
class EeMapping:
    """How a human wrist path became EE targets; stored in the archive to replay it exactly.

    grasp_point / closing_axis: wrist-frame vectors (Franka); path_offset (m, base frame): the
    translation added to every EE target by the registration to the object (empty when not
    registered); yaw_offset (rad about base z): the Franka TCP's turn onto the detected grasp;
    hand_in_mount: quaternion
    (x, y, z, w) of the human hand frame in the robot's hand-mount frame (G1); grasp_turn:
    quaternion (base frame) turning the G1 hand mount into the registered grasp at the contact,
    phased in over the APPROACH_LEAD before it (empty: none); grasp_dwell (s): the EE holds its
    contact pose this long while the hand closes, everything later in the plan comes that much
    later (`dwell_path`; hand commands and gripper events are stored already delayed);
    grasps: False for a push or press (`task_grasps`): no grasp-specific shaping.
    family: the task family read from the plan (`task_family.TaskFamily` value; '' = not
    read). place: (set-down time s, release time s, displacement x, y, z m) of a place
    (`task_motion.place_path`); push: (start x, y, z m, direction x, y, z, length m, end time
    s) of a push (`task_motion.push_path`); both empty otherwise. pull: (release time s,
    axis x, y, z, length m) of a pull on a handle (`open_articulated.guide_pull`); wipe: the
    numbers of a wiping stroke (`wipe_contact.guide_wipe`); press: (x, y, z m, release time s)
    where the EE holds a press (`task_motion.press_path`); empty otherwise.
    """

    embodiment: str
    contact_time: float | None = None
    grasp_point: tuple[float, ...] = ()
    closing_axis: tuple[float, ...] = ()
    min_tcp_height: float = 0.0
    path_offset: tuple[float, ...] = ()
    yaw_offset: float = 0.0
    hand_in_mount: tuple[float, ...] = ()
    grasp_turn: tuple[float, ...] = ()
    grasp_dwell: float = 0.0
    grasps: bool = True
    description: str = ''
    family: str = ''
    place: tuple[float, ...] = ()
    push: tuple[float, ...] = ()
    pull: tuple[float, ...] = ()
    wipe: tuple[float, ...] = ()
    press: tuple[float, ...] = ()

    def to_metadata(self) -> dict[str, object]:
        return {'embodiment': self.embodiment, 'contact_time': self.contact_time,
                'grasp_point': list(self.grasp_point), 'closing_axis': list(self.closing_axis),
                'min_tcp_height': self.min_tcp_height, 'path_offset': list(self.path_offset),
                'yaw_offset': self.yaw_offset,
                'hand_in_mount': list(self.hand_in_mount),
                'grasp_turn': list(self.grasp_turn), 'grasp_dwell': self.grasp_dwell,
                'grasps': self.grasps, 'description': self.description,
                'family': self.family, 'place': list(self.place), 'push': list(self.push),
                'pull': list(self.pull), 'wipe': list(self.wipe),
                'press': list(self.press)}

    @classmethod
    def from_metadata(cls, meta: dict) -> EeMapping:
        return cls(embodiment=str(meta['embodiment']), contact_time=meta.get('contact_time'),
                   grasp_point=tuple(meta.get('grasp_point', ())),
                   closing_axis=tuple(meta.get('closing_axis', ())),
                   min_tcp_height=float(meta.get('min_tcp_height', 0.0)),
                   path_offset=tuple(meta.get('path_offset', ())),
                   yaw_offset=float(meta.get('yaw_offset', 0.0)),
                   hand_in_mount=tuple(meta.get('hand_in_mount', ())),
                   grasp_turn=tuple(meta.get('grasp_turn', ())),
                   grasp_dwell=float(meta.get('grasp_dwell', 0.0)),
                   grasps=bool(meta.get('grasps', True)),
                   description=str(meta.get('description', '')),
                   family=str(meta.get('family', '')),
                   place=tuple(float(v) for v in meta.get('place', ())),
                   push=tuple(float(v) for v in meta.get('push', ())),
                   pull=tuple(float(v) for v in meta.get('pull', ())),
                   wipe=tuple(float(v) for v in meta.get('wipe', ())),
                   press=tuple(float(v) for v in meta.get('press', ())))


def contact_index(times: np.ndarray, contact_time: float) -> int:
    """Index of the time nearest `contact_time`."""
    return int(np.argmin(np.abs(times - contact_time)))


def vertical_final_approach(positions: np.ndarray, height: float) -> np.ndarray:
    """Bend the end of an approach (positions up to the grasp, the last row) into a vertical
    descent: within `height` above the grasp the TCP is straight above it; between `height` and
    twice that, x-y blend linearly from the hand's path to the grasp. A diagonal approach sweeps
    the trailing finger over the object; a gripper has to come down onto it."""
    out = positions.copy()
    grasp = positions[-1]
    above = positions[:, 2] - grasp[2]
    weight = np.clip((above - height) / height, 0.0, 1.0)[:, None]
    out[:, :2] = weight * positions[:, :2] + (1.0 - weight) * grasp[:2]
    return out


def descend_onto(positions: np.ndarray, height: float,
                 vertical: float | None = None) -> np.ndarray:
    """Make an approach (positions up to the grasp, the last row) come down onto the grasp:
    never lower than the grasp, and no lower than its horizontal distance (up to `height`)
    above it (a 45 degree cone), then the `vertical_final_approach` over `vertical` (default
    `height`). The open fingers of a dexterous hand reach below its mount and would otherwise
    hit the table or the object."""
    out = positions.copy()
    grasp = positions[-1]
    distance = np.linalg.norm(out[:, :2] - grasp[:2], axis=1)
    out[:, 2] = np.maximum(out[:, 2], grasp[2] + np.minimum(distance, height))
    out[-1] = grasp
    return vertical_final_approach(out, height if vertical is None else vertical)


def hand_grasp_points(wrist: WristTrajectory) -> np.ndarray:
    """The centroid of the thumb, index and middle fingertips (T, 3) in the path's frame; the
    default palm grasp point without finger keypoints."""
    rot = Rotation.from_quat(wrist.quaternions)
    if wrist.finger_keypoints is None:
        return wrist.positions + rot.apply(DEFAULT_HAND_GRASP_POINT)
    tips = wrist.finger_keypoints[:, [THUMB_TIP, INDEX_TIP, MIDDLE_TIP]].mean(axis=1)
    return wrist.positions + rot.apply(tips)


def closest_approach(wrist: WristTrajectory, target: np.ndarray,
                     tolerance: float = CONTACT_TOLERANCE) -> tuple[float, float]:
    """When the hand reached `target` and how close it came: (time, distance (m)).

    The hand's grasp point comes nearest an object while grasping it; the contact time is the
    first time it is within `tolerance` of that nearest distance (arrival, before the fingers
    close; the object then moves with the hand)."""
    distance = np.linalg.norm(hand_grasp_points(wrist) - np.asarray(target), axis=1)
    nearest = float(distance.min())
    k = int(np.flatnonzero(distance <= nearest + tolerance)[0])
    return float(wrist.times[k]), nearest


NON_GRASP_VERBS = ('push', 'press', 'poke', 'tap', 'touch', 'nudge', 'slide', 'flick')


GRASP_VERBS = ('pick', 'lift', 'grasp', 'grab', 'take', 'hold', 'place', 'put', 'pour',
               'carry', 'raise')


def task_grasps(prompts: tuple[str, ...]) -> bool:
    """Whether a task sentence asks to grasp: yes when it names a grasping verb (pick, lift,
    place, ...) or no contact verb (push, press, ...); 'push the cube' and 'press the button'
    do not."""
    words = ' '.join(prompts).lower().replace(',', ' ').split()
    grasping = any(w.startswith(GRASP_VERBS) for w in words)
    return grasping or not any(w.startswith(NON_GRASP_VERBS) for w in words)


def approached_object(cloud, wrist: WristTrajectory, step: float = 0.1):
    """The seen object the hand's grasp point comes nearest, as (TopFace, centre (3,), arrival
    time (s), distance (m)) (`closest_approach` to the object's centre), or None.

    Objects are looked for (lvp_grasp's top-face finder) around the grasp point every `step`
    s along the path: the hand's timing (when it closes) is less reliable than its path.
    """
    from lvp_grasp.top_face import TopFaceGraspDetector

    finder = TopFaceGraspDetector()
    points = hand_grasp_points(wrist)
    best = None
    seen: list[np.ndarray] = []
    stride = max(1, int(round(step / max(float(np.median(np.diff(wrist.times))), 1e-6))))
    for point in points[::stride]:
        face = finder.find_top_face(cloud, point)
        if face is None:
            continue
        # Searched around the hand's point, the face is cut off where the search circle ends
        # (a push touches the object's side): look again around the face's own centre.
        for _ in range(2):
            again = finder.find_top_face(cloud, face.centre)
            if again is None:
                break
            face = again
        centre = face.centre - np.array([0.0, 0.0, 0.5 * face.height])
        if any(np.linalg.norm(centre - other) < 0.02 for other in seen):
            continue
        seen.append(centre)
        time, nearest = closest_approach(wrist, centre)
        if best is None or nearest < best[3]:
            best = (face, centre, time, nearest)
    return best


def register_contact(wrist: WristTrajectory, mapping: EeMapping, centre: np.ndarray,
                     time: float) -> EeMapping:
    """For a task without a grasp (push, press): shift the path so that the human's grasp point
    meets the object's `centre` at `time` (its arrival there)."""
    k = contact_index(wrist.times, time)
    offset = centre - hand_grasp_points(wrist)[k]
    note = (f'; registered to the object at {np.round(centre, 3).tolist()} m at '
            f't = {time:.2f} s (no grasp in the task: path shifted '
            f'{100 * np.linalg.norm(offset):.1f} cm so the human grasp point meets it)')
    return replace(mapping, contact_time=float(time), grasps=False,
                   path_offset=tuple(float(v) for v in offset),
                   description=mapping.description + note)


def above_first(path: WristTrajectory, height: float, lead: float) -> WristTrajectory:
    """Prepend the first pose raised by `height` (m), `lead` s earlier: the robot's own approach
    ends with a descent onto the path instead of sweeping in at its height."""
    fingers = None if path.finger_keypoints is None else np.concatenate(
        [path.finger_keypoints[:1], path.finger_keypoints])
    return WristTrajectory(np.concatenate([[path.times[0] - lead], path.times]),
                           np.vstack([path.positions[0] + [0.0, 0.0, height], path.positions]),
                           np.vstack([path.quaternions[:1], path.quaternions]), path.frame_id,
                           smoothed=path.smoothed, finger_keypoints=fingers)


def dwell_path(path: WristTrajectory, time: float, dwell: float) -> WristTrajectory:
    """Hold the pose of the waypoint nearest `time` for `dwell` s; later waypoints come `dwell`
    s later."""
    k = contact_index(path.times, time)
    times = np.concatenate([path.times[:k + 1], [path.times[k] + dwell],
                            path.times[k + 1:] + dwell])
    positions = np.insert(path.positions, k + 1, path.positions[k], axis=0)
    quaternions = np.insert(path.quaternions, k + 1, path.quaternions[k], axis=0)
    fingers = None if path.finger_keypoints is None else np.insert(
        path.finger_keypoints, k + 1, path.finger_keypoints[k], axis=0)
    return WristTrajectory(times, positions, quaternions, path.frame_id,
                           smoothed=path.smoothed, finger_keypoints=fingers)


def dwell_commands(commands: HandCommands, time: float, dwell: float) -> HandCommands:
    """Hand commands later than `time` (s) come `dwell` s later (see `dwell_path`)."""
    times = np.where(commands.times > time, commands.times + dwell, commands.times)
    return replace(commands, times=times)


def approach_from(wrist: WristTrajectory, start_time: float) -> WristTrajectory:
    """The path from `start_time` (s) on (unchanged when it starts later)."""
    keep = wrist.times >= start_time
    if keep.all() or keep.sum() < 2:
        return wrist
    fingers = None if wrist.finger_keypoints is None else wrist.finger_keypoints[keep]
    return WristTrajectory(wrist.times[keep], wrist.positions[keep], wrist.quaternions[keep],
                           wrist.frame_id, smoothed=wrist.smoothed, finger_keypoints=fingers)
