"""Guidance- and context-parallel sampling in 2 gloo processes equals one process's plan."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from lvp_planner.sampler import SamplerConfig, VideoPlanner
from lvp_planner.tiny_models import build_tiny_models

CONFIG = SamplerConfig(num_frames=9, height=32, width=48, num_inference_steps=3,
                       max_text_tokens=8, device='cpu', dtype='float32')
PROMPTS = ['pick up the cup', 'put it in the bowl']


def _image() -> np.ndarray:
    y, x = np.mgrid[0:40, 0:60]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=-1).astype(np.uint8)


def _rank(rank: int, world_size: int, port: int, out_dir: str) -> None:
    from lvp_planner.parallel import ParallelVideoPlanner

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        for mode in ('guidance', 'context'):
            planner = ParallelVideoPlanner(build_tiny_models(seed=0), CONFIG, mode=mode)
            samples = planner.sample(_image(), PROMPTS, seed=5)
            latents = torch.cat([c.latents for c in samples.chunks])
            torch.save(latents, Path(out_dir) / f'{mode}_{rank}.pt')
            planner.close()
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_two_gloo_ranks_equal_the_single_process_plan(tmp_path):
    mp.spawn(_rank, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    single = VideoPlanner(build_tiny_models(seed=0), CONFIG).sample(_image(), PROMPTS, seed=5)
    expected = torch.cat([c.latents for c in single.chunks])
    for mode in ('guidance', 'context'):
        ranks = [torch.load(tmp_path / f'{mode}_{r}.pt') for r in range(2)]
        assert torch.equal(ranks[0], ranks[1]), f'{mode}: the ranks disagree'
        torch.testing.assert_close(ranks[0], expected, rtol=1e-4, atol=1e-4,
                                   msg=lambda m, mode=mode: f'{mode}: {m}')
