# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""Scripted synthetic demonstrations: the procedural hand does a task in the tabletop world.

Each task is a few wrist/finger keyframes joined by minimum-jerk segments (SLERP for the wrist
orientation), rendered from the scene camera at the plan's size and rate, with exact ground
truth per frame. Objects move kinematically: a grasped cube keeps its pose relative to the wrist
from the moment the fingers close (no physical grasp), a pushed cube follows the wrist's
horizontal motion while the fingertips touch it, and the button travels with the fingertip
and stays down (it latches). The seed varies object placement, the start pose and the timing.

The observation is the initial scene with the hand hidden: what the robot's camera sees before
anyone acts. The plan's first frame shows the hand at its start pose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
from lvp_common.artifacts import (
    HAND_KEYPOINT_NAMES,
    NUM_HAND_KEYPOINTS,
    CameraIntrinsics,
    Handedness,
    Observation,
    PlanSource,
    VideoPlan,
)
from lvp_common.geometry import Pose, as_array, continuous_quaternions
from lvp_common.video_io import write_video
from scipy.spatial.transform import Rotation, Slerp

from lvp_sim.fixtures_articulated import fixture_state, fixtures_for_task, jitter_fixtures
from lvp_sim.hand_model import JOINT_NAMES, HandConfig, HandRig, HandState, hand_pose
from lvp_sim.tasks import (
    SceneState,
    TaskKind,
    TaskOutcome,
    TaskSpec,
    evaluate_task,
    read_scene_state,
)
from lvp_sim.world import (
    BUTTON_CAP_HALF_HEIGHT,
    BUTTON_JOINT,
    BUTTON_TRAVEL,
    CameraConfig,
    SceneRenderer,
    World,
    WorldConfig,
    build_world,
)

TASK_PROMPTS = {
    'reach_grasp_lift': 'pick up the green cube',
    'push': 'push the green cube onto the yellow square',
    'press': 'press the red button',
    'pinch_and_place': 'put the green cube on the yellow square',
    'open_drawer': 'open the drawer',
    'wipe': 'wipe the dirt off the white board',
}
"""Task name -> the sentence a planner would be given."""
TASK_NAMES = tuple(TASK_PROMPTS)
SCENE_OBJECTS = ('cube', 'cup', 'button')
"""Bodies whose poses the ground truth records, in this order."""


class DemonstrationError(ValueError):
    """A demonstration cannot be made as configured."""


PINCH_ABOVE_CENTRE = 0.35
"""The pinch holds the cube with the thumb and index pads this many cube half-sizes above its
centre (on the upper half of two opposite faces)."""


@dataclass(frozen=True)
class DemonstrationConfig:
    """Which task, how many frames at what rate, the world layout, the camera, the hand, the seed.

    world: the base layout (robot placement, table, objects, camera) the seed varies; the
    default is the Franka layout, `lvp_sim.world.world_config_for('g1_inspire')` the G1's.
    camera: overrides the layout's camera when given. jitter: scale of the seed's variations
    (object placement +-2 cm, start pose +-2 cm, timing +-6 %); 0 gives the nominal scene and
    motion for every seed.
    """

    task: str = 'reach_grasp_lift'
    seed: int = 0
    num_frames: int = 49
    fps: float = 16.0
    camera: CameraConfig | None = None
    hand: HandConfig = field(default_factory=HandConfig)
    jitter: float = 1.0
    world: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.task not in TASK_PROMPTS:
            raise DemonstrationError(f'unknown task {self.task!r}; known: {TASK_NAMES}')
        if self.num_frames < 8:
            raise DemonstrationError(f'DemonstrationConfig.num_frames must be >= 8, '
                                     f'got {self.num_frames}')
        if not np.isfinite(self.fps) or self.fps <= 0.0:
            raise DemonstrationError(f'DemonstrationConfig.fps must be positive, got {self.fps}')
        if not 0.0 <= self.jitter <= 2.0:
            raise DemonstrationError(f'DemonstrationConfig.jitter must lie in [0, 2], '
                                     f'got {self.jitter}')


