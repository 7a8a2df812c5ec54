"""Benchmark reconstruction on synthetic in-scene demonstrations against their ground truth.

Per task x camera pose (`lvp_sim.world.CAMERA_POSES`) x seed: render the demonstration
(lvp_sim), track the hand with MediaPipe (lvp_hand_tracking), reconstruct with the real
observation (RGB-D, exact intrinsics, camera_to_base) and the plan's frames as lvp_bringup does,
then compare with the ground truth:
wrist position error (base frame, smoothed and raw), its split along the camera ray (depth) and
across it (lateral), orientation error against the ground truth's hand frame and against the
project's hand frame built from the true keypoints, the clip scale depth fusion recovered vs.
the per-frame scale that would put the fitted wrist at its true depth, MediaPipe's 2D wrist and
thumb-CMC offsets from the ground-truth keypoints. Writes `results.json` and one PNG of true vs.
reconstructed wrist paths per clip, and prints the median wrist position / orientation error per
task x camera cell (median over seeds of the per-clip medians), for each lifting method
(`--methods`: `keypoints`, the per-frame PnP of MediaPipe's metric keypoints, before; `hand_model`,
the articulated hand fitted to the clip, after) on the same tracked frames, with the time each
method's reconstruct() took and the time of tracking.

    MUJOCO_GL=egl .venv/bin/python tools/benchmarks/benchmark_reconstruction_synthetic.py \
        --output /tmp/lvp_bench_recon_synthetic --seeds 0 1 --cameras front front_left_low
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
from lvp_common.geometry import rotation_angle_between  # noqa: E402
from lvp_common.hand_frame import hand_frame_rotations  # noqa: E402
from lvp_reconstruction.lifting import LIFTING_METHODS  # noqa: E402
from lvp_reconstruction.reconstruct import ReconstructionConfig, reconstruct  # noqa: E402
from lvp_sim.demonstrations import (  # noqa: E402
    TASK_NAMES,
    DemonstrationConfig,
    render_demonstration,
)
from lvp_sim.world import CAMERA_POSES  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402

BENCHMARK_TASKS = ('reach_grasp_lift', 'push', 'press', 'pinch_and_place')
"""The tasks of the reconstruction acceptance table (other tasks can be named)."""


def track_demo(demo):
    """Run MediaPipe over the demonstration's plan as lvp_bringup.pipeline.track_hand does."""
    from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend
    from lvp_hand_tracking.tracker import HandTracker, TrackerConfig

    plan = demo.plan
    with HandTracker(TrackerConfig(), MediaPipeHandBackend(MediaPipeConfig())) as tracker:
        height, width = plan.frames.shape[1:3]
        return tracker.track_frames(iter(plan.frames), plan.times, (width, height), None,
                                    plan.metadata)


