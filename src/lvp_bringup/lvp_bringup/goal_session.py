"""What one PlanAndExecute goal decides without ROS: its task, candidates, frames, archive name,
the sim observation, and whether the planner still answers.

plan_and_execute_goal.py runs a goal with these; everything here is testable without a graph.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lvp_bringup.embodiments import UnknownEmbodimentError, embodiment_named
from lvp_bringup.pipeline_types import ErrorCode, StageError


def invalid(message: str) -> StageError:
    """An INVALID_GOAL failure at validation."""
    return StageError('validation', ErrorCode.INVALID_GOAL, message)


def goal_prompts(task: str, subtasks: Iterable[str]) -> tuple[str, ...]:
    """The goal's task sentences (subtasks win when set); INVALID_GOAL when there are none."""
    prompts = tuple(p.strip() for p in subtasks)
    if not prompts:
        prompts = (task.strip(),) if task.strip() else ()
    if not prompts or not all(prompts):
        raise invalid('the goal has no task: set `task` or non-empty `subtasks`')
    return prompts


def goal_embodiment(requested: str, default: str) -> str:
    """The goal's embodiment (the server's `embodiment` parameter when it names none)."""
    embodiment = requested or default
    try:
        embodiment_named(embodiment)
    except UnknownEmbodimentError as exc:
        raise invalid(str(exc)) from exc
    return embodiment


def candidate_count(num_candidates: int, num_samples: int, max_samples: int) -> int:
    """Candidate plans of a goal (0 means 1): num_candidates, else the deprecated num_samples
    (read as num_candidates); INVALID_GOAL when both are set > 1 and differ, or above the
    server's `max_samples` parameter."""
    candidates, samples = int(num_candidates), int(num_samples)
    if candidates > 1 and samples > 1 and candidates != samples:
        raise invalid(f'num_candidates {candidates} and num_samples {samples} disagree: '
                      f'num_samples is deprecated (read as num_candidates); set one of them')
    field, count = ('num_candidates', candidates) if candidates else ('num_samples', samples)
    if count > max_samples:
        raise invalid(f'{field} {count} is above the max_samples parameter ({max_samples}): '
                      f'each candidate is a plan, a dry run and an archive')
    return max(1, count)


def base_frame_for(embodiment: str, parameter: str) -> str:
    """The robot base frame: the `base_frame` parameter, else the robot's URDF root."""
    return parameter or embodiment_named(embodiment).base_frame


def archive_name(goal_id: bytes, sample: int, now: float | None = None) -> str:
    """Folder name of a goal's archive: local time, goal id prefix, and the candidate when
    > 0."""
    name = time.strftime('%Y%m%d-%H%M%S', time.localtime(now)) + f'-{goal_id.hex()[:8]}'
    return name + (f'-candidate{sample}' if sample else '')


def camera_to_base_pose(values: list[float]) -> Any:
    """The camera_to_base parameter as a Pose; None when empty (TF); INVALID_GOAL otherwise."""
    import numpy as np
    from lvp_common.geometry import GeometryError, Pose

    if not values:
        return None
    if len(values) != 7 or not np.all(np.isfinite(values)):
        raise invalid(f'parameter camera_to_base must be empty (TF) or 7 finite floats (x, y, '
                      f'z, qx, qy, qz, qw of the camera optical frame in the robot base), got '
                      f'{values}')
    try:
        return Pose(np.asarray(values[:3]), np.asarray(values[3:]))
    except (GeometryError, ValueError) as exc:
        raise invalid(f'parameter camera_to_base: {exc}') from exc


@dataclass(frozen=True)
class SimScene:
    """The sim world's camera view for a seed: the observation and the world it shows."""

    observation: Any
    """lvp_common Observation: RGB-D, exact intrinsics and camera pose in the robot base."""
    world_config: Any
    """lvp_sim WorldConfig with the seed's object placement (the sim executes in it)."""


def render_sim_scene(embodiment: str, seed: int, base_frame: str) -> SimScene:
    """Render the sim world's camera for `seed`: the scene the synthetic demonstration of the
    same seed acts in (object placement varies with the seed), hand hidden."""
    from dataclasses import replace

    from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration

    # the shortest demonstration: only its observation (the scene before the hand enters) and
    # its world are used, and both depend on the seed and the layout alone
    demo = render_demonstration(DemonstrationConfig(seed=int(seed), num_frames=8,
                                                    world=embodiment_named(embodiment).world_config()))
    return SimScene(replace(demo.observation, base_frame=base_frame), demo.world_config)


class PlannerLiveness:
    """Judge a planner by its feedback: silent longer than `max_silence_s` means gone.

    DDS drops a killed process from the graph only after its lease (~20 s with Fast DDS), so
    the planner's feedback (repeated every second by lvp_planner.feedback_heartbeat) is the
    quick sign of life; the graph check catches a server that left cleanly.
    """

    def __init__(self, max_silence_s: float, clock=time.monotonic) -> None:
        self.max_silence_s = max_silence_s
        self._clock = clock
        self.last_heard = clock()

    def heard(self) -> None:
        """The planner just answered (feedback, goal response)."""
        self.last_heard = self._clock()

    def check(self, server_ready: bool) -> None:
        """PLANNER_FAILED when the server left the graph or has been silent too long."""
        if not server_ready:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             'the generate_video_plan server went away during the plan '
                             '(the planner node stopped or crashed)')
        silent = self._clock() - self.last_heard
        if self.max_silence_s > 0.0 and silent > self.max_silence_s:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             f'no feedback from the planner for {silent:.1f} s (limit: '
                             f'parameter planner_feedback_timeout_s = {self.max_silence_s:g} s): '
                             f'the planner node stopped or hangs')
