# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""The procedural human hand: MuJoCo primitives with MediaPipe landmark sites.

Proportions follow SYNTHETIC_HANDS.md (an 18.3 cm right hand). The hand frame is the mocap body
`hand`: origin at the wrist landmark, +y wrist -> fingers, +x towards the thumb, +z palm normal
(the side the fingers flex to). A left hand is the mirror image through the hand frame's y-z
plane: its thumb lies on -x, so its hand frame stays right-handed with the thumb on -x.

Fingers: capsule phalanges on MCP abduction + MCP/PIP/DIP flexion hinges (positive = flex
towards the palm). Thumb: CMC abduction + flexion, MCP and IP flexion. Palm and forearm are
convex hulls of sphere clusters (smooth), with ellipsoid thenar/hypothenar pads; the forearm runs
45 cm back from the wrist so it leaves the image. The hand never collides with anything: it is
moved kinematically (mocap wrist, joint positions written directly).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from lvp_common.artifacts import HAND_KEYPOINT_NAMES, Handedness
from lvp_common.geometry import Pose
from lvp_common.hand_kinematics import (
    FINGER_GEOMETRY,
    FINGERS,
    HYPOTHENAR,
    JOINT_NAMES,
    PHALANX_RADII,
    THENAR,
    THUMB_BASE,
    THUMB_RADII,
    THUMB_SEGMENTS,
    joint_range,
    palm_points,
    sphere_cluster,
    thumb_rest_rotation,
)
from scipy.spatial.transform import Rotation

HAND_GEOM_GROUP = 2
"""Geom group of the hand; a renderer hides the hand by switching this group off."""
HAND_BODY = 'hand'
# The hand's geometry, joints and limits are defined once, in lvp_common.hand_kinematics
# (reconstruction fits the same hand); this module writes them as MJCF.
_FINGER_GEOMETRY = FINGER_GEOMETRY
_PHALANX_RADII = PHALANX_RADII
_THUMB_BASE = THUMB_BASE
_THUMB_SEGMENTS = THUMB_SEGMENTS
_THUMB_RADII = THUMB_RADII


class HandModelError(ValueError):
    """A hand configuration or pose is invalid."""


@dataclass(frozen=True)
class HandConfig:
    """The demonstrator hand's side, size and skin colour (RGBA in [0, 1])."""

    side: Handedness = Handedness.RIGHT
    scale: float = 1.0
    skin_rgba: tuple[float, float, float, float] = (0.87, 0.68, 0.55, 1.0)
    forearm_length: float = 0.45

    def __post_init__(self) -> None:
        object.__setattr__(self, 'side', Handedness(self.side))
        if not 0.5 <= self.scale <= 1.5:
            raise HandModelError(f'HandConfig.scale must lie in [0.5, 1.5], got {self.scale}')
        if self.forearm_length < 0.05:
            raise HandModelError(f'HandConfig.forearm_length must be >= 0.05 m, '
                                 f'got {self.forearm_length}')


def keypoint_site(name: str) -> str:
    """Return the MuJoCo site name of a MediaPipe landmark."""
    return f'{HAND_BODY}_kp_{name}'


def joint_name(name: str) -> str:
    """Return the MuJoCo joint name of a hand joint from JOINT_NAMES."""
    return f'{HAND_BODY}_{name}'


def _joint_range(name: str) -> tuple[float, float]:
    return joint_range(name)


class _Mirror:
    """Write right-hand geometry (cm, hand frame) as MJCF, mirrored for a left hand."""

    def __init__(self, config: HandConfig) -> None:
        self.s = 0.01 * config.scale
        self.flip = config.side is Handedness.LEFT
        self.m = np.diag([-1.0, 1.0, 1.0]) if self.flip else np.eye(3)

    def pos(self, p_cm) -> str:
        p = self.m @ np.asarray(p_cm, dtype=float) * self.s
        return ' '.join(f'{v:.5f}' for v in p)

    def axis(self, a) -> str:
        # a mirrored rotation M R M has axis det(M) M a
        a = np.asarray(a, dtype=float)
        if self.flip:
            a = -(self.m @ a)
        return ' '.join(f'{v:.5f}' for v in a)

    def quat(self, rotation: np.ndarray) -> str:
        r = self.m @ rotation @ self.m
        x, y, z, w = Rotation.from_matrix(r).as_quat()
        return f'{w:.6f} {x:.6f} {y:.6f} {z:.6f}'

    def size(self, values_cm) -> str:
        return ' '.join(f'{v * self.s:.5f}' for v in values_cm)