def evaluate(demo, tracking, config: ReconstructionConfig) -> tuple[dict, dict]:
    """Reconstruct one tracked demonstration and compare with its ground truth."""
    track, idx, gt = tracking.track, tracking.track_frame_indices, demo.ground_truth
    start = time.perf_counter()
    rec = reconstruct(track, demo.observation, config, frames=demo.plan.frames[idx])
    seconds = time.perf_counter() - start
    assert rec.wrist_base is not None and rec.wrist_base_raw is not None
    true_base = gt.wrist_positions_base[idx]
    err = np.linalg.norm(rec.wrist_base.positions - true_base, axis=1)
    err_raw = np.linalg.norm(rec.wrist_base_raw.positions - true_base, axis=1)
    true_cam = gt.wrist_positions_camera[idx]
    ray = true_cam / np.linalg.norm(true_cam, axis=1, keepdims=True)
    delta = rec.wrist_camera.positions - true_cam
    along = np.einsum('ti,ti->t', delta, ray)
    lateral = np.linalg.norm(delta - along[:, None] * ray, axis=1)
    angle_gt = np.degrees(rotation_angle_between(gt.wrist_quaternions_camera[idx],
                                                 rec.wrist_camera.quaternions))
    true_kp = gt.keypoints_camera[idx]
    kp_frame = Rotation.from_matrix(hand_frame_rotations(true_kp - true_kp[:, :1],
                                                         track.handedness)).as_quat()
    angle_kp = np.degrees(rotation_angle_between(kp_frame, rec.wrist_camera.quaternions))
    gt_vs_kp = np.degrees(rotation_angle_between(kp_frame, gt.wrist_quaternions_camera[idx]))
    # Per-frame scale that would put the raw fit's wrist at its true distance.
    frame_scale = (np.linalg.norm(true_cam, axis=1)
                   / np.linalg.norm(rec.wrist_camera_raw.positions, axis=1)
                   * rec.report.hand_scale)
    err_2d = np.linalg.norm(track.keypoints_px - gt.keypoints_px[idx], axis=2)
    # MediaPipe's 2D wrist minus the true wrist, back-projected at the true depth, in the hand
    # frame (x thumb side, y towards the fingers, z palm normal).
    k = gt.intrinsics
    du = track.keypoints_px[:, 0] - gt.keypoints_px[idx][:, 0]
    offset_cam = np.stack([du[:, 0] / k.fx, du[:, 1] / k.fy, np.zeros(len(du))], 1) \
        * true_kp[:, :1, 2]
    rot_gt = Rotation.from_quat(gt.wrist_quaternions_camera[idx]).as_matrix()
    offset_hand = np.einsum('tji,tj->ti', rot_gt, offset_cam)
    scale = rec.report.depth_scale
    row = {
        'frames': int(len(idx)), 'valid': int(rec.valid.sum()),
        'reconstruct_s': seconds,
        'err_median_mm': 1e3 * float(np.median(err)),
        'err_p90_mm': 1e3 * float(np.percentile(err, 90)), 'err_max_mm': 1e3 * float(err.max()),
        'raw_err_median_mm': 1e3 * float(np.median(err_raw)),
        'along_ray_median_mm': 1e3 * float(np.median(along)),
        'along_ray_abs_median_mm': 1e3 * float(np.median(np.abs(along))),
        'lateral_median_mm': 1e3 * float(np.median(lateral)),
        'angle_vs_gt_frame_median_deg': float(np.median(angle_gt)),
        'angle_vs_keypoint_frame_median_deg': float(np.median(angle_kp)),
        'gt_frame_vs_keypoint_frame_deg': float(np.median(gt_vs_kp)),
        'hand_scale': float(rec.report.hand_scale),
        'depth_estimate': None if scale is None or scale.estimate is None
        else float(scale.estimate),
        'true_frame_scale_median': float(np.median(frame_scale)),
        'true_frame_scale_p10_p90': [float(np.percentile(frame_scale, 10)),
                                     float(np.percentile(frame_scale, 90))],
        'wrist_2d_median_px': float(np.median(err_2d[:, 0])),
        'thumb_cmc_2d_median_px': float(np.median(err_2d[:, 1])),
        'all_2d_median_px': float(np.median(err_2d)),
        'mediapipe_wrist_offset_hand_mm': (1e3 * np.median(offset_hand, axis=0)).round(1)
        .tolist(),
        'camera_moving': rec.report.camera_moving,
        'messages': list(rec.report.messages),
    }
    paths = {'true': true_base, 'smoothed': rec.wrist_base.positions,
             'raw': rec.wrist_base_raw.positions, 'times': track.times}
    return row, paths


