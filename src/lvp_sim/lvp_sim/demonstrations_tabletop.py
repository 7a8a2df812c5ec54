# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""The tabletop tasks' demonstration scripts: reach-grasp-lift, push, press and
pinch-and-place, each a keyframe path of the hand and how the scene responds to it."""

from __future__ import annotations

import mujoco
import numpy as np
from lvp_common.geometry import Pose
from scipy.spatial.transform import Rotation

from lvp_sim.demonstration_keyframes import (
    DemonstrationError,
    Keyframe,
    Script,
    Variation,
    hand_frame_keypoints,
    hand_rotation,
    kp_index,
    sample_keyframes,
    start_pose,
    wrist_placing,
    yaw_rotation,
)
from lvp_sim.hand_model import HandRig, HandState, hand_pose
from lvp_sim.tasks import TaskKind, TaskSpec
from lvp_sim.world import BUTTON_CAP_HALF_HEIGHT, BUTTON_JOINT, BUTTON_TRAVEL, World

PINCH_ABOVE_CENTRE = 0.35
"""The pinch holds the cube with the thumb and index pads this many cube half-sizes above its
centre (on the upper half of two opposite faces)."""


def _lift_script(world: World, times: list[float], var: Variation) -> Script:
    cfg = world.config
    h = cfg.cube_half_size
    cube0 = world.body_pose('cube')
    grip = hand_frame_keypoints(world, hand_pose('power'))
    centre = np.mean(grip[[kp_index('thumb_tip'), kp_index('index_tip'), kp_index('middle_tip'),
                           kp_index('index_pip')]], axis=0)
    approach = cfg.hand_approach_yaw
    turn = yaw_rotation(approach)
    yaw = cfg.cube_yaw + approach
    rot = hand_rotation(yaw, 0.3, 0.15)
    grasp = wrist_placing(centre, cube0.position + np.array([0.0, 0.0, 0.2 * h]), rot)
    lifted = Pose(grasp.position + turn @ np.array([0.01, -0.03, 0.13]),
                  Rotation.from_matrix(hand_rotation(yaw, 0.4, 0.05)).as_quat())
    above = Pose(grasp.position + turn @ np.array([0.0, 0.03, 0.07]), grasp.quaternion)
    open_, pre, power = hand_pose('open'), hand_pose('preshape'), hand_pose('power')
    t0, t1, t2, t3, t4, t5 = times
    keys = [Keyframe(t0, start_pose(cube0.position, yaw, var), open_),
            Keyframe(t1, above, pre), Keyframe(t2, grasp, pre), Keyframe(t3, grasp, power),
            Keyframe(t4, lifted, power), Keyframe(t5, lifted, power)]
    t_contact = t3 - 0.25 * (t3 - t2)
    grasp_state = sample_keyframes(keys, t_contact)
    relative = grasp_state.wrist.inverse() @ cube0

    def respond(t: float, hand: HandState, _keypoints: np.ndarray) -> None:
        pose = hand.wrist @ relative if t >= t_contact else cube0
        world.set_free_body_pose('cube', pose)

    spec = TaskSpec('reach_grasp_lift', TaskKind.LIFT, 'cube')
    return Script(keys, spec, (t_contact, np.inf), respond)


def _push_script(world: World, times: list[float], var: Variation) -> Script:
    cfg = world.config
    h = cfg.cube_half_size
    cube0 = world.body_pose('cube')
    posture = hand_pose('push')
    tip = hand_frame_keypoints(world, posture)[kp_index('middle_tip')]
    # The fingers point along the push (the script's -y turned towards the target region).
    push = np.asarray(cfg.target_region_xy) - cube0.position[:2]
    distance = float(np.linalg.norm(push))
    yaw = float(np.arctan2(push[1], push[0])) + np.pi / 2.0
    turn = yaw_rotation(yaw)
    rot = hand_rotation(yaw, 0.3, 0.55)
    face = cube0.position + turn @ np.array([0.0, h + 0.008, 0.1 * h])
    touch = wrist_placing(tip, face, rot)
    pushed = Pose(touch.position - turn @ np.array([0.0, distance, 0.0]), touch.quaternion)
    before = Pose(touch.position + turn @ np.array([0.0, 0.04, 0.04]), touch.quaternion)
    after = Pose(pushed.position + turn @ np.array([0.0, 0.04, 0.07]),
                 Rotation.from_matrix(hand_rotation(yaw, 0.3, 0.3)).as_quat())
    t0, t1, t2, t3, t4, t5 = times
    keys = [Keyframe(t0, start_pose(cube0.position, yaw, var), hand_pose('open')),
            Keyframe(t1, before, posture), Keyframe(t2, touch, posture),
            Keyframe(t3, pushed, posture),
            Keyframe(t4, after, hand_pose('open')), Keyframe(t5, after, hand_pose('open'))]

    def respond(t: float, hand: HandState, _keypoints: np.ndarray) -> None:
        shift = np.zeros(3)
        if t >= t2:
            travelled = hand.wrist.position if t <= t3 else pushed.position
            shift[:2] = (travelled - touch.position)[:2]
        world.set_free_body_pose('cube', Pose(cube0.position + shift, cube0.quaternion))

    spec = TaskSpec('push', TaskKind.PUSH_TO_REGION, 'cube', region_xy=cfg.target_region_xy,
                    region_half_size=cfg.target_region_half_size)
    return Script(keys, spec, (t2, t3), respond)


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
        tips = hand_frame_keypoints(world, fingers)[[kp_index('thumb_tip'), kp_index('index_tip')]]
        wrist = wrist_placing(tips.mean(axis=0), target, rotation)
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


def _pinch_place_script(world: World, times: list[float], var: Variation) -> Script:
    cfg = world.config
    cube0 = world.body_pose('cube')
    approach = cfg.hand_approach_yaw
    turn = yaw_rotation(approach)
    yaw = cfg.cube_yaw + approach
    rot = hand_rotation(yaw, 0.3, 0.4)
    opened = hand_pose('pinch_open')
    closed, grasp = _pinch_closure(world, rot, cube0.position, opened,
                                   hand_pose('pinch_grasp'))
    # Set down near the region's centre; the cube keeps its orientation and resting height.
    place_xy = np.asarray(cfg.target_region_xy) + var.uniform(0.3 * cfg.target_region_half_size,
                                                                2)
    carry = np.array([*(place_xy - cube0.position[:2]), 0.0])
    placed = Pose(grasp.position + carry, grasp.quaternion)
    carried = Rotation.from_matrix(hand_rotation(yaw + 0.1, 0.4, 0.3)).as_quat()
    above = Pose(grasp.position + turn @ np.array([0.0, 0.02, 0.07]), grasp.quaternion)
    lifted = Pose(grasp.position + 0.25 * carry + np.array([0.0, 0.0, 0.09]), carried)
    over = Pose(placed.position + np.array([0.0, 0.0, 0.05]), carried)
    # Straight up first: the index is on the cube's far side.
    withdrawn = Pose(placed.position + turn @ np.array([0.0, 0.02, 0.1]),
                     Rotation.from_matrix(hand_rotation(yaw, 0.3, 0.25)).as_quat())
    t0, t1, t2, t3, t4, t5, t6, t7, t8 = times
    keys = [Keyframe(t0, start_pose(cube0.position, yaw, var), hand_pose('open')),
            Keyframe(t1, above, opened), Keyframe(t2, grasp, opened),
            Keyframe(t3, grasp, closed), Keyframe(t4, lifted, closed),
            Keyframe(t5, over, closed), Keyframe(t6, placed, closed),
            Keyframe(t7, placed, opened), Keyframe(t8, withdrawn, opened)]
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
    return Script(keys, spec, (t_contact, t_release), respond)


def _press_script(world: World, times: list[float], var: Variation) -> Script:
    point = hand_pose('point')
    tip = hand_frame_keypoints(world, point)[kp_index('index_tip')]
    cap = world.body_pose('button').position + np.array([0.0, 0.0, BUTTON_CAP_HALF_HEIGHT])
    approach = world.config.hand_approach_yaw
    turn = yaw_rotation(approach)
    rot = hand_rotation(approach, 0.3, 0.75)
    contact_height = 0.004
    touch = wrist_placing(tip, cap + np.array([0.0, 0.0, contact_height]), rot)
    pressed = Pose(touch.position - np.array([0.0, 0.0, 0.008]), touch.quaternion)
    hover = Pose(touch.position + turn @ np.array([0.0, 0.02, 0.05]), touch.quaternion)
    release = Pose(touch.position + turn @ np.array([0.0, 0.03, 0.07]),
                   Rotation.from_matrix(hand_rotation(approach, 0.3, 0.45)).as_quat())
    t0, t1, t2, t3, t4, t5 = times
    keys = [Keyframe(t0, start_pose(cap, approach, var), hand_pose('open')),
            Keyframe(t1, hover, point), Keyframe(t2, touch, point),
            Keyframe(t3, pressed, point), Keyframe(t4, release, point),
            Keyframe(t5, release, hand_pose('open'))]
    touch_z = cap[2] + contact_height
    adr = world.joint_qpos_address(BUTTON_JOINT)
    deepest = [0.0]

    def respond(t: float, _hand: HandState, keypoints: np.ndarray) -> None:
        if t <= t0:
            deepest[0] = 0.0
        depth = float(np.clip(keypoints[kp_index('index_tip'), 2] - touch_z, -BUTTON_TRAVEL, 0.0))
        deepest[0] = min(deepest[0], depth)  # the button latches down
        world.data.qpos[adr] = deepest[0]

    spec = TaskSpec('press', TaskKind.PRESS)
    return Script(keys, spec, (t2, (t3 + t4) / 2.0), respond)


TABLETOP_SCRIPTS = {
    'reach_grasp_lift': (_lift_script, (0.0, 0.33, 0.5, 0.63, 0.9, 1.0)),
    'push': (_push_script, (0.0, 0.3, 0.42, 0.78, 0.93, 1.0)),
    'press': (_press_script, (0.0, 0.33, 0.5, 0.63, 0.85, 1.0)),
    'pinch_and_place': (_pinch_place_script,
                        (0.0, 0.17, 0.28, 0.37, 0.5, 0.64, 0.74, 0.82, 0.95)),
}
"""Task name -> (script maker, keyframe times as fractions of the clip)."""
