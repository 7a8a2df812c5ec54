"""Benchmark the plan court: best-of-1 vs best-of-N with a demonstration planner that makes flawed
plans at a known rate (lvp_sim.plan_flaws: wrong object, out of reach, missed grasp).

For each goal seed: the scene is lvp_sim's world for that seed (its camera's RGB-D observation);
candidate k's plan is the synthetic demonstration for seed + k, flawed with probability
`--flaw-rate` (the flaw drawn per seed, reproducibly). Best-of-1 executes its one plan as the
pipeline always did (open loop: every stage must pass, then it moves); best-of-N runs the court
(dry run + sim-twin rollout of every candidate, the best feasible one executes). Success is the
task's predicate on the real execution in the MuJoCo world. Prints per goal and a summary with
wall time per goal.

    python tools/benchmarks/benchmark_court.py --seeds 100 101 102 103 104 105 106 107 \
        --candidates 1 4 --flaw-rate 0.5
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault('MUJOCO_GL', 'egl')

from lvp_bringup.embodiments import embodiment_named  # noqa: E402
from lvp_bringup.pipeline import PipelineConfig, StageError, run_pipeline  # noqa: E402
from lvp_bringup.plan_court import SimTwin, candidate_seeds, run_court  # noqa: E402
from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration  # noqa: E402
from lvp_sim.mujoco_executor import MujocoExecutor, SimConfig  # noqa: E402
from lvp_sim.plan_flaws import FlawPolicy, render_with_flaw  # noqa: E402
from lvp_sim.tasks import evaluate_task, task_spec_for  # noqa: E402


def run_goal(task: str, embodiment: str, seed: int, candidates: int, policy: FlawPolicy,
             num_frames: int) -> dict:
    """One goal: returns success, the flaws of its candidates, the chosen index, wall time."""
    world = embodiment_named(embodiment).world_config()
    started = time.perf_counter()
    scene = render_demonstration(DemonstrationConfig(task=task, seed=seed, num_frames=8,
                                                     world=world))
    spec = task_spec_for(task, scene.world_config)
    seeds = candidate_seeds(seed, candidates)
    flaws = [policy.flaw_for(s) for s in seeds]

    def plan_for(index: int, plan_seed: int):
        demo = render_with_flaw(DemonstrationConfig(task=task, seed=plan_seed,
                                                    num_frames=num_frames, world=world),
                                flaws[index])
        return demo.plan

    executor = MujocoExecutor(scene.world_config, SimConfig())
    config = PipelineConfig(executor=executor)
    row = {'seed': seed, 'flaws': flaws, 'chosen': None, 'success': False, 'reason': ''}
    try:
        if candidates == 1:  # the open-loop pipeline: one plan, executed if every stage passes
            result = run_pipeline(scene.observation, plan_for(0, seeds[0]), embodiment, config)
            row['chosen'] = 0
        else:
            outcome = run_court(plan_for, scene.observation, embodiment, seeds, config,
                                twin=SimTwin(scene.world_config, spec))
            result = outcome.chosen.result
            row['chosen'] = outcome.chosen.verdict.index
            row['scores'] = [round(v.score, 3) if v.feasible else None
                             for v in outcome.verdicts]
        assert result is not None
        task_outcome = evaluate_task(spec, result.execution.initial_state,
                                     result.execution.final_state)
        row['success'], row['reason'] = task_outcome.success, task_outcome.message
    except StageError as exc:
        row['reason'] = f'{exc.stage}: {exc.message}'[:160]
    finally:
        executor.close()
    row['wall_s'] = time.perf_counter() - started
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--candidates', type=int, nargs='+', default=[1, 4])
    parser.add_argument('--flaw-rate', type=float, default=0.5)
    parser.add_argument('--flaw-seed', type=int, default=0)
    parser.add_argument('--task', default='reach_grasp_lift')
    parser.add_argument('--embodiment', default='franka_gripper')
    parser.add_argument('--num-frames', type=int, default=49)
    args = parser.parse_args()
    policy = FlawPolicy(args.flaw_rate, flaw_seed=args.flaw_seed)
    summary = []
    for n in args.candidates:
        rows = []
        for seed in args.seeds:
            row = run_goal(args.task, args.embodiment, seed, n, policy, args.num_frames)
            rows.append(row)
            print(f'best-of-{n} seed {seed}: {"SUCCESS" if row["success"] else "FAIL"} '
                  f'chosen {row["chosen"]} flaws {row["flaws"]} scores {row.get("scores")} '
                  f'{row["wall_s"]:.1f} s: {row["reason"]}', flush=True)
        ok = sum(r['success'] for r in rows)
        flawed = sum(r['flaws'][0] is not None for r in rows)
        wall = sum(r['wall_s'] for r in rows) / len(rows)
        summary.append(f'best-of-{n}: {ok}/{len(rows)} succeeded ({100.0 * ok / len(rows):.0f} %),'
                       f' first candidate flawed in {flawed}/{len(rows)}, '
                       f'{wall:.1f} s wall per goal')
    print(f'\n{args.task}, {args.embodiment}, flaw rate {args.flaw_rate:g} (flaw seed '
          f'{args.flaw_seed}), seeds {args.seeds}:')
    for line in summary:
        print(line)


if __name__ == '__main__':
    main()
