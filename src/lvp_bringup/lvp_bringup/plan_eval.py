"""The automatic columns of a plan evaluation (`lvp_eval auto`): every plan video of an
evaluation folder judged by the plan court's dry run, per embodiment.

For each video (lvp_planner.evaluation's plans.json) and each embodiment it is judged for:

  hand found       the acting hand tracked in >= half of the frames (the pipeline's tracker)
  residual         the hand fit's median reprojection residual (px)
  reach <robot>    the video -> action half passes for that robot with nothing moved: hand
                   tracking, reconstruction, retargeting/grasping, IK, time parameterization
                   and the safety filter (lvp_bringup.plan_court.judge with plan_only); when
                   not, the stage and its message are kept
  sim done         for prompts that name an lvp_sim scene (`sim_task`, `sim_seed`,
                   `embodiment`): the plan executed in a MuJoCo copy of that scene and the
                   task's success predicate

A real prompt's scene has no depth: its camera pose is the prompt's `camera_to_base`
(x, y, z, qx, qy, qz, qw in the robot base frame) or lvp_sim's scene camera of the embodiment's
layout (ASSUMED, as `lvp run` does), its field of view `hfov_deg` or 60 deg; the image is fitted
to the plan's size as the planner fitted it (letterbox). A sim prompt's scene is rendered
exactly (RGB-D, intrinsics, camera pose) and judged for its own embodiment only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from lvp_common.artifacts import CameraIntrinsics, Observation, PlanSource, VideoPlan
from lvp_common.geometry import Pose
from lvp_common.input_files import read_rgb_image
from lvp_common.video_io import frame_fit, read_video
from lvp_planner.evaluation import AUTO_FILE, EvaluationError, load_plans

from lvp_bringup.embodiments import embodiment_named, embodiment_names, is_embodiment
from lvp_bringup.pipeline_types import PipelineConfig
from lvp_bringup.plan_court import CourtConfig, SimTwin, judge

DEFAULT_HFOV_DEG = 60.0
"""The field of view assumed for a real prompt's image without `hfov_deg`."""
MIN_HAND_FRACTION = 0.5
"""A hand is found when tracked in at least this fraction of a plan's frames."""


def _plan(root: Path, entry: dict[str, Any]) -> VideoPlan:
    clip = read_video(root / entry['video'])
    return VideoPlan(frames=clip.frames, fps=clip.fps, prompts=tuple(entry['task']),
                     source=PlanSource.GENERATED, seed=int(entry.get('seed', 0)),
                     model=str(entry.get('model', '')))


def _camera_pose(entry: dict[str, Any], embodiment: str) -> Pose:
    values = entry.get('camera_to_base')
    if values:
        if len(values) != 7:
            raise EvaluationError(f'prompt {entry["prompt"]}: camera_to_base needs 7 numbers '
                                  f'(x, y, z, qx, qy, qz, qw), got {values}')
        try:
            return Pose(np.asarray(values[:3], float), np.asarray(values[3:], float))
        except ValueError as exc:
            raise EvaluationError(f'prompt {entry["prompt"]}: camera_to_base {values}: '
                                  f'{exc}') from exc
    from lvp_bringup.cli_real_clip import default_camera_to_base

    return default_camera_to_base(embodiment)


def real_observation(entry: dict[str, Any], embodiment: str, size: tuple[int, int]
                     ) -> Observation:
    """A real prompt's scene for `embodiment`, fitted to the plan's (w, h) `size`."""
    rgb = read_rgb_image(entry['image'], f'prompt {entry["prompt"]} image')
    h, w = rgb.shape[:2]
    fov = float(entry.get('hfov_deg') or DEFAULT_HFOV_DEG)
    fit = frame_fit((w, h), size, 'letterbox')
    intrinsics = fit.intrinsics(CameraIntrinsics.from_fov(w, h, fov))
    return Observation(rgb=fit.apply(rgb), intrinsics=intrinsics,
                       camera_to_base=_camera_pose(entry, embodiment))


