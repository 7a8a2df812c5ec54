"""Measure the hand tracker's throughput (frames/s) at the plan size, 832x480, on CPU.

Frames come from the shared gesture video, resized to 832x480 and held in memory, so decoding
is not timed. Reports the backend alone (MediaPipe per frame) and the whole tracker (detection,
association, gap filling, hand frames).

    .venv/bin/python tools/benchmarks/benchmark_hand_tracking.py [--frames 200]

`--plan` times what a video plan costs instead: hand tracking (a fresh tracker per plan, as
lvp_bringup.pipeline.track_hand makes one; MediaPipe already imported, as in a running node) and
reconstruction (`reconstruct()` with the plan's frames, so the camera-motion check runs) of a
49-frame plan: the rendered demonstration `--task/--seed` (lvp_sim, front camera, with its RGB-D
observation) and the gesture clip 3-6 s at 16 fps. Tracking before (MediaPipe tracking two hands
from the first frame: `more_hands_check_stride 0`) and after (one hand, a check for more every
8 frames) alternate in one run; reconstruction with the Franka's configuration (articulated hand
fit) and lvp_reconstruction's default (keypoint PnP), before (the camera-motion check, then the
rest: as reconstruct() ran them) and after (reconstruct() as it is: the check runs beside the
lifting). Medians of `--repeats` runs.

    MUJOCO_GL=egl .venv/bin/python tools/benchmarks/benchmark_hand_tracking.py --plan
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend
from lvp_hand_tracking.tracker import HandTracker
from lvp_hand_tracking.video_frames import iter_video_frames

DEFAULT_VIDEO = (Path(os.environ.get('LVP_SHARED_DATA', Path(__file__).resolve().parents[3]
                                     / 'shared' / 'data'))
                 / 'hand_video' / 'gesture_1280x720_30fps.mp4')


def load_frames(video: Path, count: int, size: tuple[int, int]) -> np.ndarray:
    """Return `count` frames of `video` resized to `size` (width, height), RGB uint8."""
    frames = [cv2.resize(f, size, interpolation=cv2.INTER_AREA)
              for _, f in iter_video_frames(video, max_frames=count)]
    return np.stack(frames)


def plan_clips(task: str, seed: int) -> dict:
    """Return {name: (frames (49, 480, 832, 3), times, observation or None)}."""
    from lvp_common.video_io import read_video
    from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration
    from lvp_sim.world import CAMERA_POSES

    demo = render_demonstration(DemonstrationConfig(task=task, seed=seed, num_frames=49,
                                                    camera=CAMERA_POSES['front']))
    gesture = read_video(DEFAULT_VIDEO, fps=16.0, size=(832, 480), start_s=3.0,
                         duration_s=49 / 16, fit='letterbox').frames
    return {f'{task} seed {seed} (rendered)': (demo.plan.frames, demo.plan.times,
                                               demo.observation),
            'gesture 3-6 s': (gesture, np.arange(len(gesture)) / 16.0, None)}


def plan_speed(args) -> int:
    """Time tracking (before/after) and reconstruction of 49-frame plans; print medians."""
    os.environ.setdefault('MUJOCO_GL', 'egl')
    import mediapipe  # noqa: F401  (imported once in a running node; not part of a plan)
    from lvp_bringup.embodiments.franka_gripper import reconstruction_config
    from lvp_reconstruction.camera_model import resolve_intrinsics
    from lvp_reconstruction.camera_motion import estimate_camera_motion
    from lvp_reconstruction.reconstruct import ReconstructionConfig, reconstruct

    trackers = {'before': MediaPipeConfig(more_hands_check_stride=0), 'after': MediaPipeConfig()}
    recon = {'franka (hand fit)': reconstruction_config(), 'default (PnP)': ReconstructionConfig()}
    print(f'plan speed: 49-frame plans at 832x480, CPU ({os.cpu_count()} cores, load '
          f'{os.getloadavg()[0]:.1f} at the start), median of {args.repeats} runs')
    for name, (frames, times, observation) in plan_clips(args.task, args.seed).items():
        seconds: dict[str, list[float]] = {f'{k} {when}': [] for k in recon
                                           for when in ('before', 'after')}
        seconds.update({k: [] for k in trackers})
        tracks = {}
        for _ in range(args.repeats):
            for key, config in trackers.items():
                start = time.perf_counter()
                with HandTracker(backend=MediaPipeHandBackend(config)) as tracker:
                    result = tracker.track_frames(iter(frames), times, (832, 480))
                seconds[key].append(time.perf_counter() - start)
                tracks[key] = result
            track, used = tracks['after'].track, frames[tracks['after'].track_frame_indices]
            for key, config in recon.items():
                start = time.perf_counter()
                intrinsics = resolve_intrinsics(
                    None if observation is None else observation.intrinsics, 832, 480,
                    config.camera)
                estimate_camera_motion(used, track.keypoints_px, intrinsics,
                                       config.camera_motion)
                reconstruct(track, observation, config)
                seconds[f'{key} before'].append(time.perf_counter() - start)
                start = time.perf_counter()
                reconstruct(track, observation, config, frames=used)
                seconds[f'{key} after'].append(time.perf_counter() - start)
        same = np.array_equal(tracks['before'].track.keypoints_px,
                              tracks['after'].track.keypoints_px)
        med = {k: float(np.median(v)) for k, v in seconds.items()}
        print(f'{name}: tracking before {med["before"]:.2f} s, after {med["after"]:.2f} s '
              f'({med["before"] / med["after"]:.2f}x; same keypoints: {same})')
        for key in recon:
            before = med['before'] + med[f'{key} before']
            after = med['after'] + med[f'{key} after']
            print(f'  reconstruction {key}: before {med[f"{key} before"]:.2f} s, after '
                  f'{med[f"{key} after"]:.2f} s; tracking + reconstruction before {before:.2f} s,'
                  f' after {after:.2f} s ({before / after:.2f}x)')
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print frames per second."""
    parser = argparse.ArgumentParser(description='Hand tracker throughput at 832x480 on CPU.')
    parser.add_argument('--video', type=Path, default=DEFAULT_VIDEO)
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=3, help='take the best of N runs')
    parser.add_argument('--running-mode', choices=('video', 'image'), default='video')
    parser.add_argument('--plan', action='store_true',
                        help='time tracking + reconstruction of 49-frame plans instead')
    parser.add_argument('--task', default='reach_grasp_lift', help='--plan: rendered task')
    parser.add_argument('--seed', type=int, default=20, help='--plan: rendered seed')
    args = parser.parse_args(argv)
    if args.plan:
        return plan_speed(args)

    frames = load_frames(args.video, args.frames, (832, 480))
    times = np.arange(len(frames)) / 16.0
    config = MediaPipeConfig(running_mode=args.running_mode)
    backend_fps, tracker_fps = [], []
    with HandTracker(backend=MediaPipeHandBackend(config)) as tracker:
        tracker.detect(frames[:10], times[:10])  # warm-up: model load, XNNPACK setup
        for _ in range(args.repeats):
            start = time.perf_counter()
            tracker.detect(frames, times)
            backend_fps.append(len(frames) / (time.perf_counter() - start))
            start = time.perf_counter()
            result = tracker.track_frames(frames, times, (832, 480))
            tracker_fps.append(len(frames) / (time.perf_counter() - start))
    print(f'hand tracking benchmark: {len(frames)} frames 832x480, MediaPipe '
          f'{args.running_mode} mode, CPU ({platform.processor() or platform.machine()}, '
          f'{os.cpu_count()} cores), best of {args.repeats}')
    print(f'  backend only : {max(backend_fps):6.1f} frames/s '
          f'({1000.0 / max(backend_fps):.1f} ms/frame)')
    print(f'  full tracker : {max(tracker_fps):6.1f} frames/s '
          f'({1000.0 / max(tracker_fps):.1f} ms/frame)')
    print(f'  detected     : {result.frames_with_hand}/{result.num_frames} frames')
    return 0


if __name__ == '__main__':
    sys.exit(main())
