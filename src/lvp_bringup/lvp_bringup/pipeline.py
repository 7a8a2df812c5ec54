"""PlanAndExecute without ROS: video plan -> hand track -> wrist path -> robot motion.

`run_pipeline` chains the cores in-process. Stages, in order:

    hand_tracking -> reconstruction -> retargeting (+ grasping for the gripper)
    -> ik -> timing -> safety -> executing (MuJoCo sim; skipped with plan_only)

Each failure raises `StageError(stage, code, message)` with the error code of
`lvp_interfaces/action/PlanAndExecute.action`; stages after a failure never run, so nothing is
executed unless tracking, reconstruction, retargeting, IK, timing and the safety filter passed.

End-effector mapping (the human wrist pose -> a robot EE target), see `franka_tcp_path` and
`g1_mount_path`:

- franka_gripper: the Franka hand's TCP goes where the human grasped. At the contact time (the
  first close event, else lvp_grasp's human contact time) the grasp point is the centroid of the
  thumb, index and middle fingertips in the wrist frame, and the closing axis runs from the thumb
  tip to the index/middle tips; both are then held fixed in the hand frame for the whole path.
  The gripper points straight down (z = -z of the base) and its closing axis (y) is the hand's
  closing axis projected on the horizontal plane, so the gripper's yaw follows the hand. TCP
  heights are clamped to `min_tcp_height` above the base plane (the table top).
  Registration to the grasp: when lvp_grasp finds a top-down grasp (approach within 30 deg of
  straight down) that the hand's grasp point comes within `max_grasp_offset` of, the contact
  time becomes the hand's arrival there (`closest_approach`) and the whole TCP path is shifted
  (and turned about the vertical) so that at that time the TCP sits exactly at that grasp, with
  its closing axis (of equally narrow grasps, the one needing the least turn). The scene's
  depth locates the object to millimetres, the hand's monocular reconstruction only to
  centimetres; the rest of the path keeps the hand's
  motion relative to the grasp, except that the approach's last `PREGRASP_HEIGHT` comes straight
  down onto the grasp (a diagonal approach sweeps the trailing finger over the object).
- g1_inspire: the hand-mount frame follows the wrist with a fixed hand-to-mount rotation
  (`G1_HAND_IN_MOUNT`). The observation's camera_to_base is in the G1's base frame (the pelvis).
  Registration to the object (`register_to_object`): the object is the one (lvp_grasp's
  top-face finder) the human's grasp point (thumb, index and middle fingertips' centroid) comes
  nearest, within `max_grasp_offset`; the contact is the grasp point's arrival there. The
  Inspire commands become `grasp_commands`: fingers open until the contact (retargeted curled
  fingers would sweep the object away), thumb already in opposition, then closing as the
  human's, pressed GRASP_SQUEEZE further so that position control holds the object. The hand
  is turned, phased in over the APPROACH_LEAD before the contact, into the top-down pinch
  across the object nearest its own orientation (`top_down_pinch`: the Inspire's thumb ->
  finger line level, palm down), and the path is shifted so that the Inspire's grasp point
  (`inspire_grasp`: midway between its thumb and finger tips where they are the object's width
  apart) meets the object's centre at the contact.
- With a contact time (both embodiments) the robot joins the demonstrated path APPROACH_LEAD
  before it (`approach_from`); the hand entering the view before that is replaced by the
  robot's own approach from its current state.

Execution goes through an `lvp_exec.execution.Executor` (`PipelineConfig.executor`; default the
MuJoCo sim in the lvp_sim world of the embodiment): the trajectory starts at the executor's
current joint state (the sim: the robot's home) and `PipelineConfig.should_stop` stops the robot
mid-motion (CANCELED).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import (
    GraspPlan,
    GripperAction,
    GripperEvent,
    HandCommands,
    HandTrack,
    Observation,
    VideoPlan,
    WristTrajectory,
)
from lvp_common.geometry import continuous_quaternions
from scipy.spatial.transform import Rotation

EMBODIMENTS = ('franka_gripper', 'g1_inspire')

STAGES = ('hand_tracking', 'reconstruction', 'retargeting', 'grasping', 'ik', 'timing',
          'safety', 'executing')
"""Pipeline stages in order (the CLI adds `planning` before and `archive` after)."""

_STAGE_WEIGHTS = {'hand_tracking': 0.3, 'reconstruction': 0.2, 'retargeting': 0.05,
                  'grasping': 0.05, 'ik': 0.1, 'timing': 0.05, 'safety': 0.02, 'executing': 0.23}

_THUMB_TIP, _INDEX_TIP, _MIDDLE_TIP = 4, 8, 12

FRANKA_HAND_MAX_WIDTH = 0.08
"""The Franka hand's full opening (m), commanded on release."""

PREGRASP_HEIGHT = 0.06
"""A registered Franka approach comes straight down onto the grasp over its last 6 cm
(`vertical_final_approach`)."""

APPROACH_LEAD = 1.0
"""With a known contact time, the robot joins the demonstrated path this long (s) before it:
the earlier motion (the hand entering the view, often beyond the arm's reach and the least
reliably tracked) is replaced by the robot's own approach from its current state."""

