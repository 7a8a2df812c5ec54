"""The procedural human hand's geometry and forward kinematics, without MuJoCo or ROS.

One definition of the demonstrator hand (SYNTHETIC_HANDS.md proportions, an 18.3 cm right
hand) that both lvp_sim (which writes it as MJCF and renders it) and lvp_reconstruction (which
fits it to a clip's 2D keypoints) use.

Hand frame: origin at the wrist landmark, +y wrist -> fingers, +x towards the thumb, +z palm
normal (the side the fingers flex to). A left hand is the mirror image through the y-z plane for
the same joint angles (its thumb lies on -x). Joints apply in MuJoCo's order: a body's frame is
its parent's, moved by the body offset, then rotated by each of its hinges in turn.

`hand_keypoints` gives the 21 MediaPipe landmarks for (N, 20) joint angles,
`hand_keypoints_with_joints` also each joint's axis and origin (for analytic Jacobians);
`HandSurface` gives a triangle mesh of the same hand (capsule phalanges, palm hull, thenar and
hypothenar pads; no forearm) posed at those angles.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import ConvexHull
from scipy.spatial.transform import Rotation

from lvp_common.artifacts import HAND_KEYPOINT_NAMES, Handedness

FINGERS = ('index', 'middle', 'ring', 'little')

# Hand frame, cm (right hand). MCP (x, y), phalanx lengths, capsule radius factor, rest splay
# (rad about +z; positive turns the finger away from the thumb).
FINGER_GEOMETRY = {
    'index': ((2.75, 8.6), (4.2, 2.5, 2.1), 1.0, -0.06),
    'middle': ((0.95, 9.0), (4.5, 2.8, 2.2), 1.03, 0.0),
    'ring': ((-0.85, 8.6), (4.2, 2.7, 2.1), 0.97, 0.07),
    'little': ((-2.55, 7.8), (3.4, 2.0, 1.9), 0.88, 0.16),
}
PHALANX_RADII = (0.95, 0.83, 0.7)
THUMB_BASE = (2.1, 2.3, 0.9)
THUMB_SEGMENTS = (4.4, 3.2, 2.8)
THUMB_RADII = (1.15, 1.02, 0.92)
THUMB_DIRECTION = (0.62, 0.68, 0.32)
"""Rest direction of the thumb metacarpal: towards the thumb side, the fingers and the palm."""
THUMB_CURL_TOWARDS = (-1.0, 0.25, 0.6)
"""The thumb flexes towards the palm's middle (pronated thumb)."""
TIP_INSET = 0.4
"""A fingertip landmark sits this many distal radii short of the capsule's end."""
PALM_SPHERES = (
    ((2.0, 0.7, -0.1), 1.35), ((-2.0, 0.7, -0.1), 1.35), ((3.0, 4.3, 0.0), 1.2),
    ((-3.0, 4.4, -0.1), 1.2), ((0.5, 4.2, 0.35), 1.45),
    *(((x, y - 0.25, 0.0), 1.2 if f != 'little' else 1.1)
      for f, ((x, y), *_rest) in FINGER_GEOMETRY.items()),
)
"""Spheres (centre cm, radius cm) whose convex hull is the palm."""
THENAR = ((2.0, 3.0, 0.65), (1.5, 2.4, 1.0), -0.5)
HYPOTHENAR = ((-2.45, 3.6, 0.45), (1.2, 2.7, 0.9), 0.08)
"""Ellipsoid pads: centre (cm), semi-axes (cm), yaw about +z (rad)."""

JOINT_NAMES = (
    'thumb_cmc_abd', 'thumb_cmc_flex', 'thumb_mcp_flex', 'thumb_ip_flex',
    *(f'{f}_{j}' for f in FINGERS for j in ('mcp_abd', 'mcp_flex', 'pip_flex', 'dip_flex')),
)
"""The hand's 20 joints, in the order of every joint-angle array."""

JOINT_RANGES = {
    'thumb_cmc_abd': (-0.6, 0.8), 'thumb_cmc_flex': (-0.4, 1.1),
    'thumb_mcp_flex': (-0.2, 1.0), 'thumb_ip_flex': (-0.3, 1.4),
    'mcp_abd': (-0.35, 0.35), 'mcp_flex': (-0.3, 1.6), 'pip_flex': (0.0, 1.9),
    'dip_flex': (0.0, 1.4),
}


def joint_range(name: str) -> tuple[float, float]:
    """Return a joint's (lower, upper) limit in radians."""
    return JOINT_RANGES.get(name, JOINT_RANGES.get(name.split('_', 1)[1], (-1.0, 1.0)))


