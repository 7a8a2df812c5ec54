"""`lvp_eval`: sample K plans per prompt, write the rating sheet, print the 4-level table.

    lvp_eval generate --prompts prompts.json --wan-dir Wan2.1-I2V-14B-480P-Diffusers \\
        --checkpoint lvp_14B.ckpt --model-name lvp --out eval/ [--k 4]
    lvp_eval generate ... --checkpoint runs/lab/lora --model-name lab-lora --out eval/
    (open eval/rating_sheet.html, rate, save ratings.csv)
    lvp_eval auto --out eval/ [--embodiments g1_inspire]   # automatic columns per plan
    lvp_eval table --out eval/ --ratings ratings.csv

Exit status (lvp_common.cli_exit's table): 0 ok, 1 bad input (prompt set, ratings, options),
2 the model could not be loaded or planning failed, 11 outputs could not be written, 64 usage
error, 70 internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lvp_common.cli_exit import (  # before torch/diffusers: sets their log levels
    CliArgumentParser,
    CliError,
    ExitCode,
    check_output_path,
    run_cli,
)
from lvp_planner.evaluation import (
    EvaluationError,
    auto_summary,
    format_table,
    generate_plans,
    load_plans,
    read_prompt_set,
    read_ratings,
    score,
    write_rating_sheet,
)


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line: generate, sheet, auto, table."""
    p = CliArgumentParser(prog='lvp_eval', description=(__doc__ or '').splitlines()[0])
    sub = p.add_subparsers(dest='command', required=True)
    g = sub.add_parser('generate', help='sample K plans per prompt for one model')
    g.add_argument('--prompts', required=True, help='prompt set JSON: [{id, image, task}]')
    g.add_argument('--wan-dir', required=True)
    g.add_argument('--checkpoint', help='LVP .ckpt, diffusers folder or lvp_finetune LoRA folder')
    g.add_argument('--trust-checkpoint-pickle', action='store_true')
    g.add_argument('--model-name', required=True, help='the row name in the table')
    g.add_argument('--k', type=int, default=4, help='plans per prompt (default 4)')
    g.add_argument('--seed', type=int, default=0)
    g.add_argument('--steps', type=int, default=None)
    g.add_argument('--num-frames', type=int, default=None)
    g.add_argument('--height', type=int, default=None)
    g.add_argument('--width', type=int, default=None)
    g.add_argument('--device', default='auto')
    g.add_argument('--dtype', default='auto')
    g.add_argument('--out', required=True, help='evaluation folder (shared by all models)')
    s = sub.add_parser('sheet', help='(re)write rating_sheet.html')
    s.add_argument('--out', required=True)
    a = sub.add_parser('auto', help='automatic columns per plan: hand found, fit residual, '
                                    'reachable per robot (a dry run), sim task done')
    a.add_argument('--out', required=True)
    a.add_argument('--embodiments', nargs='+', default=None, metavar='NAME',
                   help='the robots to judge real prompts for (default: every registered one; '
                        'a sim prompt is judged for its own embodiment)')
    t = sub.add_parser('table', help='print Avg and Best@K per level and model')
    t.add_argument('--out', required=True)
    t.add_argument('--ratings', required=True, nargs='+', help='ratings CSV/JSON file(s)')
    return p


def _generate(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from lvp_common.artifacts import PlanRequest
    from lvp_planner.checkpoint import CheckpointError, check_model_files
    from lvp_planner.cli import load_planner
    from lvp_planner.sampler import PlanningError, SamplerConfig

    check_output_path(args.out, '--out', kind='dir')
    try:
        prompts = read_prompt_set(args.prompts)
        changes = {k: v for k, v in (('num_inference_steps', args.steps),
                                     ('num_frames', args.num_frames), ('height', args.height),
                                     ('width', args.width)) if v is not None}
        config = replace(SamplerConfig(device=args.device, dtype=args.dtype,
                                       model_name=args.model_name), **changes)
        if args.k < 1:
            raise EvaluationError(f'--k must be >= 1, got {args.k}')
    except (EvaluationError, ValueError) as exc:
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    try:
        check_model_files(args.wan_dir, args.checkpoint)
        planner = load_planner(args.wan_dir, args.checkpoint, config,
                               trust_pickle=args.trust_checkpoint_pickle)
    except CheckpointError as exc:
        raise CliError(ExitCode.PLANNER_FAILED, str(exc)) from exc

    def plan(image, sentences, seed):
        return planner.plan(image, PlanRequest(tuple(sentences), seed=seed))

    try:
        entries = generate_plans(plan, prompts, args.out, args.model_name, args.k, args.seed,
                                 progress=lambda text: print(text, file=sys.stderr))
    except PlanningError as exc:
        raise CliError(ExitCode.PLANNER_FAILED, f'planning failed: {exc}') from exc
    except OSError as exc:
        raise CliError(ExitCode.ARCHIVE_FAILED, f'cannot write {args.out}: {exc}') from exc
    mine = sum(e['model'] == args.model_name for e in entries)
    print(f'wrote {mine} plans of {args.model_name} ({len(prompts)} prompts x {args.k}); '
          f'rate them in {Path(args.out) / "rating_sheet.html"}')
    return 0


def run(args: argparse.Namespace) -> int:
    """Run one subcommand."""
    if args.command == 'generate':
        return _generate(args)
    if not load_plans(args.out):
        raise CliError(ExitCode.INVALID_GOAL, f'{args.out}: no plans.json (run lvp_eval '
                       f'generate first)')
    try:
        if args.command == 'sheet':
            print(f'wrote {write_rating_sheet(args.out)}')
        elif args.command == 'auto':
            from lvp_bringup.plan_eval import automatic_columns

            auto = automatic_columns(args.out, args.embodiments,
                                     progress=lambda t: print(t, file=sys.stderr))
            print(f'hand found in {sum(v["hand found"] for v in auto.values())} of '
                  f'{len(auto)} plans; wrote {Path(args.out) / "auto.json"}')
            for model, columns in auto_summary(args.out).items():
                print(f'{model}: ' + ', '.join(f'{c} {v:.1f}' for c, v in columns.items()))
        else:
            plans = load_plans(args.out)
            ratings = [r for path in args.ratings for r in read_ratings(path, plans)]
            print(format_table(score(ratings), auto_summary(args.out)))
            unrated = {e['id'] for e in plans} - {r['video'] for r in ratings}
            if unrated:
                print(f'note: {len(unrated)} plan(s) not rated (left out): '
                      f'{", ".join(sorted(unrated)[:8])}')
    except EvaluationError as exc:
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (lvp_common.cli_exit's table)."""
    return run_cli(build_parser(), argv, run)


if __name__ == '__main__':
    sys.exit(main())