PRE_APPROACH_HEIGHT = 0.08
PRE_APPROACH_TIME = 0.5
"""The G1 approaches the first pose of its path from up to PRE_APPROACH_HEIGHT (m) above it (no
higher than its home pose), over the last PRE_APPROACH_TIME (s): the Inspire's thumb and
fingers reach 15-21 cm below the mount, and a sideways approach at the path's height drags
them over the table."""

GRASP_DWELL = 0.5
"""The G1 hand holds its grasp pose this long (s) while the Inspire closes, before following
the rest of the demonstration (the human's fingers close faster than the Inspire's)."""

CONTACT_TOLERANCE = 0.01
"""The contact time is the first time the hand's grasp point is within this (m) of its closest
approach to the object it grasps (`closest_approach`)."""

DEFAULT_HAND_GRASP_POINT = np.array([0.0, 0.1, 0.05])
"""Grasp point in the wrist frame (m) when a path has no finger keypoints: ~10 cm along the
fingers, 5 cm out of the palm (where a palm-down power grasp holds a 5 cm cube)."""

G1_HAND_IN_MOUNT = Rotation.from_matrix(np.array([
    [0.0, 1.0, 0.0],    # mount x = hand y (wrist -> fingers: the hand points along mount x)
    [0.0, 0.0, -1.0],   # mount y = -(palm normal)
    [-1.0, 0.0, 0.0],   # mount z = -(hand x)
])).as_quat()
"""Orientation of the human hand frame (x thumb side, y fingers, z palm normal) in the G1
`<side>_hand_mount` frame (x along the forearm out of the wrist)."""



class ErrorCode(enum.IntEnum):
    """Result codes of PlanAndExecute.action."""

    SUCCESS = 0
    INVALID_GOAL = 1
    PLANNER_FAILED = 2
    NO_HAND_FOUND = 3
    RECONSTRUCTION_FAILED = 4
    RETARGET_FAILED = 5
    GRASP_FAILED = 6
    UNREACHABLE = 7
    SAFETY_VIOLATION = 8
    EXECUTION_FAILED = 9
    CANCELED = 10
    ARCHIVE_FAILED = 11


class StageError(RuntimeError):
    """A pipeline stage failed: `stage` name, `code` (ErrorCode) and a readable message."""

    def __init__(self, stage: str, code: ErrorCode, message: str) -> None:
        self.stage = stage
        self.code = ErrorCode(code)
        self.message = message
        self.result: PipelineResult | None = None
        """What the stages before the failure produced (set by run_pipeline)."""
        super().__init__(f'{stage} failed ({self.code.name}): {message}')


ProgressCallback = Callable[[str, float, float], None]
"""progress(stage, stage_progress in [0, 1], overall_progress in [0, 1])."""


def _no_progress(_stage: str, _stage_progress: float, _overall: float) -> None:
    pass


@dataclass
class PipelineConfig:
    """Every stage's parameters; `None` fields use the core's defaults."""

    plan_only: bool = False
    """Stop after the safety filter: move nothing."""
    handedness: str | None = None
    """Override the acting hand ('left'/'right'); None = plan metadata, else MediaPipe's vote."""
    tracker: object = None
    mediapipe: object = None
    reconstruction: object = None
    gripper: object = None
    dexterous: object = None
    ik: object = None
    timing: object = None
    sim: object = None
    """lvp_exec.sim.SimConfig of the default executor (the MuJoCo sim)."""
    executor: object = None
    """An lvp_exec.execution.Executor; None = the MuJoCo sim in the embodiment's lvp_sim world."""
    should_stop: Callable[[], bool] = field(default=lambda: False)
    """Polled while the robot moves: True stops it (the run ends CANCELED at `executing`)."""
    min_tcp_height: float = 0.02
    """Lowest TCP height (m) above the base plane (the table top) for the Franka."""
    max_grasp_offset: float = 0.12
    """Register the path to a detected grasp / object only this close (m) to the human's
    grasp point: the hand's monocular depth errs by up to ~10 cm at the G1 camera's distance
    (measured on synthetic demonstrations), the scene depth by millimetres."""
    require_grasp_candidate: bool = False
    """GRASP_FAILED when the antipodal detector finds no grasp (else reported and continued)."""
    g1_side: str = 'right'
    arm_model: str = ''
    """The Franka arm planned for ('panda' | 'fr3', lvp_exec.robots.ARM_MODELS), whose joint
    limits IK, timing and the safety filter use; '' = the one the executor drives (lvp_exec.
    backends.executor_arm_model: fr3 on ros2_control, panda in the sim)."""
    safety_for: Callable[[Any, Any], Any] | None = None
    """Safety limits (lvp_exec.safety.SafetyConfig) for (arm model, the executor's lvp_sim world
    or None), e.g. from a node's `safety.<embodiment>.*` parameters; None = lvp_exec's defaults
    in the executor's world."""
    grasp: bool | None = None
    """Whether the task grasps the object (G1: open before contact, pinch, hold); None decides
    from the task sentence (`task_grasps`)."""


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

    def to_metadata(self) -> dict[str, object]:
        return {'embodiment': self.embodiment, 'contact_time': self.contact_time,
                'grasp_point': list(self.grasp_point), 'closing_axis': list(self.closing_axis),
                'min_tcp_height': self.min_tcp_height, 'path_offset': list(self.path_offset),
                'yaw_offset': self.yaw_offset,
                'hand_in_mount': list(self.hand_in_mount),
                'grasp_turn': list(self.grasp_turn), 'grasp_dwell': self.grasp_dwell,
                'grasps': self.grasps, 'description': self.description}

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
                   description=str(meta.get('description', '')))


