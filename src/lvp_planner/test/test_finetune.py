"""Diffusion-forcing fine-tuning on the tiny model: objective, noise draws, LoRA/full, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lvp_common.video_io import write_video
from lvp_planner.checkpoint import load_planner_models
from lvp_planner.dataset import BuildConfig, LatentClipDataset, build_dataset
from lvp_planner.finetune import (
    LVP_HISTORY_PROBS,
    NoiseConfig,
    TrainConfig,
    diffusion_forcing_loss,
    finetune,
    flow_target,
    noisy_latents,
    read_loss_log,
    sample_noise_levels,
    shift_sigma,
)
from lvp_planner.sampler import SamplerConfig, VideoPlanner, make_scheduler
from lvp_planner.tiny_models import build_tiny_models, build_tiny_transformer, save_wan_dir
from scipy import stats

FRAMES, HEIGHT, WIDTH = 17, 32, 48


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A Wan folder of the tiny models and a dataset of 4 rendered lvp_sim clips (17 frames)."""
    from lvp_sim.demonstrations import TASK_PROMPTS, DemonstrationConfig, render_demonstration

    root = tmp_path_factory.mktemp('finetune')
    models = build_tiny_models(seed=0)
    wan = save_wan_dir(models, root / 'wan')
    rows = []
    for seed, task in enumerate(('press', 'push')):
        demo = render_demonstration(DemonstrationConfig(task=task, seed=seed, num_frames=34))
        write_video(root / f'{task}.mp4', demo.plan.frames, demo.plan.fps)
        rows.append(json.dumps({'video': f'{task}.mp4', 'caption': TASK_PROMPTS[task]}))
    (root / 'clips.jsonl').write_text('\n'.join(rows))
    planner = VideoPlanner(models, SamplerConfig(FRAMES, HEIGHT, WIDTH, max_text_tokens=8,
                                                 device='cpu', dtype='float32'))
    build_dataset(root / 'clips.jsonl', root / 'data', planner,
                  BuildConfig(FRAMES, width=WIDTH, height=HEIGHT, feature_dtype='float32',
                              write_clips=False))
    return wan, root / 'data'


@pytest.fixture(autouse=True)
def fresh_accelerate_state():
    """Let each test pick its own mixed precision: accelerate keeps one state per process."""
    yield
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(reset_partial_state=True)
    GradientState._reset_state()


def _eval_loss(model: torch.nn.Module, data: LatentClipDataset) -> float:
    """Mean loss over fixed draws (same batches and noise before and after training)."""
    with torch.no_grad():
        total = 0.0
        for i in range(8):
            gen = torch.Generator().manual_seed(1000 + i)
            batch = data.batch([i % len(data)])
            total += float(diffusion_forcing_loss(model, batch, gen, NoiseConfig())[0])
    return total / 8


def test_noise_levels_follow_the_stated_distribution() -> None:
    config = NoiseConfig()
    draw = sample_noise_levels(40000, 13, torch.Generator().manual_seed(0), config)
    counts = np.bincount(draw.history_lengths.numpy(), minlength=7) / 40000
    np.testing.assert_allclose(counts, LVP_HISTORY_PROBS, atol=0.01)
    assert abs(float(draw.clean_history.float().mean()) - 0.5) < 0.01
    sig = draw.sigmas.numpy()
    k = draw.history_lengths.numpy()
    rows = np.arange(len(k))
    # one level for the history frames, one for the future frames
    history, future = sig[rows, k - 1], sig[rows, k]
    assert np.all(sig[rows, -1] == future)
    assert np.all(sig[rows, 0] == history)
    clean = draw.clean_history.numpy()
    assert np.all(history[clean] == 0.0)

    def shifted_cdf(x: np.ndarray) -> np.ndarray:  # sigma = 3u / (1 + 2u)  <=>  u = x / (3 - 2x)
        return x / (3.0 - 2.0 * x)

    assert stats.kstest(future, shifted_cdf).pvalue > 0.01
    assert stats.kstest(history[~clean], shifted_cdf).pvalue > 0.01
    assert stats.kstest(future, 'uniform').pvalue < 1e-6  # the shift is applied
    # a clip of 3 latent frames: lengths renormalised to 0..2
    short = sample_noise_levels(20000, 3, torch.Generator().manual_seed(1), config)
    share = np.bincount(short.history_lengths.numpy(), minlength=3) / 20000
    np.testing.assert_allclose(share, [0.0, 5 / 6, 1 / 6], atol=0.01)