@dataclass(frozen=True)
class DemonstrationGroundTruth:
    """Exact per-frame state of a synthetic demonstration (T frames).

    Every `_base` quantity (and object_positions/quaternions, camera_to_base) is in the robot
    base frame of the demonstration's layout (`WorldConfig.robot_mount`: the Panda base, the G1
    pelvis), not the table frame.

    keypoints_px (T, 21, 2) pixels; keypoints_camera (T, 21, 3) metres in the camera optical
    frame; keypoints_base (T, 21, 3) metres in the robot base frame; MediaPipe landmark order.
    in_image (T, 21): the keypoint projects inside the image. wrist_positions/quaternions: the
    hand frame (origin at the wrist landmark, +y to the fingers, +x to the thumb for a right
    hand, +z palm normal) in the base frame (`_base`) and the optical frame (`_camera`).
    joint_angles (T, 20) radians in `joint_names` order. grasp_aperture (T,) thumb tip to index
    tip, metres. contact (T,): the hand is touching the task's object. object_positions
    (T, K, 3) and object_quaternions (T, K, 4) in the base frame for `object_names`;
    button_travel (T,) metres (0 up, negative pressed). fixture_state (T,): the drawer's
    opening (m, open_drawer) or the wiped fraction of the dirt patch (wipe); zeros otherwise.
    """

    times: np.ndarray
    keypoints_px: np.ndarray
    keypoints_camera: np.ndarray
    keypoints_base: np.ndarray
    in_image: np.ndarray
    wrist_positions_base: np.ndarray
    wrist_quaternions_base: np.ndarray
    wrist_positions_camera: np.ndarray
    wrist_quaternions_camera: np.ndarray
    joint_names: tuple[str, ...]
    joint_angles: np.ndarray
    grasp_aperture: np.ndarray
    contact: np.ndarray
    object_names: tuple[str, ...]
    object_positions: np.ndarray
    object_quaternions: np.ndarray
    button_travel: np.ndarray
    handedness: Handedness
    intrinsics: CameraIntrinsics
    camera_to_base: Pose
    fixture_state: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(as_array(self.times, (None,), 'times'))
        if self.fixture_state is None:
            object.__setattr__(self, 'fixture_state', np.zeros(n))
        k, j, o = NUM_HAND_KEYPOINTS, len(self.joint_names), len(self.object_names)
        shapes = {
            'keypoints_px': (n, k, 2), 'keypoints_camera': (n, k, 3), 'keypoints_base': (n, k, 3),
            'wrist_positions_base': (n, 3), 'wrist_quaternions_base': (n, 4),
            'wrist_positions_camera': (n, 3), 'wrist_quaternions_camera': (n, 4),
            'joint_angles': (n, j), 'grasp_aperture': (n,), 'object_positions': (n, o, 3),
            'object_quaternions': (n, o, 4), 'button_travel': (n,), 'fixture_state': (n,),
        }
        for name, shape in shapes.items():
            object.__setattr__(self, name, as_array(getattr(self, name), shape,
                                                    f'DemonstrationGroundTruth.{name}'))
        for name, shape in (('in_image', (n, k)), ('contact', (n,))):
            object.__setattr__(self, name, as_array(getattr(self, name), shape,
                                                    f'DemonstrationGroundTruth.{name}',
                                                    dtype=bool))
        object.__setattr__(self, 'handedness', Handedness(self.handedness))

    @property
    def num_frames(self) -> int:
        return len(self.times)

    def arrays(self) -> dict[str, np.ndarray]:
        """Return every per-frame field as a named array (for saving as .npz)."""
        names = ('times', 'keypoints_px', 'keypoints_camera', 'keypoints_base', 'in_image',
                 'wrist_positions_base', 'wrist_quaternions_base', 'wrist_positions_camera',
                 'wrist_quaternions_camera', 'joint_angles', 'grasp_aperture', 'contact',
                 'object_positions', 'object_quaternions', 'button_travel', 'fixture_state')
        out = {name: np.asarray(getattr(self, name)) for name in names}
        out['camera_matrix'] = self.intrinsics.matrix
        out['camera_to_base'] = self.camera_to_base.as_matrix()
        return out


