"""The planner's sampling settings (SamplerConfig) and the Wan VAE's strides they are checked
against; `lvp_planner.sampler` samples with them, `lvp_planner.speed` owns the speed options."""

from __future__ import annotations

from dataclasses import dataclass

from lvp_planner.speed import check_speed_options

VAE_TEMPORAL_STRIDE = 4
VAE_SPATIAL_STRIDE = 8


@dataclass(frozen=True)
class SamplerConfig:
    """Sampling settings; defaults are the LVP release's recommended ones for the 14B model.

    num_frames per chunk (4 n + 1), height/width in pixels (multiples of 16), fps of the plan.
    text/history_guidance_scale: w_text, w_hist of the three-pass guidance.
    history_latent_frames: history length k of extension chunks, in latent frames.
    batched_guidance: run the guidance passes as one batched forward (else one after another;
    on an H100 the 14B model runs as fast either way and batching costs 10 GiB more memory).
    device/dtype: 'auto' = cuda + bfloat16 when available, else cpu + float32 (the transformer
    and the text encoder use dtype; the VAE uses vae_dtype and CLIP float32).
    offload_text_encoder: keep the text encoder on the CPU and move it to the device only to
    encode a plan's prompts.
    attention_backend: a diffusers attention backend name ('native', 'flash', '_native_cudnn',
    'sage', ...) set on the transformer; None leaves diffusers' default (native SDPA).

    Speed options (lvp_planner.speed; README "Speed options" says what each trades):
    solver_order: UniPC order (1-3; 2 is the release's). cache: None, 'first_block',
    'taylorseer' or 'mag' (diffusers cache hooks, one state per guidance pass);
    cache_threshold: first_block's relative residual change / mag's accumulated error under
    which blocks are skipped; cache_interval, cache_warmup_steps: taylorseer computes the first
    cache_warmup_steps steps, then every cache_interval-th, and extrapolates in between;
    cache_mag_ratios: mag's per-step magnitude ratios (model-specific). fp8: torchao float8
    transformer blocks (CUDA, compute capability >= 8.9). compile_backend: torch.compile backend
    of the regional compile of the transformer blocks ('inductor'); None = eager. fp8 and
    compile change the loaded transformer in place for the life of the process.
    """

    num_frames: int = 49
    height: int = 480
    width: int = 832
    fps: float = 16.0
    num_inference_steps: int = 40
    shift: float = 3.0
    num_train_timesteps: int = 1000
    text_guidance_scale: float = 2.5
    history_guidance_scale: float = 1.5
    history_latent_frames: int = 1
    batched_guidance: bool = False
    device: str = 'auto'
    dtype: str = 'auto'
    vae_dtype: str = 'float32'
    offload_text_encoder: bool = True
    attention_backend: str | None = None
    max_text_tokens: int = 512
    negative_prompt: str = ''
    model_name: str = 'lvp-14b'
    solver_order: int = 2
    cache: str | None = None
    cache_threshold: float = 0.05
    cache_interval: int = 5
    cache_warmup_steps: int = 3
    cache_mag_ratios: tuple[float, ...] = ()
    fp8: bool = False
    compile_backend: str | None = None

    def __post_init__(self) -> None:
        if self.num_frames < 5 or (self.num_frames - 1) % VAE_TEMPORAL_STRIDE:
            raise ValueError(f'num_frames must be 4 n + 1 >= 5, got {self.num_frames}')
        for name in ('height', 'width'):
            value = getattr(self, name)
            if value <= 0 or value % (2 * VAE_SPATIAL_STRIDE):
                raise ValueError(f'{name} must be a positive multiple of 16, got {value}')
        if not self.fps > 0.0:
            raise ValueError(f'fps must be positive, got {self.fps}')
        if self.num_inference_steps < 1:
            raise ValueError(f'num_inference_steps must be >= 1, got {self.num_inference_steps}')
        if not self.shift > 0.0:
            raise ValueError(f'shift must be positive, got {self.shift}')
        k, f = self.history_latent_frames, self.num_latent_frames
        if not 1 <= k < f:
            raise ValueError(f'history_latent_frames must be in [1, {f - 1}] for {self.num_frames}'
                             f' frames ({f} latent frames), got {k}')
        if self.max_text_tokens < 1:
            raise ValueError(f'max_text_tokens must be >= 1, got {self.max_text_tokens}')
        check_speed_options(self)

    @property
    def num_latent_frames(self) -> int:
        return (self.num_frames - 1) // VAE_TEMPORAL_STRIDE + 1

    @property
    def history_pixel_frames(self) -> int:
        """Decoded frames that make up k history latent frames of the causal VAE."""
        return 1 + VAE_TEMPORAL_STRIDE * (self.history_latent_frames - 1)

