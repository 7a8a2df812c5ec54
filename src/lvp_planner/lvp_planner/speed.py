"""Speed options of the sampler: a diffusers cache per guidance pass, FP8 weights, compile.

Each option trades quality, memory or start-up time for speed (README, "Speed options"):
- `cache`: a diffusers cache hook on the transformer skips or extrapolates block computations
  between steps. The hooks keep their state per cache context name, so every guidance pass runs
  in its own context ('cond', 'no_text', 'no_history'; 'batched' for one batched forward) and a
  pass's cache only ever sees that pass. FasterCache keeps one state per module and assumes
  classifier-free guidance batched as [uncond, cond]: it would mix the passes and is refused.
- `fp8`: torchao float8 weights and activations for the transformer blocks' linear layers
  (a GPU of compute capability >= 8.9, e.g. Ada or Hopper, and the torchao package).
- `compile_backend`: regional torch.compile of the repeated transformer blocks.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

import torch
from diffusers import FirstBlockCacheConfig, MagCacheConfig, TaylorSeerCacheConfig

if TYPE_CHECKING:
    from diffusers import WanTransformer3DModel

    from lvp_planner.sampler_config import SamplerConfig

CACHES = ('first_block', 'taylorseer', 'mag')
REFUSED_CACHES = {
    'faster': 'FasterCache keeps one state per attention module and expects the unconditional '
              'and conditional passes batched in one forward, so it would mix the three '
              'guidance passes',
    'pyramid_attention_broadcast': 'Pyramid Attention Broadcast keeps one state per attention '
                                   'module, so it would mix the three guidance passes',
}
TAYLORSEER_WAN_MODULES = r'blocks\.\d+\.(attn1|attn2|ffn)'
FP8_MIN_CAPABILITY = (8, 9)
PRESETS: Mapping[str, Mapping[str, Any]] = {
    # Half the steps and a first-block cache; on a CUDA device also FP8 (where supported) and
    # inductor-compiled blocks (see with_preset). Not yet validated against real LVP weights.
    'fast': {'num_inference_steps': 20, 'cache': 'first_block', 'cache_threshold': 0.05},
}


def check_speed_options(config: SamplerConfig) -> None:
    """Raise ValueError naming a speed option of `config` that cannot work."""
    if config.cache in REFUSED_CACHES:
        raise ValueError(f'cache {config.cache!r} is not supported: '
                         f'{REFUSED_CACHES[config.cache]}; use one of {list(CACHES)}')
    if config.cache is not None and config.cache not in CACHES:
        raise ValueError(f'unknown cache {config.cache!r}; expected one of {list(CACHES)}')
    if not config.cache_threshold > 0.0:
        raise ValueError(f'cache_threshold must be positive, got {config.cache_threshold}')
    if config.cache_interval < 1:
        raise ValueError(f'cache_interval must be >= 1, got {config.cache_interval}')
    if config.cache_warmup_steps < 0:
        raise ValueError(f'cache_warmup_steps must be >= 0, got {config.cache_warmup_steps}')
    if config.cache == 'mag' and not config.cache_mag_ratios:
        raise ValueError('cache mag needs cache_mag_ratios (per-step magnitude ratios measured '
                         'for this model and scheduler); none are published for LVP')
    if not 1 <= config.solver_order <= 3:
        raise ValueError(f'solver_order must be 1, 2 or 3, got {config.solver_order}')


def parse_mag_ratios(text: str) -> tuple[float, ...]:
    """Parse comma-separated MagCache ratios ('' = none), naming a value that is not a number."""
    ratios = []
    for item in filter(None, (part.strip() for part in text.split(','))):
        try:
            ratios.append(float(item))
        except ValueError:
            raise ValueError(f'cache_mag_ratios: {item!r} is not a number') from None
    return tuple(ratios)


def with_preset(config: SamplerConfig, name: str) -> SamplerConfig:
    """Return `config` with preset `name`'s fields; 'fast' adds FP8 and compile on CUDA."""
    from dataclasses import replace

    from lvp_planner.models import resolve_device

    if name not in PRESETS:
        raise ValueError(f'unknown preset {name!r}; expected one of {sorted(PRESETS)}')
    changes = dict(PRESETS[name])
    device = resolve_device(config.device)
    if name == 'fast' and device.type == 'cuda':
        changes['compile_backend'] = 'inductor'
        changes['fp8'] = fp8_unavailable_reason(device) is None
    return replace(config, **changes)