def _palm_points() -> np.ndarray:
    return palm_points()


def _forearm_points(length_cm: float) -> np.ndarray:
    spheres = [((2.0, -1.0, -0.15), 1.4), ((-2.0, -1.0, -0.15), 1.4),
               ((2.5, -0.35 * length_cm, -0.3), 1.85), ((-2.4, -0.35 * length_cm, -0.3), 1.85),
               ((2.6, -length_cm, -0.3), 1.95), ((-2.5, -length_cm, -0.3), 1.95)]
    return sphere_cluster(spheres)


def _thumb_rest_rotation() -> np.ndarray:
    return thumb_rest_rotation()


def hand_mjcf(config: HandConfig) -> tuple[str, str]:
    """Return the hand's MJCF (asset elements, worldbody element) for the world file."""
    w = _Mirror(config)
    skin = ' '.join(f'{c:.4g}' for c in config.skin_rgba)
    palm = ' '.join(f'{v:.5f}' for v in (_palm_points() @ w.m.T * w.s).ravel())
    forearm = ' '.join(f'{v:.5f}' for v in (
        _forearm_points(config.forearm_length * 100.0) @ w.m.T * w.s).ravel())
    assets = (f'<material name="skin" rgba="{skin}" specular="0.05" shininess="0.05"/>\n'
              f'<mesh name="hand_palm" vertex="{palm}" smoothnormal="true"/>\n'
              f'<mesh name="hand_forearm" vertex="{forearm}" smoothnormal="true"/>')
    geom = (f'contype="0" conaffinity="0" group="{HAND_GEOM_GROUP}" material="skin" '
            f'density="1000"')
    site = 'size="0.003" rgba="0 0 0 0" group="5"'

    def hinge(name: str, axis) -> str:
        lo, hi = _joint_range(name)
        return (f'<joint name="{joint_name(name)}" type="hinge" axis="{w.axis(axis)}" '
                f'range="{lo} {hi}" damping="0.1"/>')

    def capsule(name: str, length: float, radius: float) -> str:
        return (f'<geom name="{HAND_BODY}_{name}" type="capsule" size="{radius * w.s:.5f}" '
                f'fromto="0 0 0 {w.pos((0.0, length, 0.0))}" {geom}/>')

    def kp(name: str, p=(0.0, 0.0, 0.0)) -> str:
        return f'<site name="{keypoint_site(name)}" pos="{w.pos(p)}" {site}/>'

    fingers = []
    for finger, ((x, y), lengths, rf, splay) in _FINGER_GEOMETRY.items():
        radii = [r * rf for r in _PHALANX_RADII]
        l1, l2, l3 = lengths
        splay_rot = Rotation.from_euler('z', splay).as_matrix()
        fingers.append(
            f'<body name="{HAND_BODY}_{finger}_proximal" pos="{w.pos((x, y, 0.0))}" '
            f'quat="{w.quat(splay_rot)}">'
            f'{hinge(f"{finger}_mcp_abd", (0, 0, 1))}{hinge(f"{finger}_mcp_flex", (1, 0, 0))}'
            f'{kp(f"{finger}_mcp")}{capsule(f"{finger}_proximal", l1, radii[0])}'
            f'<body name="{HAND_BODY}_{finger}_middle" pos="{w.pos((0.0, l1, 0.0))}">'
            f'{hinge(f"{finger}_pip_flex", (1, 0, 0))}{kp(f"{finger}_pip")}'
            f'{capsule(f"{finger}_middle", l2, radii[1])}'
            f'<body name="{HAND_BODY}_{finger}_distal" pos="{w.pos((0.0, l2, 0.0))}">'
            f'{hinge(f"{finger}_dip_flex", (1, 0, 0))}{kp(f"{finger}_dip")}'
            f'{capsule(f"{finger}_distal", l3 - radii[2], radii[2])}'
            f'{kp(f"{finger}_tip", (0.0, l3 - 0.4 * radii[2], 0.0))}'
            f'</body></body></body>')
    t1, t2, t3 = _THUMB_SEGMENTS
    r1, r2, r3 = _THUMB_RADII
    thumb = (
        f'<body name="{HAND_BODY}_thumb_metacarpal" pos="{w.pos(_THUMB_BASE)}" '
        f'quat="{w.quat(_thumb_rest_rotation())}">'
        f'{hinge("thumb_cmc_abd", (0, 0, 1))}{hinge("thumb_cmc_flex", (1, 0, 0))}'
        f'{kp("thumb_cmc")}{capsule("thumb_metacarpal", t1, r1)}'
        f'<body name="{HAND_BODY}_thumb_proximal" pos="{w.pos((0.0, t1, 0.0))}">'
        f'{hinge("thumb_mcp_flex", (1, 0, 0))}{kp("thumb_mcp")}'
        f'{capsule("thumb_proximal", t2, r2)}'
        f'<body name="{HAND_BODY}_thumb_distal" pos="{w.pos((0.0, t2, 0.0))}">'
        f'{hinge("thumb_ip_flex", (1, 0, 0))}{kp("thumb_ip")}'
        f'{capsule("thumb_distal", t3 - r3, r3)}{kp("thumb_tip", (0.0, t3 - 0.4 * r3, 0.0))}'
        f'</body></body></body>')
    thenar_rot = Rotation.from_euler('z', THENAR[2]).as_matrix()
    hypothenar_rot = Rotation.from_euler('z', HYPOTHENAR[2]).as_matrix()
    body = (
        f'<body name="{HAND_BODY}" mocap="true" pos="0 0 -1">'
        f'{kp("wrist")}'
        f'<geom name="{HAND_BODY}_palm" type="mesh" mesh="hand_palm" {geom}/>'
        f'<geom name="{HAND_BODY}_forearm" type="mesh" mesh="hand_forearm" {geom}/>'
        f'<geom name="{HAND_BODY}_thenar" type="ellipsoid" size="{w.size(THENAR[1])}" '
        f'pos="{w.pos(THENAR[0])}" quat="{w.quat(thenar_rot)}" {geom}/>'
        f'<geom name="{HAND_BODY}_hypothenar" type="ellipsoid" '
        f'size="{w.size(HYPOTHENAR[1])}" pos="{w.pos(HYPOTHENAR[0])}" '
        f'quat="{w.quat(hypothenar_rot)}" {geom}/>'
        f'{thumb}{"".join(fingers)}</body>')
    return assets, body


