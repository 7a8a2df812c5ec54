"""Measure the hand tracker's throughput (frames/s) at the plan size, 832x480, on CPU.

Frames come from the shared gesture video, resized to 832x480 and held in memory, so decoding
is not timed. Reports the backend alone (MediaPipe per frame) and the whole tracker (detection,
association, gap filling, hand frames).

    .venv/bin/python tools/benchmarks/benchmark_hand_tracking.py [--frames 200]
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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print frames per second."""
    parser = argparse.ArgumentParser(description='Hand tracker throughput at 832x480 on CPU.')
    parser.add_argument('--video', type=Path, default=DEFAULT_VIDEO)
    parser.add_argument('--frames', type=int, default=200)
    parser.add_argument('--repeats', type=int, default=3, help='take the best of N runs')
    parser.add_argument('--running-mode', choices=('video', 'image'), default='video')
    args = parser.parse_args(argv)

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