@dataclass
class PipelineResult:
    """Everything the stages produced (None where a stage did not run) and how long each took."""

    embodiment: str
    plan: VideoPlan | None = None
    observation: Observation | None = None
    tracking: object = None
    hand_track: HandTrack | None = None
    reconstruction: object = None
    wrist_base_raw: WristTrajectory | None = None
    wrist_base: WristTrajectory | None = None
    gripper: object = None
    gripper_events: tuple[GripperEvent, ...] = ()
    grasp_plan: GraspPlan | None = None
    hand_commands: HandCommands | None = None
    mapping: EeMapping | None = None
    ee_path: WristTrajectory | None = None
    robot: object = None
    start_joints: np.ndarray | None = None
    joint_path: object = None
    timed: object = None
    execution: object = None
    executed: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    @property
    def trajectory(self):
        """The planned joint trajectory (lvp_common JointTrajectory) or None."""
        return None if self.timed is None else self.timed.trajectory  # type: ignore[attr-defined]


class _StageRunner:
    """Time each stage, report progress and turn known exceptions into StageErrors."""

    def __init__(self, result: PipelineResult, progress: ProgressCallback,
                 stages: tuple[str, ...]) -> None:
        self.result = result
        self.progress = progress
        total = sum(_STAGE_WEIGHTS[s] for s in stages)
        self._weights = {s: _STAGE_WEIGHTS[s] / total for s in stages}
        self._done = 0.0

    def report(self, stage: str, fraction: float) -> None:
        fraction = float(min(max(fraction, 0.0), 1.0))
        self.progress(stage, fraction, min(1.0, self._done + self._weights[stage] * fraction))

    def run(self, stage: str, code: ErrorCode, errors: tuple[type[BaseException], ...],
            work: Callable[[], object]):
        self.report(stage, 0.0)
        start = time.perf_counter()
        try:
            out = work()
        except StageError:
            raise
        except errors as exc:
            raise StageError(stage, code, str(exc)) from exc
        finally:
            self.result.timings[stage] = time.perf_counter() - start
        self.report(stage, 1.0)
        self._done += self._weights[stage]
        return out


def robot_for(embodiment: str, config: PipelineConfig):
    """Load the lvp_exec arm model of an embodiment (the Franka: config.arm_model, else the
    arm the configured executor drives)."""
    from lvp_exec.backends import ExecutionSetupError, executor_arm_model, resolve_arm_model
    from lvp_exec.robots import G1ArmConfig, load_franka, load_g1_arm

    if embodiment == 'franka_gripper':
        try:
            arm = (resolve_arm_model(config.arm_model, 'sim') if config.arm_model
                   else executor_arm_model(config.executor) if config.executor is not None
                   else resolve_arm_model('', 'sim'))
        except ExecutionSetupError as exc:
            raise StageError('ik', ErrorCode.INVALID_GOAL, str(exc)) from exc
        return load_franka(arm)
    if embodiment == 'g1_inspire':
        return load_g1_arm(G1ArmConfig(side=config.g1_side))
    raise StageError('ik', ErrorCode.INVALID_GOAL,
                     f'unknown embodiment {embodiment!r}; expected one of {EMBODIMENTS}')


def _contact_index(times: np.ndarray, contact_time: float) -> int:
    return int(np.argmin(np.abs(times - contact_time)))


def franka_mapping(wrist: WristTrajectory, contact_time: float,
                   min_tcp_height: float) -> EeMapping:
    """Choose the wrist-frame grasp point and closing axis at the contact time."""
    if wrist.finger_keypoints is not None:
        kp = wrist.finger_keypoints[_contact_index(wrist.times, contact_time)]
        tips = kp[[_THUMB_TIP, _INDEX_TIP, _MIDDLE_TIP]]
        grasp_point = tips.mean(axis=0)
        axis = 0.5 * (kp[_INDEX_TIP] + kp[_MIDDLE_TIP]) - kp[_THUMB_TIP]
        source = 'fingertips (thumb, index, middle) at contact'
    else:
        grasp_point = DEFAULT_HAND_GRASP_POINT.copy()
        axis = np.array([1.0, 0.0, 0.0])
        source = 'default palm grasp point (no finger keypoints)'
    norm = float(np.linalg.norm(axis))
    axis = axis / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])
    return EeMapping(
        'franka_gripper', float(contact_time), tuple(float(v) for v in grasp_point),
        tuple(float(v) for v in axis), float(min_tcp_height),
        description=(f'Franka TCP at the human grasp point ({source}, t = {contact_time:.2f} s; '
                     f'wrist frame {np.round(grasp_point, 3).tolist()} m), fixed in the hand '
                     f'frame; gripper pointing down, closing axis = the hand\'s thumb -> '
                     f'fingertips direction projected on the table (yaw follows the hand); '
                     f'TCP kept >= {min_tcp_height:.2f} m above the table'))


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


