"""LVP sampling: diffusion forcing on Wan 2.1 I2V with text + history guidance, chunk by chunk.

Latents are (1, 16, F, h, w) with F = (num_frames - 1) / 4 + 1 latent frames; the first
`k` latent frames are the history (clean, with the low timestep of the last sampling step),
the rest are the future being denoised. The transformer receives a per-token timestep of shape
(batch, seq_len): each latent frame's level repeated over its (h / 2) * (w / 2) tokens. The 20
image-conditioning channels of the I2V model are all zero: history enters only as clean latents.

Guidance per step: f = f_c + w_text (f_c - f_no_text) + w_hist (f_c - f_no_hist), where the
no-text pass uses the empty-prompt embedding and the no-history pass replaces the history latents
by fresh Gaussian noise at timestep num_train_timesteps - 1; CLIP features go to all passes. A
pass whose weight is 0 is not run.

Autoregressive extension: each sub-task prompt gives one chunk of num_frames frames. A chunk
after the first takes the last 1 + 4 (k - 1) decoded frames of the previous chunk, re-encodes them
with the VAE as its k history latent frames, and recomputes CLIP on the first of those frames
(for k = 1, the previous chunk's last frame). The first chunk has one history latent frame (the
input image) whatever k is. In the concatenated plan a later chunk contributes only its frames
after its history: its first decoded frames re-decode frames the plan already holds (the
boundary frame is kept once, from the earlier chunk).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from diffusers import UniPCMultistepScheduler
from lvp_common.artifacts import PlanRequest, PlanSource, VideoPlan
from lvp_common.video_io import fit_to_size

from lvp_planner.conditioning import (
    check_rgb,
    clean_prompt,
    clip_pixels,
    frames_to_vae_input,
    prompt_truncation_notes,
    vae_output_to_frames,
)
from lvp_planner.models import PlannerModels, cast_transformer, resolve_device, resolve_dtype
from lvp_planner.sampler_config import VAE_SPATIAL_STRIDE, VAE_TEMPORAL_STRIDE, SamplerConfig
from lvp_planner.speed import (
    compile_blocks,
    fp8_unavailable_reason,
    pass_context,
    quantize_fp8,
    transformer_cache,
)

ProgressCallback = Callable[[int, int, int], None]
"""Called after every denoising step with (chunk index, steps done, steps per chunk)."""

CancelCheck = Callable[[], bool]
"""Polled between denoising steps; returning True stops planning with PlanningCancelled."""


class PlanningError(RuntimeError):
    """Planning could not produce a video plan."""


class PlanningCancelled(PlanningError):  # noqa: N818 (the name the project's API uses)
    """Planning was cancelled between two denoising steps."""


@dataclass
class ChunkSample:
    """One sampled chunk: its prompt, clean history latents (1, 16, k, h, w), final latents
    (1, 16, F, h, w), all decoded frames (num_frames, H, W, 3) uint8, and how many leading
    decoded frames re-decode its history (dropped from the concatenated plan after chunk 0)."""

    prompt: str
    history_latents: torch.Tensor
    latents: torch.Tensor
    frames: np.ndarray
    history_pixel_frames: int


@dataclass
class PlanSamples:
    """All chunks of one plan and the concatenated frames with each chunk's first frame index."""

    chunks: list[ChunkSample]
    frames: np.ndarray
    chunk_starts: tuple[int, ...]
    seed: int
    metadata: dict[str, str] = field(default_factory=dict)


def combine_guidance(cond: torch.Tensor, no_text: torch.Tensor | None,
                     no_history: torch.Tensor | None, text_scale: float,
                     history_scale: float) -> torch.Tensor:
    """Return f_c + w_text (f_c - f_no_text) + w_hist (f_c - f_no_hist); absent terms are 0."""
    out = cond
    if no_text is not None and text_scale != 0.0:
        out = out + text_scale * (cond - no_text)
    if no_history is not None and history_scale != 0.0:
        out = out + history_scale * (cond - no_history)
    return out


def frame_levels_to_tokens(levels: torch.Tensor, tokens_per_frame: int) -> torch.Tensor:
    """Repeat per-latent-frame levels (B, F) over each frame's tokens: (B, F * tokens)."""
    return levels.repeat_interleave(tokens_per_frame, dim=1)


