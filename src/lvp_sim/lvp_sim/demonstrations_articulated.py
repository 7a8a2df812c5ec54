# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""Scripted demonstrations of the fixture tasks: open the drawer, wipe the dirty patch.

The keyframe machinery (minimum-jerk segments, the hand's rotations, the seed's variations) is
lvp_sim.demonstration_keyframes'; this module adds two scripts, registered in
lvp_sim.demonstrations by task name (`ARTICULATED_SCRIPTS`). As in the other scripts the scene
responds kinematically:

- open_drawer: the hand comes over the handle from the robot's side (fingers pointing away from
  the robot), hooks its curled fingers round the bar, pulls it 10-12 cm towards the robot along
  the drawer's axis, lets go and withdraws upwards. The drawer's slide follows the hand's
  displacement along the pull direction from the grip on, and stays where it was let go.
- wipe: the flat hand lands on the patch's near edge and sweeps across it three times
  (there, back one finger-width further along the fingers, there again), then lifts off. A
  dirt cell is wiped when a point of the fingers' underside (sampled between the finger
  joints) passes over it within `WIPE_CONTACT_HEIGHT` of its top; wiped cells sink into the
  board as a pushed one does in the physics.
"""

from __future__ import annotations

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
from lvp_sim.fixtures_articulated import DRAWER_JOINT
from lvp_sim.hand_model import HandState, hand_pose
from lvp_sim.tasks import TaskKind, TaskSpec

FINGER_JOINTS = [f'{finger}_{joint}' for finger in ('index', 'middle', 'ring', 'little')
                 for joint in ('pip', 'dip', 'tip')]
"""Landmarks along the fingers' underside that wipe (the MCPs sit in the palm)."""
WIPE_CONTACT_HEIGHT = 0.013
"""A finger landmark (at the joint's centre, ~8 mm inside the skin) within this height (m) of a
dirt cell's top touches it."""
PULL_DISTANCE = 0.11
"""How far (m) the demonstrator pulls the drawer out (+- 1 cm by seed)."""
HOOK_CLOSURE = 0.75
"""The hooking fingers' posture: this fraction of the way from 'preshape' to 'power'."""


def _drawer_script(world, times: list[float], var: Variation) -> Script:
    cfg = world.config
    drawer = cfg.drawer
    if drawer is None:
        raise DemonstrationError('open_drawer needs a world with a drawer (WorldConfig.drawer)')
    handle = drawer.handle_position() + np.array([0.0, 0.0, cfg.table_top_z])
    pull = drawer.pull_direction
    # Fingers point along -pull (into the cabinet); the script's -y is the fingers' direction.
    yaw = float(np.arctan2(-pull[1], -pull[0])) + np.pi / 2.0
    turn = yaw_rotation(yaw)
    pre = hand_pose('preshape')
    hook = pre + HOOK_CLOSURE * (hand_pose('power') - pre)
    kp = hand_frame_keypoints(world, hook)
    inside = np.mean(kp[[kp_index('thumb_tip'), kp_index('index_tip'), kp_index('middle_tip'),
                         kp_index('index_pip')]], axis=0)
    rot = hand_rotation(yaw, 0.2, 0.25)
    grip = wrist_placing(inside, handle + np.array([0.0, 0.0, 0.005]), rot)
    distance = PULL_DISTANCE + float(var.uniform(0.01))
    pulled = Pose(grip.position + distance * pull, grip.quaternion)
    above = Pose(grip.position + turn @ np.array([0.0, 0.04, 0.06]), grip.quaternion)
    withdrawn = Pose(pulled.position + turn @ np.array([0.0, 0.05, 0.09]),
                     Rotation.from_matrix(hand_rotation(yaw, 0.3, 0.1)).as_quat())
    t0, t1, t2, t3, t4, t5, t6 = times
    keys = [Keyframe(t0, start_pose(handle, yaw, var), hand_pose('open')),
            Keyframe(t1, above, pre), Keyframe(t2, grip, pre), Keyframe(t3, grip, hook),
            Keyframe(t4, pulled, hook), Keyframe(t5, pulled, pre),
            Keyframe(t6, withdrawn, hand_pose('open'))]
    adr = world.joint_qpos_address(DRAWER_JOINT)
    t_contact = t3 - 0.25 * (t3 - t2)
    t_release = t4 + 0.25 * (t5 - t4)

    def respond(t: float, hand: HandState, _keypoints: np.ndarray) -> None:
        if t < t3:
            opening = 0.0
        else:
            wrist = hand.wrist.position if t <= t4 else pulled.position
            opening = float(np.dot(wrist - grip.position, pull))
        world.data.qpos[adr] = float(np.clip(opening, 0.0, drawer.travel))

    spec = TaskSpec('open_drawer', TaskKind.OPEN_DRAWER)
    return Script(keys, spec, (t_contact, t_release), respond)


