"""`lvp_reconstruct` on synthetic tracks written in lvp_track's .npz format."""

from pathlib import Path

import cv2
import imageio.v3 as iio
import numpy as np
import pytest
from lvp_common.artifacts import CameraIntrinsics, HandTrack
from lvp_common.geometry import Pose, rotation_angle_between
from lvp_common.input_files import read_depth_image
from lvp_common.video_io import write_video
from lvp_hand_tracking.track_file import save_track_npz
from lvp_hand_tracking.tracker import TrackingResult
from lvp_reconstruction.cli import build_parser, main
from lvp_reconstruction.synthetic_hand import make_track, wrist_path
from lvp_reconstruction.trajectory_file import load_wrist_trajectories_npz
from scipy.spatial.transform import Rotation

CAMERA_TO_BASE = Pose(np.array([0.6, -0.1, 0.8]),
                      Rotation.from_euler('xyz', [-120.0, 0.0, -90.0], degrees=True).as_quat())


def save_track(path: Path, track: HandTrack, frame_indices: np.ndarray | None = None) -> Path:
    """Write `track` as lvp_track does (one segment, no gaps)."""
    n = track.num_frames
    indices = np.arange(n) if frame_indices is None else frame_indices
    result = TrackingResult(track, (track,), (indices,), (), int(indices[-1]) + 1, n, 'argument',
                            {}, 1, 'synthetic')
    return save_track_npz(path, result)


def csv(values) -> str:
    return ','.join(repr(float(v)) for v in values)


def test_reconstructs_a_synthetic_track_with_depth_and_extrinsic(tmp_path, capsys):
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=1.0, metric_noise_m=0.002, outlier_fraction=0.3,
                       seed=5)
    intr = seq.intrinsics
    track_path = save_track(tmp_path / 'track.npz', track)
    depth = np.full((intr.height, intr.width), 2.0, np.float32)  # a wall behind the hand
    np.save(tmp_path / 'depth.npy', depth)
    rgb = np.zeros((intr.height, intr.width, 3), np.uint8)
    rgb[..., 1] = 200
    iio.imwrite(tmp_path / 'rgb.png', rgb)
    code = main([str(track_path), '--intrinsics', csv([intr.fx, intr.fy, intr.cx, intr.cy]),
                 '--depth', str(tmp_path / 'depth.npy'), '--rgb', str(tmp_path / 'rgb.png'),
                 '--camera-to-base', csv([*CAMERA_TO_BASE.position, *CAMERA_TO_BASE.quaternion]),
                 '--out', str(tmp_path / 'traj.npz'), '--plot', str(tmp_path / 'path.png'),
                 # the synthetic hand is not the kinematic hand: the keypoint PnP's bound
                 '--lifting-method', 'keypoints'])
    out = capsys.readouterr().out
    print(out)
    assert code == 0
    assert 'flags: none' in out and 'camera motion: not checked' in out
    assert 'frames: 49/49 valid' in out and 'wrist path (smoothed, base_link): length' in out
    assert 'residuals raw (px per frame): median' in out and 'residuals smoothed' in out
    trajectories = load_wrist_trajectories_npz(tmp_path / 'traj.npz')
    assert set(trajectories) == {'camera_raw', 'camera_smoothed', 'base_raw', 'base_smoothed'}
    camera = trajectories['camera_smoothed']
    error_mm = 1000 * np.linalg.norm(camera.positions - seq.wrist_positions, axis=1)
    angle = np.degrees(rotation_angle_between(camera.quaternions, seq.wrist_quaternions))
    # Bounds of test_pipeline's smoothed trajectory on the same sequence.
    assert np.median(error_mm) < 5.0 and error_mm.max() < 15.0
    assert np.median(angle) < 3.0 and angle.max() < 8.0
    base = trajectories['base_smoothed']
    assert base.frame_id == 'base_link' and base.smoothed
    assert base.positions == pytest.approx(CAMERA_TO_BASE.transform_points(camera.positions))
    with np.load(tmp_path / 'traj.npz') as data:
        assert data['valid'].all() and len(data['scene_cloud_points']) > 1000
        assert np.all(data['scene_cloud_colors'][:, 1] == 200)
    assert iio.imread(tmp_path / 'path.png').shape[:2] == (400, 1300)