def make_scheduler(config: SamplerConfig) -> UniPCMultistepScheduler:
    """Build the release's flow-matching UniPC multistep scheduler (fresh state)."""
    return UniPCMultistepScheduler(
        num_train_timesteps=config.num_train_timesteps,
        prediction_type='flow_prediction',
        use_flow_sigmas=True,
        flow_shift=config.shift,
        solver_order=config.solver_order,
    )


def _module(model: object) -> torch.nn.Module:
    """View a diffusers model as a plain nn.Module (its decorated .to() confuses type checkers)."""
    assert isinstance(model, torch.nn.Module)
    return model


@dataclass
class _Pass:
    name: str
    hidden: torch.Tensor
    levels: torch.Tensor
    text: torch.Tensor


class VideoPlanner:
    """Generate video plans from an RGB image and sub-task prompts with the LVP model."""

    def __init__(self, models: PlannerModels, config: SamplerConfig | None = None) -> None:
        self.config = config or SamplerConfig()
        self.models = models
        self.device = resolve_device(self.config.device)
        self.dtype = resolve_dtype(self.config.dtype, self.device)
        self.vae_dtype = resolve_dtype(self.config.vae_dtype, self.device)
        if self.config.fp8 and (reason := fp8_unavailable_reason(self.device)) is not None:
            raise ValueError(f'fp8 cannot be used: {reason}')
        tr = models.transformer
        cast_transformer(tr, self.dtype)
        _module(tr).to(self.device).eval()
        if self.config.attention_backend is not None:
            tr.set_attention_backend(self.config.attention_backend)
        if self.config.fp8:
            quantize_fp8(tr)
        if self.config.compile_backend is not None:
            compile_blocks(tr, self.config.compile_backend)
        _module(models.vae).to(self.device).eval()
        if models.vae.dtype != self.vae_dtype:
            _module(models.vae).to(dtype=self.vae_dtype)
        models.image_encoder.to(device=self.device, dtype=torch.float32).eval()
        self._text_home = torch.device('cpu') if self.config.offload_text_encoder else self.device
        models.text_encoder.to(device=self._text_home, dtype=self.dtype).eval()
        self._latent_channels = int(tr.config['out_channels'])
        self._condition_channels = int(tr.config['in_channels']) - self._latent_channels
        self._uses_image = tr.config['image_dim'] is not None
        patch = tuple(tr.config['patch_size'])
        self._patch_hw = (int(patch[1]), int(patch[2]))
        vae_cfg = models.vae.config
        self._latents_mean = torch.tensor(vae_cfg['latents_mean'], dtype=torch.float32)
        self._latents_std = torch.tensor(vae_cfg['latents_std'], dtype=torch.float32)

    # --- conditions ----------------------------------------------------------------------------

    @torch.no_grad()
    def encode_text(self, prompts: Sequence[str]) -> torch.Tensor:
        """Encode prompts with umT5: (N, max_text_tokens, D), zero past each prompt's tokens."""
        enc = self.models.text_encoder
        tok = self.models.tokenizer
        length = self.config.max_text_tokens
        inputs = tok([clean_prompt(p) for p in prompts], padding='max_length',  # type: ignore
                     max_length=length, truncation=True, add_special_tokens=True,
                     return_attention_mask=True, return_tensors='pt')
        ids, mask = inputs['input_ids'], inputs['attention_mask']
        enc.to(self.device)
        try:
            hidden = enc(ids.to(self.device), mask.to(self.device)).last_hidden_state
        finally:
            if self._text_home != self.device:
                enc.to(self._text_home)
                if self.device.type == 'cuda':
                    torch.cuda.empty_cache()
        keep = mask.to(self.device).bool().unsqueeze(-1)
        return torch.where(keep, hidden, torch.zeros_like(hidden)).to(self.dtype)

    @torch.no_grad()
    def encode_clip(self, frame: np.ndarray) -> torch.Tensor:
        """CLIP penultimate-layer features of one frame: (1, tokens, C), release preprocessing."""
        m = self.models
        size = m.clip_size or int(m.image_encoder.config.image_size)  # type: ignore
        pixels = clip_pixels(frame, size, m.clip_mean, m.clip_std).to(self.device)
        out = m.image_encoder(pixel_values=pixels, output_hidden_states=True)
        return out.hidden_states[-2].to(self.dtype)

    @torch.no_grad()
    def encode_frames(self, frames: np.ndarray) -> torch.Tensor:
        """VAE-encode (T, H, W, 3) uint8 frames to normalised latents (1, 16, F, h, w) fp32."""
        vae = self.models.vae
        x = frames_to_vae_input(frames).to(self.device, self.vae_dtype)
        z = vae.encode(x).latent_dist.mode().float()  # type: ignore[union-attr]
        mean = self._latents_mean.to(z.device).view(1, -1, 1, 1, 1)
        std = self._latents_std.to(z.device).view(1, -1, 1, 1, 1)
        return (z - mean) / std

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> np.ndarray:
        """Decode normalised latents (1, 16, F, h, w) to (4 (F - 1) + 1, H, W, 3) uint8 frames."""
        mean = self._latents_mean.to(latents.device).view(1, -1, 1, 1, 1)
        std = self._latents_std.to(latents.device).view(1, -1, 1, 1, 1)
        z = (latents.float() * std + mean).to(self.vae_dtype)
        video = self.models.vae.decode(z).sample  # type: ignore[union-attr]
        return vae_output_to_frames(video)

    # --- sampling ------------------------------------------------------------------------------

    def _forward(self, passes: list[_Pass], image_emb: torch.Tensor | None,
                 batched: bool, step: int = 0, num_steps: int = 1,
                 timestep: float = 0.0) -> list[torch.Tensor]:
        """Run the transformer on the guidance passes, batched into one call or one by one.

        Each call runs in its pass's own cache context (step, num_steps, timestep describe the
        denoising step for the cache hooks).
        """
        tr = self.models.transformer
        hp, wp = self._patch_hw

        def call(name: str, hidden: torch.Tensor, levels: torch.Tensor,
                 text: torch.Tensor) -> torch.Tensor:
            b, _, _, h, w = hidden.shape
            zeros = hidden.new_zeros(b, self._condition_channels, *hidden.shape[2:])
            x = torch.cat([hidden, zeros], dim=1).to(self.dtype)
            tokens = frame_levels_to_tokens(levels, (h // hp) * (w // wp))
            img = None if image_emb is None else image_emb.expand(b, -1, -1)
            with pass_context(tr, name, step, num_steps, timestep):
                out = tr(hidden_states=x, timestep=tokens, encoder_hidden_states=text,
                         encoder_hidden_states_image=img, return_dict=False)[0]
            return out.float()

        if batched and len(passes) > 1:
            out = call('batched', torch.cat([p.hidden for p in passes]),
                       torch.cat([p.levels for p in passes]),
                       torch.cat([p.text for p in passes]))
            return list(out.chunk(len(passes)))
        return [call(p.name, p.hidden, p.levels, p.text) for p in passes]

    def _guidance_passes(self, latents: torch.Tensor, levels: torch.Tensor, k: int,
                         text_emb: torch.Tensor, empty_emb: torch.Tensor,
                         generator: torch.Generator, config: SamplerConfig) -> list[_Pass]:
        """Build the step's guidance passes (cond, no_text, no_history; weight 0 = skipped)."""
        passes = [_Pass('cond', latents, levels, text_emb)]
        if config.text_guidance_scale != 0.0:
            passes.append(_Pass('no_text', latents, levels, empty_emb))
        if config.history_guidance_scale != 0.0:
            noisy = latents.clone()
            noisy[:, :, :k] = torch.randn((1, latents.shape[1], k, *latents.shape[3:]),
                                          generator=generator).to(self.device)
            nh_levels = levels.clone()
            nh_levels[:, :k] = float(config.num_train_timesteps - 1)
            passes.append(_Pass('no_history', noisy, nh_levels, text_emb))
        return passes

    @torch.no_grad()
    def sample_chunk(self, history: torch.Tensor, text_emb: torch.Tensor,
                     empty_emb: torch.Tensor, image_emb: torch.Tensor | None,
                     generator: torch.Generator, config: SamplerConfig, chunk_index: int = 0,
                     progress: ProgressCallback | None = None,
                     should_cancel: CancelCheck | None = None) -> torch.Tensor:
        """Denoise one chunk whose first latent frames are the clean `history`: (1, 16, F, h, w).

        Noise is drawn on the CPU from `generator` (device-independent reproducibility).
        """
        k = int(history.shape[2])
        c = self._latent_channels
        shape = (1, c, config.num_latent_frames, config.height // VAE_SPATIAL_STRIDE,
                 config.width // VAE_SPATIAL_STRIDE)
        if tuple(history.shape) != (1, c, k, *shape[3:]) or k >= shape[2]:
            raise PlanningError(f'history latents {tuple(history.shape)} do not fit a chunk of '
                                f'latent shape {shape}')
        history = history.to(self.device, torch.float32)
        latents = torch.randn(shape, generator=generator).to(self.device)
        latents[:, :, :k] = history
        scheduler = make_scheduler(config)
        scheduler.set_timesteps(config.num_inference_steps, device=self.device)
        timesteps = scheduler.timesteps
        history_level = float(timesteps[-1])
        w_text, w_hist = config.text_guidance_scale, config.history_guidance_scale
        steps = len(timesteps)
        with transformer_cache(self.models.transformer, config, self.dtype):
            for i, t in enumerate(timesteps):
                if should_cancel is not None and should_cancel():
                    raise PlanningCancelled(f'cancelled in chunk {chunk_index} before step '
                                            f'{i + 1} of {steps}')
                latents[:, :, :k] = history
                levels = torch.full((1, shape[2]), float(t), device=self.device)
                levels[:, :k] = history_level
                passes = self._guidance_passes(latents, levels, k, text_emb, empty_emb,
                                               generator, config)
                outs = dict(zip([p.name for p in passes],
                                self._forward(passes, image_emb, config.batched_guidance, i,
                                              steps, float(t))))
                flow = combine_guidance(outs['cond'], outs.get('no_text'),
                                        outs.get('no_history'), w_text, w_hist)
                latents = scheduler.step(flow, t, latents, return_dict=False)[0]
                if progress is not None:
                    progress(chunk_index, i + 1, steps)
        latents[:, :, :k] = history
        return latents

    def _resolve(self, num_inference_steps: int | None, text_guidance_scale: float | None,
                 history_guidance_scale: float | None) -> SamplerConfig:
        changes: dict[str, float | int] = {}
        if num_inference_steps:
            changes['num_inference_steps'] = int(num_inference_steps)
        if text_guidance_scale is not None:
            changes['text_guidance_scale'] = float(text_guidance_scale)
        if history_guidance_scale is not None:
            changes['history_guidance_scale'] = float(history_guidance_scale)
        return replace(self.config, **changes) if changes else self.config  # type: ignore

    def sample(self, image: np.ndarray, prompts: Sequence[str], seed: int = 0, *,
               num_inference_steps: int | None = None, text_guidance_scale: float | None = None,
               history_guidance_scale: float | None = None,
               progress: ProgressCallback | None = None,
               should_cancel: CancelCheck | None = None,
               live_frames: np.ndarray | None = None) -> PlanSamples:
        """Sample one chunk per prompt from the RGB uint8 image and return every chunk's detail.

        The image is fitted to the plan size by lvp_common's fit_to_size (scale to cover keeping
        the aspect ratio, then centre-crop).

        live_frames: frames the camera saw up to now (T, H, W, 3 uint8, oldest first), for a
        re-plan during execution: the first chunk then extends them as chunks extend each other
        (its history latents are the VAE latents of the last `history_pixel_frames` of them,
        each fitted like the image; CLIP sees the first of those) and `image` is not used.
        """
        cfg = self._resolve(num_inference_steps, text_guidance_scale, history_guidance_scale)
        prompts = [clean_prompt(p) for p in prompts]
        if not prompts or not all(prompts):
            raise PlanningError(f'give at least one non-empty prompt, got {list(prompts)}')
        if live_frames is None:
            history_frames = fit_to_size(check_rgb(image), cfg.width, cfg.height)[None]
        else:
            live = np.asarray(live_frames)
            if live.ndim != 4 or not len(live):
                raise PlanningError(f'live_frames must be (T, H, W, 3) with T >= 1, got shape '
                                    f'{live.shape}')
            # whole latent frames of the causal VAE: 1 + 4 n pixel frames
            usable = min(len(live), cfg.history_pixel_frames)
            usable = 1 + VAE_TEMPORAL_STRIDE * ((usable - 1) // VAE_TEMPORAL_STRIDE)
            history_frames = np.stack([fit_to_size(check_rgb(f), cfg.width, cfg.height)
                                       for f in live[-usable:]])
        generator = torch.Generator('cpu').manual_seed(int(seed))
        embeddings = self.encode_text([cfg.negative_prompt, *prompts])
        empty_emb = embeddings[:1]
        chunks: list[ChunkSample] = []
        for index, prompt in enumerate(prompts):
            history = self.encode_frames(history_frames)
            image_emb = self.encode_clip(history_frames[0]) if self._uses_image else None
            latents = self.sample_chunk(history, embeddings[index + 1:index + 2], empty_emb,
                                        image_emb, generator, cfg, index, progress,
                                        should_cancel)
            frames = self.decode_latents(latents)
            chunks.append(ChunkSample(prompt, history.cpu(), latents.cpu(), frames,
                                      1 + VAE_TEMPORAL_STRIDE * (history.shape[2] - 1)))
            history_frames = frames[-cfg.history_pixel_frames:]
        parts, starts, total = [], [], 0
        for index, chunk in enumerate(chunks):
            part = chunk.frames if index == 0 else chunk.frames[chunk.history_pixel_frames:]
            starts.append(total)
            parts.append(part)
            total += len(part)
        metadata = {
            'num_inference_steps': str(cfg.num_inference_steps),
            'shift': str(cfg.shift),
            'text_guidance_scale': str(cfg.text_guidance_scale),
            'history_guidance_scale': str(cfg.history_guidance_scale),
            'history_latent_frames': str(cfg.history_latent_frames),
            'batched_guidance': str(cfg.batched_guidance),
            'resolution': f'{cfg.width}x{cfg.height}',
            'frames_per_chunk': str(cfg.num_frames),
            'dtype': str(self.dtype).replace('torch.', ''),
            'device': str(self.device),
        }
        notes = prompt_truncation_notes(self.models.tokenizer, prompts, cfg.max_text_tokens)
        if notes:
            metadata['prompt_notes'] = ' | '.join(notes)
        return PlanSamples(chunks, np.concatenate(parts), tuple(starts), int(seed), metadata)

    def plan(self, image: np.ndarray, request: PlanRequest, *,
             num_inference_steps: int | None = None, text_guidance_scale: float | None = None,
             history_guidance_scale: float | None = None,
             progress: ProgressCallback | None = None,
             should_cancel: CancelCheck | None = None,
             live_frames: np.ndarray | None = None) -> VideoPlan:
        """Generate the video plan for a request (one chunk per prompt) from an RGB uint8 image
        (or, re-planning, from the camera's `live_frames` as history: see `sample`)."""
        if request.num_samples != 1:
            raise PlanningError(f'plan() makes one sample, the request asks for '
                                f'{request.num_samples}; use plan_samples()')
        samples = self.sample(image, request.prompts, request.seed,
                              num_inference_steps=num_inference_steps,
                              text_guidance_scale=text_guidance_scale,
                              history_guidance_scale=history_guidance_scale,
                              progress=progress, should_cancel=should_cancel,
                              live_frames=live_frames)
        plan = self.to_video_plan(samples, request.prompts)
        if live_frames is not None:
            used = samples.chunks[0].history_pixel_frames
            plan.metadata['history'] = f'live frames: the last {used} observed frames'
        return plan

    def plan_samples(self, image: np.ndarray, request: PlanRequest, **kwargs) -> list[VideoPlan]:
        """Generate request.num_samples plans with seeds seed, seed + 1, ..."""
        return [self.plan(image, replace(request, seed=request.seed + i, num_samples=1), **kwargs)
                for i in range(request.num_samples)]

    def to_video_plan(self, samples: PlanSamples, prompts: Sequence[str]) -> VideoPlan:
        """Wrap sampled chunks in the project's VideoPlan contract (source GENERATED)."""
        return VideoPlan(frames=samples.frames, fps=self.config.fps, prompts=tuple(prompts),
                         source=PlanSource.GENERATED, seed=samples.seed,
                         chunk_starts=samples.chunk_starts, model=self.config.model_name,
                         metadata=dict(samples.metadata))
