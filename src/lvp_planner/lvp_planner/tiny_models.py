"""Tiny random stand-ins for the LVP components, for tests and CPU benchmarks (no downloads).

They have the real architectures (Wan DiT with I2V image cross-attention, causal Wan VAE, umT5
encoder, CLIP ViT) at toy widths, and save to the same diffusers-format folder layout as the
Wan 2.1 I2V release, so the loaders can be exercised offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from diffusers.models.autoencoders.autoencoder_kl_wan import AutoencoderKLWan
from diffusers.models.transformers.transformer_wan import WanTransformer3DModel
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModel,
    PreTrainedTokenizerFast,
    UMT5Config,
    UMT5EncoderModel,
)

from lvp_planner.models import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, PlannerModels

if TYPE_CHECKING:
    from lvp_planner.sampler import SamplerConfig, VideoPlanner

_WORDS = ('pick up put the a cup bowl red blue green on in into table hand move open close '
          'drawer lid block push pull place left right of and then').split()


@dataclass(frozen=True)
class TinyShape:
    """Widths of the tiny models; text_dim/image_dim tie the encoders to the transformer."""

    heads: int = 2
    head_dim: int = 8
    layers: int = 2
    ffn_dim: int = 32
    text_dim: int = 16
    image_dim: int = 12
    clip_image_size: int = 28
    vae_base_dim: int = 8


def build_tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Build a word-level tokenizer with umT5's special tokens (pad 0, eos 1, unk 2), offline."""
    vocab = {'<pad>': 0, '</s>': 1, '<unk>': 2}
    for word in _WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token='<unk>'))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()  # type: ignore[assignment]
    tok.post_processor = processors.TemplateProcessing(  # type: ignore[assignment]
        single='$A </s>', special_tokens=[('</s>', 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token='<pad>', eos_token='</s>',
                                   unk_token='<unk>')


def build_tiny_transformer(shape: TinyShape = TinyShape(), seed: int = 0) -> WanTransformer3DModel:
    """Build a random Wan I2V transformer (36 in-channels, image cross-attention) at toy width."""
    torch.manual_seed(seed)
    dim = shape.heads * shape.head_dim
    model = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=shape.heads, attention_head_dim=shape.head_dim,
        in_channels=36, out_channels=16, text_dim=shape.text_dim, freq_dim=16,
        ffn_dim=shape.ffn_dim, num_layers=shape.layers, cross_attn_norm=True,
        qk_norm='rms_norm_across_heads', eps=1e-6, image_dim=shape.image_dim,
        added_kv_proj_dim=dim)
    # Random init leaves some tables tiny; spread the modulation so timesteps visibly matter.
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith('scale_shift_table'):
                param.normal_(0.0, 0.5)
    return model.eval()


def build_tiny_models(shape: TinyShape = TinyShape(), seed: int = 0) -> PlannerModels:
    """Build the whole tiny component set with random weights from `seed`."""
    transformer = build_tiny_transformer(shape, seed)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLWan(base_dim=shape.vae_base_dim, z_dim=16, dim_mult=[1, 1, 1, 1],
                           num_res_blocks=1, temperal_downsample=[False, True, True]).eval()
    tokenizer = build_tiny_tokenizer()
    text_cfg = UMT5Config(vocab_size=len(tokenizer), d_model=shape.text_dim, d_kv=8,
                          d_ff=2 * shape.text_dim, num_layers=1, num_heads=2,
                          relative_attention_num_buckets=8, pad_token_id=0, eos_token_id=1,
                          decoder_start_token_id=0)
    text_encoder = UMT5EncoderModel(text_cfg).eval()
    clip_cfg = CLIPVisionConfig(hidden_size=shape.image_dim, intermediate_size=2 * shape.image_dim,
                                num_hidden_layers=2, num_attention_heads=2,
                                image_size=shape.clip_image_size, patch_size=14)
    image_encoder = CLIPVisionModel(clip_cfg).eval()
    return PlannerModels(transformer, vae, text_encoder, tokenizer, image_encoder)


def load_tiny_planner(config: SamplerConfig, seed: int = 0) -> VideoPlanner:
    """Build a VideoPlanner on tiny models from `seed` (a loader for Serve replicas in tests)."""
    from lvp_planner.sampler import VideoPlanner

    return VideoPlanner(build_tiny_models(seed=seed), config)


def save_wan_dir(models: PlannerModels, path: str | Path) -> Path:
    """Save components in the diffusers Wan I2V folder layout (transformer/, vae/, ...)."""
    root = Path(path)
    models.transformer.save_pretrained(root / 'transformer')
    models.vae.save_pretrained(root / 'vae')
    models.text_encoder.save_pretrained(root / 'text_encoder')  # type: ignore[operator]
    models.tokenizer.save_pretrained(root / 'tokenizer')  # type: ignore[attr-defined]
    models.image_encoder.save_pretrained(root / 'image_encoder')  # type: ignore[operator]
    size = models.clip_size or int(models.image_encoder.config.image_size)  # type: ignore
    (root / 'image_processor').mkdir(parents=True, exist_ok=True)
    processor = {
        'image_processor_type': 'CLIPImageProcessor',
        'image_mean': list(models.clip_mean or OPENAI_CLIP_MEAN),
        'image_std': list(models.clip_std or OPENAI_CLIP_STD),
        'crop_size': {'height': size, 'width': size},
        'size': {'shortest_edge': size},
        'resample': 3,
    }
    (root / 'image_processor' / 'preprocessor_config.json').write_text(
        json.dumps(processor, indent=2))
    return root