def descend_onto(positions: np.ndarray, height: float) -> np.ndarray:
    """Make an approach (positions up to the grasp, the last row) come down onto the grasp:
    never lower than the grasp, and no lower than its horizontal distance (up to `height`)
    above it (a 45 degree cone), then the `vertical_final_approach`. The open fingers of a
    dexterous hand reach below its mount and would otherwise hit the table or the object."""
    out = positions.copy()
    grasp = positions[-1]
    distance = np.linalg.norm(out[:, :2] - grasp[:2], axis=1)
    out[:, 2] = np.maximum(out[:, 2], grasp[2] + np.minimum(distance, height))
    out[-1] = grasp
    return vertical_final_approach(out, height)


def register_to_grasp(wrist: WristTrajectory, mapping: EeMapping, grasp,
                      reference_closing_axis: np.ndarray) -> EeMapping:
    """Shift and turn a Franka mapping so the TCP meets `grasp` (GraspCandidate) at contact."""
    assert mapping.contact_time is not None
    tcp = franka_tcp_path(wrist, mapping, reference_closing_axis)
    k = _contact_index(wrist.times, mapping.contact_time)
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


def franka_tcp_path(wrist: WristTrajectory, mapping: EeMapping,
                    reference_closing_axis: np.ndarray | None = None) -> WristTrajectory:
    """Return Franka TCP targets (base frame) for a human wrist path under `mapping`."""
    rot = Rotation.from_quat(wrist.quaternions)
    positions = wrist.positions + rot.apply(np.asarray(mapping.grasp_point))
    if mapping.path_offset:
        positions = positions + np.asarray(mapping.path_offset)
    positions[:, 2] = np.maximum(positions[:, 2], mapping.min_tcp_height)
    if mapping.path_offset and mapping.grasps and mapping.contact_time is not None:
        k = _contact_index(wrist.times, mapping.contact_time)
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