def test_flow_target_is_what_the_sampler_integrates() -> None:
    """The trained target, integrated by the sampler's own UniPC scheduler, lands on z0."""
    gen = torch.Generator().manual_seed(0)
    z0 = torch.randn(1, 16, 3, 4, 6, generator=gen)
    config = SamplerConfig(num_frames=9, height=32, width=48, num_inference_steps=12)
    scheduler = make_scheduler(config)
    scheduler.set_timesteps(config.num_inference_steps)
    # the transformer sees sigma * 1000 in training and the scheduler's timesteps in sampling
    np.testing.assert_allclose(scheduler.timesteps.float().numpy(),
                               scheduler.sigmas[:-1].numpy() * 1000, atol=1.0)
    x = torch.randn(z0.shape, generator=gen)
    for i, t in enumerate(scheduler.timesteps):
        sigma = float(scheduler.sigmas[i])
        # x = (1 - s) z0 + s eps  =>  eps = (x - (1 - s) z0) / s: the oracle's exact target
        eps = (x - (1.0 - sigma) * z0) / sigma
        torch.testing.assert_close(noisy_latents(z0, eps, torch.full((1, 3), sigma)), x)
        x = scheduler.step(flow_target(z0, eps), t, x, return_dict=False)[0]
    torch.testing.assert_close(x, z0, atol=1e-4, rtol=1e-4)
    # the opposite sign diverges: the convention is not a matter of taste
    x = torch.randn(z0.shape, generator=gen)
    scheduler = make_scheduler(config)
    scheduler.set_timesteps(config.num_inference_steps)
    for i, t in enumerate(scheduler.timesteps):
        sigma = float(scheduler.sigmas[i])
        eps = (x - (1.0 - sigma) * z0) / sigma
        x = scheduler.step(-flow_target(z0, eps), t, x, return_dict=False)[0]
    assert float((x - z0).abs().mean()) > 1.0


def test_fifty_full_steps_lower_the_loss_and_reload(tiny_data, tmp_path: Path) -> None:
    wan, data_dir = tiny_data
    data = LatentClipDataset(data_dir)
    model = build_tiny_transformer(seed=0)
    before = _eval_loss(model, data)
    config = TrainConfig(max_steps=50, lr=2e-3, warmup_steps=5, seed=0)
    result = finetune(model, data, tmp_path / 'run', config, show_progress=False)
    model.eval()
    after = _eval_loss(model, data)
    assert after < 0.8 * before, (before, after)
    log = read_loss_log(tmp_path / 'run')
    assert [s for s, _ in log] == list(range(1, 51))
    assert [v for _, v in log] == pytest.approx(result.losses, rel=1e-5)
    # the output folder plans with the sampler
    loaded = load_planner_models(wan, result.output)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.transformer.state_dict()[name], value)
    planner = VideoPlanner(loaded, SamplerConfig(FRAMES, HEIGHT, WIDTH, num_inference_steps=2,
                                                 max_text_tokens=8, device='cpu'))
    frames = planner.sample(np.full((32, 48, 3), 90, np.uint8), ['press the red button']).frames
    assert frames.shape == (17, 32, 48, 3)


def test_lora_saves_and_merges_into_the_sampler(tiny_data, tmp_path: Path) -> None:
    wan, data_dir = tiny_data
    data = LatentClipDataset(data_dir)
    base = build_tiny_transformer(seed=0)
    model = build_tiny_transformer(seed=0)
    config = TrainConfig(max_steps=20, lr=5e-3, warmup_steps=1, lora_rank=4)
    result = finetune(model, data, tmp_path / 'run', config, show_progress=False)
    assert result.output.name == 'lora'
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    assert names and all('lora_' in n for n in names)
    model.eval()
    loaded = load_planner_models(wan, result.output).transformer
    gen = torch.Generator().manual_seed(5)
    inputs = dict(hidden_states=torch.randn(1, 36, 5, 4, 6, generator=gen),
                  timestep=torch.full((1, 30), 500.0),
                  encoder_hidden_states=torch.randn(1, 8, 16, generator=gen),
                  encoder_hidden_states_image=torch.randn(1, 5, 12, generator=gen),
                  return_dict=False)
    with torch.no_grad():
        trained, merged, original = (m(**inputs)[0] for m in (model, loaded, base))
    torch.testing.assert_close(merged, trained, atol=1e-5, rtol=1e-4)
    assert float((merged - original).abs().max()) > 1e-3  # the adapter changed the model
    assert not any('lora' in n for n in loaded.state_dict())


def test_bf16_autocast_gradient_checkpointing_and_accumulation(tiny_data, tmp_path: Path
                                                              ) -> None:
    _, data_dir = tiny_data
    data = LatentClipDataset(data_dir)
    model = build_tiny_transformer(seed=0)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    config = TrainConfig(max_steps=3, lr=1e-3, warmup_steps=1, grad_accum=2,
                         mixed_precision='bf16', gradient_checkpointing=True)
    result = finetune(model, data, tmp_path / 'run', config, show_progress=False)
    assert model.is_gradient_checkpointing
    assert len(result.losses) == 3 and all(np.isfinite(result.losses))
    assert any(not torch.equal(v, start[k]) for k, v in model.state_dict().items())


