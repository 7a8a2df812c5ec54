"""`lvp demo/run --num-candidates N`: the plan court (lvp_bringup.plan_court) in the `lvp` tool.

Candidate k is planned with seed --seed + k by the same source as the single plan (the synthetic
demonstration, or the video model with --wan-dir; a recorded --plan-video is one plan and is
refused), judged by a dry run and a rollout in the sim twin (the world the tool executes in,
with the lvp_sim task's predicate when the plan is a synthetic demonstration), and the best
feasible one executes. Each verdict is printed as it is decided.
"""

from __future__ import annotations

import argparse
from typing import Any

from lvp_common.cli_exit import CliError, ExitCode

from lvp_bringup.embodiments import embodiment_named
from lvp_bringup.pipeline_types import PipelineConfig, PipelineResult, ProgressCallback
from lvp_bringup.plan_court import SimTwin, Verdict, candidate_seeds, run_court


def add_court_argument(p: argparse.ArgumentParser) -> None:
    """The --num-candidates option of `lvp demo` and `lvp run`."""
    p.add_argument('--num-candidates', type=int, default=1, metavar='N',
                   help='plan court: plan N candidates (seeds --seed, --seed + 1, ...), judge '
                        'each by a dry run and a sim-twin rollout, execute the best feasible '
                        'one (1 = the single plan, no court)')


def court_requested(args: Any) -> bool:
    """Whether the options ask for the court; CliError for a count or source it cannot use."""
    count = int(getattr(args, 'num_candidates', 1))
    if count < 1:
        raise CliError(ExitCode.INVALID_GOAL, f'--num-candidates must be >= 1, got {count}')
    if count > 1 and getattr(args, 'plan_video', None):
        raise CliError(ExitCode.INVALID_GOAL, '--num-candidates needs a plan source that '
                       'samples (the synthetic demonstration or --wan-dir): a recorded '
                       '--plan-video is a single plan')
    return count > 1


def run_cli_court(args: Any, inputs: Any, config: PipelineConfig,
                  progress: ProgressCallback) -> tuple[PipelineResult, list[Verdict]]:
    """Run the court over --num-candidates plans; `inputs` (cli.PlanInputs) holds candidate 0's
    plan and gets the chosen plan. Raises the court's StageError (CourtError) on failure."""
    from lvp_bringup import cli

    def plan_for(index: int, seed: int):
        if index == 0:
            return inputs.plan
        other = argparse.Namespace(**{**vars(args), 'seed': seed})
        if args.wan_dir:
            return cli.generated_plan(other, inputs.observation, inputs.task)
        return cli.synthetic_inputs(other).plan

    demo = inputs.demo
    world = (demo.world_config if demo is not None
             else embodiment_named(args.embodiment).world_config())
    twin = SimTwin(world, demo.task_spec if demo is not None else None)
    outcome = run_court(plan_for, inputs.observation, args.embodiment,
                        candidate_seeds(args.seed, args.num_candidates), config, twin=twin,
                        judged=lambda v: print(f'plan court: {v.summary()}', flush=True),
                        progress=lambda _i, stage, f, o: progress(stage, f, o))
    chosen = outcome.chosen
    assert chosen.plan is not None and chosen.result is not None
    inputs.plan = chosen.plan
    print(f'plan court: executing candidate {chosen.verdict.index} (seed {chosen.verdict.seed})'
          if not config.plan_only else
          f'plan court: chose candidate {chosen.verdict.index} (seed {chosen.verdict.seed}); '
          f'plan only')
    return chosen.result, outcome.verdicts
