"""Fine-tune the LVP transformer with the diffusion-forcing objective, through accelerate.

Objective (LVP's training, per clip of F latent frames z_0):
- a history length k is drawn from `history_probs` (index = k; LVP: 1 with p 0.5, 2..6 with
  0.1 each) and capped below F;
- one noise level for the k history frames and one for the F - k future frames, each
  sigma = s u / (1 + (s - 1) u) with u ~ U(0, 1) and shift s = 3; with p = 0.5 the history is
  clean (sigma 0);
- z_t = (1 - sigma) z_0 + sigma eps per latent frame, the 20 image-conditioning channels zero
  (as in sampling), the per-token timestep sigma * 1000 laid out as the sampler does
  (frame_levels_to_tokens);
- loss = MSE(f(z_t, c, t), eps - z_0) over all frames. This is the flow the sampler's UniPC
  scheduler takes (prediction_type 'flow_prediction': x_0 = x_t - sigma f), so a model trained
  on it samples with the planner unchanged. (Issue 21 writes the target `k (eps - z_0)`; the
  release and the scheduler use eps - z_0 with no factor.)

Training runs through accelerate (one process, DDP or FSDP by `accelerate launch` and its
config), with mixed precision, gradient accumulation, gradient checkpointing, full or LoRA
(peft) weights, checkpoints every `save_every` steps with exact resume (the data order and the
noise of every step come from generators seeded by (seed, step, micro-batch, rank)), a tqdm bar
and a CSV loss log. The result is a diffusers transformer folder (`transformer/`) or a LoRA
adapter folder (`lora/`), both loadable by checkpoint.load_planner_models.
"""

from __future__ import annotations

import csv
import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional

from lvp_planner.dataset import LatentClipDataset
from lvp_planner.sampler import frame_levels_to_tokens

LORA_DIR = 'lora'
FULL_DIR = 'transformer'
CHECKPOINTS_DIR = 'checkpoints'
LOSS_LOG = 'loss.csv'
LORA_META = 'lvp_lora.json'
LVP_HISTORY_PROBS = (0.0, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1)
"""P(history length = index), LVP's table: 1 latent frame half the time, 2..6 otherwise."""
DEFAULT_LORA_TARGETS = ('to_q', 'to_k', 'to_v', 'to_out.0')


class FinetuneError(ValueError):
    """A fine-tuning setting or input is unusable; the message names it."""


@dataclass(frozen=True)
class NoiseConfig:
    """The diffusion-forcing noise: history length table, clean-history probability, shift."""

    history_probs: tuple[float, ...] = LVP_HISTORY_PROBS
    clean_history_prob: float = 0.5
    shift: float = 3.0
    num_train_timesteps: int = 1000

    def __post_init__(self) -> None:
        p = self.history_probs
        if not p or any(not math.isfinite(v) or v < 0 for v in p) or not sum(p) > 0:
            raise FinetuneError(f'history_probs must be non-negative with a positive sum, '
                                f'got {p}')
        if not 0.0 <= self.clean_history_prob <= 1.0:
            raise FinetuneError(f'clean_history_prob must lie in [0, 1], got '
                                f'{self.clean_history_prob}')
        if not self.shift > 0:
            raise FinetuneError(f'shift must be positive, got {self.shift}')


def shift_sigma(u: torch.Tensor, shift: float) -> torch.Tensor:
    """Warp uniform u in [0, 1] to the shifted flow sigma s u / (1 + (s - 1) u)."""
    return shift * u / (1.0 + (shift - 1.0) * u)


@dataclass
class NoiseDraw:
    """One batch's draw: sigma per latent frame (B, F), history length and clean flag (B,)."""

    sigmas: torch.Tensor
    history_lengths: torch.Tensor
    clean_history: torch.Tensor


def sample_noise_levels(batch: int, num_latent_frames: int, generator: torch.Generator,
                        config: NoiseConfig) -> NoiseDraw:
    """Draw history lengths, clean-history flags and per-frame sigmas (CPU, from generator)."""
    probs = torch.tensor(config.history_probs[:num_latent_frames], dtype=torch.float64)
    if not probs.sum() > 0:
        raise FinetuneError(f'history_probs {config.history_probs} put no weight on a history '
                            f'shorter than the clip ({num_latent_frames} latent frames)')
    lengths = torch.multinomial(probs / probs.sum(), batch, replacement=True, generator=generator)
    clean = torch.rand(batch, generator=generator) < config.clean_history_prob
    u = torch.rand(batch, 2, generator=generator, dtype=torch.float64)
    history_sigma = torch.where(clean, 0.0, shift_sigma(u[:, 0], config.shift))
    future_sigma = shift_sigma(u[:, 1], config.shift)
    frame = torch.arange(num_latent_frames)[None]
    sigmas = torch.where(frame < lengths[:, None], history_sigma[:, None], future_sigma[:, None])
    return NoiseDraw(sigmas.float(), lengths, clean)


