"""Measure the plan archive of a 49-frame 832x480 plan: size on disk and time to write.

Frames are real camera footage (the shared gesture video, resized to 832x480: the hardest case
for compression; a rendered synthetic demonstration compresses far better), the observation is
the first frame with a noisy 32FC1 depth image of the same size. Targets (issue 16): <= 15 MB,
written in <= 0.5 s. Prints the raw plan size for comparison and the read-back time (with the
CRC check).

    .venv/bin/python tools/benchmarks/benchmark_archive.py [--frames 49] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from lvp_common.artifacts import CameraIntrinsics, Observation, PlanSource, VideoPlan
from lvp_common.geometry import Pose
from lvp_common.plan_record import PlanRecord
from lvp_common.ros.plan_archive import read_plan_archive, write_plan_archive

DEFAULT_VIDEO = (Path(os.environ.get('LVP_SHARED_DATA', Path(__file__).resolve().parents[3]
                                     / 'shared' / 'data'))
                 / 'hand_video' / 'gesture_1280x720_30fps.mp4')
SIZE = (832, 480)


def load_frames(video: Path, count: int) -> np.ndarray:
    """`count` frames of `video` resized to 832x480, RGB uint8."""
    capture = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < count:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(bgr, SIZE, interpolation=cv2.INTER_AREA)[:, :, ::-1])
    capture.release()
    if len(frames) < count:
        raise SystemExit(f'{video}: only {len(frames)} frames, {count} needed')
    return np.ascontiguousarray(np.stack(frames))


def make_record(frames: np.ndarray) -> PlanRecord:
    """A plan record with the frames as the plan and the first frame (+ depth) as observation."""
    rng = np.random.default_rng(0)
    w, h = SIZE
    depth = (0.8 + 0.3 * np.linspace(0, 1, h)[:, None] + rng.normal(0, 0.003, (h, w))
             ).astype(np.float32)
    observation = Observation(frames[0], depth, CameraIntrinsics.from_fov(w, h, 60.0),
                              Pose(np.array([0.5, 0.0, 0.7]), np.array([0.0, 0.0, 0.0, 1.0])))
    plan = VideoPlan(frames, 16.0, ('pick up the green cube',), PlanSource.RECORDED_DEMONSTRATION)
    return PlanRecord(prompts=plan.prompts, embodiment='franka_gripper', observation=observation,
                      plan=plan, metadata={'tool': 'benchmark_archive'})


def main(argv: list[str] | None = None) -> int:
    """Write the archive `--repeats` times; print size and the best and median write time."""
    parser = argparse.ArgumentParser(description='Plan archive size and write time.')
    parser.add_argument('--video', type=Path, default=DEFAULT_VIDEO)
    parser.add_argument('--frames', type=int, default=49)
    parser.add_argument('--repeats', type=int, default=3)
    args = parser.parse_args(argv)
    record = make_record(load_frames(args.video, args.frames))
    assert record.plan is not None
    raw_mb = record.plan.frames.nbytes / 1e6
    folder = Path(tempfile.mkdtemp(prefix='lvp-archive-bench-'))
    try:
        times = []
        for k in range(args.repeats):
            start = time.perf_counter()
            path = write_plan_archive(folder / f'plan{k}', record)
            times.append(time.perf_counter() - start)
        size_mb = sum(f.stat().st_size for f in path.iterdir()) / 1e6
        start = time.perf_counter()
        back = read_plan_archive(path)
        read_s = time.perf_counter() - start
        assert back.plan is not None
        error = np.abs(back.plan.frames.astype(np.int16) - record.plan.frames).mean()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, '
          f'python {sys.version.split()[0]}')
    print(f'plan: {args.frames} frames {SIZE[0]}x{SIZE[1]} from {args.video.name} '
          f'({raw_mb:.1f} MB raw) + observation RGB-D')
    print(f'archive size: {size_mb:.2f} MB (target <= 15 MB; {raw_mb / size_mb:.1f}x smaller '
          f'than the raw frames)')
    print(f'write time: best {min(times):.3f} s, median {float(np.median(times)):.3f} s over '
          f'{len(times)} writes (target <= 0.5 s)')
    print(f'read back (CRC check + JPEG decode): {read_s:.3f} s; frames mean abs error '
          f'{error:.2f} / 255 (JPEG quality 90)')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
