"""Rigid-body geometry on scipy: SE(3) poses, quaternions (x, y, z, w), SLERP.

All quaternions in this project are scalar-last (x, y, z, w), as in ROS messages and scipy.
Positions are metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.spatial.transform import Rotation, Slerp


class GeometryError(ValueError):
    """A geometric quantity is malformed (wrong shape, non-finite, not a rotation)."""


def as_array(value, shape: tuple[int | None, ...], name: str,
             dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """Return `value` as an array of `shape` (None = any length), finite, or raise."""
    arr = np.asarray(value, dtype=dtype)
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        wanted = '(' + ', '.join('N' if s is None else str(s) for s in shape) + ')'
        raise GeometryError(f'{name}: expected shape {wanted}, got {arr.shape}')
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise GeometryError(f'{name}: non-finite value at index {tuple(int(i) for i in bad)}')
    return arr


def normalize_quaternions(quats, name: str = 'quaternion') -> np.ndarray:
    """Return unit quaternions (..., 4); raise on zero-norm input."""
    q = np.asarray(quats, dtype=np.float64)
    if q.shape[-1:] != (4,):
        raise GeometryError(f'{name}: expected (..., 4) quaternions (x, y, z, w), got {q.shape}')
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if not np.all(np.isfinite(q)) or np.any(norm < 1e-9):
        raise GeometryError(f'{name}: quaternion is zero or non-finite')
    return q / norm


def continuous_quaternions(quats) -> np.ndarray:
    """Flip signs along a sequence (N, 4) so consecutive quaternions lie in one hemisphere."""
    q = normalize_quaternions(quats).copy()
    for i in range(1, len(q)):
        if np.dot(q[i - 1], q[i]) < 0.0:
            q[i] = -q[i]
    return q


def rotation_angle_between(q_a, q_b) -> np.ndarray:
    """Return the angle (radians) of the relative rotation between quaternions (..., 4)."""
    ra = Rotation.from_quat(np.reshape(normalize_quaternions(q_a), (-1, 4)))
    rb = Rotation.from_quat(np.reshape(normalize_quaternions(q_b), (-1, 4)))
    return (ra.inv() * rb).magnitude()


@dataclass(frozen=True)
class Pose:
    """A rigid transform: position (m) and unit quaternion (x, y, z, w).

    Read as the pose of a child frame in a parent frame: p_parent = R @ p_child + t.
    """

    position: np.ndarray
    quaternion: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, 'position', as_array(self.position, (3,), 'Pose.position'))
        object.__setattr__(
            self, 'quaternion', normalize_quaternions(self.quaternion, 'Pose.quaternion'))

    @classmethod
    def identity(cls) -> Pose:
        return cls(np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0]))

    @classmethod
    def from_matrix(cls, matrix) -> Pose:
        """Build from a 4x4 homogeneous transform."""
        m = as_array(matrix, (4, 4), 'Pose matrix')
        if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], atol=1e-9):
            raise GeometryError(f'Pose matrix: last row must be [0, 0, 0, 1], got {m[3]}')
        rot = m[:3, :3]
        if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-5) or np.linalg.det(rot) < 0.0:
            raise GeometryError('Pose matrix: upper-left 3x3 block is not a rotation')
        return cls(m[:3, 3], Rotation.from_matrix(rot).as_quat())

    @classmethod
    def from_rotation_matrix(cls, position, rotation) -> Pose:
        rot = Rotation.from_matrix(as_array(rotation, (3, 3), 'rotation'))
        return cls(position, rot.as_quat())

    @property
    def rotation(self) -> np.ndarray:
        """The 3x3 rotation matrix."""
        return Rotation.from_quat(self.quaternion).as_matrix()

    def as_matrix(self) -> np.ndarray:
        m = np.eye(4)
        m[:3, :3] = self.rotation
        m[:3, 3] = self.position
        return m

    def inverse(self) -> Pose:
        inv = Rotation.from_quat(self.quaternion).inv()
        return Pose(-inv.apply(self.position), inv.as_quat())

    def __matmul__(self, other: Pose) -> Pose:
        """Compose: (parent<-self) @ (self<-other) = parent<-other."""
        rot = Rotation.from_quat(self.quaternion)
        return Pose(self.position + rot.apply(other.position),
                    (rot * Rotation.from_quat(other.quaternion)).as_quat())

    def transform_points(self, points) -> np.ndarray:
        """Map points (N, 3) from the child frame to the parent frame."""
        pts = np.asarray(points, dtype=np.float64)
        return Rotation.from_quat(self.quaternion).apply(pts.reshape(-1, 3)).reshape(
            pts.shape) + self.position


def transform_poses(transform: Pose, positions, quaternions) -> tuple[np.ndarray, np.ndarray]:
    """Apply `transform` (parent<-child) to poses (N, 3) + (N, 4) given in the child frame."""
    rot = Rotation.from_quat(transform.quaternion)
    pos = rot.apply(np.asarray(positions, dtype=np.float64)) + transform.position
    quat = (rot * Rotation.from_quat(normalize_quaternions(quaternions))).as_quat()
    return pos, continuous_quaternions(quat)


def slerp(times, quaternions, query_times) -> np.ndarray:
    """Interpolate orientations (N, 4) at `query_times` by spherical linear interpolation."""
    t = as_array(times, (None,), 'times')
    q = normalize_quaternions(quaternions)
    if len(t) != len(q):
        raise GeometryError(f'slerp: {len(t)} times but {len(q)} quaternions')
    if len(t) == 1:
        return np.repeat(q, len(np.atleast_1d(query_times)), axis=0)
    if np.any(np.diff(t) <= 0.0):
        raise GeometryError('slerp: times must be strictly increasing')
    query = np.clip(np.atleast_1d(np.asarray(query_times, dtype=np.float64)), t[0], t[-1])
    return continuous_quaternions(Slerp(t, Rotation.from_quat(q))(query).as_quat())


def interpolate_poses(times, positions, quaternions, query_times) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate a pose sequence: linear in position, SLERP in orientation (clamped at ends)."""
    t = as_array(times, (None,), 'times')
    p = as_array(positions, (len(t), 3), 'positions')
    query = np.atleast_1d(np.asarray(query_times, dtype=np.float64))
    pos = np.stack([np.interp(query, t, p[:, k]) for k in range(3)], axis=1)
    return pos, slerp(t, quaternions, query)


def look_rotation(forward, up_hint) -> np.ndarray:
    """Return a rotation matrix whose z axis is `forward` and whose y axis is near `up_hint`."""
    z = np.asarray(forward, dtype=np.float64)
    z = z / np.linalg.norm(z)
    x = np.cross(np.asarray(up_hint, dtype=np.float64), z)
    if np.linalg.norm(x) < 1e-9:
        raise GeometryError('look_rotation: forward and up_hint are parallel')
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)