def _finger_underside(keypoints: np.ndarray) -> np.ndarray:
    """Points along the four fingers (landmarks and midpoints between them), (N, 3)."""
    from lvp_common.artifacts import HAND_KEYPOINT_NAMES

    points = []
    for finger in ('index', 'middle', 'ring', 'little'):
        chain = keypoints[[HAND_KEYPOINT_NAMES.index(f'{finger}_{j}')
                           for j in ('mcp', 'pip', 'dip', 'tip')]]
        for a, b in zip(chain, chain[1:]):
            points.extend(a + s * (b - a) for s in (0.25, 0.5, 0.75, 1.0))
    return np.asarray(points)


def _wipe_script(world, times: list[float], var: Variation) -> Script:
    cfg = world.config
    patch = cfg.wipe_patch
    if patch is None:
        raise DemonstrationError('wipe needs a world with a dirt patch (WorldConfig.wipe_patch)')
    yaw = cfg.hand_approach_yaw
    turn = yaw_rotation(yaw)
    posture = hand_pose('open')
    rot = hand_rotation(yaw, 0.05, -0.17)  # fingers level with the board
    underside = _finger_underside(hand_frame_keypoints(world, posture))
    world_points = underside @ rot.T
    # The fingers' middle: where the hand is centred on the stroke line; lowest point: on the top.
    middle = np.mean(underside, axis=0)
    drop = float(middle @ rot.T @ [0, 0, 1] - world_points[:, 2].min())
    top = cfg.table_top_z + patch.top_z
    centre = np.array([*patch.centre_xy, top + drop + 0.004])
    across = turn @ np.array([1.0, 0.0, 0.0])   # sideways to the fingers
    along = turn @ np.array([0.0, -1.0, 0.0])   # towards the fingertips
    extent = abs(float(np.dot(across[:2], [patch.size_x, 0.0]))) + abs(
        float(np.dot(across[:2], [0.0, patch.size_y])))
    half = 0.5 * extent + 0.02 + float(var.uniform(0.005))
    passes = (-0.02, 0.02, 0.0)
    stroke = [centre + along * passes[i] + across * side * half
              for i, side in enumerate((-1.0, 1.0, -1.0))]
    stroke.append(centre + along * passes[2] + across * half)
    poses = [wrist_placing(middle, p, rot) for p in stroke]
    lifted = Pose(poses[-1].position + np.array([0.0, 0.0, 0.08]) - along * 0.03,
                  poses[-1].quaternion)
    above = Pose(poses[0].position + np.array([0.0, 0.0, 0.05]), poses[0].quaternion)
    t0, t1, t2, t3, t4, t5, t6, t7 = times
    keys = [Keyframe(t0, start_pose(centre, yaw, var), hand_pose('open')),
            Keyframe(t1, above, posture), Keyframe(t2, poses[0], posture),
            Keyframe(t3, poses[1], posture), Keyframe(t4, poses[2], posture),
            Keyframe(t5, poses[3], posture), Keyframe(t6, lifted, posture),
            Keyframe(t7, lifted, hand_pose('open'))]
    names = patch.cell_names()
    adrs = [world.joint_qpos_address(f'{n}_slide') for n in names]
    centres = patch.cell_centres()
    hx, hy = patch.cell_half_sizes()
    wiped = np.zeros(len(names), dtype=bool)
    last = [t0]
    shapes: dict[bytes, np.ndarray] = {}

    def fingers_underside(fingers: np.ndarray) -> np.ndarray:
        key = fingers.tobytes()
        if key not in shapes:
            shapes[key] = _finger_underside(hand_frame_keypoints(world, fingers))
        return shapes[key]

    def respond(t: float, _hand: HandState, _keypoints: np.ndarray) -> None:
        if t <= t0:
            wiped[:] = False
            last[0] = t0
        # Sub-sample the motion since the last frame: a stroke crosses a cell between frames.
        for s in np.linspace(last[0], t, 8):
            state = sample_keyframes(keys, float(s))
            points = state.wrist.transform_points(fingers_underside(state.joint_angles))
            low = points[points[:, 2] <= top + WIPE_CONTACT_HEIGHT]
            for p in low:
                wiped[(np.abs(centres[:, 0] - p[0]) <= hx)
                      & (np.abs(centres[:, 1] - p[1]) <= hy)] = True
        last[0] = t
        for adr, done in zip(adrs, wiped):
            world.data.qpos[adr] = -patch.raise_height if done else 0.0

    spec = TaskSpec('wipe', TaskKind.WIPE)
    return Script(keys, spec, (t2, t5), respond)


ARTICULATED_SCRIPTS = {
    'open_drawer': (_drawer_script, (0.0, 0.25, 0.38, 0.48, 0.76, 0.84, 1.0)),
    'wipe': (_wipe_script, (0.0, 0.2, 0.3, 0.48, 0.64, 0.8, 0.92, 1.0)),
}
"""Task name -> (script maker, keyframe times as fractions of the clip)."""