@dataclass(frozen=True)
class SyntheticDemonstration:
    """A rendered demonstration: the plan, the initial observation, ground truth and the task.

    task_spec, initial_state and final_state are the inputs of the task's success predicate
    (table frame, as every SceneState); outcome is that predicate on the demonstration's own
    final state. world_config is the layout with the seed's variations applied.
    """

    task: str
    plan: VideoPlan
    observation: Observation
    ground_truth: DemonstrationGroundTruth
    task_spec: TaskSpec
    initial_state: SceneState
    final_state: SceneState
    outcome: TaskOutcome
    world_config: WorldConfig


@dataclass(frozen=True)
class _Keyframe:
    time: float
    wrist: Pose
    fingers: np.ndarray


def _min_jerk(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u ** 3 * (10.0 - 15.0 * u + 6.0 * u * u)


def _sample(keys: list[_Keyframe], t: float) -> HandState:
    """Return the hand state at time `t` on the keyframe path (held before/after the ends)."""
    if t <= keys[0].time:
        return HandState(keys[0].wrist, keys[0].fingers)
    for a, b in zip(keys, keys[1:]):
        if t <= b.time:
            s = _min_jerk((t - a.time) / (b.time - a.time))
            rots = Rotation.from_quat(np.stack([a.wrist.quaternion, b.wrist.quaternion]))
            quat = Slerp([0.0, 1.0], rots)(s).as_quat()
            position = (1.0 - s) * a.wrist.position + s * b.wrist.position
            return HandState(Pose(position, quat), (1.0 - s) * a.fingers + s * b.fingers)
    return HandState(keys[-1].wrist, keys[-1].fingers)


_PALM_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]).T
"""Hand frame in the base frame: fingers along -y (from the image's right), palm down, thumb
towards the camera (+x)."""


def _hand_rotation(yaw: float, roll: float, pitch: float) -> np.ndarray:
    """Palm-down hand, turned by yaw about base z, thumb side lowered by roll, fingers down by
    pitch (radians)."""
    return (Rotation.from_euler('z', yaw) * Rotation.from_euler('y', roll)
            * Rotation.from_euler('x', pitch)).as_matrix() @ _PALM_DOWN


def _wrist_placing(point_in_hand: np.ndarray, target: np.ndarray, rotation: np.ndarray) -> Pose:
    """Return the wrist pose with `rotation` that puts a hand-frame point on `target`."""
    return Pose.from_rotation_matrix(target - rotation @ point_in_hand, rotation)


def _hand_frame_keypoints(world: World, fingers: np.ndarray) -> np.ndarray:
    """Return the 21 landmarks (21, 3) in the hand frame for a finger posture."""
    data = mujoco.MjData(world.model)
    rig = HandRig(world.model, data)
    rig.set_state(HandState(Pose.identity(), fingers))
    mujoco.mj_kinematics(world.model, data)
    return rig.keypoints()


def _kp(name: str) -> int:
    return HAND_KEYPOINT_NAMES.index(name)


@dataclass
class _Script:
    """A task's keyframes and how the scene responds to the hand."""

    keys: list[_Keyframe]
    spec: TaskSpec
    contact_window: tuple[float, float]
    respond: Callable[[float, HandState, np.ndarray], None]
    """Update object state for time t given the hand state and its keypoints (base frame)."""


class _Variation:
    """The seed's small variations, scaled by the config's jitter."""

    def __init__(self, seed: int, scale: float) -> None:
        self.rng = np.random.default_rng(seed)
        self.scale = scale

    def uniform(self, half_range: float, size: int | None = None):
        return self.scale * self.rng.uniform(-half_range, half_range, size)


def _turn(yaw: float) -> np.ndarray:
    """Rotation (3x3) by `yaw` rad about the table's z: turns the script's offsets with the
    layout's `hand_approach_yaw` (exactly the identity for 0)."""
    return Rotation.from_euler('z', yaw).as_matrix()


