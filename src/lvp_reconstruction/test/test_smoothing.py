import numpy as np
import pytest
from lvp_common.geometry import rotation_angle_between
from lvp_reconstruction.smoothing import (
    SmoothingConfig,
    SmoothingError,
    average_rotations,
    smooth_poses,
)
from scipy.spatial.transform import Rotation


def _path(n: int = 60):
    t = np.arange(n) / 16.0
    p = np.stack([0.2 * np.sin(t), 0.1 * t, 0.5 + 0.05 * np.cos(2 * t)], axis=1)
    q = Rotation.from_rotvec(np.stack([0.4 * np.sin(t), 0.2 * t, 0.0 * t], axis=1)).as_quat()
    return t, p, q


def test_spike_is_rejected_and_noise_reduced():
    rng = np.random.default_rng(0)
    t, p, q = _path()
    noisy_p = p + rng.normal(0.0, 0.003, p.shape)
    noisy_q = (Rotation.from_rotvec(rng.normal(0.0, np.radians(2.0), p.shape))
               * Rotation.from_quat(q)).as_quat()
    noisy_p[30] += [0.0, 0.0, 0.15]
    noisy_q[40] = (Rotation.from_rotvec([0.0, 1.0, 0.0]) * Rotation.from_quat(q[40])).as_quat()
    out = smooth_poses(t, noisy_p, noisy_q, np.ones(len(t), bool))
    assert out.outliers[30] and out.outliers[40] and out.outliers.sum() == 2
    pos_err = np.linalg.norm(out.positions - p, axis=1)
    ang_err = np.degrees(rotation_angle_between(out.quaternions, q))
    raw_ang = np.degrees(rotation_angle_between(noisy_q, q))
    assert pos_err[30] < 0.01 and ang_err[40] < 3.0
    assert np.sqrt(np.mean(pos_err**2)) < 0.6 * 0.003 * np.sqrt(3)
    assert np.median(ang_err) < 0.7 * np.median(np.delete(raw_ang, 40))


def test_invalid_frames_are_interpolated():
    t, p, q = _path(30)
    valid = np.ones(30, bool)
    valid[10:14] = False
    garbage_p = p.copy()
    garbage_p[10:14] = 9.0
    out = smooth_poses(t, garbage_p, q, valid, SmoothingConfig(savgol_window=5))
    assert np.linalg.norm(out.positions[10:14] - p[10:14], axis=1).max() < 0.01
    with pytest.raises(SmoothingError, match='no valid frame'):
        smooth_poses(t, p, q, np.zeros(30, bool))


def test_rotation_average_keeps_a_constant_and_a_uniform_rotation():
    q = np.tile(Rotation.from_rotvec([0.3, -0.2, 1.0]).as_quat(), (9, 1))
    assert np.abs(np.sum(average_rotations(q) * q, axis=1)) == pytest.approx(1.0)
    # A constant angular velocity is a geodesic: the symmetric average leaves inner frames put.
    uniform = Rotation.from_rotvec(np.outer(np.arange(15) * 0.1, [0.0, 0.0, 1.0])).as_quat()
    out = average_rotations(uniform)
    assert np.degrees(rotation_angle_between(out[4:11], uniform[4:11])).max() < 1e-6
