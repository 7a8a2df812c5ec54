"""Speed options on tiny random Wan models: per-pass caches, steps, solver, FP8, compile."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from lvp_planner.sampler import SamplerConfig, VideoPlanner
from lvp_planner.speed import with_preset

PROMPTS = ['pick up the cup', 'put it in the bowl']


class BlockCounter:
    """Count real computations of the last block's self-attention (a skipped block has none)."""

    def __init__(self, transformer) -> None:
        self.calls = 0
        transformer.blocks[-1].attn1.to_q.register_forward_hook(self._count)

    def _count(self, *_args) -> None:
        self.calls += 1


def sample(models, config: SamplerConfig, image: np.ndarray, **changes):
    planner = VideoPlanner(models, replace(config, **changes))
    counter = BlockCounter(models.transformer)
    samples = planner.sample(image, PROMPTS, seed=2)
    latents = torch.cat([c.latents for c in samples.chunks])
    assert torch.isfinite(latents).all()
    assert not models.transformer.is_cache_enabled  # the hooks leave with the chunk
    return latents, counter.calls


def test_cache_off_is_bit_identical_after_a_cached_plan(tiny_models, tiny_config, scene_image):
    before, calls = sample(tiny_models, tiny_config, scene_image)
    assert calls == 2 * tiny_config.num_inference_steps * 3
    cached, _ = sample(tiny_models, tiny_config, scene_image, cache='first_block',
                       cache_threshold=1e6)
    after, _ = sample(tiny_models, tiny_config, scene_image)
    assert torch.equal(before, after)
    assert not torch.allclose(before, cached)


def test_first_block_cache_keeps_one_state_per_guidance_pass(tiny_models, tiny_config,
                                                             scene_image):
    reference, _ = sample(tiny_models, tiny_config, scene_image)
    # a threshold never reached computes every step: the same plan
    exact, calls = sample(tiny_models, tiny_config, scene_image, cache='first_block',
                          cache_threshold=1e-12)
    assert torch.allclose(exact, reference, atol=1e-6) and calls == 2 * 4 * 3
    # a threshold always reached computes the tail once per pass and chunk (its first step):
    # 3 passes x 2 chunks; one shared state would have computed it once per chunk
    _, calls = sample(tiny_models, tiny_config, scene_image, cache='first_block',
                      cache_threshold=1e6)
    assert calls == 3 * 2
    _, calls = sample(tiny_models, tiny_config, scene_image, cache='first_block',
                      cache_threshold=1e6, batched_guidance=True)
    assert calls == 1 * 2


def test_taylorseer_computes_warmup_then_every_interval(tiny_models, tiny_config, scene_image):
    reference, _ = sample(tiny_models, tiny_config, scene_image, num_inference_steps=6)
    cached, calls = sample(tiny_models, tiny_config, scene_image, num_inference_steps=6,
                           cache='taylorseer', cache_interval=2, cache_warmup_steps=2)
    # per pass and chunk: steps 1, 2 (warm-up), then 4 and 6 computed; 3 and 5 extrapolated
    assert calls == 4 * 3 * 2
    assert not torch.equal(cached, reference)


def test_mag_cache_skips_steps_with_given_ratios(tiny_models, tiny_config, scene_image):
    _, calls = sample(tiny_models, tiny_config, scene_image, num_inference_steps=6,
                      cache='mag', cache_threshold=0.5, cache_mag_ratios=(1.0,) * 6)
    assert calls < 6 * 3 * 2


@pytest.mark.parametrize(('changes', 'message'), [
    ({'cache': 'faster'}, 'mix the three guidance passes'),
    ({'cache': 'teacache'}, "unknown cache 'teacache'"),
    ({'cache': 'mag'}, 'cache_mag_ratios'),
    ({'solver_order': 4}, 'solver_order'),
    ({'cache_interval': 0}, 'cache_interval'),
])
def test_unusable_speed_options_are_refused_by_name(tiny_config, changes, message):
    with pytest.raises(ValueError, match=message):
        replace(tiny_config, **changes)


def test_fp8_on_cpu_is_refused_before_the_model_changes(tiny_models, tiny_config):
    weight = tiny_models.transformer.blocks[0].attn1.to_q.weight
    with pytest.raises(ValueError, match='fp8 cannot be used: .*the planner device is cpu'):
        VideoPlanner(tiny_models, replace(tiny_config, fp8=True))
    assert tiny_models.transformer.blocks[0].attn1.to_q.weight is weight


def test_steps_and_skipped_passes_set_the_forward_count(tiny_models, tiny_config, scene_image):
    _, calls = sample(tiny_models, tiny_config, scene_image, num_inference_steps=3)
    assert calls == 2 * 3 * 3
    _, calls = sample(tiny_models, tiny_config, scene_image, num_inference_steps=3,
                      text_guidance_scale=0.0)
    assert calls == 2 * 3 * 2


def test_solver_order_changes_the_solver_not_the_forward_count(tiny_models, tiny_config,
                                                               scene_image):
    second, calls2 = sample(tiny_models, tiny_config, scene_image)
    first, calls1 = sample(tiny_models, tiny_config, scene_image, solver_order=1)
    assert calls1 == calls2 and not torch.allclose(first, second)


def test_regional_compile_keeps_the_plan(tiny_models, tiny_config, scene_image):
    reference, _ = sample(tiny_models, tiny_config, scene_image, num_inference_steps=2)
    # the eager backend traces with dynamo without generating code (fast on a CPU)
    compiled, _ = sample(tiny_models, tiny_config, scene_image, num_inference_steps=2,
                         compile_backend='eager')
    assert all(block._compiled_call_impl is not None
               for block in tiny_models.transformer.blocks)
    assert torch.allclose(compiled, reference, atol=1e-5)


def test_fast_preset_on_cpu(tiny_config):
    fast = with_preset(tiny_config, 'fast')
    assert (fast.num_inference_steps, fast.cache, fast.cache_threshold) == (20, 'first_block',
                                                                           0.05)
    assert not fast.fp8 and fast.compile_backend is None  # CUDA only
    assert fast.num_frames == tiny_config.num_frames
    with pytest.raises(ValueError, match="unknown preset 'fastest'"):
        with_preset(tiny_config, 'fastest')
