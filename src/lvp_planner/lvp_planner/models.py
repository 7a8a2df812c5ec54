"""The set of networks the planner samples with, and dtype/device helpers for them."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKLWan, WanTransformer3DModel

OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_DTYPES = {
    'float32': torch.float32,
    'fp32': torch.float32,
    'bfloat16': torch.bfloat16,
    'bf16': torch.bfloat16,
    'float16': torch.float16,
    'fp16': torch.float16,
}


@dataclass
class PlannerModels:
    """The Wan 2.1 I2V components: DiT, causal 3D VAE, umT5 encoder + tokenizer, CLIP vision.

    clip_mean/clip_std: the CLIP normalisation (from the release's image processor config).
    clip_size: the square CLIP input side in pixels; None takes the vision model's image_size.
    """

    transformer: WanTransformer3DModel
    vae: AutoencoderKLWan
    text_encoder: torch.nn.Module
    tokenizer: object
    image_encoder: torch.nn.Module
    clip_mean: tuple[float, float, float] = OPENAI_CLIP_MEAN
    clip_std: tuple[float, float, float] = OPENAI_CLIP_STD
    clip_size: int | None = None


def resolve_device(name: str) -> torch.device:
    """Turn 'auto' into cuda when available (else cpu); pass any other torch device name."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    """Turn 'auto' into bfloat16 on cuda and float32 elsewhere; parse 'bfloat16', 'fp32', ..."""
    if name == 'auto':
        return torch.bfloat16 if device.type == 'cuda' else torch.float32
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f'unknown dtype {name!r}; expected auto or one of '
                         f'{sorted(_DTYPES)}') from None


def cast_transformer(transformer: WanTransformer3DModel, dtype: torch.dtype) -> None:
    """Cast parameters to dtype in place, keeping diffusers' fp32-only modules in float32."""
    keep = tuple(getattr(transformer, '_keep_in_fp32_modules', None) or ())
    for name, param in transformer.named_parameters():
        parts = name.split('.')
        target = torch.float32 if any(k in parts for k in keep) else dtype
        if param.dtype != target:
            param.data = param.data.to(target)
