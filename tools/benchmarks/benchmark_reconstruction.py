"""Benchmark lvp_reconstruction: synthetic ground truth errors and the real gesture video.

Synthetic: a SYNTHETIC_HANDS.md-proportioned hand on a known 6-DoF path (pixel noise, outlier
keypoints, MediaPipe-like 0.94 metric scale fixed by scene depth) -> wrist errors in mm / deg.
Real: MediaPipe's hand landmarker (the offline .task of lvp_hand_tracking.model_assets) on
../shared/data/hand_video/gesture_1280x720_30fps.mp4 -> HandTrack -> reconstruct -> a plot of the
wrist path, its length and extent, and the time per frame.

    .venv/bin/python tools/benchmarks/benchmark_reconstruction.py --out /tmp/recon_bench
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from lvp_common.artifacts import Handedness, HandTrack, Observation
from lvp_common.geometry import rotation_angle_between
from lvp_reconstruction.reconstruct import ReconstructionResult, reconstruct
from lvp_reconstruction.synthetic_hand import make_track, wrist_path

REPO = Path(__file__).resolve().parents[2]
VIDEO = REPO.parent / 'shared' / 'data' / 'hand_video' / 'gesture_1280x720_30fps.mp4'


def synthetic_figures() -> None:
    """Print wrist errors on synthetic ground truth (raw and smoothed)."""
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=1.0, metric_noise_m=0.002, metric_scale=0.94,
                       outlier_fraction=0.3, seed=7)
    wall = float(np.sort(seq.keypoints_camera[:, :, 2], axis=1)[:, -2].max() + 0.01)
    obs = Observation(np.zeros((480, 832, 3), np.uint8),
                      np.full((480, 832), wall, np.float32), seq.intrinsics)
    result = reconstruct(track, obs)
    for name, traj in (('raw', result.wrist_camera_raw), ('smoothed', result.wrist_camera)):
        pos = 1000 * np.linalg.norm(traj.positions - seq.wrist_positions, axis=1)
        ang = np.degrees(rotation_angle_between(traj.quaternions, seq.wrist_quaternions))
        print(f'synthetic {name:8s}: wrist position error median {np.median(pos):5.1f} mm, '
              f'max {pos.max():5.1f} mm; orientation median {np.median(ang):4.1f} deg, '
              f'max {ang.max():4.1f} deg')
    print(f'synthetic depth scale {result.report.hand_scale:.4f} (truth {1 / 0.94:.4f}); '
          f'{result.report.seconds_per_frame * 1000:.1f} ms/frame')


def mediapipe_track(video: Path, cache: Path) -> tuple[HandTrack, np.ndarray]:
    """Run MediaPipe's hand landmarker on `video`; return the HandTrack and the RGB frames."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    video_rgb = np.stack(frames)
    n, h, w = video_rgb.shape[:3]
    if cache.exists():
        data = np.load(cache)
        px, metric, found = data['px'], data['metric'], data['found']
    else:
        import mediapipe as mp
        from lvp_hand_tracking.model_assets import ensure_hand_landmarker_task
        from mediapipe.tasks.python import BaseOptions
        from mediapipe.tasks.python.vision import (
            HandLandmarker,
            HandLandmarkerOptions,
            RunningMode,
        )

        options = HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(ensure_hand_landmarker_task())),
            running_mode=RunningMode.VIDEO, num_hands=1)
        px = np.zeros((n, 21, 2))
        metric = np.zeros((n, 21, 3))
        found = np.zeros(n, dtype=bool)
        with HandLandmarker.create_from_options(options) as landmarker:
            for i, frame in enumerate(video_rgb):
                image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
                res = landmarker.detect_for_video(image, int(1000 * i / fps))
                if res.hand_landmarks:
                    px[i] = [(p.x * w, p.y * h) for p in res.hand_landmarks[0]]
                    metric[i] = [(p.x, p.y, p.z) for p in res.hand_world_landmarks[0]]
                    found[i] = True
        np.savez(cache, px=px, metric=metric, found=found)
    idx = np.flatnonzero(found)
    times = np.arange(n) / fps
    for arr in (px, metric):  # fill undetected frames by interpolation (detected=False)
        flat = arr.reshape(n, -1)
        for k in range(flat.shape[1]):
            flat[:, k] = np.interp(times, times[idx], flat[idx, k])
    quats = np.tile([0.0, 0.0, 0.0, 1.0], (n, 1))
    track = HandTrack(times, px, metric, quats, np.where(found, 0.9, 0.0), found,
                      Handedness.RIGHT, (w, h))
    return track, video_rgb


