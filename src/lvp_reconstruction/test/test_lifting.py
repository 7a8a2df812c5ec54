import numpy as np
import pytest
from lvp_common.artifacts import CameraIntrinsics
from lvp_common.geometry import rotation_angle_between
from lvp_common.hand_frame import hand_frame_rotations
from lvp_reconstruction.lifting import (
    LiftingConfig,
    LiftingError,
    clip_hand_model,
    lift_hand,
    project,
    translation_given_rotation,
)
from lvp_reconstruction.synthetic_hand import hand_keypoints, make_track, wrist_path
from scipy.spatial.transform import Rotation

# The track's own metric size (its clip median), not the assumed palm length: exact data.
TRACK_SIZE = LiftingConfig(palm_length_m=0.0)


def _wrist_errors(fit, track, sequence):
    kp = fit.keypoints_camera()
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
    fit = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics, TRACK_SIZE)
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
    shrunk = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics, TRACK_SIZE)
    fixed = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics,
                      LiftingConfig(palm_length_m=0.0, hand_scale=1.0 / 0.94))
    shrunk_mm, _ = _wrist_errors(shrunk, track, seq)
    fixed_mm, _ = _wrist_errors(fixed, track, seq)
    assert shrunk_mm.min() > 20.0  # 6 % of ~0.5 m
    assert fixed_mm.max() < 1e-3


def test_bad_config_names_the_value():
    with pytest.raises(LiftingError, match='hand_scale'):
        LiftingConfig(hand_scale=0.0)
    with pytest.raises(LiftingError, match='palm_length_m'):
        LiftingConfig(palm_length_m=0.5)


def _palm_length(sequence) -> float:
    kp = sequence.keypoints_camera
    return float(np.median(np.linalg.norm(kp[:, 9] - kp[:, 0], axis=1)))


def test_constant_size_hand_recovers_depth_despite_per_frame_mis_scale():
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=1.0, metric_noise_m=0.002, seed=2)
    rng = np.random.default_rng(11)
    size = rng.uniform(0.75, 1.2, len(seq.times))  # a tracker's hand changing size per frame
    wobbly = track.keypoints_m * size[:, None, None]
    config = LiftingConfig(palm_length_m=_palm_length(seq))
    fit = lift_hand(track.keypoints_px, wobbly, seq.intrinsics, config, 'right')
    pos_mm, _ = _wrist_errors(fit, track, seq)
    # Fitting each frame's own hand puts it (1 / size - 1) too near or far: up to 33 % of ~0.5 m
    # (~100 mm). One clip-wide hand of the true size leaves the 1 px / 2 mm noise of
    # test_noisy_keypoints_with_outliers_recovered_within_millimetres (median ~6 mm, max
    # ~22 mm); same bounds.
    print(f'constant-size hand under per-frame size noise: wrist error median '
          f'{np.median(pos_mm):.1f} mm, max {pos_mm.max():.1f} mm')
    assert fit.valid.all()
    assert np.median(pos_mm) < 10.0 and pos_mm.max() < 35.0
    # The clip hand's bones do not change length from frame to frame.
    model = fit.scaled_keypoints()
    palm = np.linalg.norm(model[:, 9] - model[:, 0], axis=1)
    assert palm == pytest.approx(np.full(len(palm), _palm_length(seq)), rel=1e-9)


def test_assumed_palm_length_sets_the_hand_size():
    seq = wrist_path(12)
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0, metric_scale=1.2)
    hand = clip_hand_model(track.keypoints_m, LiftingConfig(palm_length_m=0.08))
    assert hand.size_assumed and hand.bone_lengths[9] == pytest.approx(0.08)
    assert hand.size_factor == pytest.approx(0.08 / (1.2 * _palm_length(seq)))
    kept = clip_hand_model(track.keypoints_m, TRACK_SIZE)
    assert not kept.size_assumed and kept.size_factor == 1.0


def test_depth_mirrored_frames_are_reflected_to_the_known_handedness():
    seq = wrist_path(24)
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0, axis_error_deg=0.0)
    mirrored = track.keypoints_m.copy()
    flip = np.arange(24) % 3 == 1  # the depth-reversed hand a monocular estimate can return
    mirrored[flip] *= np.array([1.0, 1.0, -1.0])
    fixed = lift_hand(track.keypoints_px, mirrored, seq.intrinsics, TRACK_SIZE, 'right')
    _, fixed_deg = _wrist_errors(fixed, track, seq)
    assert fixed_deg.max() < 1e-3
    as_given = lift_hand(track.keypoints_px, mirrored, seq.intrinsics,
                         LiftingConfig(palm_length_m=0.0, enforce_handedness=False), 'right')
    _, given_deg = _wrist_errors(as_given, track, seq)
    print(f'mirrored frames: {np.median(given_deg[flip]):.0f} deg off as given, '
          f'{fixed_deg[flip].max():.1e} deg reflected')
    assert np.median(given_deg[flip]) > 20.0


# fx != fy and an off-centre principal point: a swapped focal length or axis shows up.
ANISOTROPIC = CameraIntrinsics(fx=720.0, fy=430.0, cx=400.0, cy=260.0, width=832, height=480)


def test_project_uses_fx_for_x_and_fy_for_y():
    k = ANISOTROPIC.matrix
    points = np.array([[0.1, -0.05, 0.5], [-0.2, 0.15, 1.25]])
    expected = np.array([[400.0 + 720.0 * 0.2, 260.0 - 430.0 * 0.1],
                         [400.0 - 720.0 * 0.16, 260.0 + 430.0 * 0.12]])
    assert project(points, k) == pytest.approx(expected)


def test_translation_solve_is_exact_with_anisotropic_focal_lengths():
    seq = wrist_path(num_frames=5, intrinsics=ANISOTROPIC)
    rot = Rotation.from_rotvec([0.2, -0.3, 0.1]).as_matrix()
    obj = hand_keypoints(0.3)
    t = np.array([0.05, -0.03, 0.6])
    uv = ANISOTROPIC.project(obj @ rot.T + t)
    assert translation_given_rotation(obj, uv, seq.intrinsics.matrix, rot) == pytest.approx(
        t, abs=1e-9)


def test_exact_keypoints_give_the_exact_pose_with_fx_not_fy():
    seq = wrist_path(intrinsics=ANISOTROPIC)
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0, axis_error_deg=20.0)
    fit = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics, TRACK_SIZE)
    pos_mm, ang_deg = _wrist_errors(fit, track, seq)
    assert fit.valid.all()
    assert pos_mm.max() < 1e-3 and ang_deg.max() < 1e-3


def test_frames_outside_the_wrist_depth_range_are_invalid():
    # the path's wrist depth swings 0.45..0.65 m; the range cuts it at 0.5 and 0.6 m
    seq = wrist_path(intrinsics=ANISOTROPIC)
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0)
    config = LiftingConfig(palm_length_m=0.0, min_depth_m=0.5, max_depth_m=0.6)
    fit = lift_hand(track.keypoints_px, track.keypoints_m, seq.intrinsics, config)
    depth = seq.wrist_positions[:, 2]
    clear = (np.abs(depth - 0.5) > 1e-3) & (np.abs(depth - 0.6) > 1e-3)
    inside = (depth >= 0.5) & (depth <= 0.6)
    assert inside[clear].any() and (~inside[clear]).any()
    assert (fit.valid[clear] == inside[clear]).all()
