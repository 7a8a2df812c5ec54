import numpy as np
import pytest
from lvp_common.artifacts import Observation
from lvp_reconstruction.depth_fusion import (
    DepthFusionConfig,
    behind_scene,
    sample_depth,
    scene_contact_scale,
)
from lvp_reconstruction.lifting import LiftingConfig
from lvp_reconstruction.reconstruct import ReconstructionConfig, reconstruct
from lvp_reconstruction.synthetic_hand import make_track, wrist_path


def _wall_touching(sequence) -> float:
    """Depth of a fronto-parallel wall that the hand's two deepest keypoints touch once."""
    second_deepest = np.sort(sequence.keypoints_camera[:, :, 2], axis=1)[:, -2]
    return float(second_deepest.max() + DepthFusionConfig().contact_offset_m)


def test_sample_depth_ignores_invalid_pixels_and_outside():
    depth = np.full((20, 30), 1.5, dtype=np.float32)
    depth[5:8, 5:8] = np.nan
    depth[15, 25] = 0.0
    out = sample_depth(depth, np.array([[6.0, 6.0], [25.0, 15.0], [-3.0, 2.0], [12.0, 2.0]]), 3)
    assert np.isnan(out[0]) and out[1] == pytest.approx(1.5)
    assert np.isnan(out[2]) and out[3] == pytest.approx(1.5)


def test_contact_scale_rules():
    config = DepthFusionConfig()
    z = np.array([[0.5, 0.52, 0.52, 0.45]] * 4)
    touching = scene_contact_scale(z, 0.52 + config.contact_offset_m + 0.0 * z, [1] * 4, config)
    assert touching.applied and touching.factor == pytest.approx(1.0)
    far = scene_contact_scale(z, np.full_like(z, 1.5), [1] * 4, config)
    assert not far.applied and far.factor == 1.0 and 'no contact' in far.status
    assert behind_scene(np.array([[0.6, 0.62, 0.4]]), np.full((1, 3), 0.5), config)[0]
    assert not behind_scene(np.array([[0.52, 0.62, 0.4]]), np.full((1, 3), 0.5), config)[0]


def test_scene_depth_fixes_misscaled_metric_keypoints():
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=0.5, metric_noise_m=0.001, metric_scale=0.94, seed=3)
    wall = _wall_touching(seq)
    depth = np.full((480, 832), wall, dtype=np.float32)
    rgb = np.zeros((480, 832, 3), dtype=np.uint8)
    # The track's own (mis-scaled) size, then the contact scale measured on the wall.
    config = ReconstructionConfig(lifting=LiftingConfig(method='keypoints', palm_length_m=0.0),
                                  depth=DepthFusionConfig(contact_scale=True))
    no_depth = reconstruct(track, Observation(rgb, intrinsics=seq.intrinsics), config)
    with_depth = reconstruct(track, Observation(rgb, depth, intrinsics=seq.intrinsics), config)
    err_before = 1000 * np.linalg.norm(
        no_depth.wrist_camera_raw.positions - seq.wrist_positions, axis=1)
    err_after = 1000 * np.linalg.norm(
        with_depth.wrist_camera_raw.positions - seq.wrist_positions, axis=1)
    report = with_depth.report
    print(f'wall at {wall:.3f} m; depth scale {report.hand_scale:.4f} (truth {1 / 0.94:.4f}); '
          f'wrist error median {np.median(err_before):.1f} -> {np.median(err_after):.1f} mm')
    assert report.depth_scale is not None and report.depth_scale.applied
    # which source set the scale, and how well its contact frames agree (observed ~0.3 %)
    assert report.depth_scale.source == 'scene contact'
    assert report.depth_scale.residual is not None and report.depth_scale.residual < 0.01
    assert 'residual over' in report.depth_scale.status
    # The quantile over frames sits on frames a few mm short of contact: <1 % scale error.
    assert report.hand_scale == pytest.approx(1.0 / 0.94, rel=0.01)
    assert np.median(err_before) > 25.0
    assert np.median(err_after) < 6.0
    assert report.rejected_behind_scene == 0


def test_frames_behind_the_scene_are_rejected():
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0, seed=4)
    px = track.keypoints_px.copy()
    centre = px[20].mean(axis=0)
    px[20] = centre + (px[20] - centre) / 1.5  # this frame's hand looks 1.5x smaller: ~25 cm
    bad = type(track)(track.times, px, track.keypoints_m, track.wrist_quaternions,
                      track.confidence, track.detected, track.handedness, track.image_size)
    depth = np.full((480, 832), _wall_touching(seq), dtype=np.float32)
    result = reconstruct(bad, Observation(np.zeros((480, 832, 3), np.uint8), depth,
                                          intrinsics=seq.intrinsics),
                         ReconstructionConfig(lifting=LiftingConfig(method='keypoints',
                                                                    palm_length_m=0.0)))
    assert not result.valid[20] and result.valid.sum() == len(result.valid) - 1
    assert result.report.rejected_behind_scene == 1
    err = np.linalg.norm(result.wrist_camera.positions[20] - seq.wrist_positions[20])
    assert err < 0.01
