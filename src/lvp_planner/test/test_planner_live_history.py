"""A re-plan from what the camera saw: the tiny model's first chunk extends the live frames,
whose VAE latents are its history latents (the planner's live-history conditioning)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from lvp_common.artifacts import PlanRequest
from lvp_common.video_io import fit_to_size
from lvp_planner.sampler import PlanningError, VideoPlanner


def _live_frames(scene_image: np.ndarray, count: int) -> np.ndarray:
    """`count` camera frames: the scene with its block moving right, 3 px per frame."""
    frames = []
    for k in range(count):
        frame = scene_image.copy()
        frame[10:25, 20:35] = frame[0, 0]
        frame[10:25, 20 + 3 * k:35 + 3 * k] = (200, 30, 30)
        frames.append(frame)
    return np.stack(frames)


def test_replan_history_latents_are_the_vae_latents_of_the_observed_frames(
        tiny_models, tiny_config, scene_image):
    config = replace(tiny_config, num_frames=13, history_latent_frames=2)
    planner = VideoPlanner(tiny_models, config)
    live = _live_frames(scene_image, 7)
    samples = planner.sample(scene_image, ['pick up the cup'], seed=3, live_frames=live)
    chunk = samples.chunks[0]
    fitted = np.stack([fit_to_size(f, config.width, config.height) for f in live[-5:]])
    assert torch.equal(chunk.history_latents, planner.encode_frames(fitted))
    assert chunk.history_latents.shape[2] == 2 and chunk.history_pixel_frames == 5
    # not the image: a plan from the image alone has a one-frame history of other latents
    alone = planner.sample(scene_image, ['pick up the cup'], seed=3).chunks[0]
    assert alone.history_latents.shape[2] == 1
    assert not torch.equal(alone.history_latents, chunk.history_latents[:, :, :1])
    plan = planner.plan(scene_image, PlanRequest(('pick up the cup',), seed=3),
                        live_frames=live)
    assert plan.metadata['history'] == 'live frames: the last 5 observed frames'


def test_fewer_live_frames_than_the_history_use_whole_latent_frames(
        tiny_models, tiny_config, scene_image):
    config = replace(tiny_config, num_frames=13, history_latent_frames=2)
    planner = VideoPlanner(tiny_models, config)
    live = _live_frames(scene_image, 3)  # 3 frames: one whole latent frame (the newest)
    chunk = planner.sample(scene_image, ['a'], seed=0, live_frames=live).chunks[0]
    newest = fit_to_size(live[-1], config.width, config.height)[None]
    assert torch.equal(chunk.history_latents, planner.encode_frames(newest))
    with pytest.raises(PlanningError, match='live_frames must be'):
        planner.sample(scene_image, ['a'], live_frames=np.zeros((0, 4, 4, 3), np.uint8))