def noisy_latents(z0: torch.Tensor, eps: torch.Tensor, sigmas: torch.Tensor) -> torch.Tensor:
    """Interpolate (B, C, F, h, w) latents to per-frame sigmas (B, F): (1 - s) z0 + s eps."""
    s = sigmas.to(z0)[:, None, :, None, None]
    return (1.0 - s) * z0 + s * eps


def flow_target(z0: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """The flow the sampler's scheduler integrates: eps - z0 (x_0 = x_t - sigma * flow)."""
    return eps - z0


def diffusion_forcing_loss(model: torch.nn.Module, batch: Mapping[str, torch.Tensor],
                           generator: torch.Generator, config: NoiseConfig,
                           patch_hw: tuple[int, int] = (2, 2),
                           condition_channels: int = 20) -> tuple[torch.Tensor, NoiseDraw]:
    """Return the flow-matching MSE of one batch (latents, text, clip) and its noise draw."""
    z0 = batch['latents']
    b, _, f, h, w = z0.shape
    draw = sample_noise_levels(b, f, generator, config)
    eps = torch.randn(z0.shape, generator=generator).to(z0)
    zt = noisy_latents(z0, eps, draw.sigmas.to(z0.device))
    x = torch.cat([zt, zt.new_zeros(b, condition_channels, f, h, w)], dim=1)
    levels = draw.sigmas.to(z0.device) * config.num_train_timesteps
    timestep = frame_levels_to_tokens(levels, (h // patch_hw[0]) * (w // patch_hw[1]))
    out = model(hidden_states=x, timestep=timestep, encoder_hidden_states=batch['text'],
                encoder_hidden_states_image=batch.get('clip'), return_dict=False)[0]
    return functional.mse_loss(out.float(), flow_target(z0, eps).float()), draw


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, LoRA and bookkeeping settings (defaults: LVP's AdamW recipe).

    lora_rank 0 trains every weight; > 0 trains a LoRA adapter of that rank on lora_targets.
    max_steps counts optimiser steps (each over grad_accum micro-batches of batch_size per
    process). save_every: checkpoint interval in steps (0: only at the end).
    mixed_precision: 'no', 'bf16' or 'fp16' (accelerate's autocast).
    """

    max_steps: int = 1000
    batch_size: int = 1
    grad_accum: int = 1
    lr: float = 1e-5
    warmup_steps: int = 1000
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.05
    max_grad_norm: float = 1.0
    mixed_precision: str = 'no'
    gradient_checkpointing: bool = False
    lora_rank: int = 0
    lora_alpha: int | None = None
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    save_every: int = 0
    keep_checkpoints: int = 2
    seed: int = 0
    noise: NoiseConfig = field(default_factory=NoiseConfig)

    def __post_init__(self) -> None:
        for name in ('max_steps', 'batch_size', 'grad_accum'):
            if getattr(self, name) < 1:
                raise FinetuneError(f'{name} must be >= 1, got {getattr(self, name)}')
        for name in ('warmup_steps', 'save_every', 'lora_rank', 'keep_checkpoints'):
            if getattr(self, name) < 0:
                raise FinetuneError(f'{name} must be >= 0, got {getattr(self, name)}')
        if not self.lr > 0:
            raise FinetuneError(f'lr must be positive, got {self.lr}')
        if self.mixed_precision not in ('no', 'bf16', 'fp16'):
            raise FinetuneError(f"mixed_precision must be 'no', 'bf16' or 'fp16', got "
                                f'{self.mixed_precision!r}')


def _generator(seed: int, step: int, micro: int, rank: int) -> torch.Generator:
    """A generator for one micro-batch, so a resumed run draws what the first run drew."""
    return torch.Generator('cpu').manual_seed(
        (seed * 1_000_003 + step * 1009 + micro * 101 + rank) % (2 ** 63))


def _latest_checkpoint(root: Path) -> Path | None:
    found = sorted((int(p.name.split('-')[1]), p) for p in (root / CHECKPOINTS_DIR).glob('step-*')
                   if (p / 'trainer_state.json').is_file())
    return found[-1][1] if found else None


@dataclass
class TrainResult:
    """Where the run wrote its output, the steps it ran, its per-step losses (averaged over
    processes), whether this is the main process and how many processes trained."""

    output: Path
    start_step: int
    steps: int
    losses: list[float]
    is_main_process: bool = True
    num_processes: int = 1


def finetune(transformer: torch.nn.Module, dataset: LatentClipDataset, output_dir: str | Path,
             config: TrainConfig, resume: bool = True, base_checkpoint: str | None = None,
             show_progress: bool = True,
             on_step: Callable[[int, float], None] | None = None) -> TrainResult:
    """Train `transformer` on the cached clips; save checkpoints and the final weights.

    Runs in the processes accelerate launched (one when started directly). With resume, the
    latest checkpoint in output_dir/checkpoints is restored and the loss log continues from it.
    base_checkpoint is recorded with a LoRA adapter (None: the Wan folder's own transformer).
    """
    from accelerate import Accelerator
    from tqdm import tqdm

    out = Path(output_dir)
    accelerator = Accelerator(mixed_precision=config.mixed_precision,
                              gradient_accumulation_steps=config.grad_accum)
    rank = accelerator.process_index
    tr: Any = transformer
    patch = tuple(tr.config['patch_size'])
    condition_channels = int(tr.config['in_channels']) - int(tr.config['out_channels'])
    if config.lora_rank:
        from peft import LoraConfig

        tr.requires_grad_(False)
        tr.add_adapter(LoraConfig(r=config.lora_rank,
                                  lora_alpha=config.lora_alpha or config.lora_rank,
                                  target_modules=list(config.lora_targets),
                                  init_lora_weights=True))
    else:
        tr.requires_grad_(True)
    if config.gradient_checkpointing:
        tr.enable_gradient_checkpointing()
    tr.train()
    params = [p for p in tr.parameters() if p.requires_grad]
    for p in params:
        # trained weights and their AdamW state stay float32 (frozen weights may be bf16)
        p.data = p.data.float()
    if not params:
        raise FinetuneError(f'nothing to train: no module matches lora_targets '
                            f'{config.lora_targets}')
    optimizer = torch.optim.AdamW(params, lr=config.lr, betas=config.betas,
                                  weight_decay=config.weight_decay)
    warmup = max(config.warmup_steps, 1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer,
                                                  lambda s: min(1.0, (s + 1) / warmup))
    # the scheduler stays unprepared: accelerate would step it once per process, and LVP's
    # warm-up counts optimiser steps
    model, optimizer = accelerator.prepare(tr, optimizer)
    accelerator.register_for_checkpointing(scheduler)

    start = 0
    latest = _latest_checkpoint(out) if resume else None
    if latest is not None:
        accelerator.load_state(str(latest))
        start = int(json.loads((latest / 'trainer_state.json').read_text())['step'])
    log_rows = _read_log(out / LOSS_LOG, start) if accelerator.is_main_process else []
    bar = tqdm(total=config.max_steps, initial=start, unit='step', desc='fine-tuning',
               disable=not (show_progress and accelerator.is_main_process))
    losses: list[float] = []
    t0 = time.monotonic()
    for step in range(start, config.max_steps):
        total = torch.zeros((), device=accelerator.device)
        for micro in range(config.grad_accum):
            gen = _generator(config.seed, step, micro, rank)
            indices = torch.randint(len(dataset), (config.batch_size,), generator=gen).tolist()
            batch = {k: v.to(accelerator.device) for k, v in dataset.batch(indices).items()}
            with accelerator.accumulate(model):
                with accelerator.autocast():
                    loss, _ = diffusion_forcing_loss(model, batch, gen, config.noise,
                                                     (int(patch[1]), int(patch[2])),
                                                     condition_channels)
                accelerator.backward(loss)
                if accelerator.sync_gradients and config.max_grad_norm > 0:
                    accelerator.clip_grad_norm_(params, config.max_grad_norm)
                optimizer.step()
                if accelerator.sync_gradients:
                    scheduler.step()
                optimizer.zero_grad()
            total += loss.detach() / config.grad_accum
        value = float(accelerator.reduce(total, reduction='mean'))  # type: ignore[arg-type]
        if not math.isfinite(value):
            raise FinetuneError(f'the loss became {value} at step {step + 1}; lower the lr or '
                                f'check the dataset')
        losses.append(value)
        log_rows.append({'step': step + 1, 'loss': f'{value:.6g}',
                         'lr': f'{scheduler.get_last_lr()[0]:.6g}',
                         'elapsed_s': f'{time.monotonic() - t0:.2f}'})
        bar.update(1)
        bar.set_postfix_str(f'loss {value:.4f}')
        if on_step is not None:
            on_step(step + 1, value)
        last = step + 1 == config.max_steps
        if (config.save_every and (step + 1) % config.save_every == 0) or last:
            _save_checkpoint(accelerator, out, step + 1, config.keep_checkpoints)
            if accelerator.is_main_process:
                _write_log(out / LOSS_LOG, log_rows)
    bar.close()
    accelerator.wait_for_everyone()
    target = _save_model(accelerator, model, out, config, base_checkpoint)
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return TrainResult(target, start, config.max_steps - start, losses,
                       accelerator.is_main_process, accelerator.num_processes)


def _save_checkpoint(accelerator: Any, out: Path, step: int, keep: int) -> None:
    """Write the full training state (model, optimiser, scheduler, RNG) and prune old ones."""
    path = out / CHECKPOINTS_DIR / f'step-{step}'
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / 'trainer_state.json').write_text(json.dumps({'step': step}))
        if keep:
            import shutil

            older = sorted((int(p.name.split('-')[1]), p)
                           for p in (out / CHECKPOINTS_DIR).glob('step-*'))
            for _, old in older[:-keep]:
                shutil.rmtree(old)
    accelerator.wait_for_everyone()


def _save_model(accelerator: Any, model: torch.nn.Module, out: Path, config: TrainConfig,
                base_checkpoint: str | None) -> Path:
    """Save the trained transformer folder or the LoRA adapter folder (main process writes)."""
    state = accelerator.get_state_dict(model)
    unwrapped: Any = accelerator.unwrap_model(model)
    if not config.lora_rank:
        target = out / FULL_DIR
        if accelerator.is_main_process:
            from huggingface_hub import save_torch_state_dict

            # the gathered state (FSDP shards it), in diffusers' file names: a folder
            # load_diffusers_transformer and from_pretrained read
            unwrapped.save_config(target)
            save_torch_state_dict(state, target, max_shard_size='10GB',
                                  filename_pattern='diffusion_pytorch_model{suffix}.safetensors')
        return target
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    target = out / LORA_DIR
    if accelerator.is_main_process:
        lora = get_peft_model_state_dict(unwrapped, state_dict=state)
        target.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().float().cpu().contiguous() for k, v in lora.items()},
                  str(target / 'adapter_model.safetensors'))
        peft_config = unwrapped.peft_config['default'].to_dict()
        peft_config['target_modules'] = sorted(peft_config['target_modules'])
        (target / 'adapter_config.json').write_text(json.dumps(peft_config, indent=1,
                                                               default=str))
        (target / LORA_META).write_text(json.dumps({'base_checkpoint': base_checkpoint,
                                                    'train_config': asdict(config)}, indent=1))
    return target


_LOG_FIELDS = ('step', 'loss', 'lr', 'elapsed_s')


def _read_log(path: Path, upto: int) -> list[dict[str, Any]]:
    """Rows of an earlier run's loss log up to step `upto` (a resume continues after them)."""
    if upto == 0 or not path.is_file():
        return []
    with path.open() as f:
        return [row for row in csv.DictReader(f) if int(row['step']) <= upto]


def _write_log(path: Path, rows: list[dict[str, Any]]) -> None:
    partial = path.with_suffix('.partial')
    with partial.open('w', newline='') as f:
        writer: csv.DictWriter[str] = csv.DictWriter(f, fieldnames=list(_LOG_FIELDS))
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)


def read_loss_log(output_dir: str | Path) -> list[tuple[int, float]]:
    """Return (step, loss) pairs of a run's loss.csv."""
    with (Path(output_dir) / LOSS_LOG).open() as f:
        return [(int(r['step']), float(r['loss'])) for r in csv.DictReader(f)]
