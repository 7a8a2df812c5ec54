"""`lvp-plan`: generate a video plan from an image and task prompts and write it as a video.

    lvp_plan --checkpoint lvp_14B.ckpt --wan-dir Wan2.1-I2V-14B-480P-Diffusers \\
        --image scene.png --prompt "pick up the cup" [--prompt "put it in the bowl"] \\
        --seed 0 --out plan.mp4

Exit status (lvp_common.cli_exit's table): 0 ok, 1 bad input, 2 planning failed (model,
checkpoint, sampling), 64 usage error, 70 internal error (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch.distributed as dist
from lvp_common.artifacts import PlanRequest, VideoPlan
from lvp_common.cli_exit import (  # before torch/diffusers: sets their log levels
    CliArgumentParser,
    CliError,
    ExitCode,
    check_output_path,
    run_cli,
)
from lvp_common.input_files import read_rgb_image
from lvp_common.video_io import write_video

from lvp_planner.checkpoint import CheckpointError, check_model_files, load_planner_models
from lvp_planner.conditioning import prompt_truncation_notes
from lvp_planner.models import resolve_device, resolve_dtype
from lvp_planner.parallel import MODES, ParallelVideoPlanner, join_torchrun
from lvp_planner.sampler import PlanningError, SamplerConfig, VideoPlanner
from lvp_planner.speed import CACHES, PRESETS, parse_mag_ratios, with_preset


def load_planner(wan_dir: str | Path, checkpoint: str | Path | None,
                 config: SamplerConfig, trust_pickle: bool = False,
                 parallel: str | None = None) -> VideoPlanner:
    """Load the models (once) and build a planner for `config` (parallel: a MODES name)."""
    device = resolve_device(config.device)
    models = load_planner_models(wan_dir, checkpoint, dtype=resolve_dtype(config.dtype, device),
                                 trust_pickle=trust_pickle)
    if parallel is not None:
        return ParallelVideoPlanner(models, config, mode=parallel)
    return VideoPlanner(models, config)


def prompt_notes(planner: VideoPlanner, prompts: Sequence[str]) -> list[str]:
    """Notes on prompts the text encoder will cut (longer than max_text_tokens)."""
    return prompt_truncation_notes(planner.models.tokenizer, prompts,
                                   planner.config.max_text_tokens)


def plan_to_file(planner: VideoPlanner, image: np.ndarray, request: PlanRequest,
                 out: str | Path, show_progress: bool = True) -> VideoPlan:
    """Generate the plan for `request` (tqdm bar when show_progress) and write it to `out`."""
    from tqdm import tqdm

    steps = planner.config.num_inference_steps
    bar = tqdm(total=steps * len(request.prompts), unit='step', disable=not show_progress,
               desc='planning')

    def progress(chunk: int, step: int, num_steps: int) -> None:
        bar.set_postfix_str(f'chunk {chunk + 1}/{len(request.prompts)}')
        bar.update(1)

    try:
        plan = planner.plan(image, request, progress=progress)
    finally:
        bar.close()
    write_video(out, plan.frames, plan.fps)
    return plan


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line (defaults are SamplerConfig's)."""
    d = SamplerConfig()
    p = CliArgumentParser(prog='lvp_plan', description=(__doc__ or '').splitlines()[0])
    p.add_argument('--checkpoint', help='LVP Lightning .ckpt or diffusers transformer folder '
                   '(default: the Wan folder\'s own transformer, i.e. plain Wan 2.1 I2V)')
    p.add_argument('--trust-checkpoint-pickle', action='store_true',
                   help='allow non-tensor objects in the checkpoint (runs code from the file)')
    p.add_argument('--wan-dir', required=True, help='Wan 2.1 I2V 14B 480P diffusers folder')
    p.add_argument('--image', required=True, help='scene image (png/jpg)')
    p.add_argument('--prompt', action='append', required=True,
                   help='task sentence; repeat for sub-tasks planned chunk after chunk')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--out', required=True, help='output video (.mp4)')
    p.add_argument('--steps', type=int, default=None,
                   help=f'denoising steps (default {d.num_inference_steps}, or the preset\'s)')
    p.add_argument('--text-guidance', type=float, default=d.text_guidance_scale)
    p.add_argument('--history-guidance', type=float, default=d.history_guidance_scale)
    p.add_argument('--history-latent-frames', type=int, default=d.history_latent_frames)
    p.add_argument('--num-frames', type=int, default=d.num_frames)
    p.add_argument('--height', type=int, default=d.height)
    p.add_argument('--width', type=int, default=d.width)
    p.add_argument('--batched-guidance', action='store_true',
                   help='run the three guidance passes as one batch (more memory; faster only '
                        'where the device is not saturated, e.g. small models on a CPU)')
    p.add_argument('--device', default=d.device)
    p.add_argument('--dtype', default=d.dtype)
    p.add_argument('--attention-backend', default=d.attention_backend)
    p.add_argument('--no-offload-text-encoder', action='store_true')
    p.add_argument('--max-text-tokens', type=int, default=d.max_text_tokens)
    speed = p.add_argument_group('speed options (README "Speed options": what each trades); '
                                 'given flags override the preset')
    speed.add_argument('--preset', choices=sorted(PRESETS),
                       help='fast: 20 steps + first-block cache (+ FP8 and compile on CUDA)')
    speed.add_argument('--solver-order', type=int, help=f'UniPC order 1-3 ({d.solver_order})')
    speed.add_argument('--cache', help=f'diffusers cache: {", ".join(CACHES)}')
    speed.add_argument('--cache-threshold', type=float,
                       help=f'first_block / mag threshold ({d.cache_threshold})')
    speed.add_argument('--cache-interval', type=int,
                       help=f'taylorseer: compute every N-th step ({d.cache_interval})')
    speed.add_argument('--cache-warmup-steps', type=int,
                       help=f'taylorseer: steps always computed first ({d.cache_warmup_steps})')
    speed.add_argument('--cache-mag-ratios', type=parse_mag_ratios,
                       help='mag: comma-separated per-step magnitude ratios')
    speed.add_argument('--fp8', action='store_true', default=None,
                       help='torchao FP8 transformer blocks (CUDA, compute capability >= 8.9)')
    speed.add_argument('--compile-backend',
                       help='torch.compile the transformer blocks with this backend (inductor)')
    p.add_argument('--parallel', choices=MODES,
                   help='under torchrun, one process per GPU: guidance = a guidance pass per '
                        'process, context = the token sequence split; process 0 writes --out')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p


