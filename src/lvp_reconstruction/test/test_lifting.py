import numpy as np
import pytest
from lvp_common.geometry import rotation_angle_between
from lvp_common.hand_frame import hand_frame_rotations
from lvp_reconstruction.lifting import LiftingConfig, LiftingError, lift_hand
from lvp_reconstruction.synthetic_hand import hand_keypoints, make_track, wrist_path
from scipy.spatial.transform import Rotation


def _wrist_errors(fit, track, sequence):
    kp = fit.keypoints_camera(track.keypoints_m)
    pos_mm = 1000.0 * np.linalg.norm(kp[:, 0] - sequence.wrist_positions, axis=1)
    quats = Rotation.from_matrix(hand_frame_rotations(kp, 'right')).as_quat()
    ang_deg = np.degrees(rotation_angle_between(quats, sequence.wrist_quaternions))
    return pos_mm, ang_deg


def test_hand_frame_of_the_canonical_hand():
    rot = hand_frame_rotations(hand_keypoints(0.0), 'right')
    # Palm normal is +z for a flat right hand; y points at the middle knuckle (~6 deg off +y).
    assert rot[:, 2] == pytest.approx([0.0, 0.0, 1.0])
    assert np.degrees(np.arccos(rot[1, 1])) == pytest.approx(6.0, abs=0.5)
    assert np.linalg.det(rot) == pytest.approx(1.0)
    left = hand_frame_rotations(hand_keypoints(0.0) * np.array([-1.0, 1.0, 1.0]), 'left')
    assert left[:, 2] == pytest.approx([0.0, 0.0, 1.0])


def test_exact_keypoints_give_the_exact_pose_despite_outliers():
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0, axis_error_deg=20.0,
                       outlier_fraction=0.3)
    fit = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics)
    pos_mm, ang_deg = _wrist_errors(fit, track, seq)
    assert fit.valid.all()
    assert pos_mm.max() < 1e-3 and ang_deg.max() < 1e-3
    assert fit.inliers.sum(axis=1).min() >= 19


def test_noisy_keypoints_with_outliers_recovered_within_millimetres():
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=1.0, metric_noise_m=0.002, outlier_fraction=0.3,
                       seed=1)
    fit = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics)
    pos_mm, ang_deg = _wrist_errors(fit, track, seq)
    print(f'per-frame PnP: wrist error median {np.median(pos_mm):.1f} mm, max '
          f'{pos_mm.max():.1f} mm; wrist frame median {np.median(ang_deg):.1f} deg, max '
          f'{ang_deg.max():.1f} deg; residual median {np.median(fit.residuals_px):.2f} px')
    assert fit.valid.all()
    # Depth comes from the hand's apparent size: 2 mm noise on ~10 cm of hand is ~2 % of the
    # 0.4-0.65 m depth at worst (observed: median 6 mm, max 22 mm); the palm frame is built from
    # 4-9 cm vectors with 2 mm noise (~2 deg each, observed max 9 deg). Bounds: ~1.5x observed.
    assert np.median(pos_mm) < 10.0 and pos_mm.max() < 35.0
    assert np.median(ang_deg) < 6.0 and ang_deg.max() < 15.0


def test_hand_scale_corrects_shrunken_metric_keypoints():
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0, metric_scale=0.94)
    shrunk = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics)
    fixed = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics,
                      LiftingConfig(hand_scale=1.0 / 0.94))
    shrunk_mm, _ = _wrist_errors(shrunk, track, seq)
    fixed_mm, _ = _wrist_errors(fixed, track, seq)
    assert shrunk_mm.min() > 20.0  # 6 % of ~0.5 m
    assert fixed_mm.max() < 1e-3


def test_bad_config_names_the_value():
    with pytest.raises(LiftingError, match='hand_scale'):
        LiftingConfig(hand_scale=0.0)
