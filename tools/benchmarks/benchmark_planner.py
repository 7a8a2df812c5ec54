"""Benchmark lvp_planner's speed options: NFEs, step time, plan time, peak memory vs the default.

Random weights throughout (timing does not depend on them). `--size tiny` is the test-sized
model set on the CPU; `--size 14b` is the Wan 2.1 I2V 14B DiT shape (40 layers, dim 5120) at
49 x 480 x 832 with the real-size VAE and CLIP token count, meant for one GPU (bf16); its text
encoder is a one-layer umT5 of the real width (4096), so text encoding costs little there.

Each variant (VARIANTS: a set of SamplerConfig changes, or the `fast` preset) runs in a fresh
process: a one-step warm-up (compilation happens there), then `--repeats` single-chunk plans,
the minimum shown. NFEs per plan: transformer calls, and full-DiT equivalents (self-attention
computations over all blocks / number of blocks: a cache that skips or extrapolates blocks
lowers it; a batched call counts once per pass in its batch). Step time is the median interval
between progress callbacks (the guidance passes + the scheduler update). Plan time covers text
encoding, VAE encode, CLIP, all steps and the VAE decode. Peak memory is
torch.cuda.max_memory_allocated on GPU and the peak process RSS on CPU
(which includes the interpreter, torch and the weights). Ratios are default / variant (above 1
= faster or smaller). Variants a device cannot run (fp8 and compile off CUDA) are listed as
skipped with the reason.

    .venv/bin/python tools/benchmarks/benchmark_planner.py --size tiny
    .venv/bin/python tools/benchmarks/benchmark_planner.py --size 14b --steps 10   # one GPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from diffusers.models.autoencoders.autoencoder_kl_wan import AutoencoderKLWan
from lvp_planner.checkpoint import WAN21_I2V_14B_CONFIG
from lvp_planner.models import PlannerModels, cast_transformer, resolve_device
from lvp_planner.sampler import SamplerConfig, VideoPlanner
from lvp_planner.speed import fp8_unavailable_reason, with_preset
from lvp_planner.tiny_models import build_tiny_models, build_tiny_tokenizer
from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel

VARIANTS: dict[str, dict[str, object]] = {
    'default': {},
    'batched': {'batched_guidance': True},
    'half_steps': {'num_inference_steps': 0.5},  # a fraction of --steps
    'first_block_0.05': {'cache': 'first_block', 'cache_threshold': 0.05},
    'first_block_0.1': {'cache': 'first_block', 'cache_threshold': 0.1},
    'taylorseer_5': {'cache': 'taylorseer', 'cache_interval': 5, 'cache_warmup_steps': 3},
    'compile': {'compile_backend': 'inductor'},
    'fp8': {'fp8': True},
    'fp8+compile': {'fp8': True, 'compile_backend': 'inductor'},
    'fast': {'preset': 'fast'},
}
CUDA_ONLY = ('compile', 'fp8', 'fp8+compile')  # inductor on a CPU compiles for minutes


@dataclass
class RunResult:
    step_s: float
    plan_s: float
    peak_bytes: int
    calls: int = 0
    full_nfe: float = 0.0
    skipped: str = ''


def peak_memory_bytes(device: torch.device) -> int:
    """Peak memory so far: the CUDA allocator's peak, or the process's peak RSS on CPU."""
    if device.type == 'cuda':
        torch.cuda.synchronize()
        return int(torch.cuda.max_memory_allocated())
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024  # Linux: KiB


def build_14b_models(device: torch.device,
                     dit_config: dict | None = None) -> PlannerModels:
    """Build 14B-shaped random components directly on `device` in bfloat16 (no fp32 copy)."""
    from accelerate import init_empty_weights
    from diffusers.models.transformers.transformer_wan import WanTransformer3DModel

    with init_empty_weights():
        transformer = WanTransformer3DModel.from_config(dit_config or WAN21_I2V_14B_CONFIG)
    assert isinstance(transformer, WanTransformer3DModel)
    cast_transformer(transformer, torch.bfloat16)
    transformer.to_empty(device=device)
    with torch.no_grad():
        for param in transformer.parameters():
            param.normal_(0.0, 0.02)
    # to_empty also blanked the rope tables (buffers): rebuild them
    rope = transformer.rope
    fresh = type(rope)(rope.attention_head_dim, rope.patch_size, rope.max_seq_len)
    transformer.rope = fresh.to(device)
    vae = AutoencoderKLWan()  # the Wan 2.1 VAE's default config
    tokenizer = build_tiny_tokenizer()
    text_encoder = UMT5EncoderModel(UMT5Config(
        vocab_size=len(tokenizer), d_model=4096, d_kv=64, d_ff=1024, num_layers=1, num_heads=4,
        pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))
    image_encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=1280, intermediate_size=1280, num_hidden_layers=2, num_attention_heads=16,
        image_size=224, patch_size=14))
    return PlannerModels(transformer, vae, text_encoder, tokenizer, image_encoder)


def variant_config(base: SamplerConfig, name: str) -> SamplerConfig:
    """Apply variant `name` to the base config."""
    changes = dict(VARIANTS[name])
    if 'preset' in changes:
        return with_preset(base, str(changes.pop('preset')))
    if 'num_inference_steps' in changes:
        fraction = float(changes['num_inference_steps'])  # type: ignore[arg-type]
        changes['num_inference_steps'] = max(1, round(base.num_inference_steps * fraction))
    return replace(base, **changes)  # type: ignore[arg-type]


def skip_reason(config: SamplerConfig, name: str) -> str:
    """Why variant `name` cannot run on this device ('' when it can)."""
    device = resolve_device(config.device)
    if config.fp8 and (reason := fp8_unavailable_reason(device)):
        return reason
    if name in CUDA_ONLY and device.type != 'cuda':
        return 'CUDA only in this benchmark'
    return ''


class NfeCounter:
    """Count transformer calls and self-attention computations over all blocks."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        self.calls = 0
        self.attention = 0
        blocks = transformer.get_submodule('blocks')
        assert isinstance(blocks, torch.nn.ModuleList)
        self.num_blocks = len(blocks)
        self._handles = [transformer.register_forward_pre_hook(self._call)]
        for block in blocks:
            self._handles.append(
                block.get_submodule('attn1.to_q').register_forward_hook(self._attention))

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()

    def _call(self, *_args: object) -> None:
        self.calls += 1

    def _attention(self, _module: object, _args: object, output: torch.Tensor) -> None:
        self.attention += output.shape[0]  # a batched call computes every pass in its batch


