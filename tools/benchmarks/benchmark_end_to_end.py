"""End-to-end sim success and accuracy against ground truth, per task x embodiment x seed.

Each episode: render the lvp_sim demonstration in the embodiment's world layout -> MediaPipe
tracking -> reconstruction -> gripper events + grasping (Franka) or Inspire retargeting (G1) ->
IK -> TOPP-RA -> safety filter -> execution by the MuJoCo executor in the SAME world (the seed's
object placements) -> the task's success predicate on the simulated scene. Compared with the
demonstration's exact ground truth:

- wrist position / orientation error of the smoothed base-frame wrist path (median, mm / deg);
- gripper close time minus the true contact onset (Franka, s; plan clock) and where the close
  came from (the hand's aperture, the hand's arrival at the detected grasp, or the human-contact
  fallback);
- Inspire retargeting: mean |command from tracked keypoints - command from true keypoints| over
  the six normalised actuators (G1; 0 = identical, 1 = fully open vs fully closed).

Prints one line per episode, a success-rate table per task and embodiment, and writes
`results.json` (+ the execution video of each episode with --videos) to the output folder.

    MUJOCO_GL=egl .venv/bin/python tools/benchmarks/benchmark_end_to_end.py \
        --output /tmp/lvp_bench_end_to_end --seeds 0 1 2

Measured figures (with the seeds they were measured on, held-out sets marked): README.md,
"End to end in MuJoCo: every task on both robots".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
from lvp_bringup.pipeline import PipelineConfig, StageError, run_pipeline  # noqa: E402
from lvp_common.artifacts import GripperAction, WristTrajectory  # noqa: E402
from lvp_common.geometry import rotation_angle_between  # noqa: E402
from lvp_sim.demonstrations import (  # noqa: E402
    TASK_NAMES,
    DemonstrationConfig,
    render_demonstration,
)
from lvp_sim.mujoco_executor import MujocoExecutor, SimConfig  # noqa: E402
from lvp_sim.tasks import evaluate_task  # noqa: E402
from lvp_sim.world import world_config_for  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402


def true_wrist_path(demo, indices: np.ndarray) -> WristTrajectory:
    """The ground-truth wrist path (robot base frame) with true finger keypoints (wrist frame)."""
    gt = demo.ground_truth
    rot = Rotation.from_quat(gt.wrist_quaternions_base[indices])
    rel = gt.keypoints_base[indices] - gt.wrist_positions_base[indices][:, None]
    fingers = np.einsum('tji,tkj->tki', rot.as_matrix(), rel)
    return WristTrajectory(gt.times[indices], gt.wrist_positions_base[indices],
                           gt.wrist_quaternions_base[indices], demo.observation.base_frame,
                           True, fingers)


def retarget_error(result, demo) -> float:
    """Mean |tracked - true| normalised Inspire command over actuators and frames."""
    from lvp_retarget.dexterous import retarget_wrist_trajectory

    idx = result.tracking.track_frame_indices
    truth = retarget_wrist_trajectory(true_wrist_path(demo, idx), result.hand_track.handedness)
    ours = result.hand_commands
    n = min(len(truth.times), len(ours.times))
    return float(np.mean(np.abs(ours.normalized[:n] - truth.normalized[:n])))


def episode(task: str, embodiment: str, seed: int, num_frames: int, out: Path | None,
            lifting_method: str = '') -> dict:
    """Run one episode and return its row (lifting_method '' = the embodiment's default)."""
    world = world_config_for(embodiment)
    demo = render_demonstration(DemonstrationConfig(task=task, seed=seed, num_frames=num_frames,
                                                    world=world))
    executor = MujocoExecutor(world_config=demo.world_config,
                              config=SimConfig(render_fps=10.0 if out else 0.0))
    config = PipelineConfig(executor=executor)
    if lifting_method:
        from lvp_reconstruction.lifting import LiftingConfig
        from lvp_reconstruction.reconstruct import ReconstructionConfig

        config = PipelineConfig(executor=executor, reconstruction=ReconstructionConfig(
            lifting=LiftingConfig(method=lifting_method)))
    row: dict = {'task': task, 'embodiment': embodiment, 'seed': seed,
                 'demo_success': bool(demo.outcome.success)}
    start = time.perf_counter()
    try:
        result = run_pipeline(demo.observation, demo.plan, embodiment, config)
    except StageError as exc:
        row.update(success=False, failed_stage=exc.stage, error=exc.message,
                   wall_s=time.perf_counter() - start)
        result = exc.result
        if result is None or result.wrist_base is None:
            return row
    else:
        row['wall_s'] = time.perf_counter() - start
    gt = demo.ground_truth
    if result.mapping is not None:
        row['family'] = result.mapping.family  # the task family read from the plan
    idx = result.tracking.track_frame_indices  # type: ignore[union-attr]
    wrist = result.wrist_base
    assert wrist is not None
    row['wrist_err_median_mm'] = 1e3 * float(np.median(np.linalg.norm(
        wrist.positions - gt.wrist_positions_base[idx], axis=1)))
    row['wrist_angle_median_deg'] = float(np.median(np.degrees(rotation_angle_between(
        wrist.quaternions, gt.wrist_quaternions_base[idx]))))
    contact = np.flatnonzero(gt.contact)
    if embodiment == 'franka_gripper' and contact.size and result.gripper_events:
        closes = [e.time for e in result.gripper_events if e.action is GripperAction.CLOSE]
        if closes:
            row['close_time_error_s'] = float(closes[0] - gt.times[contact[0]])
        from_aperture = result.gripper is not None and any(
            e.action is GripperAction.CLOSE for e in result.gripper.events)  # type: ignore
        registered = result.mapping is not None and bool(result.mapping.path_offset)
        row['close_source'] = ('aperture' if from_aperture else
                               'arrival at the detected grasp' if registered
                               else 'human-contact fallback')
    if embodiment == 'g1_inspire' and result.hand_commands is not None:
        row['retarget_error'] = retarget_error(result, demo)
    execution = result.execution
    if execution is not None:
        outcome = evaluate_task(demo.task_spec, execution.initial_state,  # type: ignore
                                execution.final_state)  # type: ignore
        row.update(success=bool(outcome.success), measured=outcome.measured,
                   outcome=outcome.message)
        if out is not None and len(execution.frames):  # type: ignore[attr-defined]
            from lvp_sim.mujoco_executor import write_video

            write_video(execution.frames, out / f'{embodiment}_{task}_{seed}.mp4',  # type: ignore
                        execution.frame_rate)  # type: ignore[attr-defined]
    return row


ONLY_ON = {'wipe': ('g1_inspire',)}
"""Tasks that apply to some embodiments only (the Franka's closed gripper does not wipe)."""


def applies(task: str, embodiment: str) -> bool:
    """Whether the task x embodiment cell is benchmarked."""
    return embodiment in ONLY_ON.get(task, (embodiment,))


def _fmt(row: dict) -> str:
    parts = [f"{row['embodiment']:14s} {row['task']:16s} seed {row['seed']}",
             'SUCCESS' if row.get('success') else 'fail   ']
    if 'wrist_err_median_mm' in row:
        parts.append(f"wrist {row['wrist_err_median_mm']:5.1f} mm "
                     f"{row['wrist_angle_median_deg']:5.1f} deg")
    if 'close_time_error_s' in row:
        parts.append(f"close {row['close_time_error_s']:+.2f} s ({row['close_source']})")
    if 'retarget_error' in row:
        parts.append(f"retarget {row['retarget_error']:.3f}")
    if row.get('family'):
        parts.append(f"family {row['family']}")
    parts.append(row.get('outcome') or f"{row.get('failed_stage')}: {row.get('error')}")
    return ' | '.join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--output', type=Path, default=Path('/tmp/lvp_bench_end_to_end'))
    parser.add_argument('--tasks', nargs='+', default=list(TASK_NAMES), choices=TASK_NAMES)
    parser.add_argument('--embodiments', nargs='+', default=['franka_gripper', 'g1_inspire'])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--num-frames', type=int, default=49)
    parser.add_argument('--videos', action='store_true', help='write each execution as MP4')
    parser.add_argument('--lifting-method', default='',
                        help="lvp_reconstruction lifting method ('hand_model' | 'keypoints'; "
                             "default: the embodiment's, Franka hand_model, G1 keypoints)")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    rows = []
    for embodiment in args.embodiments:
        for task in (t for t in args.tasks if applies(t, embodiment)):
            for seed in args.seeds:
                row = episode(task, embodiment, seed, args.num_frames,
                              args.output if args.videos else None, args.lifting_method)
                rows.append(row)
                print(_fmt(row), flush=True)
    print('\nsuccess rate (episodes that reached the task check and passed it):')
    for embodiment in args.embodiments:
        for task in (t for t in args.tasks if applies(t, embodiment)):
            sel = [r for r in rows if r['embodiment'] == embodiment and r['task'] == task]
            ok = sum(bool(r.get('success')) for r in sel)
            errs = [r['wrist_err_median_mm'] for r in sel if 'wrist_err_median_mm' in r]
            err = f', wrist median {np.median(errs):.1f} mm' if errs else ''
            families = sorted({r['family'] for r in sel if r.get('family')})
            read = f", family read: {'/'.join(families)}" if families else ''
            print(f'  {embodiment:14s} {task:16s} {ok}/{len(sel)}{err}{read}')
    (args.output / 'results.json').write_text(json.dumps(rows, indent=1))
    print(f'wrote {args.output / "results.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