def diffusers_cache_config(config: SamplerConfig, dtype: torch.dtype) -> object | None:
    """Build the diffusers cache config for `config.cache` (None when caching is off)."""
    if config.cache == 'first_block':
        # Skip the blocks after the first while the first block's residual changes by less
        # than the threshold (relative mean absolute change) since the last computed step.
        return FirstBlockCacheConfig(threshold=config.cache_threshold)
    if config.cache == 'taylorseer':
        # Compute every cache_interval-th step after the warm-up; extrapolate the attention
        # and feed-forward outputs (first-order Taylor) in between. diffusers' default
        # patterns ('^blocks.*attn', full match) miss Wan's attn1/attn2, so name them.
        return TaylorSeerCacheConfig(cache_interval=config.cache_interval,
                                     disable_cache_before_step=config.cache_warmup_steps,
                                     taylor_factors_dtype=dtype,
                                     cache_identifiers=[TAYLORSEER_WAN_MODULES])
    if config.cache == 'mag':
        return MagCacheConfig(threshold=config.cache_threshold,
                              num_inference_steps=config.num_inference_steps,
                              mag_ratios=list(config.cache_mag_ratios))
    return None


@contextmanager
def transformer_cache(transformer: WanTransformer3DModel, config: SamplerConfig,
                      dtype: torch.dtype) -> Iterator[None]:
    """Enable `config`'s cache on the transformer for one chunk (fresh state), then remove it."""
    if transformer.is_cache_enabled:  # left by a chunk that was interrupted
        transformer.disable_cache()
    cache = diffusers_cache_config(config, dtype)
    if cache is None:
        yield
        return
    transformer.enable_cache(cache)
    try:
        yield
    finally:
        transformer.disable_cache()


def pass_context(transformer: WanTransformer3DModel, name: str, step: int, num_steps: int,
                 timestep: float) -> Any:
    """Enter guidance pass `name`'s own cache context (nothing when no cache is on)."""
    if not transformer.is_cache_enabled:
        return nullcontext()
    return transformer.cache_context(name, step_index=step, num_inference_steps=num_steps,
                                     timestep=timestep)


def fp8_unavailable_reason(device: torch.device) -> str | None:
    """Say why FP8 weights cannot be used on `device` (None when they can)."""
    if device.type != 'cuda':
        return (f'FP8 needs a CUDA GPU of compute capability >= 8.9 (Ada, Hopper or newer); '
                f'the planner device is {device}')
    capability = torch.cuda.get_device_capability(device)
    if capability < FP8_MIN_CAPABILITY:
        return (f'FP8 needs compute capability >= 8.9; {torch.cuda.get_device_name(device)} has '
                f'{capability[0]}.{capability[1]}')
    if importlib.util.find_spec('torchao') is None:
        return 'FP8 needs the torchao package: pip install torchao'
    return None


def quantize_fp8(transformer: WanTransformer3DModel) -> None:
    """Quantise the transformer blocks' linear layers to float8 (per-row scales), in place."""
    from torchao.quantization import (  # type: ignore[import-not-found]
        Float8DynamicActivationFloat8WeightConfig,
        PerRow,
        quantize_,
    )

    def in_blocks(module: torch.nn.Module, name: str) -> bool:
        # Embeddings, the output head and the modulation tables stay in the model dtype.
        return isinstance(module, torch.nn.Linear) and name.startswith('blocks.')

    quantize_(transformer, Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()),
              filter_fn=in_blocks)


def compile_blocks(transformer: WanTransformer3DModel, backend: str) -> None:
    """Compile each transformer block with torch.compile (regional: one graph, reused 40x)."""
    # Not fullgraph: the cache hooks decide on the host (.item()) between blocks.
    transformer.compile_repeated_blocks(backend=backend)