def test_palm_length_sets_the_metric_scale_of_the_path(tmp_path, capsys):
    seq = wrist_path()
    # The track's own metric hand is 20 % small (as a tracker's may be): its wrist -> middle-MCP
    # bone is 0.8 x 9.05 cm.
    track = make_track(seq, pixel_noise_px=0.5, metric_noise_m=0.0, metric_scale=0.8, seed=3)
    intr = seq.intrinsics
    track_path = save_track(tmp_path / 'track.npz', track)
    true_palm = float(np.linalg.norm(seq.keypoints_camera[0, 9] - seq.keypoints_camera[0, 0]))
    paths, outputs = {}, {}
    for palm in (0.0, true_palm, 0.12):
        out_path = tmp_path / f'traj_{palm:.4f}.npz'
        code = main([str(track_path), '--intrinsics', csv([intr.fx, intr.fy, intr.cx, intr.cy]),
                     '--palm-length', repr(palm), '--out', str(out_path),
                     '--lifting-method', 'keypoints'])
        outputs[palm] = capsys.readouterr().out
        assert code == 0, outputs[palm]
        paths[palm] = load_wrist_trajectories_npz(out_path)['camera_smoothed'].positions
    truth = seq.wrist_positions
    extent = {palm: np.ptp(p, axis=0) for palm, p in paths.items()}
    # The projection fixes the path up to one scale, and the palm length is that scale: the
    # wrist path (its distance from the camera, and so its extent) grows in proportion.
    ratio = 0.12 / true_palm
    assert extent[0.12] == pytest.approx(ratio * extent[true_palm], rel=0.02)
    assert paths[0.12] == pytest.approx(ratio * paths[true_palm], rel=0.02, abs=1e-3)
    assert np.median(np.linalg.norm(paths[true_palm] - truth, axis=1)) < 0.005
    assert extent[true_palm] == pytest.approx(np.ptp(truth, axis=0), rel=0.05, abs=0.005)
    # 0 keeps the track's own (20 % small) hand: the whole path comes out 0.8 x as far.
    assert extent[0.0] == pytest.approx(0.8 * np.ptp(truth, axis=0), rel=0.05, abs=0.005)
    assert np.median(paths[0.0][:, 2] / truth[:, 2]) == pytest.approx(0.8, abs=0.02)
    assert 'hand size assumed: wrist -> middle MCP 12.0 cm' in outputs[0.12]
    assert 'hand size assumed' not in outputs[0.0]
    help_text = ' '.join(build_parser().format_help().split())
    assert '--palm-length M' in help_text and "0 keeps the track's own metric" in help_text


