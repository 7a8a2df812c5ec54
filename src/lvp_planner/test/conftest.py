"""Tiny random LVP models and a small sampling config shared by the planner tests."""

from __future__ import annotations

import numpy as np
import pytest
from lvp_planner.sampler import SamplerConfig
from lvp_planner.tiny_models import build_tiny_models


@pytest.fixture
def tiny_models():
    return build_tiny_models(seed=0)


@pytest.fixture
def tiny_config() -> SamplerConfig:
    return SamplerConfig(num_frames=9, height=32, width=48, num_inference_steps=4,
                         max_text_tokens=8, device='cpu', dtype='float32', model_name='tiny')


@pytest.fixture
def scene_image() -> np.ndarray:
    """A 40x60 RGB image with structure (gradients + a block), not the plan's size."""
    y, x = np.mgrid[0:40, 0:60]
    img = np.stack([x * 4, y * 6, (x + y) * 2], axis=-1).astype(np.uint8)
    img[10:25, 20:35] = (200, 30, 30)
    return img