JOINT_LIMITS = np.array([joint_range(n) for n in JOINT_NAMES])
"""(20, 2) lower and upper limits, JOINT_NAMES order."""


def thumb_rest_rotation() -> np.ndarray:
    """Return the thumb CMC frame: y along the metacarpal, z the side it flexes towards."""
    y = np.asarray(THUMB_DIRECTION, dtype=float)
    y /= np.linalg.norm(y)
    z = np.asarray(THUMB_CURL_TOWARDS, dtype=float)
    z -= y * np.dot(z, y)
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], axis=1)


PALM_LENGTH_M = 0.01 * float(np.hypot(*FINGER_GEOMETRY['middle'][0]))
"""Wrist -> middle-MCP length of the scale-1 hand (m)."""


def _rot(axis: int, angles: np.ndarray) -> np.ndarray:
    c, s = np.cos(angles), np.sin(angles)
    out = np.zeros(angles.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1.0
    out[..., i, i], out[..., j, j] = c, c
    out[..., i, j], out[..., j, i] = -s, s
    return out


class _Chain:
    """Walk one finger (or the thumb) down its bodies, recording keypoints and joints."""

    def __init__(self, origin: np.ndarray, rotation: np.ndarray) -> None:
        self.o, self.r = origin, rotation

    def hinge(self, axis: int, angle: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rotate by a hinge about the body's local axis; return its (axis, origin)."""
        world_axis = self.r[..., :, axis].copy()
        self.r = self.r @ _rot(axis, angle)
        return world_axis, self.o

    def advance(self, length: float) -> np.ndarray:
        """Move along the body's +y by `length` (m); return the new origin."""
        self.o = self.o + length * self.r[..., :, 1]
        return self.o


def _chains(q: np.ndarray):
    """Yield per chain: joint indices, keypoint indices, hinge axes (local), link geometry."""
    n = len(q)
    thumb = _Chain(np.tile(0.01 * np.asarray(THUMB_BASE), (n, 1)),
                   np.tile(thumb_rest_rotation(), (n, 1, 1)))
    t1, t2, t3 = THUMB_SEGMENTS
    yield (thumb, (0, 1, 2, 3), (1, 2, 3, 4), (2, 0, 0, 0),
           (t1, t2, t3 - TIP_INSET * THUMB_RADII[2]))
    for k, finger in enumerate(FINGERS):
        (x, y), (l1, l2, l3), rf, splay = FINGER_GEOMETRY[finger]
        chain = _Chain(np.tile([0.01 * x, 0.01 * y, 0.0], (n, 1)),
                       np.tile(_rot(2, np.array(splay)), (n, 1, 1)))
        j0, kp0 = 4 + 4 * k, 5 + 4 * k
        yield (chain, (j0, j0 + 1, j0 + 2, j0 + 3), (kp0, kp0 + 1, kp0 + 2, kp0 + 3),
               (2, 0, 0, 0), (l1, l2, l3 - TIP_INSET * PHALANX_RADII[2] * rf))


def _check_angles(joint_angles) -> np.ndarray:
    q = np.asarray(joint_angles, dtype=np.float64)
    if q.ndim != 2 or q.shape[1] != len(JOINT_NAMES):
        raise ValueError(f'joint angles must be (N, {len(JOINT_NAMES)}), got {q.shape}')
    return q


def hand_keypoints(joint_angles, scale: float = 1.0,
                   handedness: Handedness | str = Handedness.RIGHT, offsets=None) -> np.ndarray:
    """Return the 21 landmarks (N, 21, 3) in the hand frame (metres) for (N, 20) angles.

    offsets: see `hand_keypoints_with_joints`.
    """
    return hand_keypoints_with_joints(joint_angles, scale, handedness, offsets)[0]


def hand_keypoints_with_joints(joint_angles, scale: float = 1.0,
                               handedness: Handedness | str = Handedness.RIGHT, offsets=None
                               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return landmarks (N, 21, 3), joint axes (N, 20, 3) and joint origins (N, 20, 3).

    offsets (21, 3), optional: metres (scale-1 right hand) added to each landmark in the frame
    of the body it rides (the hand frame for the wrist, else its finger's or thumb's link after
    the link's own hinges), e.g. where a tracker's landmark sits relative to the model's.
    Axes and origins are in the hand frame, so d keypoint_k / d q_j = axis_j x (keypoint_k -
    origin_j) for the joints in `KEYPOINT_JOINTS[k]` (mirrored hands included: axes are
    returned as axial vectors).
    """
    q = _check_angles(joint_angles)
    n = len(q)
    kp = np.zeros((n, len(HAND_KEYPOINT_NAMES), 3))
    axes = np.zeros((n, len(JOINT_NAMES), 3))
    origins = np.zeros((n, len(JOINT_NAMES), 3))
    off = None if offsets is None else np.asarray(offsets, dtype=np.float64)

    def place(index: int, chain: _Chain) -> None:
        kp[:, index] = chain.o if off is None else chain.o + chain.r @ off[index]

    for chain, joints, keypoints, hinge_axes, lengths in _chains(q):
        # First body: two hinges at its origin (abduction, flexion), its landmark there too.
        for j, axis in zip(joints[:2], hinge_axes[:2], strict=True):
            axes[:, j], origins[:, j] = chain.hinge(axis, q[:, j])
        place(keypoints[0], chain)
        for step, (j, kpi) in enumerate(zip(joints[2:], keypoints[1:3], strict=True)):
            chain.advance(0.01 * lengths[step])
            axes[:, j], origins[:, j] = chain.hinge(0, q[:, j])
            place(kpi, chain)
        chain.advance(0.01 * lengths[2])
        place(keypoints[3], chain)
    if off is not None:
        kp[:, 0] += off[0]
    kp *= scale
    origins *= scale
    if Handedness(handedness) is Handedness.LEFT:
        mirror = np.array([-1.0, 1.0, 1.0])
        kp, origins = kp * mirror, origins * mirror
        axes = -(axes * mirror)
    return kp, axes, origins


def _keypoint_joints() -> np.ndarray:
    out = np.zeros((len(HAND_KEYPOINT_NAMES), len(JOINT_NAMES)), dtype=bool)
    for _chain, joints, keypoints, _axes, _lengths in _chains(np.zeros((1, len(JOINT_NAMES)))):
        # a landmark rides its body: it moves with every hinge up to and including the body's
        # own (a landmark at a hinge's origin has a zero lever arm there)
        for depth, kpi in enumerate(keypoints):
            out[kpi, list(joints[:min(depth + 2, 4)])] = True
    return out


KEYPOINT_JOINTS = _keypoint_joints()
"""(21, 20) True where joint j moves keypoint k."""


# ----------------------------------------------------------------------------- surface mesh

def sphere_cluster(centres_radii, samples: int = 60) -> np.ndarray:
    """Return points on spheres (cm); their convex hull is a smooth rounded solid."""
    i = np.arange(samples) + 0.5
    phi = np.arccos(1.0 - 2.0 * i / samples)
    theta = np.pi * (1.0 + 5.0 ** 0.5) * i
    unit = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)
    return np.concatenate([np.asarray(c) + r * unit for c, r in centres_radii])


def palm_points() -> np.ndarray:
    """Return the palm's sphere-cluster points (cm, right hand); the palm is their hull."""
    return sphere_cluster(PALM_SPHERES)


def _capsule_mesh(length: float, radius: float, around: int = 10, rings: int = 3
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Return a capsule along +y from 0 to `length` (vertices, faces), hemispherical caps."""
    angles = np.linspace(0.0, 2.0 * np.pi, around, endpoint=False)
    circle = np.stack([np.cos(angles), np.zeros(around), np.sin(angles)], 1)
    layers = []
    for k in range(rings, 0, -1):  # bottom cap
        a = 0.5 * np.pi * k / (rings + 1)
        layers.append(radius * (np.cos(a) * circle - [0.0, np.sin(a), 0.0]))
    layers.append(radius * circle)
    layers.append(radius * circle + [0.0, length, 0.0])
    for k in range(1, rings + 1):  # top cap
        a = 0.5 * np.pi * k / (rings + 1)
        layers.append(radius * (np.cos(a) * circle + [0.0, np.sin(a), 0.0])
                      + [0.0, length, 0.0])
    verts = np.concatenate([*layers, [[0.0, -radius, 0.0], [0.0, length + radius, 0.0]]])
    faces = []
    for li in range(len(layers) - 1):
        for k in range(around):
            a, b = li * around + k, li * around + (k + 1) % around
            c, d = a + around, b + around
            faces += [(a, c, b), (b, c, d)]
    bottom, top = len(verts) - 2, len(verts) - 1
    last = (len(layers) - 1) * around
    for k in range(around):
        faces.append((bottom, k, (k + 1) % around))
        faces.append((top, last + (k + 1) % around, last + k))
    return verts, np.asarray(faces)


def _ellipsoid_mesh(semi_axes, yaw: float, centre, subdivisions: int = 12
                    ) -> tuple[np.ndarray, np.ndarray]:
    unit = sphere_cluster([((0.0, 0.0, 0.0), 1.0)], samples=10 * subdivisions)
    hull = ConvexHull(unit)
    rot = Rotation.from_euler('z', yaw).as_matrix()
    return (unit * semi_axes) @ rot.T + centre, hull.simplices


class HandSurface:
    """A triangle mesh of the hand: per-part vertices (cm, right hand) and the bodies they ride.

    `vertices(joint_angles, scale, handedness)` poses it: (N, V, 3) metres in the hand frame.
    `faces` (F, 3) index the vertices and are the same for every pose; a left hand's faces are
    reversed so that they still wind outwards.
    """

    def __init__(self, capsule_around: int = 10) -> None:
        parts_v, parts_f, owner, offset = [], [], [], 0
        # owner -1: the palm (hand frame); else (chain index, link index)
        palm = palm_points()
        hull = ConvexHull(palm)
        used = np.unique(hull.simplices)
        remap = np.full(len(palm), -1)
        remap[used] = np.arange(len(used))
        for verts, faces in ((palm[used], remap[hull.simplices]),
                             _ellipsoid_mesh(THENAR[1], THENAR[2], THENAR[0]),
                             _ellipsoid_mesh(HYPOTHENAR[1], HYPOTHENAR[2], HYPOTHENAR[0])):
            faces = _outward(verts, faces)
            parts_v.append(verts)
            parts_f.append(faces + offset)
            owner += [(-1, -1)] * len(verts)
            offset += len(verts)
        for chain_index, (_c, _j, _k, _a, lengths) in enumerate(
                _chains(np.zeros((1, len(JOINT_NAMES))))):
            if chain_index == 0:
                radii, full = THUMB_RADII, THUMB_SEGMENTS
            else:
                finger = FINGERS[chain_index - 1]
                rf = FINGER_GEOMETRY[finger][2]
                radii = tuple(r * rf for r in PHALANX_RADII)
                full = FINGER_GEOMETRY[finger][1]
            del lengths
            for link in range(3):
                length = full[link] - (radii[2] if link == 2 else 0.0)
                verts, faces = _capsule_mesh(length, radii[link], around=capsule_around)
                parts_v.append(verts)
                parts_f.append(faces + offset)
                owner += [(chain_index, link)] * len(verts)
                offset += len(verts)
        self.local_cm = np.concatenate(parts_v)
        self.faces = np.concatenate(parts_f).astype(np.int64)
        self.owner = np.asarray(owner)

    @property
    def num_vertices(self) -> int:
        return len(self.local_cm)

    def vertices(self, joint_angles, scale: float = 1.0,
                 handedness: Handedness | str = Handedness.RIGHT) -> np.ndarray:
        """Return the posed vertices (N, V, 3) in the hand frame, metres."""
        q = _check_angles(joint_angles)
        n = len(q)
        out = np.zeros((n, self.num_vertices, 3))
        palm = self.owner[:, 0] < 0
        out[:, palm] = 0.01 * self.local_cm[palm]
        for chain_index, (chain, joints, _k, hinge_axes, lengths) in enumerate(_chains(q)):
            for j, axis in zip(joints[:2], hinge_axes[:2], strict=True):
                chain.hinge(axis, q[:, j])
            for link in range(3):
                sel = (self.owner[:, 0] == chain_index) & (self.owner[:, 1] == link)
                out[:, sel] = chain.o[:, None, :] + np.einsum(
                    'nij,vj->nvi', chain.r, 0.01 * self.local_cm[sel])
                if link < 2:
                    chain.advance(0.01 * lengths[link])
                    chain.hinge(0, q[:, joints[2 + link]])
        out *= scale
        if Handedness(handedness) is Handedness.LEFT:
            out *= np.array([-1.0, 1.0, 1.0])
        return out

    def faces_for(self, handedness: Handedness | str) -> np.ndarray:
        """Return the faces, wound outwards for the given hand (a mirror flips winding)."""
        if Handedness(handedness) is Handedness.LEFT:
            return self.faces[:, ::-1].copy()
        return self.faces.copy()


def _outward(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Orient a convex part's faces so their normals point away from its centroid."""
    centre = verts.mean(axis=0)
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    normal = np.cross(b - a, c - a)
    flip = np.einsum('fi,fi->f', normal, a - centre) < 0.0
    out = faces.copy()
    out[flip] = out[flip][:, ::-1]
    return out
