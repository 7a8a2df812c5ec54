"""`lvp_finetune`: fine-tune the LVP transformer on an lvp_dataset folder (diffusion forcing).

    lvp_finetune --dataset data/lab --wan-dir Wan2.1-I2V-14B-480P-Diffusers \\
        --checkpoint lvp_14B.ckpt --out runs/lab [--lora-rank 32] [--max-steps 2000]

One process as is; DDP or FSDP with `accelerate launch [--config_file ...] -m
lvp_planner.finetune_cli ...`. Rerunning with the same --out resumes from its latest checkpoint.
Exit status (lvp_common.cli_exit's table): 0 ok, 1 bad input (options, dataset), 2 the model
could not be loaded or training diverged, 11 outputs could not be written, 64 usage error,
70 internal error.
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

from lvp_planner.checkpoint import (
    CheckpointError,
    check_model_files,
    load_diffusers_transformer,
    load_transformer,
)
from lvp_planner.dataset import DatasetError, LatentClipDataset
from lvp_planner.finetune import FinetuneError, NoiseConfig, TrainConfig, finetune


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(','))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected comma-separated numbers, got {text!r}') \
            from None


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line (defaults are TrainConfig's: LVP's recipe)."""
    d, n = TrainConfig(), NoiseConfig()
    p = CliArgumentParser(prog='lvp_finetune', description=(__doc__ or '').splitlines()[0])
    p.add_argument('--dataset', required=True, help='folder written by lvp_dataset')
    p.add_argument('--wan-dir', required=True, help='Wan 2.1 I2V diffusers folder')
    p.add_argument('--checkpoint', help='weights to start from (LVP .ckpt or diffusers folder; '
                   'default the Wan folder\'s transformer)')
    p.add_argument('--trust-checkpoint-pickle', action='store_true')
    p.add_argument('--out', required=True, help='run folder (checkpoints, loss.csv, result)')
    p.add_argument('--max-steps', type=int, default=d.max_steps)
    p.add_argument('--batch-size', type=int, default=d.batch_size, help='clips per process')
    p.add_argument('--grad-accum', type=int, default=d.grad_accum)
    p.add_argument('--lr', type=float, default=d.lr)
    p.add_argument('--warmup-steps', type=int, default=d.warmup_steps)
    p.add_argument('--weight-decay', type=float, default=d.weight_decay)
    p.add_argument('--max-grad-norm', type=float, default=d.max_grad_norm)
    p.add_argument('--mixed-precision', default=d.mixed_precision, choices=('no', 'bf16', 'fp16'))
    p.add_argument('--gradient-checkpointing', action='store_true')
    p.add_argument('--weights-dtype', default='float32', choices=('float32', 'bfloat16'),
                   help='dtype of the frozen weights (LoRA); trained weights are float32. '
                        'bfloat16 needs --mixed-precision bf16')
    p.add_argument('--lora-rank', type=int, default=0, help='0 (default): train all weights')
    p.add_argument('--lora-alpha', type=int, default=None, help='default: the rank')
    p.add_argument('--save-every', type=int, default=500, help='checkpoint interval (steps)')
    p.add_argument('--keep-checkpoints', type=int, default=d.keep_checkpoints)
    p.add_argument('--seed', type=int, default=d.seed)
    p.add_argument('--history-probs', type=_floats, default=n.history_probs,
                   help='P(history length 0, 1, 2, ...) in latent frames (default LVP\'s '
                        '0,0.5,0.1,0.1,0.1,0.1,0.1)')
    p.add_argument('--clean-history-prob', type=float, default=n.clean_history_prob)
    p.add_argument('--no-resume', action='store_true', help='start over even if --out has '
                   'checkpoints')
    return p


def run(args: argparse.Namespace) -> int:
    """Check the inputs, load the transformer and train."""
    check_output_path(args.out, '--out', kind='dir')
    try:
        config = TrainConfig(
            max_steps=args.max_steps, batch_size=args.batch_size, grad_accum=args.grad_accum,
            lr=args.lr, warmup_steps=args.warmup_steps, weight_decay=args.weight_decay,
            max_grad_norm=args.max_grad_norm, mixed_precision=args.mixed_precision,
            gradient_checkpointing=args.gradient_checkpointing, lora_rank=args.lora_rank,
            lora_alpha=args.lora_alpha, save_every=args.save_every,
            keep_checkpoints=args.keep_checkpoints, seed=args.seed,
            noise=NoiseConfig(history_probs=args.history_probs,
                              clean_history_prob=args.clean_history_prob))
        dataset = LatentClipDataset(args.dataset)
    except (FinetuneError, DatasetError) as exc:
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    if args.weights_dtype == 'bfloat16' and args.mixed_precision != 'bf16':
        raise CliError(ExitCode.INVALID_GOAL, '--weights-dtype bfloat16 needs --mixed-precision '
                       f'bf16 (got {args.mixed_precision}): float32 activations cannot pass '
                       f'bfloat16 layers')
    import torch

    dtype = torch.bfloat16 if args.weights_dtype == 'bfloat16' else torch.float32
    try:
        check_model_files(args.wan_dir, args.checkpoint)
        if args.checkpoint is None:
            transformer = load_diffusers_transformer(Path(args.wan_dir) / 'transformer', dtype)
        else:
            transformer = load_transformer(args.checkpoint, dtype=dtype,
                                           trust_pickle=args.trust_checkpoint_pickle)
    except CheckpointError as exc:
        raise CliError(ExitCode.PLANNER_FAILED, str(exc)) from exc
    latent = dataset.index['latent_shape']
    text_dim = int(transformer.config['text_dim'])  # type: ignore[index]
    if dataset[0]['text'].shape[1] != text_dim:
        raise CliError(ExitCode.INVALID_GOAL, f'{args.dataset} was encoded with a '
                       f'{dataset[0]["text"].shape[1]}-wide text encoder; the transformer '
                       f'takes {text_dim}')
    base = None if args.checkpoint is None else str(Path(args.checkpoint).resolve())
    try:
        result = finetune(transformer, dataset, args.out, config, resume=not args.no_resume,
                          base_checkpoint=base, show_progress=sys.stderr.isatty())
    except FinetuneError as exc:
        raise CliError(ExitCode.PLANNER_FAILED, str(exc)) from exc
    except OSError as exc:
        raise CliError(ExitCode.ARCHIVE_FAILED, f'cannot write {args.out}: {exc}') from exc
    if not result.is_main_process:
        return 0
    if result.losses:
        print(f'steps {result.start_step + 1}..{args.max_steps} on {len(dataset)} clips '
              f'(latents {latent}) in {result.num_processes} process(es): loss '
              f'{result.losses[0]:.4f} -> {result.losses[-1]:.4f}')
    print(f'wrote {result.output} (plan with: --checkpoint {result.output})')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (lvp_common.cli_exit's table)."""
    return run_cli(build_parser(), argv, run)


if __name__ == '__main__':
    sys.exit(main())