def plot_path(result: ReconstructionResult, path: Path) -> None:
    """Plot the raw and smoothed wrist path (camera optical frame) in 3D and against time."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    raw, smooth = result.wrist_camera_raw, result.wrist_camera
    fig = plt.figure(figsize=(13, 5))
    ax = fig.add_subplot(1, 2, 1, projection='3d')
    ax.plot(*(100 * raw.positions.T), '.', ms=2, alpha=0.4, label='raw')
    ax.plot(*(100 * smooth.positions.T), '-', lw=1.5, label='smoothed')
    ax.set_xlabel('x right (cm)')
    ax.set_ylabel('y down (cm)')
    ax.set_zlabel('z forward (cm)')
    ax.set_title('wrist path, camera optical frame')
    ax.legend()
    ax2 = fig.add_subplot(1, 2, 2)
    for k, name in enumerate('xyz'):
        ax2.plot(raw.times, 100 * raw.positions[:, k], '.', ms=2, alpha=0.4)
        ax2.plot(smooth.times, 100 * smooth.positions[:, k], '-', label=name)
    ax2.set_xlabel('time (s)')
    ax2.set_ylabel('position (cm)')
    ax2.legend()
    ax2.grid(True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description='Benchmark lvp_reconstruction.')
    parser.add_argument('--out', type=Path, default=Path('/tmp/lvp_reconstruction_benchmark'))
    parser.add_argument('--video', type=Path, default=VIDEO)
    parser.add_argument('--skip-camera-check', action='store_true')
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    synthetic_figures()
    if not args.video.is_file():
        print(f'real video not found at {args.video}; skipped')
        return 0
    track, frames = mediapipe_track(args.video, args.out / 'mediapipe_keypoints.npz')
    print(f'real video: {track.num_frames} frames, hand found in {int(track.detected.sum())}')
    start = time.perf_counter()
    result = reconstruct(track, None, frames=None if args.skip_camera_check else frames)
    elapsed = time.perf_counter() - start
    rep = result.report
    smooth = result.wrist_camera.positions
    print(f'real video: {rep.valid_frames}/{rep.num_frames} frames valid, median residual '
          f'{rep.median_residual_px:.1f} px, smoothing outliers {rep.smoothing_outliers}')
    print(f'real video: smoothed wrist path length {100 * rep.path_length_m:.1f} cm, extent '
          f'(x, y, z) {tuple(round(100 * e, 1) for e in rep.extent_m)} cm, depth '
          f'{100 * smooth[:, 2].min():.1f}-{100 * smooth[:, 2].max():.1f} cm (intrinsics '
          f'assumed: {rep.intrinsics_assumed}, {result.intrinsics.fx:.0f} px focal)')
    raw = result.wrist_camera_raw.positions
    raw_length = float(np.sum(np.linalg.norm(np.diff(raw, axis=0), axis=1)))
    print(f'real video: raw path length {100 * raw_length:.1f} cm')
    if rep.camera_motion is not None:
        print(f'real video: camera moving {rep.camera_moving} (background up to '
              f'{rep.camera_motion.max_displacement_px:.1f} px, '
              f'{rep.camera_motion.max_rotation_deg:.2f} deg)')
    print(f'real video: {1000 * elapsed / track.num_frames:.1f} ms/frame in total '
          f'(reconstruct, incl. camera check: {not args.skip_camera_check})')
    plot_path(result, args.out / 'wrist_path.png')
    print(f'plot: {args.out / "wrist_path.png"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
