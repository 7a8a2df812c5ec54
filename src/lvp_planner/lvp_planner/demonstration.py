"""Video plans taken from a recorded demonstration instead of the video model.

Used where no model weights are present: the plan is a real (or rendered) video of a human hand
doing the task, labelled as a demonstration in every artifact so it is never mistaken for a
generated plan.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lvp_common.artifacts import PlanRequest, PlanSource, VideoPlan
from lvp_common.video_io import read_video


@dataclass(frozen=True)
class DemonstrationConfig:
    """How a recording becomes a plan: resampled to `fps`, fitted to width x height."""

    video_path: str
    fps: float = 16.0
    width: int = 832
    height: int = 480
    start_s: float = 0.0
    # 0 = to the end of the recording
    duration_s: float = 0.0


def plan_from_demonstration(config: DemonstrationConfig, request: PlanRequest,
                            should_stop: Callable[[], bool] | None = None) -> VideoPlan:
    """Load the recording as a VideoPlan labelled RECORDED_DEMONSTRATION."""
    clip = read_video(config.video_path, fps=config.fps, size=(config.width, config.height),
                      start_s=config.start_s,
                      duration_s=config.duration_s if config.duration_s > 0.0 else None,
                      should_stop=should_stop)
    return VideoPlan(frames=clip.frames, fps=clip.fps, prompts=request.prompts,
                     source=PlanSource.RECORDED_DEMONSTRATION, seed=request.seed,
                     metadata={'demonstration_file': str(Path(config.video_path).resolve()),
                               'source_fps': f'{clip.source_fps:g}',
                               'source_size': f'{clip.source_size[0]}x{clip.source_size[1]}'})
