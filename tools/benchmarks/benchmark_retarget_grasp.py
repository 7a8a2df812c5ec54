"""Retargeting on the real gesture video, and grasp detection speed on synthetic scenes.

1. Track the right hand through the shared gesture video (lvp_hand_tracking, MediaPipe), retarget
   every tracked frame to the Inspire hand (vector and DexPilot), and report the Pearson
   correlation between a human hand-opening measure (mean wrist-to-fingertip distance over the
   wrist-to-middle-knuckle length) and the mean normalized command (1 = open), plus ms/frame.
2. Time the antipodal grasp detector on synthetic tabletop scenes (ms/scene).

    .venv/bin/python tools/benchmarks/benchmark_retarget_grasp.py [--stride 1] [--track T.npz]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from lvp_common.artifacts import HandTrack
from lvp_grasp.antipodal import AntipodalGraspDetector
from lvp_grasp.detector import GraspRequest
from lvp_grasp.synthetic_scenes import (
    bar_above_table,
    box_on_table,
    cylinder_on_table,
    scene_cloud,
    table,
)
from lvp_retarget.dexterous import (
    DexterousRetargetConfig,
    DexterousRetargeter,
    RetargetingMethod,
)
from lvp_retarget.gripper import retarget_gripper

DEFAULT_VIDEO = (Path(os.environ.get('LVP_SHARED_DATA', Path(__file__).resolve().parents[3]
                                     / 'shared' / 'data'))
                 / 'hand_video' / 'gesture_1280x720_30fps.mp4')
FINGERTIPS = [4, 8, 12, 16, 20]


def hand_opening(keypoints: np.ndarray) -> np.ndarray:
    """Return the human hand-opening measure (T,): mean wrist-to-tip over wrist-to-knuckle."""
    tips = np.linalg.norm(keypoints[:, FINGERTIPS] - keypoints[:, :1], axis=2).mean(axis=1)
    palm = np.linalg.norm(keypoints[:, 9] - keypoints[:, 0], axis=1)
    return tips / palm


def track_video(video: Path, stride: int, cached: Path | None) -> HandTrack:
    """Return the right hand's track through `video` (from `cached` .npz when it exists)."""
    from lvp_hand_tracking.track_file import load_track_npz, save_track_npz
    from lvp_hand_tracking.tracker import HandTracker

    if cached is not None and cached.is_file():
        return load_track_npz(cached)
    with HandTracker() as tracker:
        result = tracker.track_video(video, handedness='right', stride=stride)
    print(f'tracked {result.frames_with_hand}/{result.num_frames} frames with the hand')
    if cached is not None:
        save_track_npz(cached, result)
    return result.track


def benchmark_retargeting(track: HandTrack) -> None:
    """Print correlation and ms/frame for both optimisers on the real track."""
    detected = track.detected
    opening = hand_opening(track.keypoints_m)
    print(f'real track: {track.num_frames} frames ({int(detected.sum())} detected), '
          f'{track.handedness.value} hand, opening measure {opening.min():.2f}..'
          f'{opening.max():.2f}')
    for method in RetargetingMethod:
        retargeter = DexterousRetargeter(track.handedness,
                                         DexterousRetargetConfig(method=method))
        retargeter.retarget_sequence(track.times[:5], track.keypoints_m[:5])  # warm-up
        start = time.perf_counter()
        commands = retargeter.retarget_sequence(track.times, track.keypoints_m)
        ms = 1e3 * (time.perf_counter() - start) / track.num_frames
        mean_command = commands.normalized.mean(axis=1)
        r_all = np.corrcoef(opening, mean_command)[0, 1]
        r_detected = np.corrcoef(opening[detected], mean_command[detected])[0, 1]
        fingers = commands.normalized[:, :4].mean(axis=1)
        r_fingers = np.corrcoef(opening[detected], fingers[detected])[0, 1]
        print(f'  {method.value:8s}: {ms:6.2f} ms/frame; corr(opening, mean command) '
              f'{r_detected:.3f} on detected frames ({r_all:.3f} all), 4-finger mean '
              f'{r_fingers:.3f}; command range {mean_command.min():.2f}..'
              f'{mean_command.max():.2f}')
    gripper = retarget_gripper(track.times, track.keypoints_m)
    print(f'  gripper : {len(gripper.events)} events '
          f'{[(e.action.value, round(e.time, 2)) for e in gripper.events]}')


def benchmark_grasping(repeats: int) -> None:
    """Print ms/scene of the antipodal detector on three tabletop scenes and a bare table."""
    detector = AntipodalGraspDetector()
    down = np.array([0.0, 0.0, -1.0])
    scenes = {
        'box': ((table(), box_on_table()), np.array([0.025, 0.0, 0.06])),
        'cylinder': ((table(), cylinder_on_table()), np.array([0.03, 0.0, 0.08])),
        'bar': ((table(), bar_above_table()), np.array([0.0, 0.0, 0.12])),
        'table': ((table(),), np.array([0.0, 0.0, 0.0])),
    }
    for name, (parts, contact) in scenes.items():
        cloud, _ = scene_cloud(*parts, noise=0.0005)
        request = GraspRequest(contact, down)
        timings, found = [], 0
        for _ in range(repeats):
            start = time.perf_counter()
            found = len(detector.detect(cloud, request))
            timings.append(time.perf_counter() - start)
        print(f'  {name:8s}: {len(cloud.points):6d} points, {found:2d} grasps, '
              f'{1e3 * min(timings):7.1f} ms/scene (best of {repeats})')


def main(argv: list[str] | None = None) -> int:
    """Run both benchmarks and print the numbers."""
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--video', type=Path, default=DEFAULT_VIDEO)
    parser.add_argument('--stride', type=int, default=1)
    parser.add_argument('--track', type=Path, default=None,
                        help='cache the real track in this .npz (read it when it exists)')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--skip-video', action='store_true')
    args = parser.parse_args(argv)
    print(f'retarget/grasp benchmark on {platform.machine()}, {os.cpu_count()} CPUs')
    if not args.skip_video:
        benchmark_retargeting(track_video(args.video, args.stride, args.track))
    print('antipodal grasp detection:')
    benchmark_grasping(args.repeats)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