def run_plan(planner: VideoPlanner, image: np.ndarray, seed: int) -> RunResult:
    """Time one full single-chunk plan and its denoising steps."""
    stamps: list[float] = []
    counter = NfeCounter(planner.models.transformer)  # type: ignore[arg-type]

    def progress(chunk: int, step: int, steps: int) -> None:
        if planner.device.type == 'cuda':
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    if planner.device.type == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    planner.sample(image, ['pick up the cup'], seed=seed, progress=progress)
    if planner.device.type == 'cuda':
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    counter.remove()
    steps = np.diff([start, *stamps])[1:] if len(stamps) > 1 else np.array([total])
    return RunResult(float(statistics.median(steps)), total, peak_memory_bytes(planner.device),
                     counter.calls, counter.attention / counter.num_blocks)


def run_variant(args: argparse.Namespace) -> RunResult:
    """Build the models and time one variant (runs in its own process)."""
    device = resolve_device(args.device)
    if args.size == 'tiny':
        models = build_tiny_models()
        size = (args.num_frames or 49, args.height or 64, args.width or 96)
        text_tokens = 16
    else:
        if device.type != 'cuda':
            raise SystemExit('--size 14b needs a CUDA device (a 14B model does not fit a CPU run)')
        models = build_14b_models(device)
        size = (args.num_frames or 49, args.height or 480, args.width or 832)
        text_tokens = 512
    config = SamplerConfig(num_frames=size[0], height=size[1], width=size[2],
                           num_inference_steps=args.steps, device=str(device),
                           max_text_tokens=text_tokens, offload_text_encoder=False,
                           attention_backend=args.attention_backend)
    config = variant_config(config, args.variant)
    if reason := skip_reason(config, args.variant):
        return RunResult(0.0, 0.0, 0, skipped=reason)
    image = np.random.default_rng(0).integers(0, 256, (size[1], size[2], 3), dtype=np.uint8)
    planner = VideoPlanner(models, config)  # fp8 and compile change the models once, here
    planner.sample(image, ['warm'], seed=0, num_inference_steps=2)
    runs = [run_plan(planner, image, seed=1) for _ in range(args.repeats)]
    # the minimum is the least disturbed by other processes sharing the machine
    return RunResult(min(r.step_s for r in runs), min(r.plan_s for r in runs),
                     max(r.peak_bytes for r in runs), runs[0].calls, runs[0].full_nfe)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--size', choices=('tiny', '14b'), default='tiny')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--steps', type=int, default=40, help='denoising steps per plan')
    parser.add_argument('--num-frames', type=int, help='frames per plan (default 49)')
    parser.add_argument('--height', type=int, help='pixels (tiny default 64, 14b 480)')
    parser.add_argument('--width', type=int, help='pixels (tiny default 96, 14b 832)')
    parser.add_argument('--attention-backend', default=None)
    parser.add_argument('--repeats', type=int, default=3, help='plans per variant (min shown)')
    parser.add_argument('--variants', default=','.join(VARIANTS),
                        help=f'comma-separated, from {", ".join(VARIANTS)}')
    parser.add_argument('--variant', choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:  # child process: one variant, one JSON line
        print(json.dumps(asdict(run_variant(args))))
        return
    names = [n.strip() for n in args.variants.split(',') if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or 'default' not in names:
        parser.error(f'--variants must include default and name only {list(VARIANTS)}, '
                     f'got {names}')

    print(f'size {args.size}, {args.steps} steps, device {resolve_device(args.device)}, '
          f'torch {torch.__version__}, {torch.get_num_threads()} threads; each variant runs in '
          f'a fresh process; ratios are default / variant')
    memory = 'peak CUDA MiB' if resolve_device(args.device).type == 'cuda' else 'peak RSS MiB'
    print(f'{"variant":18s} {"calls":>6s} {"full NFE":>9s} {"step ms":>9s} {"plan s":>8s} '
          f'{memory:>14s}   ratios: {"NFE":>6s} {"step":>6s} {"plan":>6s} {"memory":>6s}')
    results: dict[str, RunResult] = {}
    for name in ['default', *(n for n in names if n != 'default')]:
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], '--variant', name],
                             check=True, capture_output=True, text=True).stdout
        r = results[name] = RunResult(**json.loads(out.strip().splitlines()[-1]))
        if r.skipped:
            print(f'{name:18s} skipped: {r.skipped}')
            continue
        d = results['default']
        print(f'{name:18s} {r.calls:6d} {r.full_nfe:9.1f} {r.step_s * 1000:9.1f} '
              f'{r.plan_s:8.2f} {r.peak_bytes / 2**20:14.1f}   ratios: '
              f'{d.full_nfe / r.full_nfe:5.2f}x {d.step_s / r.step_s:5.2f}x '
              f'{d.plan_s / r.plan_s:5.2f}x {d.peak_bytes / r.peak_bytes:5.2f}x')

if __name__ == '__main__':
    main()
