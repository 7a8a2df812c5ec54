"""Image and text preprocessing for the planner's conditions (plan frame, CLIP input, prompts)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from lvp_common.artifacts import ArtifactError
from torch.nn import functional


def check_rgb(image: np.ndarray, name: str = 'image') -> np.ndarray:
    """Return the image as an (H, W, 3) uint8 array or raise ArtifactError naming what it got."""
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ArtifactError(f'{name}: expected an RGB uint8 image (H, W, 3), '
                            f'got {img.dtype} {img.shape}')
    return img


def clip_pixels(frame: np.ndarray, size: int, mean: tuple[float, float, float],
                std: tuple[float, float, float]) -> torch.Tensor:
    """Squash the whole frame to size x size (bicubic) and CLIP-normalise it: (1, 3, S, S).

    This follows the LVP release (no centre crop, unlike the diffusers image processor).
    """
    img = check_rgb(frame, 'CLIP frame')
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255.0
    x = functional.interpolate(x, size=(size, size), mode='bicubic', align_corners=False)
    x = x.clamp(0.0, 1.0)
    m = torch.tensor(mean, dtype=x.dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - m) / s


def clean_prompt(text: str) -> str:
    """Collapse runs of whitespace and strip the ends, as the Wan pipelines do."""
    return re.sub(r'\s+', ' ', text).strip()


def prompt_truncation_notes(tokenizer: Any, prompts: Sequence[str],
                            max_tokens: int) -> list[str]:
    """Name each prompt longer than the text encoder's `max_tokens` (the encoder cuts it there).

    The sampler truncates silently (as the Wan pipelines do); a user should know which words
    the model never read.
    """
    notes = []
    for index, prompt in enumerate(prompts):
        ids = list(tokenizer(clean_prompt(prompt), add_special_tokens=True,
                             truncation=False)['input_ids'])
        if len(ids) > max_tokens:
            kept = str(tokenizer.decode(ids[:max_tokens], skip_special_tokens=True))
            notes.append(f'prompt {index + 1} is {len(ids)} tokens; the text encoder reads the '
                         f'first {max_tokens}: everything after "...{kept[-40:]}" is ignored')
    return notes


def frames_to_vae_input(frames: np.ndarray) -> torch.Tensor:
    """Map (T, H, W, 3) uint8 frames to the VAE's (1, 3, T, H, W) input in [-1, 1]."""
    x = torch.from_numpy(np.array(frames, dtype=np.uint8)).float()
    return (x / 127.5 - 1.0).permute(3, 0, 1, 2)[None]


def vae_output_to_frames(video: torch.Tensor) -> np.ndarray:
    """Map the VAE's (1, 3, T, H, W) output in [-1, 1] to (T, H, W, 3) uint8 frames."""
    x = ((video[0].float().clamp(-1.0, 1.0) + 1.0) * 127.5).round()
    return x.permute(1, 2, 3, 0).to(torch.uint8).cpu().numpy()