def _world_config(config: DemonstrationConfig, var: _Variation) -> WorldConfig:
    base = config.world if config.camera is None else replace(config.world,
                                                                camera=config.camera)
    base = fixtures_for_task(config.task, base)
    cube = np.asarray(base.cube_xy) + var.uniform(0.02, 2)
    yaw = float(var.uniform(0.2))
    button = np.asarray(base.button_xy) + var.uniform(0.02, 2)
    # The target region keeps its offset from the cube of the base layout.
    target = cube + (np.asarray(base.target_region_xy) - np.asarray(base.cube_xy))
    varied = replace(base, cube_xy=(float(cube[0]), float(cube[1])), cube_yaw=yaw,
                     button_xy=(float(button[0]), float(button[1])),
                     target_region_xy=(float(target[0]), float(target[1])))
    return jitter_fixtures(varied, lambda: var.uniform(0.02, 2))


def _timeline(fractions, duration: float, var: _Variation) -> list[float]:
    """Turn keyframe times (fractions of the clip) into seconds, stretched by the seed."""
    stretch = 1.0 + float(var.uniform(0.06))
    return [min(f * stretch, 1.0) * duration if 0.0 < f < 1.0 else f * duration
            for f in fractions]


def _start_pose(target: np.ndarray, yaw: float, var: _Variation) -> Pose:
    """Start 20 cm to the side of `target` the fingers point away from (rotated by yaw)."""
    offset = _turn(yaw) @ (np.array([0.03, 0.2, 0.14]) + var.uniform(0.02, 3))
    return Pose.from_rotation_matrix(target + offset, _hand_rotation(yaw + 0.15, 0.35, -0.15))


def _lift_script(world: World, times: list[float], var: _Variation) -> _Script:
    cfg = world.config
    h = cfg.cube_half_size
    cube0 = world.body_pose('cube')
    grip = _hand_frame_keypoints(world, hand_pose('power'))
    centre = np.mean(grip[[_kp('thumb_tip'), _kp('index_tip'), _kp('middle_tip'),
                           _kp('index_pip')]], axis=0)
    approach = cfg.hand_approach_yaw
    turn = _turn(approach)
    yaw = cfg.cube_yaw + approach
    rot = _hand_rotation(yaw, 0.3, 0.15)
    grasp = _wrist_placing(centre, cube0.position + np.array([0.0, 0.0, 0.2 * h]), rot)
    lifted = Pose(grasp.position + turn @ np.array([0.01, -0.03, 0.13]),
                  Rotation.from_matrix(_hand_rotation(yaw, 0.4, 0.05)).as_quat())
    above = Pose(grasp.position + turn @ np.array([0.0, 0.03, 0.07]), grasp.quaternion)
    open_, pre, power = hand_pose('open'), hand_pose('preshape'), hand_pose('power')
    t0, t1, t2, t3, t4, t5 = times
    keys = [_Keyframe(t0, _start_pose(cube0.position, yaw, var), open_),
            _Keyframe(t1, above, pre), _Keyframe(t2, grasp, pre), _Keyframe(t3, grasp, power),
            _Keyframe(t4, lifted, power), _Keyframe(t5, lifted, power)]
    t_contact = t3 - 0.25 * (t3 - t2)
    grasp_state = _sample(keys, t_contact)
    relative = grasp_state.wrist.inverse() @ cube0

    def respond(t: float, hand: HandState, _keypoints: np.ndarray) -> None:
        pose = hand.wrist @ relative if t >= t_contact else cube0
        world.set_free_body_pose('cube', pose)

    spec = TaskSpec('reach_grasp_lift', TaskKind.LIFT, 'cube')
    return _Script(keys, spec, (t_contact, np.inf), respond)