def test_resume_continues_the_loss_curve(tiny_data, tmp_path: Path) -> None:
    _, data_dir = tiny_data
    data = LatentClipDataset(data_dir)
    config = TrainConfig(max_steps=6, lr=1e-3, warmup_steps=3, save_every=3)
    straight = finetune(build_tiny_transformer(seed=0), data, tmp_path / 'a', config,
                        show_progress=False).losses
    first = finetune(build_tiny_transformer(seed=0), data, tmp_path / 'b',
                     TrainConfig(max_steps=3, lr=1e-3, warmup_steps=3, save_every=3),
                     show_progress=False)
    # a fresh model: everything the curve needs comes from the checkpoint
    second = finetune(build_tiny_transformer(seed=7), data, tmp_path / 'b', config,
                      show_progress=False)
    assert first.losses == pytest.approx(straight[:3], rel=1e-6)
    assert second.start_step == 3
    assert second.losses == pytest.approx(straight[3:], rel=1e-5)
    assert [loss for _, loss in read_loss_log(tmp_path / 'b')] == pytest.approx(straight,
                                                                                rel=1e-5)


def test_two_process_accelerate_run_trains_and_saves(tiny_data, tmp_path: Path) -> None:
    wan, data_dir = tiny_data
    accelerate = Path(sys.executable).with_name('accelerate')
    # accelerate's launcher starts the processes (torchrun); ACCELERATE_USE_CPU makes them
    # join a gloo group on the CPU (`--cpu` alone would start a single process)
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'ACCELERATE_USE_CPU': 'true'}
    cmd = [str(accelerate), 'launch', '--multi_gpu', '--num_processes', '2', '--num_machines', '1',
           '--mixed_precision', 'no', '--dynamo_backend', 'no', '-m',
           'lvp_planner.finetune_cli', '--dataset', str(data_dir), '--wan-dir', str(wan),
           '--out', str(tmp_path / 'run'), '--max-steps', '4', '--save-every', '2',
           '--lr', '1e-3', '--warmup-steps', '1']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count('wrote ') == 1  # one process reports
    assert 'in 2 process(es)' in proc.stdout
    assert sorted(p.name for p in (tmp_path / 'run' / 'checkpoints').iterdir()) == [
        'step-2', 'step-4']
    assert len(read_loss_log(tmp_path / 'run')) == 4
    loaded = load_planner_models(wan, tmp_path / 'run' / 'transformer').transformer
    start = build_tiny_transformer(seed=0).state_dict()
    assert any(not torch.equal(v, start[k]) for k, v in loaded.state_dict().items())


def test_accelerate_configs_parse() -> None:
    from accelerate.commands.config.config_args import load_config_from_file
    from diffusers.models.transformers import transformer_wan

    import lvp_planner

    configs = Path(lvp_planner.__file__).parent / 'accelerate_configs'
    kinds = {p.stem: load_config_from_file(str(p)) for p in configs.glob('*.yaml')}
    assert sorted(kinds) == ['ddp_8gpu', 'fsdp_8gpu', 'one_gpu']
    fsdp: Any = kinds['fsdp_8gpu']
    assert fsdp.distributed_type.value == 'FSDP' and fsdp.num_processes == 8
    wrap = fsdp.fsdp_config['fsdp_transformer_layer_cls_to_wrap']
    assert hasattr(transformer_wan, wrap)  # the class FSDP wraps exists in diffusers


def test_shift_sigma_endpoints() -> None:
    u = torch.tensor([0.0, 0.5, 1.0])
    torch.testing.assert_close(shift_sigma(u, 3.0), torch.tensor([0.0, 0.75, 1.0]))


def test_cli_lora_on_bf16_weights(tiny_data, tmp_path: Path,
                                  capsys: pytest.CaptureFixture) -> None:
    from lvp_planner.finetune_cli import main as finetune_main

    wan, data_dir = tiny_data
    common = ['--dataset', str(data_dir), '--wan-dir', str(wan), '--max-steps', '2',
              '--lora-rank', '4', '--weights-dtype', 'bfloat16', '--warmup-steps', '1']
    assert finetune_main([*common, '--out', str(tmp_path / 'r')]) == 1
    assert '--weights-dtype bfloat16 needs --mixed-precision bf16' in capsys.readouterr().err
    assert finetune_main([*common, '--mixed-precision', 'bf16', '--out',
                          str(tmp_path / 'r')]) == 0
    out = capsys.readouterr().out
    assert 'steps 1..2 on 4 clips' in out and 'lora' in out
    adapter = load_planner_models(wan, tmp_path / 'r' / 'lora').transformer
    assert all(p.dtype == torch.float32 and bool(torch.isfinite(p).all())
               for p in adapter.parameters())
    bad = ['--dataset', str(tmp_path), '--wan-dir', str(wan), '--out', str(tmp_path / 's')]
    assert finetune_main(bad) == 1
    assert 'not a dataset folder (no index.json)' in capsys.readouterr().err
