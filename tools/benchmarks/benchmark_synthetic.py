"""Benchmark the synthetic demonstrator: render time, MediaPipe detection rate and 2D error.

Renders every task x camera pose (`lvp_sim.world.CAMERA_POSES`) x seed, runs MediaPipe's hand
landmarker (VIDEO mode, the project's offline .task) over each plan and compares with the exact
ground truth. Writes
`results.json` and one contact sheet PNG per task (ground-truth keypoints drawn in magenta) to
the output folder.

    .venv/bin/python tools/benchmarks/benchmark_synthetic.py --output /tmp/lvp_bench_synthetic
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
from lvp_sim.demonstrations import (  # noqa: E402
    TASK_NAMES,
    DemonstrationConfig,
    SyntheticDemonstration,
    render_demonstration,
)
from lvp_sim.evaluation import score_mediapipe  # noqa: E402
from lvp_sim.world import (  # noqa: E402
    CAMERA_POSES,
    SceneRenderer,
    WorldConfig,
    build_world,
)


def render_ms_per_frame(frames: int = 30) -> float:
    """Return the mean time (ms) to render one 832x480 RGB frame of the scene with the hand."""
    from lvp_sim.hand_model import HandConfig

    world = build_world(WorldConfig(), hand=HandConfig())
    with SceneRenderer(world) as renderer:
        renderer.rgb()
        start = time.perf_counter()
        for _ in range(frames):
            renderer.rgb()
        return 1000.0 * (time.perf_counter() - start) / frames


def contact_sheet(demo: SyntheticDemonstration, count: int = 8) -> np.ndarray:
    """Return `count` frames of the plan in a 2-column grid, ground-truth keypoints drawn."""
    frames = demo.plan.frames
    picks = np.linspace(0, len(frames) - 1, count).astype(int)
    tiles = []
    for i in picks:
        image = frames[i].copy()
        h, w = image.shape[:2]
        for u, v in np.round(demo.ground_truth.keypoints_px[i]).astype(int):
            if 0 <= u < w and 0 <= v < h:
                image[max(v - 1, 0):v + 2, max(u - 1, 0):u + 2] = (255, 0, 255)
        tiles.append(image)
    rows = [np.concatenate(tiles[k:k + 2], axis=1) for k in range(0, len(tiles), 2)]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table."""
    import imageio.v3 as iio

    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--output', type=Path, default=Path('/tmp/lvp_bench_synthetic'))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--tasks', nargs='+', default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument('--cameras', nargs='+', default=list(CAMERA_POSES),
                        choices=list(CAMERA_POSES),
                        help='named poses of lvp_sim.world.CAMERA_POSES (default: all)')
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)

    results: dict = {'render_ms_per_frame': render_ms_per_frame(), 'runs': []}
    print(f'render only: {results["render_ms_per_frame"]:.1f} ms/frame (832x480 RGB)')
    print(f'{"task":18s} {"camera":18s} seed  ms/frame  detected  correct  median px  success')
    for task in args.tasks:
        for camera in args.cameras:
            for seed in args.seeds:
                config = DemonstrationConfig(task=task, seed=seed, camera=CAMERA_POSES[camera])
                start = time.perf_counter()
                demo = render_demonstration(config)
                ms = 1000.0 * (time.perf_counter() - start) / demo.plan.num_frames
                score = score_mediapipe(demo)
                run = {'task': task, 'camera': camera, 'seed': seed,
                       'demo_ms_per_frame': ms, 'detection_rate': score.detection_rate,
                       'correct_rate': score.correct_rate,
                       'median_error_px': score.median_error_px,
                       'per_landmark_median_px': np.nanmedian(
                           np.where(score.detected[:, None], score.errors_px, np.nan),
                           axis=0).round(1).tolist(),
                       'success': demo.outcome.success, 'outcome': demo.outcome.message}
                results['runs'].append(run)
                print(f'{task:18s} {camera:18s} {seed:4d} {ms:9.1f} {score.detection_rate:9.2f}'
                      f' {score.correct_rate:8.2f} {score.median_error_px:10.1f}  '
                      f'{demo.outcome.success}', flush=True)
                if seed == args.seeds[0]:
                    iio.imwrite(args.output / f'sheet_{task}_{camera}.png', contact_sheet(demo))
    runs = results['runs']
    results['summary'] = {
        'frames_correct_rate': float(np.mean([r['correct_rate'] for r in runs])),
        'frames_detected_rate': float(np.mean([r['detection_rate'] for r in runs])),
        'median_of_median_error_px': float(np.median([r['median_error_px'] for r in runs])),
        'all_tasks_succeeded': all(r['success'] for r in runs),
        'cameras': {name: asdict(CAMERA_POSES[name]) for name in args.cameras},
    }
    (args.output / 'results.json').write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results['summary'].items() if k != 'cameras'}))
    print(f'wrote {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