def _push_script(world: World, times: list[float], var: _Variation) -> _Script:
    cfg = world.config
    h = cfg.cube_half_size
    cube0 = world.body_pose('cube')
    posture = hand_pose('push')
    tip = _hand_frame_keypoints(world, posture)[_kp('middle_tip')]
    # The fingers point along the push (the script's -y turned towards the target region).
    push = np.asarray(cfg.target_region_xy) - cube0.position[:2]
    distance = float(np.linalg.norm(push))
    yaw = float(np.arctan2(push[1], push[0])) + np.pi / 2.0
    turn = _turn(yaw)
    rot = _hand_rotation(yaw, 0.3, 0.55)
    face = cube0.position + turn @ np.array([0.0, h + 0.008, 0.1 * h])
    touch = _wrist_placing(tip, face, rot)
    pushed = Pose(touch.position - turn @ np.array([0.0, distance, 0.0]), touch.quaternion)
    before = Pose(touch.position + turn @ np.array([0.0, 0.04, 0.04]), touch.quaternion)
    after = Pose(pushed.position + turn @ np.array([0.0, 0.04, 0.07]),
                 Rotation.from_matrix(_hand_rotation(yaw, 0.3, 0.3)).as_quat())
    t0, t1, t2, t3, t4, t5 = times
    keys = [_Keyframe(t0, _start_pose(cube0.position, yaw, var), hand_pose('open')),
            _Keyframe(t1, before, posture), _Keyframe(t2, touch, posture),
            _Keyframe(t3, pushed, posture),
            _Keyframe(t4, after, hand_pose('open')), _Keyframe(t5, after, hand_pose('open'))]

    def respond(t: float, hand: HandState, _keypoints: np.ndarray) -> None:
        shift = np.zeros(3)
        if t >= t2:
            travelled = hand.wrist.position if t <= t3 else pushed.position
            shift[:2] = (travelled - touch.position)[:2]
        world.set_free_body_pose('cube', Pose(cube0.position + shift, cube0.quaternion))

    spec = TaskSpec('push', TaskKind.PUSH_TO_REGION, 'cube', region_xy=cfg.target_region_xy,
                    region_half_size=cfg.target_region_half_size)
    return _Script(keys, spec, (t2, t3), respond)


def _pinch_closure(world: World, rotation: np.ndarray, centre: np.ndarray,
                   opened: np.ndarray, closed: np.ndarray) -> tuple[np.ndarray, Pose]:
    """Return the finger posture on the way from `opened` to `closed` (extrapolated up to
    half as far again) at which the thumb and index pads touch the cube, and the wrist pose
    (with `rotation`) that holds their midpoint `PINCH_ABOVE_CENTRE` cube half-sizes above the
    cube's `centre` (table frame): the nearer pad 0.3 mm off its face, the other pad on the
    opposite face (bisection on MuJoCo's geom distances)."""
    model, data = world.model, world.data
    cube = model.geom('cube').id
    pads = [model.geom(f'hand_{finger}_distal').id for finger in ('thumb', 'index')]
    target = centre + np.array([0.0, 0.0, PINCH_ABOVE_CENTRE * world.config.cube_half_size])
    scratch = mujoco.MjData(model)
    scratch.qpos[:] = data.qpos
    rig = HandRig(model, scratch)
    fromto = np.zeros(6)

    def place(s: float) -> tuple[np.ndarray, Pose, float]:
        fingers = opened + s * (closed - opened)
        tips = _hand_frame_keypoints(world, fingers)[[_kp('thumb_tip'), _kp('index_tip')]]
        wrist = _wrist_placing(tips.mean(axis=0), target, rotation)
        rig.set_state(HandState(wrist, fingers))
        mujoco.mj_kinematics(model, scratch)
        gap = min(mujoco.mj_geomDistance(model, scratch, pad, cube, 0.05, fromto)
                  for pad in pads)
        return fingers, wrist, gap - 0.0003

    lo, hi = 0.0, 1.5
    if place(lo)[2] <= 0.0 or place(hi)[2] > 0.0:
        raise DemonstrationError('the pinch cannot span the cube: its pads touch it already '
                                 'open or never meet it')
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if place(mid)[2] > 0.0 else (lo, mid)
    fingers, wrist, _ = place(hi)
    return fingers, wrist