@dataclass(frozen=True)
class HandState:
    """The hand at one instant: wrist pose (hand frame in the base frame) and joint angles.

    joint_angles: (20,) radians in JOINT_NAMES order.
    """

    wrist: Pose
    joint_angles: np.ndarray

    def __post_init__(self) -> None:
        q = np.asarray(self.joint_angles, dtype=np.float64)
        if q.shape != (len(JOINT_NAMES),) or not np.all(np.isfinite(q)):
            raise HandModelError(f'HandState.joint_angles: expected {len(JOINT_NAMES)} finite '
                                 f'angles, got shape {q.shape}')
        object.__setattr__(self, 'joint_angles', q)


class HandRig:
    """Read and write the demonstrator hand in a compiled world (model + data)."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData) -> None:
        self.model, self.data = model, data
        bid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, HAND_BODY)
        if bid < 0 or model.body_mocapid[bid] < 0:
            raise HandModelError('the world has no demonstrator hand (build it with a hand)')
        self.mocap_id = int(model.body_mocapid[bid])
        self.qpos_adr = np.array([
            model.jnt_qposadr[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint_name(n))]
            for n in JOINT_NAMES])
        self.site_ids = np.array([
            mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, keypoint_site(n))
            for n in HAND_KEYPOINT_NAMES])
        self.geom_ids = np.array([g for g in range(model.ngeom)
                                  if model.geom_group[g] == HAND_GEOM_GROUP])

    def set_state(self, state: HandState) -> None:
        """Write the wrist pose and joint angles (call mj_forward/mj_kinematics afterwards)."""
        x, y, z, w = state.wrist.quaternion
        self.data.mocap_pos[self.mocap_id] = state.wrist.position
        self.data.mocap_quat[self.mocap_id] = [w, x, y, z]
        self.data.qpos[self.qpos_adr] = state.joint_angles

    def keypoints(self) -> np.ndarray:
        """Return the 21 landmark positions (21, 3) in the base frame (after kinematics)."""
        return self.data.site_xpos[self.site_ids].copy()

    def wrist(self) -> Pose:
        """Return the hand frame's pose in the base frame (after kinematics)."""
        bid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, HAND_BODY)
        return Pose(self.data.xpos[bid].copy(), np.roll(self.data.xquat[bid], -1))


