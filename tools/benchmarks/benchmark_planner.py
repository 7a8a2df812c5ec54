"""Benchmark lvp_planner: one denoising step and a full plan, sequential vs batched guidance.

Random weights throughout (timing does not depend on them). `--size tiny` is the test-sized
model set on the CPU; `--size 14b` is the Wan 2.1 I2V 14B DiT shape (40 layers, dim 5120) at
49 x 480 x 832 with the real-size VAE and CLIP token count, meant for one GPU (bf16); its text
encoder is a one-layer umT5 of the real width (4096), so text encoding costs little there.

Each guidance mode runs in a fresh process: a one-step warm-up, then `--repeats` single-chunk
plans, the minimum shown. Step time is the median interval between progress callbacks (the
three guidance passes + the scheduler update). Plan time covers text encoding, VAE encode, CLIP,
all steps and the VAE decode. Peak memory is torch.cuda.max_memory_allocated on GPU and the
peak process RSS on CPU (which includes the interpreter, torch and the weights).

    .venv/bin/python tools/benchmarks/benchmark_planner.py --size tiny
    .venv/bin/python tools/benchmarks/benchmark_planner.py --size 14b --steps 10
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
from lvp_planner.tiny_models import build_tiny_models, build_tiny_tokenizer
from transformers import CLIPVisionConfig, CLIPVisionModel, UMT5Config, UMT5EncoderModel


@dataclass
class RunResult:
    step_s: float
    plan_s: float
    peak_bytes: int


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


def run_plan(planner: VideoPlanner, image: np.ndarray, seed: int) -> RunResult:
    """Time one full single-chunk plan and its denoising steps."""
    stamps: list[float] = []

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
    steps = np.diff([start, *stamps])[1:] if len(stamps) > 1 else np.array([total])
    return RunResult(float(statistics.median(steps)), total, peak_memory_bytes(planner.device))


def run_mode(args: argparse.Namespace) -> RunResult:
    """Build the models and time one guidance mode (runs in its own process)."""
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
                           attention_backend=args.attention_backend,
                           batched_guidance=args.mode == 'batched')
    image = np.random.default_rng(0).integers(0, 256, (size[1], size[2], 3), dtype=np.uint8)
    VideoPlanner(models, replace(config, num_inference_steps=1)).sample(image, ['warm'], seed=0)
    runs = [run_plan(VideoPlanner(models, config), image, seed=1) for _ in range(args.repeats)]
    # the minimum is the least disturbed by other processes sharing the machine
    return RunResult(min(r.step_s for r in runs), min(r.plan_s for r in runs),
                     max(r.peak_bytes for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or '').splitlines()[0])
    parser.add_argument('--size', choices=('tiny', '14b'), default='tiny')
    parser.add_argument('--device', default='auto')
    parser.add_argument('--steps', type=int, default=40, help='denoising steps per plan')
    parser.add_argument('--num-frames', type=int, help='frames per plan (default 49)')
    parser.add_argument('--height', type=int, help='pixels (tiny default 64, 14b 480)')
    parser.add_argument('--width', type=int, help='pixels (tiny default 96, 14b 832)')
    parser.add_argument('--attention-backend', default=None)
    parser.add_argument('--repeats', type=int, default=3, help='plans per mode (min is shown)')
    parser.add_argument('--mode', choices=('sequential', 'batched'), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # child process: one mode, one JSON line
        print(json.dumps(asdict(run_mode(args))))
        return

    print(f'size {args.size}, {args.steps} steps, device {resolve_device(args.device)}, '
          f'torch {torch.__version__}, {torch.get_num_threads()} threads; each mode runs in a '
          f'fresh process')
    memory = 'peak CUDA allocated' if resolve_device(args.device).type == 'cuda' \
        else 'peak process RSS'
    results: dict[str, RunResult] = {}
    for mode in ('sequential', 'batched'):
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], '--mode', mode],
                             check=True, capture_output=True, text=True).stdout
        results[mode] = RunResult(**json.loads(out.strip().splitlines()[-1]))
        r = results[mode]
        print(f'{mode:10s}: step {r.step_s * 1000:9.1f} ms   plan {r.plan_s:8.2f} s   '
              f'{memory} {r.peak_bytes / 2**20:9.1f} MiB')
    seq, bat = results['sequential'], results['batched']
    print(f'ratio sequential/batched: step {seq.step_s / bat.step_s:.2f}x, '
          f'plan {seq.plan_s / bat.plan_s:.2f}x, '
          f'peak memory {seq.peak_bytes / bat.peak_bytes:.2f}x')


if __name__ == '__main__':
    main()
