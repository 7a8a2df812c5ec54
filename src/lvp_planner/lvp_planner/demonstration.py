"""Video plans taken from a demonstration instead of the video model.

Used where no model weights are present: the plan is a recorded video of a human hand doing the
task, or the synthetic in-scene demonstration (lvp_sim's procedural hand doing the task in the
simulated tabletop world, as `lvp demo` uses), labelled as a demonstration in every artifact so
it is never mistaken for a generated plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lvp_common.artifacts import PlanRequest, PlanSource, VideoPlan
from lvp_common.video_io import read_video
from lvp_exec.embodiment_hardware import DEFAULT_EMBODIMENT


@dataclass(frozen=True)
class DemonstrationConfig:
    """How a recording becomes a plan: resampled to `fps`, fitted to width x height.

    fit: 'letterbox' (scaled to fit, padded: the whole view kept) or 'crop' (scaled to cover,
    centre cut out: the borders lost); lvp_common.video_io.FIT_MODES. The plan's metadata says
    what was done (`frame_fit`), so the camera's intrinsics can be adjusted to match.
    """

    video_path: str
    fps: float = 16.0
    width: int = 832
    height: int = 480
    start_s: float = 0.0
    # 0 = to the end of the recording
    duration_s: float = 0.0
    fit: str = 'letterbox'


def plan_from_demonstration(config: DemonstrationConfig, request: PlanRequest,
                            should_stop: Callable[[], bool] | None = None) -> VideoPlan:
    """Load the recording as a VideoPlan labelled RECORDED_DEMONSTRATION."""
    clip = read_video(config.video_path, fps=config.fps, size=(config.width, config.height),
                      start_s=config.start_s,
                      duration_s=config.duration_s if config.duration_s > 0.0 else None,
                      should_stop=should_stop, fit=config.fit)
    metadata = {'demonstration_file': str(Path(config.video_path).resolve()),
                'source_fps': f'{clip.source_fps:g}',
                'source_size': f'{clip.source_size[0]}x{clip.source_size[1]}'}
    if clip.fit is not None and not clip.fit.is_identity:
        metadata['frame_fit'] = clip.fit.mode
        metadata['frame_fit_note'] = clip.fit.note()
    if clip.decode_note:  # a few corrupt frames were tolerated: say so with the plan
        metadata['decode_note'] = clip.decode_note
    return VideoPlan(frames=clip.frames, fps=clip.fps, prompts=request.prompts,
                     source=PlanSource.RECORDED_DEMONSTRATION, seed=request.seed,
                     metadata=metadata)


class DemonstrationError(ValueError):
    """No demonstration can be made for the request."""


def synthetic_task_for(prompts: tuple[str, ...]) -> str:
    """The lvp_sim task a request asks for: its sentence (as `lvp demo` prints it) or name."""
    from lvp_sim.demonstrations import TASK_PROMPTS

    wanted = ' '.join(prompts).strip().rstrip('.').lower()
    for name, sentence in TASK_PROMPTS.items():
        if wanted in (name, sentence.lower()):
            return name
    known = '; '.join(f'{sentence!r} ({name})' for name, sentence in TASK_PROMPTS.items())
    raise DemonstrationError(f'no synthetic demonstration of {" / ".join(prompts)!r}: the '
                             f'synthetic demonstrations are {known}')


def plan_from_synthetic_demonstration(request: PlanRequest, embodiment: str = DEFAULT_EMBODIMENT,
                                      num_frames: int = 49, fps: float = 16.0,
                                      flaws=None) -> VideoPlan:
    """Render lvp_sim's demonstration of the request's task for its seed, in `embodiment`'s
    world (labelled SYNTHETIC_DEMONSTRATION): the plan `lvp demo` makes for the same seed.

    flaws: an lvp_sim.plan_flaws.FlawPolicy making some plans flawed on purpose (wrong object,
    out of reach, missed grasp; for testing a plan court), named in the plan's metadata 'flaw'.
    """
    from lvp_sim.demonstrations import DemonstrationConfig
    from lvp_sim.plan_flaws import render_with_flaw
    from lvp_sim.world import world_config_for

    task = synthetic_task_for(request.prompts)
    seed = int(request.seed)
    demo = render_with_flaw(DemonstrationConfig(
        task=task, seed=seed, num_frames=num_frames, fps=fps,
        world=world_config_for(embodiment)), None if flaws is None else flaws.flaw_for(seed))
    return demo.plan