def _wall(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A textured wall with plenty of corners for the background tracker."""
    tex = rng.integers(60, 200, (height // 8, width // 8, 3)).astype(np.uint8)
    tex = cv2.resize(tex, (width, height), interpolation=cv2.INTER_NEAREST)
    for _ in range(60):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        color = tuple(int(c) for c in rng.integers(0, 255, 3))
        cv2.circle(tex, centre, int(rng.integers(3, 15)), color, -1)
    return tex


def test_panning_video_and_missing_intrinsics_are_flagged(tmp_path, capsys):
    width, height, n = 320, 240, 16
    seq = wrist_path(n, intrinsics=CameraIntrinsics.from_fov(width, height, 60.0, assumed=False))
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0)
    # The track keeps every other video frame (lvp_track --stride 2).
    track_path = save_track(tmp_path / 'track.npz', track, np.arange(0, 2 * n, 2))
    wall = _wall(width, height, np.random.default_rng(0))
    frames = []
    for index in range(2 * n):
        shift = np.array([[1.0, 0.0, 1.5 * index], [0.0, 1.0, 0.0]], np.float32)  # camera pans
        img = cv2.warpAffine(wall, shift, (width, height), borderMode=cv2.BORDER_REFLECT)
        hull = cv2.convexHull(np.round(track.keypoints_px[index // 2]).astype(np.int32))
        cv2.fillConvexPoly(img, hull, (220, 170, 140))
        frames.append(img)
    write_video(tmp_path / 'plan.mp4', np.stack(frames), 16.0)
    code = main([str(track_path), '--video', str(tmp_path / 'plan.mp4'), '--fov', '60'])
    out = capsys.readouterr().out
    print(out)
    assert code == 0
    assert 'flags: intrinsics assumed, camera moving' in out
    assert 'camera motion: MOVING' in out and '(ASSUMED)' in out
    assert 'frames: 16/16 valid' in out and 'wrist path (smoothed, camera_color_optical' in out


def test_depth_png_is_millimetres_with_zero_invalid(tmp_path):
    raw = np.array([[0, 500], [1250, 65535]], np.uint16)
    iio.imwrite(tmp_path / 'depth.png', raw)
    depth = read_depth_image(tmp_path / 'depth.png')
    assert depth.dtype == np.float32 and np.isnan(depth[0, 0])
    assert depth[0, 1] == pytest.approx(0.5) and depth[1, 0] == pytest.approx(1.25)


@pytest.fixture(scope='module')
def small_track(tmp_path_factory) -> Path:
    seq = wrist_path(8, intrinsics=CameraIntrinsics.from_fov(320, 240, 60.0, assumed=False))
    return save_track(tmp_path_factory.mktemp('track') / 'track.npz',
                      make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0))


@pytest.mark.parametrize('extra, expected', [
    (['--intrinsics', '300,300,160'], '--intrinsics'),
    (['--intrinsics=-300,300,160,120'], 'fx must be positive'),
    (['--camera-to-base', '0,0,0,0,0,0'], '--camera-to-base'),
    (['--camera-to-base', '0,0,0,0,0,0,0'], 'quaternion'),
    (['--fov', '200'], '--fov'),
    (['--palm-length', '0.5'], 'palm_length_m must be 0'),
    (['--depth', 'missing.npy'], '--depth missing.npy: file not found'),
    (['--depth', '{tmp}/depth8.png'], 'expected a single-channel 16-bit PNG'),
    (['--depth', '{tmp}/depth_small.npy', '--rgb', '{tmp}/rgb.png'], 'the image is 320x240'),
    (['--rgb', 'missing.png'], '--rgb missing.png: file not found'),
    (['--video', '{tmp}/wrong_size.mp4'], 'frames are 64x48, the track is for 320x240'),
])
def test_bad_inputs_are_named(small_track, tmp_path, capsys, extra, expected):
    iio.imwrite(tmp_path / 'depth8.png', np.zeros((240, 320), np.uint8))
    iio.imwrite(tmp_path / 'rgb.png', np.zeros((240, 320, 3), np.uint8))
    np.save(tmp_path / 'depth_small.npy', np.ones((24, 32), np.float32))
    if any('wrong_size' in e for e in extra):
        write_video(tmp_path / 'wrong_size.mp4', np.zeros((8, 48, 64, 3), np.uint8), 8.0)
    args = [e.format(tmp=tmp_path) for e in extra]
    assert main([str(small_track), *args]) == 1
    err = capsys.readouterr().err
    assert err.startswith('lvp_reconstruct: error: ') and expected in err, err


def test_missing_or_foreign_track_file_is_named(tmp_path, capsys):
    assert main([str(tmp_path / 'none.npz')]) == 1
    assert 'TRACK' in capsys.readouterr().err
    np.savez(tmp_path / 'other.npz', a=np.zeros(3))
    assert main([str(tmp_path / 'other.npz')]) == 1
    assert 'not a hand track written by lvp_track' in capsys.readouterr().err