def run(args: argparse.Namespace) -> int:
    """Check the inputs, load the model, plan and write the video."""
    check_output_path(args.out, '--out')
    try:
        config = sampler_config(args)
        request = PlanRequest(tuple(args.prompt), seed=args.seed)
        image = read_rgb_image(args.image, '--image')
    except ValueError as exc:  # SamplerConfig, PlanRequest, InputFileError
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    if args.parallel:
        try:
            config = join_torchrun(config)
        except ValueError as exc:
            raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
        try:
            return _plan(args, config, request, image)
        finally:
            dist.destroy_process_group()
    return _plan(args, config, request, image)


def _plan(args: argparse.Namespace, config: SamplerConfig, request: PlanRequest,
          image: np.ndarray) -> int:
    """Load the model and write the plan (only process 0 writes under torchrun)."""
    writer = not args.parallel or dist.get_rank() == 0
    try:
        check_model_files(args.wan_dir, args.checkpoint)
        planner = load_planner(args.wan_dir, args.checkpoint, config,
                               trust_pickle=args.trust_checkpoint_pickle, parallel=args.parallel)
    except CheckpointError as exc:
        raise CliError(ExitCode.PLANNER_FAILED, str(exc)) from exc
    except ValueError as exc:  # a speed option the device cannot run (fp8 on a CPU)
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    if not writer:
        try:
            planner.plan(image, request)
        except PlanningError as exc:
            raise CliError(ExitCode.PLANNER_FAILED, f'planning failed: {exc}') from exc
        return 0
    for note in prompt_notes(planner, request.prompts):
        print(f'note: {note}')
    try:
        plan = plan_to_file(planner, image, request, args.out,
                            show_progress=not args.quiet and sys.stderr.isatty())
    except PlanningError as exc:
        raise CliError(ExitCode.PLANNER_FAILED, f'planning failed: {exc}') from exc
    print(f'wrote {args.out}: {plan.num_frames} frames at {plan.fps:g} fps, '
          f'chunks start at {list(plan.chunk_starts)}')
    return 0


SPEED_FLAGS = {'steps': 'num_inference_steps', 'solver_order': 'solver_order', 'cache': 'cache',
               'cache_threshold': 'cache_threshold', 'cache_interval': 'cache_interval',
               'cache_warmup_steps': 'cache_warmup_steps',
               'cache_mag_ratios': 'cache_mag_ratios', 'fp8': 'fp8',
               'compile_backend': 'compile_backend'}


def sampler_config(args: argparse.Namespace) -> SamplerConfig:
    """Build the SamplerConfig: the flags, the preset, then the speed flags given."""
    config = SamplerConfig(
        num_frames=args.num_frames, height=args.height, width=args.width,
        text_guidance_scale=args.text_guidance,
        history_guidance_scale=args.history_guidance,
        history_latent_frames=args.history_latent_frames,
        batched_guidance=args.batched_guidance, device=args.device, dtype=args.dtype,
        attention_backend=args.attention_backend,
        offload_text_encoder=not args.no_offload_text_encoder,
        max_text_tokens=args.max_text_tokens)
    if args.preset:
        config = with_preset(config, args.preset)
    given = {field: getattr(args, flag) for flag, field in SPEED_FLAGS.items()
             if getattr(args, flag) is not None}
    return replace(config, **given) if given else config


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (lvp_common.cli_exit's table)."""
    return run_cli(build_parser(), argv, run)


if __name__ == '__main__':
    sys.exit(main())