def _pinch_place_script(world: World, times: list[float], var: _Variation) -> _Script:
    cfg = world.config
    cube0 = world.body_pose('cube')
    approach = cfg.hand_approach_yaw
    turn = _turn(approach)
    yaw = cfg.cube_yaw + approach
    rot = _hand_rotation(yaw, 0.3, 0.4)
    opened = hand_pose('pinch_open')
    closed, grasp = _pinch_closure(world, rot, cube0.position, opened,
                                   hand_pose('pinch_grasp'))
    # Set down near the region's centre; the cube keeps its orientation and resting height.
    place_xy = np.asarray(cfg.target_region_xy) + var.uniform(0.3 * cfg.target_region_half_size,
                                                                2)
    carry = np.array([*(place_xy - cube0.position[:2]), 0.0])
    placed = Pose(grasp.position + carry, grasp.quaternion)
    carried = Rotation.from_matrix(_hand_rotation(yaw + 0.1, 0.4, 0.3)).as_quat()
    above = Pose(grasp.position + turn @ np.array([0.0, 0.02, 0.07]), grasp.quaternion)
    lifted = Pose(grasp.position + 0.25 * carry + np.array([0.0, 0.0, 0.09]), carried)
    over = Pose(placed.position + np.array([0.0, 0.0, 0.05]), carried)
    # Straight up first: the index is on the cube's far side.
    withdrawn = Pose(placed.position + turn @ np.array([0.0, 0.02, 0.1]),
                     Rotation.from_matrix(_hand_rotation(yaw, 0.3, 0.25)).as_quat())
    t0, t1, t2, t3, t4, t5, t6, t7, t8 = times
    keys = [_Keyframe(t0, _start_pose(cube0.position, yaw, var), hand_pose('open')),
            _Keyframe(t1, above, opened), _Keyframe(t2, grasp, opened),
            _Keyframe(t3, grasp, closed), _Keyframe(t4, lifted, closed),
            _Keyframe(t5, over, closed), _Keyframe(t6, placed, closed),
            _Keyframe(t7, placed, opened), _Keyframe(t8, withdrawn, opened)]
    # The pads are within ~1 mm of the faces at 85 % of the closing (minimum jerk: 97 % of the
    # way) and leave them at 15 % of the opening; the wrist is still in both phases.
    t_contact = t2 + 0.85 * (t3 - t2)
    t_release = t6 + 0.15 * (t7 - t6)
    relative = grasp.inverse() @ cube0
    cube_placed = placed @ relative

    def respond(t: float, hand: HandState, _keypoints: np.ndarray) -> None:
        if t < t_contact:
            pose = cube0
        elif t <= t_release:
            pose = hand.wrist @ relative
        else:
            pose = cube_placed
        world.set_free_body_pose('cube', pose)

    spec = TaskSpec('pinch_and_place', TaskKind.PLACE_IN_REGION, 'cube',
                    region_xy=cfg.target_region_xy,
                    region_half_size=cfg.target_region_half_size)
    return _Script(keys, spec, (t_contact, t_release), respond)