def _pose_array(values: dict[str, float]) -> np.ndarray:
    q = np.zeros(len(JOINT_NAMES))
    for name, value in values.items():
        q[JOINT_NAMES.index(name)] = value
    return q


def _fingers(mcp: float, pip: float, dip: float, which=FINGERS) -> dict[str, float]:
    out: dict[str, float] = {}
    for f in which:
        out.update({f'{f}_mcp_flex': mcp, f'{f}_pip_flex': pip, f'{f}_dip_flex': dip})
    return out


HAND_POSES: dict[str, np.ndarray] = {
    'open': _pose_array({**_fingers(0.12, 0.12, 0.06), 'thumb_cmc_flex': 0.0,
                         'thumb_mcp_flex': 0.1, 'thumb_ip_flex': 0.1}),
    'preshape': _pose_array({**_fingers(0.3, 0.35, 0.2), 'thumb_cmc_abd': 0.25,
                             'thumb_cmc_flex': 0.15, 'thumb_mcp_flex': 0.15,
                             'thumb_ip_flex': 0.15}),
    'power': _pose_array({**_fingers(0.75, 0.95, 0.55), 'thumb_cmc_abd': 0.35,
                          'thumb_cmc_flex': 0.45, 'thumb_mcp_flex': 0.35,
                          'thumb_ip_flex': 0.35}),
    'pinch': _pose_array({**_fingers(0.55, 0.6, 0.35, ('index', 'middle')),
                          **_fingers(0.9, 1.1, 0.7, ('ring', 'little')),
                          'thumb_cmc_abd': 0.3, 'thumb_cmc_flex': 0.55, 'thumb_mcp_flex': 0.3,
                          'thumb_ip_flex': 0.3}),
    'point': _pose_array({**_fingers(0.25, 0.15, 0.1, ('index',)),
                          **_fingers(1.2, 1.4, 0.8, ('middle', 'ring', 'little')),
                          'thumb_cmc_abd': 0.3, 'thumb_cmc_flex': 0.6, 'thumb_mcp_flex': 0.4,
                          'thumb_ip_flex': 0.3}),
    'push': _pose_array({**_fingers(0.35, 0.3, 0.15), 'thumb_cmc_flex': 0.2,
                         'thumb_mcp_flex': 0.2, 'thumb_ip_flex': 0.15}),
    'pinch_open': _pose_array({**_fingers(0.0, 0.3, 0.2, ('index',)),
                               **_fingers(0.1, 0.35, 0.23, ('middle',)),
                               **_fingers(0.9, 1.1, 0.7, ('ring', 'little')),
                               'index_mcp_abd': -0.1, 'thumb_cmc_abd': -0.2,
                               'thumb_cmc_flex': 0.0, 'thumb_mcp_flex': 0.15,
                               'thumb_ip_flex': 0.1}),
    'pinch_grasp': _pose_array({**_fingers(0.0, 0.82, 0.55, ('index',)),
                                **_fingers(0.1, 0.87, 0.58, ('middle',)),
                                **_fingers(1.1, 1.3, 0.8, ('ring', 'little')),
                                'index_mcp_abd': -0.19, 'thumb_cmc_abd': -0.14,
                                'thumb_cmc_flex': 0.2, 'thumb_mcp_flex': 0.35,
                                'thumb_ip_flex': 0.35}),
}
"""Named finger postures (joint angles in JOINT_NAMES order, radians). `pinch_grasp` holds a
5 cm cube between the thumb and index pads (tips ~6.5 cm apart, the middle finger beside the
index, ring and little curled), found by a search for pads touching two opposite faces with
every other hand part >= 4 mm off the cube, the hand rolled 0.3 rad and pitched 0.4 rad from
palm-down; `pinch_open` is the same hand opened before and after the pinch."""


def hand_pose(name: str) -> np.ndarray:
    """Return a named finger posture (20,) radians; raise on an unknown name."""
    if name not in HAND_POSES:
        raise HandModelError(f'unknown hand pose {name!r}; known: {sorted(HAND_POSES)}')
    return HAND_POSES[name].copy()
