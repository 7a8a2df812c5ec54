import numpy as np
import pytest
from lvp_common.geometry import (
    GeometryError,
    Pose,
    continuous_quaternions,
    interpolate_poses,
    rotation_angle_between,
    slerp,
    transform_poses,
)
from scipy.spatial.transform import Rotation


def random_pose(rng: np.random.Generator) -> Pose:
    return Pose(rng.normal(size=3), Rotation.random(random_state=rng.integers(1 << 31)).as_quat())


def test_compose_and_inverse_agree_with_matrices():
    rng = np.random.default_rng(0)
    a, b = random_pose(rng), random_pose(rng)
    np.testing.assert_allclose((a @ b).as_matrix(), a.as_matrix() @ b.as_matrix(), atol=1e-12)
    np.testing.assert_allclose((a @ a.inverse()).as_matrix(), np.eye(4), atol=1e-12)
    pts = rng.normal(size=(5, 3))
    homog = (a.as_matrix() @ np.c_[pts, np.ones(5)].T).T[:, :3]
    np.testing.assert_allclose(a.transform_points(pts), homog, atol=1e-12)


def test_pose_rejects_bad_input():
    with pytest.raises(GeometryError, match='position'):
        Pose([0.0, np.nan, 0.0], [0, 0, 0, 1])
    with pytest.raises(GeometryError, match='zero'):
        Pose([0, 0, 0], [0, 0, 0, 0])
    reflection = np.diag([1.0, 1.0, -1.0, 1.0])
    with pytest.raises(GeometryError, match='not a rotation'):
        Pose.from_matrix(reflection)


def test_slerp_midpoint_is_half_the_rotation():
    q0 = np.array([0, 0, 0, 1.0])
    q1 = Rotation.from_euler('z', 90, degrees=True).as_quat()
    mid = slerp([0.0, 1.0], [q0, q1], [0.5])[0]
    assert rotation_angle_between(q0, mid)[0] == pytest.approx(np.radians(45))
    # clamped outside the time range
    np.testing.assert_allclose(np.abs(slerp([0.0, 1.0], [q0, q1], [2.0])[0]), np.abs(q1))


def test_continuous_quaternions_removes_sign_flips():
    q = Rotation.from_euler('x', np.linspace(0, 1, 5)[:, None]).as_quat()
    q[2] *= -1
    out = continuous_quaternions(q)
    assert np.all(np.sum(out[1:] * out[:-1], axis=1) > 0)


def test_interpolate_and_transform_poses():
    times = [0.0, 1.0]
    pos, quat = interpolate_poses(times, [[0, 0, 0], [1, 2, 3]],
                                  [[0, 0, 0, 1], [0, 0, 0, 1]], [0.25])
    np.testing.assert_allclose(pos[0], [0.25, 0.5, 0.75])
    shift = Pose([1, 0, 0], Rotation.from_euler('z', 90, degrees=True).as_quat())
    p2, _ = transform_poses(shift, [[1.0, 0, 0]], [[0, 0, 0, 1.0]])
    np.testing.assert_allclose(p2[0], [1, 1, 0], atol=1e-12)