def _press_script(world: World, times: list[float], var: _Variation) -> _Script:
    point = hand_pose('point')
    tip = _hand_frame_keypoints(world, point)[_kp('index_tip')]
    cap = world.body_pose('button').position + np.array([0.0, 0.0, BUTTON_CAP_HALF_HEIGHT])
    approach = world.config.hand_approach_yaw
    turn = _turn(approach)
    rot = _hand_rotation(approach, 0.3, 0.75)
    contact_height = 0.004
    touch = _wrist_placing(tip, cap + np.array([0.0, 0.0, contact_height]), rot)
    pressed = Pose(touch.position - np.array([0.0, 0.0, 0.008]), touch.quaternion)
    hover = Pose(touch.position + turn @ np.array([0.0, 0.02, 0.05]), touch.quaternion)
    release = Pose(touch.position + turn @ np.array([0.0, 0.03, 0.07]),
                   Rotation.from_matrix(_hand_rotation(approach, 0.3, 0.45)).as_quat())
    t0, t1, t2, t3, t4, t5 = times
    keys = [_Keyframe(t0, _start_pose(cap, approach, var), hand_pose('open')),
            _Keyframe(t1, hover, point), _Keyframe(t2, touch, point),
            _Keyframe(t3, pressed, point), _Keyframe(t4, release, point),
            _Keyframe(t5, release, hand_pose('open'))]
    touch_z = cap[2] + contact_height
    adr = world.joint_qpos_address(BUTTON_JOINT)
    deepest = [0.0]

    def respond(t: float, _hand: HandState, keypoints: np.ndarray) -> None:
        if t <= t0:
            deepest[0] = 0.0
        depth = float(np.clip(keypoints[_kp('index_tip'), 2] - touch_z, -BUTTON_TRAVEL, 0.0))
        deepest[0] = min(deepest[0], depth)  # the button latches down
        world.data.qpos[adr] = deepest[0]

    spec = TaskSpec('press', TaskKind.PRESS)
    return _Script(keys, spec, (t2, (t3 + t4) / 2.0), respond)


_SCRIPTS = {
    'reach_grasp_lift': (_lift_script, (0.0, 0.33, 0.5, 0.63, 0.9, 1.0)),
    'push': (_push_script, (0.0, 0.3, 0.42, 0.78, 0.93, 1.0)),
    'press': (_press_script, (0.0, 0.33, 0.5, 0.63, 0.85, 1.0)),
    'pinch_and_place': (_pinch_place_script,
                        (0.0, 0.17, 0.28, 0.37, 0.5, 0.64, 0.74, 0.82, 0.95)),
}


def _scripts() -> dict:
    """Every task's script: these and the fixture tasks' (lvp_sim.demonstrations_articulated,
    which builds on this module's keyframe helpers, hence imported here)."""
    from lvp_sim.demonstrations_articulated import ARTICULATED_SCRIPTS

    return {**_SCRIPTS, **ARTICULATED_SCRIPTS}


