"""The video planner node's parameters, the SamplerConfig they make and the model they load.

ROS-free: the node declares `PARAMETERS` and passes their values here as a plain mapping.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lvp_planner.checkpoint import CheckpointError
from lvp_planner.cli import load_planner
from lvp_planner.sampler import PlanningError, SamplerConfig, VideoPlanner
from lvp_planner.serve import APP_NAME, RayPlannerBackend
from lvp_planner.speed import CACHES, PRESETS, parse_mag_ratios, with_preset

_D = SamplerConfig()

PARAMETERS: dict[str, tuple[Any, str]] = {
    'backend': ('local', 'local = load the model in this process; ray = plan on the Ray Serve '
                         'app ray_app'),
    'ray_address': ('auto', 'Ray cluster address (backend ray)'),
    'ray_app': (APP_NAME, 'Ray Serve app of the planner (backend ray)'),
    'checkpoint': ('', 'LVP Lightning .ckpt or diffusers transformer folder; empty = the Wan '
                       'folder\'s own transformer'),
    'trust_checkpoint_pickle': (False, 'allow non-tensor objects in the checkpoint (runs code '
                                       'from the file)'),
    'wan_dir': ('', 'Wan 2.1 I2V 14B 480P diffusers folder (required)'),
    'device': (_D.device, 'torch device; auto = cuda when available'),
    'dtype': (_D.dtype, 'auto = bfloat16 on cuda, float32 on cpu'),
    'num_frames': (_D.num_frames, 'frames per chunk (4 n + 1)'),
    'height': (_D.height, 'plan height, pixels (multiple of 16)'),
    'width': (_D.width, 'plan width, pixels (multiple of 16)'),
    'fps': (_D.fps, 'plan frame rate, Hz'),
    'num_inference_steps': (_D.num_inference_steps, 'denoising steps'),
    'shift': (_D.shift, 'flow-matching timestep shift'),
    'text_guidance_scale': (_D.text_guidance_scale, 'w_text'),
    'history_guidance_scale': (_D.history_guidance_scale, 'w_hist'),
    'history_latent_frames': (_D.history_latent_frames,
                              'history length of extension chunks, latent frames'),
    'batched_guidance': (_D.batched_guidance,
                         'run the three guidance passes as one batched forward'),
    'offload_text_encoder': (_D.offload_text_encoder, 'keep umT5 on the CPU between plans'),
    'attention_backend': ('', 'diffusers attention backend; empty = default'),
    'max_text_tokens': (_D.max_text_tokens, 'umT5 tokens per prompt'),
    'preset': ('', f'speed preset ({", ".join(PRESETS)}); it replaces the speed parameters it '
                   f'sets; empty = none'),
    'solver_order': (_D.solver_order, 'UniPC solver order, 1-3'),
    'cache': ('', f'diffusers cache ({", ".join(CACHES)}); empty = none'),
    'cache_threshold': (_D.cache_threshold, 'first_block / mag cache threshold'),
    'cache_interval': (_D.cache_interval, 'taylorseer: compute every N-th step'),
    'cache_warmup_steps': (_D.cache_warmup_steps, 'taylorseer: steps always computed first'),
    'cache_mag_ratios': ('', 'mag: comma-separated per-step ratios'),
    'fp8': (_D.fp8, 'torchao FP8 transformer blocks (CUDA, cc >= 8.9)'),
    'compile_backend': ('', 'torch.compile backend for the transformer blocks; empty = eager'),
}
"""name -> (default, description) of every parameter of the video planner node."""


def sampler_config_from_parameters(p: Mapping[str, Any]) -> SamplerConfig:
    """Build the SamplerConfig of the parameter values `p`, with the preset applied."""
    config = SamplerConfig(
        num_frames=p['num_frames'], height=p['height'], width=p['width'], fps=p['fps'],
        num_inference_steps=p['num_inference_steps'], shift=p['shift'],
        text_guidance_scale=p['text_guidance_scale'],
        history_guidance_scale=p['history_guidance_scale'],
        history_latent_frames=p['history_latent_frames'],
        batched_guidance=p['batched_guidance'], device=p['device'], dtype=p['dtype'],
        offload_text_encoder=p['offload_text_encoder'],
        attention_backend=p['attention_backend'] or None,
        max_text_tokens=p['max_text_tokens'], solver_order=p['solver_order'],
        cache=p['cache'] or None, cache_threshold=p['cache_threshold'],
        cache_interval=p['cache_interval'], cache_warmup_steps=p['cache_warmup_steps'],
        cache_mag_ratios=parse_mag_ratios(p['cache_mag_ratios']),
        fp8=p['fp8'], compile_backend=p['compile_backend'] or None)
    return with_preset(config, p['preset']) if p['preset'] else config


@dataclass(frozen=True)
class LoadedPlanner:
    """The planner the parameters name, or why there is none (`error`), and what to log."""

    planner: VideoPlanner | RayPlannerBackend | None
    error: str = ''
    message: str = ''


def load_planner_from_parameters(p: Mapping[str, Any]) -> LoadedPlanner:
    """Load the model once (local) or reach the Ray Serve app (ray); never raises."""
    backend = p['backend']
    if backend == 'ray':
        try:
            planner = RayPlannerBackend(p['ray_app'], p['ray_address'],
                                        sampler_config_from_parameters(p))
        except (PlanningError, ValueError) as exc:
            return LoadedPlanner(None, f'model not loaded: {exc}')
        return LoadedPlanner(planner, message=f'model loaded: planning on {planner.device}')
    if backend != 'local':
        return LoadedPlanner(None, f'parameter backend must be local or ray, got {backend!r}')
    wan_dir = p['wan_dir']
    checkpoint = p['checkpoint'] or None
    if not wan_dir:
        return LoadedPlanner(None, 'parameter wan_dir is empty: no model to plan with')
    started = time.monotonic()
    try:
        planner = load_planner(wan_dir, checkpoint, sampler_config_from_parameters(p),
                               trust_pickle=p['trust_checkpoint_pickle'])
    except (CheckpointError, ValueError, OSError, RuntimeError) as exc:
        return LoadedPlanner(None, f'model not loaded: {exc}')
    elapsed = time.monotonic() - started
    return LoadedPlanner(planner, message=f'model loaded from {checkpoint or wan_dir} on '
                                          f'{planner.device} in {elapsed:.1f} s')