def g1_mapping(mount_frame: str) -> EeMapping:
    """The G1 hand-mount mapping: a fixed hand-to-mount rotation, positions unchanged."""
    return EeMapping(
        'g1_inspire', None, hand_in_mount=tuple(float(v) for v in G1_HAND_IN_MOUNT),
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
        k = _contact_index(wrist.times, mapping.contact_time)
        positions[:k + 1] = descend_onto(positions[:k + 1], PREGRASP_HEIGHT)
    return WristTrajectory(wrist.times, positions, continuous_quaternions(mount),
                           wrist.frame_id, smoothed=wrist.smoothed)


def hand_grasp_points(wrist: WristTrajectory) -> np.ndarray:
    """The centroid of the thumb, index and middle fingertips (T, 3) in the path's frame; the
    default palm grasp point without finger keypoints."""
    rot = Rotation.from_quat(wrist.quaternions)
    if wrist.finger_keypoints is None:
        return wrist.positions + rot.apply(DEFAULT_HAND_GRASP_POINT)
    tips = wrist.finger_keypoints[:, [_THUMB_TIP, _INDEX_TIP, _MIDDLE_TIP]].mean(axis=1)
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
        centre = face.centre - np.array([0.0, 0.0, 0.5 * face.height])
        if any(np.linalg.norm(centre - other) < 0.02 for other in seen):
            continue
        seen.append(centre)
        time, nearest = closest_approach(wrist, centre)
        if best is None or nearest < best[3]:
            best = (face, centre, time, nearest)
    return best


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


def top_down_pinch(chord: np.ndarray, face, current: Rotation) -> Rotation:
    """The G1 hand-mount orientation (base frame) of a top-down pinch of the object whose top
    face (lvp_grasp TopFace) is `face`: the Inspire's thumb -> finger `chord` (mount frame)
    level and across the object (along a side no longer than 1.2 x the short side), the palm
    as near facing down as that allows; of those, the one nearest `current` (least turn)."""
    shortest = min(face.sides)
    palm = np.array([0.0, -1.0, 0.0])  # the Inspire palm faces the mount's -y
    best, best_turn = None, np.inf
    for side, axis in zip(face.sides, face.axes, strict=True):
        if side > 1.2 * shortest:
            continue
        for sign in (1.0, -1.0):
            across = np.array([sign * axis[0], sign * axis[1], 0.0])
            rotation = Rotation.align_vectors([across, [0.0, 0.0, -1.0]], [chord, palm],
                                              weights=[1e6, 1.0])[0]
            turn = (current.inv() * rotation).magnitude()
            if turn < best_turn:
                best, best_turn = rotation, turn
    assert best is not None
    return best


def human_grasp_chord(wrist: WristTrajectory, index: int) -> np.ndarray | None:
    """Unit vector from the thumb tip to the index/middle tips' mean at waypoint `index`, in
    the path's frame (None without finger keypoints)."""
    if wrist.finger_keypoints is None:
        return None
    fingers = wrist.finger_keypoints[index]
    chord = Rotation.from_quat(wrist.quaternions[index]).apply(
        fingers[[_INDEX_TIP, _MIDDLE_TIP]].mean(axis=0) - fingers[_THUMB_TIP])
    norm = float(np.linalg.norm(chord))
    return chord / norm if norm > 1e-6 else None


def register_contact(wrist: WristTrajectory, mapping: EeMapping, centre: np.ndarray,
                     time: float) -> EeMapping:
    """For a task without a grasp (push, press): shift the path so that the human's grasp point
    meets the object's `centre` at `time` (its arrival there)."""
    k = _contact_index(wrist.times, time)
    offset = centre - hand_grasp_points(wrist)[k]
    note = (f'; registered to the object at {np.round(centre, 3).tolist()} m at '
            f't = {time:.2f} s (no grasp in the task: path shifted '
            f'{100 * np.linalg.norm(offset):.1f} cm so the human grasp point meets it)')
    return replace(mapping, contact_time=float(time), grasps=False,
                   path_offset=tuple(float(v) for v in offset),
                   description=mapping.description + note)


def register_to_object(result: PipelineResult, mapping: EeMapping, max_offset: float,
                       grasp: bool = True) -> EeMapping:
    """Shift a G1 mapping so the Inspire hand holds the nearest seen object at contact.

    The object is the one the human's grasp point comes nearest (`approached_object`); the
    contact time becomes the grasp point's arrival there (`closest_approach`); the path is
    shifted so that, then, the Inspire's grasp point (`inspire_grasp` of the retargeted
    closing) sits at the object's centre. The hand commands become `grasp_commands` (open on
    arrival, pressed closed after), which the grasp point is computed from."""
    from lvp_retarget.dexterous import GRASP_SQUEEZE, grasp_commands

    wrist, rec = result.wrist_base, result.reconstruction
    cloud = None if rec is None else rec.point_cloud_base  # type: ignore[attr-defined]
    if wrist is None or cloud is None or result.hand_commands is None:
        result.messages.append('registration: no scene cloud; the hand follows the '
                               'reconstructed wrist path')
        return mapping
    found = approached_object(cloud, wrist)
    if found is None:
        result.messages.append('registration: no object seen near the hand\'s grasp point; '
                               'the hand follows the reconstructed wrist path')
        return mapping
    face, centre, time, nearest = found
    if nearest > max_offset:
        result.messages.append(f'registration: the hand\'s grasp point comes no closer than '
                               f'{100 * nearest:.1f} cm to the nearest object\'s centre '
                               f'(> {100 * max_offset:.0f} cm): path not registered')
        return mapping
    if not grasp:
        # A push or press: the hand's grasp point meets the object; fingers as retargeted.
        return register_contact(wrist, mapping, centre, time)
    side = 'left' if result.robot.name.startswith('g1_left') else 'right'  # type: ignore
    result.hand_commands = grasp_commands(result.hand_commands, time, side)
    result.messages.append(f'retargeting: the Inspire fingers stay open until the contact at '
                           f'{time:.2f} s (pre-grasp opening, thumb already in opposition), '
                           f'then close as the human\'s do, pressed {GRASP_SQUEEZE:.1f} further')
    held, chord = inspire_grasp(result.hand_commands, side, time, min(face.sides))
    k = _contact_index(wrist.times, time)
    mount = Rotation.from_quat(g1_mount_path(wrist, mapping).quaternions[k])
    target = top_down_pinch(chord, face, mount)
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
    return replace(mapping, contact_time=float(time), grasp_dwell=GRASP_DWELL,
                   path_offset=tuple(float(v) for v in offset),
                   description=mapping.description + note + (
                       f'; the hand holds there {GRASP_DWELL:.1f} s while it closes'))


def ee_path_for(wrist: WristTrajectory, mapping: EeMapping, robot,
                commands: HandCommands | None = None) -> WristTrajectory:
    """Apply an EeMapping to a base-frame human wrist path for `robot` (lvp_exec RobotModel).

    G1 with hand `commands`: waypoints whose commanded Inspire fingertips would reach deeper
    into the table than the safety filter allows are raised just enough (`fingertips_above`).
    """
    if mapping.contact_time is not None:
        wrist = approach_from(wrist, mapping.contact_time - APPROACH_LEAD)
    if mapping.embodiment == 'franka_gripper':
        # The home TCP's closing axis picks the sign of the first yaw (least wrist rotation).
        ref = robot.ee_pose(robot.home).rotation[:, 1]
        path = franka_tcp_path(wrist, mapping, ref)
    else:
        path = g1_mount_path(wrist, mapping)
        home_height = float(robot.ee_pose(robot.home).position[2])
        if path.positions[0, 2] < home_height:
            path = above_first(path, min(PRE_APPROACH_HEIGHT,
                                         home_height - float(path.positions[0, 2])),
                               PRE_APPROACH_TIME)
    if mapping.grasp_dwell > 0.0 and mapping.contact_time is not None:
        path = dwell_path(path, mapping.contact_time, mapping.grasp_dwell)
    if mapping.embodiment == 'g1_inspire' and commands is not None:
        path = fingertips_above(path, commands, robot)  # commands are on the dwelled clock
    return path


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
    k = _contact_index(path.times, time)
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


def fingertips_above(path: WristTrajectory, commands: HandCommands, robot,
                     margin: float = 0.01) -> WristTrajectory:
    """Raise G1 hand-mount waypoints so that the Inspire fingertips at the commanded closure
    stay `margin` above the lowest the safety filter allows (table plane + hand_clearance;
    the margin covers the spline between waypoints), as the Franka TCP is kept above
    `min_tcp_height`."""
    from lvp_exec.safety import default_safety_config, inspire_fingertips

    config = default_safety_config(robot)
    if config.table_height is None:
        return path
    floor = config.table_height + config.hand_clearance + margin
    tips = inspire_fingertips(robot, commands, path.times).points  # (T, 5, 3), mount frame
    rotations = Rotation.from_quat(path.quaternions).as_matrix()
    lowest = path.positions[:, 2] + np.min(np.einsum('tij,tkj->tki', rotations, tips)[..., 2],
                                           axis=1)
    raise_by = np.maximum(floor - lowest, 0.0)
    if not np.any(raise_by > 0.0):
        return path
    positions = path.positions.copy()
    positions[:, 2] += raise_by
    return replace(path, positions=positions)


def approach_from(wrist: WristTrajectory, start_time: float) -> WristTrajectory:
    """The path from `start_time` (s) on (unchanged when it starts later)."""
    keep = wrist.times >= start_time
    if keep.all() or keep.sum() < 2:
        return wrist
    fingers = None if wrist.finger_keypoints is None else wrist.finger_keypoints[keep]
    return WristTrajectory(wrist.times[keep], wrist.positions[keep], wrist.quaternions[keep],
                           wrist.frame_id, smoothed=wrist.smoothed, finger_keypoints=fingers)


def _tracking_errors() -> tuple[type[BaseException], ...]:
    from lvp_hand_tracking.backend import BackendError
    from lvp_hand_tracking.model_assets import ModelAssetError
    from lvp_hand_tracking.tracker import HandednessUnknownError, LongGapError, NoHandFoundError

    return (NoHandFoundError, LongGapError, HandednessUnknownError, BackendError,
            ModelAssetError)


def track_hand(plan: VideoPlan, config: PipelineConfig, report: Callable[[float], None]):
    """Run MediaPipe over the plan's frames (progress per frame) -> TrackingResult."""
    from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend
    from lvp_hand_tracking.tracker import HandTracker, TrackerConfig

    def frames() -> Iterator[np.ndarray]:
        for k, frame in enumerate(plan.frames):
            report(k / plan.num_frames)
            yield frame

    backend = MediaPipeHandBackend(config.mediapipe or MediaPipeConfig())  # type: ignore[arg-type]
    with HandTracker(config.tracker or TrackerConfig(), backend) as tracker:  # type: ignore
        height, width = plan.frames.shape[1:3]
        return tracker.track_frames(frames(), plan.times, (width, height), config.handedness,
                                    plan.metadata)


def run_pipeline(observation: Observation, plan: VideoPlan, embodiment: str,
                 config: PipelineConfig | None = None,
                 progress: ProgressCallback | None = None) -> PipelineResult:
    """Turn a video plan and the scene observation into robot motion (see module docstring).

    Raises StageError at the first failing stage, its `result` holding what the earlier stages
    produced; the result of a successful run holds every intermediate artifact and per-stage
    wall times (s). A `progress` callback may raise StageError (e.g. CANCELED) to stop the run
    before the next stage or tracked frame.
    """
    config = config or PipelineConfig()
    if embodiment not in EMBODIMENTS:
        raise StageError('hand_tracking', ErrorCode.INVALID_GOAL,
                         f'unknown embodiment {embodiment!r}; expected one of {EMBODIMENTS}')
    result = PipelineResult(embodiment=embodiment, plan=plan, observation=observation)
    try:
        return _run_stages(result, observation, plan, embodiment, config,
                           progress or _no_progress)
    except StageError as exc:
        exc.result = result
        raise


def _run_stages(result: PipelineResult, observation: Observation, plan: VideoPlan,
                embodiment: str, config: PipelineConfig,
                progress: ProgressCallback) -> PipelineResult:
    from lvp_reconstruction.pipeline import ReconstructionConfig, ReconstructionError, reconstruct

    stages = tuple(s for s in STAGES if not (s == 'grasping' and embodiment != 'franka_gripper')
                   and not (s == 'executing' and config.plan_only))
    runner = _StageRunner(result, progress, stages)

    tracking = runner.run('hand_tracking', ErrorCode.NO_HAND_FOUND, _tracking_errors(),
                          lambda: track_hand(plan, config,
                                             lambda f: runner.report('hand_tracking', f)))
    result.tracking = tracking
    track = tracking.track  # type: ignore[attr-defined]
    result.hand_track = track
    indices = tracking.track_frame_indices  # type: ignore[attr-defined]
    if tracking.long_gaps:  # type: ignore[attr-defined]
        result.messages.append(f'hand tracking: track cut at long gaps, using frames '
                               f'{int(indices[0])}..{int(indices[-1])} of {plan.num_frames}')

    def reconstruct_stage():
        if observation.camera_to_base is None:
            raise ReconstructionError('the observation has no camera_to_base extrinsic: the '
                                      'wrist path cannot be put in the robot base frame')
        rec = reconstruct(track, observation,
                          config.reconstruction or ReconstructionConfig(),  # type: ignore
                          frames=plan.frames[indices])
        if rec.wrist_base is None:
            raise ReconstructionError('no base-frame wrist path')
        return rec

    rec = runner.run('reconstruction', ErrorCode.RECONSTRUCTION_FAILED, (ValueError,),
                     reconstruct_stage)
    result.reconstruction = rec
    result.wrist_base, result.wrist_base_raw = rec.wrist_base, rec.wrist_base_raw  # type: ignore
    result.messages.extend(f'reconstruction: {m}' for m in rec.report.messages)  # type: ignore
    wrist = result.wrist_base
    assert wrist is not None

    robot = robot_for(embodiment, config)
    result.robot = robot
    if embodiment == 'franka_gripper':
        runner.run('retargeting', ErrorCode.RETARGET_FAILED, (ValueError,),
                   lambda: _gripper_stage(result, config))
        runner.run('grasping', ErrorCode.GRASP_FAILED, (ValueError,),
                   lambda: _grasp_stage(result, config))
    else:
        runner.run('retargeting', ErrorCode.RETARGET_FAILED, (ValueError,),
                   lambda: _dexterous_stage(result, config))
    mapping = result.mapping
    assert mapping is not None
    run_motion(result, wrist, mapping, config, runner)
    return result


def _gripper_stage(result: PipelineResult, config: PipelineConfig) -> None:
    from lvp_retarget.gripper import GripperRetargetConfig, retarget_gripper_from_trajectory

    assert result.wrist_base is not None
    gripper = retarget_gripper_from_trajectory(
        result.wrist_base, config.gripper or GripperRetargetConfig())  # type: ignore[arg-type]
    result.gripper = gripper
    result.gripper_events = gripper.events


def _grasp_stage(result: PipelineResult, config: PipelineConfig) -> None:
    from lvp_grasp.backend import GraspError
    from lvp_grasp.human_contact import find_human_contact
    from lvp_grasp.planning import grasp_plan_from_demonstration

    wrist = result.wrist_base
    assert wrist is not None
    rec = result.reconstruction
    cloud = rec.point_cloud_base  # type: ignore[attr-defined]
    events = result.gripper_events
    grasp_task = config.grasp
    if grasp_task is None:
        grasp_task = task_grasps(result.plan.prompts if result.plan is not None else ())
    if not grasp_task:
        _contact_stage(result, config, wrist, cloud)
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
            reference = result.robot.ee_pose(result.robot.home).rotation[:, 1]  # type: ignore
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
    mapping = franka_mapping(wrist, float(contact_time), config.min_tcp_height)
    if grasp is not None:
        reference = result.robot.ee_pose(result.robot.home).rotation[:, 1]  # type: ignore
        mapping = register_to_grasp(wrist, mapping, grasp, reference)
    result.mapping = mapping


def human_release(wrist: WristTrajectory, contact: float,
                  config: PipelineConfig) -> float | None:
    """When the human's thumb and index open after grasping at `contact` (lvp_retarget's
    `release_time` on the hand apertures), or None."""
    from lvp_retarget.gripper import GripperRetargetConfig, hand_apertures, release_time

    if wrist.finger_keypoints is None:
        return None
    gripper = config.gripper or GripperRetargetConfig()
    fingers = wrist.finger_keypoints
    apertures = hand_apertures(fingers, gripper.reference_palm_length)  # type: ignore
    return release_time(wrist.times, apertures, contact)


def _contact_stage(result: PipelineResult, config: PipelineConfig, wrist: WristTrajectory,
                   cloud) -> None:
    """Franka, a task without a grasp (push, press): the gripper closes at the start (its
    fingertips together push and press), the TCP follows the human's grasp point, registered
    to the object the hand approaches (`register_contact`)."""
    start = float(wrist.times[0])
    result.gripper_events = (GripperEvent(start, GripperAction.CLOSE, 0.0),)
    result.messages.append('grasping: the task grasps nothing (push/press): the gripper closes '
                           'at the start and its fingertips do the contact')
    found = None if cloud is None else approached_object(cloud, wrist)
    time = found[2] if found is not None else float(wrist.times[len(wrist.times) // 2])
    mapping = replace(franka_mapping(wrist, time, config.min_tcp_height), grasps=False)
    if found is None or found[3] > config.max_grasp_offset:
        result.messages.append('registration: no object the hand comes within '
                               f'{100 * config.max_grasp_offset:.0f} cm of; the TCP follows '
                               'the reconstructed path')
        result.mapping = mapping
        return
    result.mapping = register_contact(wrist, mapping, found[1], found[2])


def _dexterous_stage(result: PipelineResult, config: PipelineConfig) -> None:
    from lvp_retarget.dexterous import DexterousRetargetConfig, retarget_wrist_trajectory

    assert result.wrist_base is not None and result.hand_track is not None
    result.hand_commands = retarget_wrist_trajectory(
        result.wrist_base, result.hand_track.handedness,
        config.dexterous or DexterousRetargetConfig())  # type: ignore[arg-type]
    robot = result.robot
    mapping = g1_mapping(robot.ee_frame)  # type: ignore[attr-defined]
    grasp = config.grasp
    if grasp is None:
        grasp = task_grasps(result.plan.prompts if result.plan is not None else ())
    result.mapping = register_to_object(result, mapping, config.max_grasp_offset, grasp)


def executor_for(config: PipelineConfig):
    """The configured executor, else the MuJoCo sim (lvp_sim world of the robot's embodiment)."""
    if config.executor is not None:
        return config.executor
    from lvp_exec.sim import MujocoExecutor, SimConfig

    return MujocoExecutor(config=config.sim or SimConfig(render_fps=10.0))  # type: ignore


def motion_stages(plan_only: bool) -> tuple[str, ...]:
    return ('ik', 'timing', 'safety') + (() if plan_only else ('executing',))


def run_motion(result: PipelineResult, wrist: WristTrajectory, mapping: EeMapping,
               config: PipelineConfig, runner: _StageRunner | None = None,
               progress: ProgressCallback | None = None) -> PipelineResult:
    """EE mapping -> lvp_exec.motion (IK -> time parameterization -> safety filter -> execution).

    Used by run_pipeline and by replay (from an archived wrist path and mapping).
    """
    from lvp_exec.ik import IkConfig
    from lvp_exec.motion import (
        MotionConfig,
        MotionError,
        MotionRequest,
        MotionResult,
        execute_motion,
    )
    from lvp_exec.timing import TimingConfig

    stages = runner if runner is not None else _StageRunner(
        result, progress or _no_progress, motion_stages(config.plan_only))
    if result.robot is None:
        result.robot = robot_for(mapping.embodiment, config)
    robot: Any = result.robot
    result.mapping = mapping
    ee_path = ee_path_for(wrist, mapping, robot, result.hand_commands)
    result.ee_path = ee_path
    executor: Any = None if config.plan_only else executor_for(config)
    request = MotionRequest(robot, ee_path, result.gripper_events, result.hand_commands,
                            config.should_stop)
    safety = None if config.safety_for is None else config.safety_for(
        robot, getattr(executor, 'world_config', None))
    motion_config = MotionConfig(ik=config.ik or IkConfig(),  # type: ignore[arg-type]
                                 timing=config.timing or TimingConfig(),  # type: ignore[arg-type]
                                 safety=safety, plan_only=config.plan_only)
    codes = {'ik': ErrorCode.UNREACHABLE, 'timing': ErrorCode.UNREACHABLE,
             'safety': ErrorCode.SAFETY_VIOLATION, 'executing': ErrorCode.EXECUTION_FAILED}
    motion = MotionResult(robot, ee_path)
    try:
        execute_motion(request, executor, motion_config,
                       lambda stage, work: stages.run(stage, codes[stage], (), work), motion)
    except MotionError as exc:
        code = ErrorCode.CANCELED if exc.stopped else codes[exc.stage]
        raise StageError(exc.stage, code, exc.message) from exc
    finally:
        result.start_joints, result.joint_path = motion.start_joints, motion.joint_path
        result.timed, result.execution = motion.timed, motion.execution
        result.executed = motion.executed
    if config.plan_only:
        result.messages.append('plan only: nothing executed')
    return result


def plan_record(result: PipelineResult, prompts: tuple[str, ...], plan: VideoPlan | None,
                observation: Observation | None, metadata: dict[str, object]):
    """Gather what a (possibly partial) run produced as an lvp_common PlanRecord to archive.

    The metadata gets the EE mapping (so `lvp replay` is exact) and whether the run was plan only.
    """
    from lvp_common.plan_archive import PlanRecord

    rec: Any = result.reconstruction
    mapping = result.mapping
    return PlanRecord(
        prompts=prompts, embodiment=result.embodiment, observation=observation,
        plan=plan, hand_track=result.hand_track,
        wrist_camera=None if rec is None else rec.wrist_camera,
        wrist_base_raw=result.wrist_base_raw, wrist_base=result.wrist_base,
        scene_cloud=None if rec is None else rec.point_cloud_base,
        grasps=result.grasp_plan, hand_commands=result.hand_commands,
        gripper_events=result.gripper_events, joint_trajectory=result.trajectory,
        metadata={'ee_mapping': None if mapping is None else mapping.to_metadata(),
                  'plan_only': result.timed is not None and not result.executed,
                  **metadata})