def render_demonstration(config: DemonstrationConfig | None = None) -> SyntheticDemonstration:
    """Script, render and record one synthetic demonstration (deterministic per seed)."""
    config = config or DemonstrationConfig()
    var = _Variation(config.seed, config.jitter)
    world_config = _world_config(config, var)
    world = build_world(world_config, hand=config.hand)
    model, data = world.model, world.data
    rig = HandRig(model, data)
    make_script, fractions = _scripts()[config.task]
    times = np.arange(config.num_frames) / config.fps
    script = make_script(world, _timeline(fractions, float(times[-1]), var), var)
    intrinsics, camera_to_base = world.intrinsics(), world.camera_to_robot_base()
    base_to_camera = camera_to_base.inverse()
    world_to_base = world.world_to_robot_base()
    base_rotation = Rotation.from_quat(world_to_base.quaternion)
    object_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in SCENE_OBJECTS]
    button_adr = world.joint_qpos_address(BUTTON_JOINT)

    frames, kp_base, wrists, angles, contact = [], [], [], [], []
    obj_pos, obj_quat, travel, fixture = [], [], [], []
    with SceneRenderer(world) as renderer:
        mujoco.mj_forward(model, data)
        initial_state = read_scene_state(world)
        observation = renderer.observation(show_hand=False)
        for t in times:
            hand = _sample(script.keys, float(t))
            rig.set_state(hand)
            mujoco.mj_kinematics(model, data)
            script.respond(float(t), hand, rig.keypoints())
            mujoco.mj_forward(model, data)
            frames.append(renderer.rgb())
            kp_base.append(world_to_base.transform_points(rig.keypoints()))
            wrists.append(world_to_base @ rig.wrist())
            angles.append(hand.joint_angles)
            lo, hi = script.contact_window
            contact.append(lo <= t <= hi)
            obj_pos.append(world_to_base.transform_points(data.xpos[object_ids]))
            obj_quat.append((base_rotation * Rotation.from_quat(
                np.roll(data.xquat[object_ids], -1, axis=1))).as_quat())
            travel.append(float(data.qpos[button_adr]))
            fixture.append(fixture_state(world))
        final_state = read_scene_state(world)

    kp_base_arr = np.stack(kp_base)
    kp_cam = base_to_camera.transform_points(kp_base_arr)
    kp_px = intrinsics.project(kp_cam.reshape(-1, 3)).reshape(len(times), NUM_HAND_KEYPOINTS, 2)
    in_image = ((kp_cam[..., 2] > 0.0) & (kp_px[..., 0] >= 0.0)
                & (kp_px[..., 0] <= intrinsics.width - 1) & (kp_px[..., 1] >= 0.0)
                & (kp_px[..., 1] <= intrinsics.height - 1))
    wrist_pos = np.stack([w.position for w in wrists])
    wrist_quat = continuous_quaternions(np.stack([w.quaternion for w in wrists]))
    cam_wrists = [base_to_camera @ w for w in wrists]
    aperture = np.linalg.norm(kp_base_arr[:, _kp('thumb_tip')] - kp_base_arr[:, _kp('index_tip')],
                              axis=1)
    truth = DemonstrationGroundTruth(
        times=times, keypoints_px=kp_px, keypoints_camera=kp_cam, keypoints_base=kp_base_arr,
        in_image=in_image, wrist_positions_base=wrist_pos, wrist_quaternions_base=wrist_quat,
        wrist_positions_camera=np.stack([w.position for w in cam_wrists]),
        wrist_quaternions_camera=continuous_quaternions(
            np.stack([w.quaternion for w in cam_wrists])),
        joint_names=JOINT_NAMES, joint_angles=np.stack(angles),
        grasp_aperture=aperture, contact=np.array(contact), object_names=SCENE_OBJECTS,
        object_positions=np.stack(obj_pos), object_quaternions=np.stack(obj_quat),
        button_travel=np.array(travel), handedness=config.hand.side, intrinsics=intrinsics,
        camera_to_base=camera_to_base, fixture_state=np.array(fixture))
    plan = VideoPlan(
        frames=np.stack(frames), fps=config.fps, prompts=(TASK_PROMPTS[config.task],),
        source=PlanSource.SYNTHETIC_DEMONSTRATION, seed=config.seed, model='lvp_sim',
        metadata={'task': config.task, 'handedness': config.hand.side.value,
                  'generator': 'lvp_sim.demonstrations'})
    outcome = evaluate_task(script.spec, initial_state, final_state)
    return SyntheticDemonstration(config.task, plan, observation, truth, script.spec,
                                  initial_state, final_state, outcome, world_config)


def save_demonstration(demo: SyntheticDemonstration, folder: str | Path) -> Path:
    """Write the plan video (mp4), ground truth (npz), observation (npz) and a summary (json)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / 'plan.mp4', demo.plan.frames, demo.plan.fps)
    arrays: dict[str, Any] = dict(demo.ground_truth.arrays())
    np.savez_compressed(out / 'ground_truth.npz', **arrays)
    obs = demo.observation
    np.savez_compressed(out / 'observation.npz', rgb=obs.rgb,
                        depth=obs.depth if obs.depth is not None else np.zeros(0),
                        camera_to_base=demo.ground_truth.camera_to_base.as_matrix(),
                        camera_matrix=demo.ground_truth.intrinsics.matrix)
    summary = {'task': demo.task, 'prompts': list(demo.plan.prompts), 'fps': demo.plan.fps,
               'num_frames': demo.plan.num_frames, 'seed': demo.plan.seed,
               'source': demo.plan.source.value, 'handedness': demo.ground_truth.handedness.value,
               'success': demo.outcome.success, 'outcome': demo.outcome.message,
               'joint_names': list(demo.ground_truth.joint_names),
               'object_names': list(demo.ground_truth.object_names)}
    (out / 'demonstration.json').write_text(json.dumps(summary, indent=2))
    return out