def plot_paths(paths: dict, title: str, path: Path) -> None:
    """Write x/y/z over time of the true, raw and smoothed wrist paths (base frame)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    for i, (ax, name) in enumerate(zip(axes, 'xyz', strict=True)):
        ax.plot(paths['times'], paths['true'][:, i], 'k-', label='truth')
        ax.plot(paths['times'], paths['raw'][:, i], '.', color='0.6', label='raw')
        ax.plot(paths['times'], paths['smoothed'][:, i], 'r-', label='smoothed')
        ax.set_title(f'{title}: base {name} (m)')
        ax.set_xlabel('t (s)')
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--output', type=Path, default=Path('/tmp/lvp_bench_recon_synthetic'))
    parser.add_argument('--tasks', nargs='+', default=list(BENCHMARK_TASKS), choices=TASK_NAMES)
    parser.add_argument('--cameras', nargs='+', default=list(CAMERA_POSES),
                        choices=list(CAMERA_POSES),
                        help='named poses of lvp_sim.world.CAMERA_POSES (default: all)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--num-frames', type=int, default=33)
    defaults = ReconstructionConfig()
    window = defaults.smoothing.depth_half_window
    parser.add_argument('--depth-half-window', type=int, default=window,
                        help='smoothing.depth_half_window: frames on each side in the robust fit '
                        'of the distance along the camera ray (0: Savitzky-Golay only, the '
                        f'smoothing before it existed; default {window})')
    parser.add_argument('--methods', nargs='+', default=['keypoints', 'hand_model'],
                        choices=LIFTING_METHODS,
                        help='lifting methods compared on the same tracked frames (default: '
                        'keypoints = before, hand_model = after)')
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    base = replace(defaults, smoothing=replace(defaults.smoothing,
                                               depth_half_window=args.depth_half_window))
    configs = {m: replace(base, lifting=replace(base.lifting, method=m)) for m in args.methods}
    rows = []
    print(f'{"task":17s} {"camera":16s} seed method     valid  med  p90  max  raw | along '
          f'|along| lat | deg_gt deg_kp | scale  true(p10-p90)  | 2D wrist cmc | recon s')
    for task in args.tasks:
        for camera in args.cameras:
            for seed in args.seeds:
                demo = render_demonstration(DemonstrationConfig(
                    task=task, seed=seed, num_frames=args.num_frames,
                    camera=CAMERA_POSES[camera]))
                start = time.perf_counter()
                tracking = track_demo(demo)
                track_s = time.perf_counter() - start
                for method, config in configs.items():
                    row, paths = evaluate(demo, tracking, config)
                    row.update(task=task, camera=camera, seed=seed, method=method,
                               tracking_s=track_s)
                    rows.append(row)
                    plot_paths(paths, f'{task} {camera} {seed} {method}',
                               args.output / f'paths_{task}_{camera}_{seed}_{method}.png')
                    lo, hi = row['true_frame_scale_p10_p90']
                    print(f'{task:17s} {camera:16s} {seed:4d} {method:10s} '
                          f'{row["valid"]:2d}/{row["frames"]:2d} '
                          f'{row["err_median_mm"]:4.0f} {row["err_p90_mm"]:4.0f} '
                          f'{row["err_max_mm"]:4.0f} {row["raw_err_median_mm"]:4.0f} | '
                          f'{row["along_ray_median_mm"]:5.0f} '
                          f'{row["along_ray_abs_median_mm"]:5.0f} '
                          f'{row["lateral_median_mm"]:3.0f} | '
                          f'{row["angle_vs_gt_frame_median_deg"]:6.1f} '
                          f'{row["angle_vs_keypoint_frame_median_deg"]:6.1f} | '
                          f'{row["hand_scale"]:.3f} {row["true_frame_scale_median"]:.3f} '
                          f'({lo:.2f}-{hi:.2f}) | {row["wrist_2d_median_px"]:5.1f} '
                          f'{row["thumb_cmc_2d_median_px"]:4.1f} | '
                          f'{row["reconstruct_s"]:.2f} (tracking {track_s:.2f})', flush=True)

    def median_of(key: str, **match) -> float:
        return float(np.median([r[key] for r in rows
                                if all(r[k] == v for k, v in match.items())]))

    cells = {f'{task} / {camera} / {method}': {
        'position_mm': median_of('err_median_mm', task=task, camera=camera, method=method),
        'orientation_deg': median_of('angle_vs_gt_frame_median_deg', task=task, camera=camera,
                                     method=method),
        'orientation_keypoint_frame_deg': median_of('angle_vs_keypoint_frame_median_deg',
                                                    task=task, camera=camera, method=method),
        'per_seed_position_mm': [round(r['err_median_mm'], 1) for r in rows
                                 if (r['task'], r['camera'], r['method']) == (task, camera,
                                                                               method)]}
        for task in args.tasks for camera in args.cameras for method in args.methods}
    print(f'\nmedian smoothed base-frame wrist error per cell (median over seeds {args.seeds} of '
          f'the clip medians): position mm / orientation deg vs. the true hand frame (vs. the '
          f'keypoint hand frame of lvp_common.hand_frame), ' + ' -> '.join(args.methods))
    for task in args.tasks:
        for camera in args.cameras:
            parts = []
            for method in args.methods:
                cell = cells[f'{task} / {camera} / {method}']
                parts.append(f'{cell["position_mm"]:5.1f} mm {cell["orientation_deg"]:5.1f} deg '
                             f'({cell["orientation_keypoint_frame_deg"]:4.1f})')
            print(f'{task:17s} {camera:17s} ' + '  ->  '.join(parts))
    for method in args.methods:
        print(f'{method:10s} all cells: position {median_of("err_median_mm", method=method):.1f}'
              f' mm, orientation {median_of("angle_vs_gt_frame_median_deg", method=method):.1f}'
              f' deg ({median_of("angle_vs_keypoint_frame_median_deg", method=method):.1f} vs. '
              f'the keypoint frame); reconstruct {median_of("reconstruct_s", method=method):.2f}'
              f' s median per clip of {args.num_frames} frames (tracking '
              f'{median_of("tracking_s", method=method):.2f} s)')
    summary = {
        'depth_half_window': args.depth_half_window,
        'num_frames': args.num_frames,
        'seeds': args.seeds,
        'methods': args.methods,
        'cells': cells,
        'per_method': {method: {
            'median_of_clip_medians_mm': median_of('err_median_mm', method=method),
            'median_angle_vs_gt_frame_deg': median_of('angle_vs_gt_frame_median_deg',
                                                      method=method),
            'median_angle_vs_keypoint_frame_deg': median_of(
                'angle_vs_keypoint_frame_median_deg', method=method),
            'median_reconstruct_s': median_of('reconstruct_s', method=method),
            'max_mm': float(max(r['err_max_mm'] for r in rows if r['method'] == method)),
        } for method in args.methods},
        'median_tracking_s': float(np.median([r['tracking_s'] for r in rows])),
    }
    (args.output / 'results.json').write_text(json.dumps({'runs': rows, 'summary': summary},
                                                         indent=2))
    print(json.dumps(summary['per_method']))
    print(f'wrote {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