def sim_scene(entry: dict[str, Any]) -> tuple[Observation, SimTwin]:
    """A sim prompt's scene (rendered exactly) and its twin with the task's predicate."""
    from lvp_sim.tasks import TaskError, task_spec_for

    from lvp_bringup.goal_session import render_sim_scene

    embodiment = entry['embodiment']
    scene = render_sim_scene(embodiment, int(entry.get('sim_seed', 0)),
                             embodiment_named(embodiment).base_frame)
    try:
        spec = task_spec_for(entry['sim_task'], scene.world_config)
    except TaskError as exc:
        raise EvaluationError(f'prompt {entry["prompt"]}: {exc}') from exc
    return scene.observation, SimTwin(scene.world_config, spec)


def judge_video(root: Path, entry: dict[str, Any], embodiments: Sequence[str],
                config: PipelineConfig | None = None) -> dict[str, Any]:
    """The automatic columns of one plan video (see the module docstring)."""
    try:
        plan = _plan(root, entry)
    except (ValueError, OSError) as exc:  # VideoReadError, ArtifactError
        raise EvaluationError(f'plan {entry["id"]} ({entry["video"]}): {exc}') from exc
    size = (plan.frames.shape[2], plan.frames.shape[1])
    config = replace(config or PipelineConfig(), plan_only=True)
    sim = bool(entry.get('sim_task'))
    robots = [entry['embodiment']] if sim else list(embodiments)
    out: dict[str, Any] = {}
    fractions, residuals = [], []
    for robot in robots:
        observation, twin = sim_scene(entry) if sim else (
            real_observation(entry, robot, size), None)
        candidate = judge(0, plan.seed, plan, observation, robot, config, CourtConfig(), twin)
        verdict = candidate.verdict
        if 'detected_fraction' in verdict.metrics:
            fractions.append(verdict.metrics['detected_fraction'])
        elif verdict.failed_stage == 'hand_tracking':
            fractions.append(0.0)
        if 'residual_px' in verdict.metrics:
            residuals.append(verdict.metrics['residual_px'])
        out[f'reach {robot}'] = candidate.error is None
        if candidate.error is not None:
            out[f'reach {robot} why'] = f'{candidate.error.stage}: {candidate.error.message}'
        if sim:
            outcome = candidate.twin_outcome
            out['sim done'] = bool(outcome is not None and outcome.success)
            out['sim done why'] = (outcome.message if outcome is not None
                                   else '; '.join(verdict.reasons))
    fraction = max(fractions, default=0.0)
    out['hand found'] = fraction >= MIN_HAND_FRACTION
    out['hand fraction'] = round(float(fraction), 3)
    if residuals:
        out['residual px'] = round(float(np.median(residuals)), 2)
    return out


def automatic_columns(root: str | Path, embodiments: Sequence[str] | None = None,
                      progress: Callable[[str], None] | None = None,
                      config: PipelineConfig | None = None) -> dict[str, dict[str, Any]]:
    """Judge every plan of the evaluation folder into its auto.json; return the columns."""
    root = Path(root)
    embodiments = tuple(embodiments or embodiment_names())
    unknown = [e for e in embodiments if not is_embodiment(e)]
    if unknown:
        raise EvaluationError(f'unknown embodiment(s) {unknown}; known: {embodiment_names()}')
    out: dict[str, dict[str, Any]] = {}
    for entry in load_plans(root):
        if entry.get('sim_task') and not is_embodiment(str(entry.get('embodiment'))):
            raise EvaluationError(f'prompt {entry["prompt"]}: a sim_task prompt needs the '
                                  f'embodiment whose scene its image shows, one of '
                                  f'{embodiment_names()}; got {entry.get("embodiment")!r}')
        if progress is not None:
            progress(f'{entry["id"]} ({entry["model"]}, {entry["prompt"]})')
        out[entry['id']] = judge_video(root, entry, embodiments, config)
    (root / AUTO_FILE).write_text(json.dumps(out, indent=1))
    return out
