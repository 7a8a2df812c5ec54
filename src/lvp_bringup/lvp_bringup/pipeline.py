"""PlanAndExecute without ROS: video plan -> hand track -> wrist path -> robot motion.

`run_pipeline` orders the stages; each stage's work is a call into the package that owns it:

    hand_tracking (lvp_hand_tracking) -> reconstruction (lvp_reconstruction)
    -> the embodiment's hand stages (lvp_bringup.embodiments: retargeting, + grasping for the
       gripper; they set the EE mapping) -> EE path (the embodiment's `ee_path`)
    -> ik -> timing -> safety -> executing (lvp_exec.motion; executing skipped with plan_only)

Each failure raises `StageError(stage, code, message)` with the error code of
`lvp_interfaces/action/PlanAndExecute.action` (pipeline_types.STAGE_CODES); stages after a
failure never run, so nothing is executed unless tracking, reconstruction, retargeting, IK,
timing and the safety filter passed.

How each robot maps the human wrist to its EE (registration to the grasp or object, approach,
dwell) is documented in its module: lvp_bringup.embodiments.franka_gripper and .g1_inspire.

Execution goes through an `lvp_exec.execution.Executor` (`PipelineConfig.executor`; default the
MuJoCo sim in the lvp_sim world of the embodiment): the trajectory starts at the executor's
current joint state (the sim: the robot's home) and `PipelineConfig.should_stop` stops the robot
mid-motion (CANCELED).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from lvp_common.artifacts import HandCommands, Observation, VideoPlan, WristTrajectory

from lvp_bringup.embodiments import (
    EMBODIMENTS,
    Embodiment,
    UnknownEmbodimentError,
    embodiment_named,
)
from lvp_bringup.embodiments.ee_mapping import EeMapping
from lvp_bringup.pipeline_types import (
    HAND_STAGES,
    STAGE_CODES,
    STAGES,
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    ProgressCallback,
    StageError,
    StageRunner,
    no_progress,
)
from lvp_bringup.reach_report import describe_unreachable, unreachable_cause

__all__ = ['EMBODIMENTS', 'STAGES', 'EeMapping', 'ErrorCode', 'PipelineConfig',
           'PipelineResult', 'ProgressCallback', 'StageError', 'ee_path_for', 'executor_for',
           'motion_stages', 'plan_record', 'robot_for', 'run_motion', 'run_pipeline',
           'track_hand']


def robot_for(embodiment: str, config: PipelineConfig):
    """Load the lvp_exec arm model of an embodiment (the Franka: config.arm_model, else the
    arm the configured executor drives)."""
    try:
        return embodiment_named(embodiment).load_robot(config)
    except UnknownEmbodimentError as exc:
        raise StageError('ik', ErrorCode.INVALID_GOAL, str(exc)) from exc


def ee_path_for(wrist: WristTrajectory, mapping: EeMapping, robot,
                commands: HandCommands | None = None) -> WristTrajectory:
    """Apply an EeMapping to a base-frame human wrist path for `robot` (lvp_exec RobotModel):
    the mapping's embodiment's `ee_path`."""
    return embodiment_named(mapping.embodiment).ee_path(wrist, mapping, robot, commands)


def executor_for(config: PipelineConfig, embodiment: str):
    """The configured executor, else the MuJoCo sim in `embodiment`'s lvp_sim world layout."""
    if config.executor is not None:
        return config.executor
    from lvp_sim.mujoco_executor import MujocoExecutor, SimConfig

    return MujocoExecutor(world_config=embodiment_named(embodiment).world_config(),
                          config=config.sim or SimConfig(render_fps=10.0))


def motion_stages(plan_only: bool) -> tuple[str, ...]:
    """The motion stages run_motion runs (executing only when not plan only)."""
    return ('ik', 'timing', 'safety') + (() if plan_only else ('executing',))


def run_motion(result: PipelineResult, wrist: WristTrajectory, mapping: EeMapping,
               config: PipelineConfig, runner: StageRunner | None = None,
               progress: ProgressCallback | None = None) -> PipelineResult:
    """EE mapping -> lvp_exec.motion (IK -> time parameterization -> safety filter -> execution).

    Used by run_pipeline and by replay (from an archived wrist path and mapping).
    """
    from lvp_exec.ik import IkConfig
    from lvp_exec.motion import (
        MotionConfig,
        MotionError,
        MotionRequest,
        MotionResult,
        execute_motion,
    )
    from lvp_exec.timing import TimingConfig

    stages = runner if runner is not None else StageRunner(
        result, progress or no_progress, motion_stages(config.plan_only))
    if result.robot is None:
        result.robot = robot_for(mapping.embodiment, config)
    robot: Any = result.robot
    result.mapping = mapping
    ee_path = ee_path_for(wrist, mapping, robot, result.hand_commands)
    result.ee_path = ee_path
    executor: Any = None if config.plan_only else executor_for(config, mapping.embodiment)
    rec = result.reconstruction
    cloud = None if rec is None or not config.scene_check else rec.point_cloud_base
    request = MotionRequest(robot, ee_path, result.gripper_events, result.hand_commands,
                            config.should_stop,
                            None if cloud is None else np.asarray(cloud.points))
    safety = None if config.safety_for is None else config.safety_for(
        robot, getattr(executor, 'world_config', None))
    motion_config = MotionConfig(ik=config.ik or IkConfig(),
                                 timing=config.timing or TimingConfig(),
                                 safety=safety, plan_only=config.plan_only)
    motion = MotionResult(robot, ee_path)
    try:
        execute_motion(request, executor, motion_config,
                       lambda stage, work: stages.run(stage, (), work), motion)
    except MotionError as exc:
        code = ErrorCode.CANCELED if exc.stopped else STAGE_CODES[exc.stage]
        message = exc.message
        cause = unreachable_cause(exc) if exc.stage == 'ik' and not exc.stopped else None
        if cause is not None and cause.index < len(ee_path.times):
            # where the waypoint lies from the arm's reach, in the robot base frame
            message = describe_unreachable(robot, ee_path, cause.index, motion.start_joints,
                                           float(wrist.times[0]), cause.orientation_error)
        raise StageError(exc.stage, code, message) from exc
    finally:
        result.start_joints, result.joint_path = motion.start_joints, motion.joint_path
        result.timed, result.execution = motion.timed, motion.execution
        result.executed = motion.executed
    if config.plan_only:
        result.messages.append('plan only: nothing executed')
    return result


def _tracking_errors() -> tuple[type[BaseException], ...]:
    from lvp_hand_tracking.estimator import BackendError
    from lvp_hand_tracking.model_assets import ModelAssetError
    from lvp_hand_tracking.tracker import HandednessUnknownError, LongGapError, NoHandFoundError

    return (NoHandFoundError, LongGapError, HandednessUnknownError, BackendError,
            ModelAssetError)


def track_hand(plan: VideoPlan, config: PipelineConfig, report: Callable[[float], None]):
    """Run MediaPipe over the plan's frames (progress per frame) -> TrackingResult."""
    from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend
    from lvp_hand_tracking.tracker import HandTracker, TrackerConfig

    def frames() -> Iterator[np.ndarray]:
        for k, frame in enumerate(plan.frames):
            report(k / plan.num_frames)
            yield frame

    backend = MediaPipeHandBackend(config.mediapipe or MediaPipeConfig())
    with HandTracker(config.tracker or TrackerConfig(), backend) as tracker:
        height, width = plan.frames.shape[1:3]
        return tracker.track_frames(frames(), plan.times, (width, height), config.handedness,
                                    plan.metadata)


def run_pipeline(observation: Observation, plan: VideoPlan, embodiment: str,
                 config: PipelineConfig | None = None,
                 progress: ProgressCallback | None = None) -> PipelineResult:
    """Turn a video plan and the scene observation into robot motion (see module docstring).

    Raises StageError at the first failing stage, its `result` holding what the earlier stages
    produced; the result of a successful run holds every intermediate artifact and per-stage
    wall times (s). A `progress` callback may raise StageError (e.g. CANCELED) to stop the run
    before the next stage or tracked frame.
    """
    config = config or PipelineConfig()
    try:
        robot_kind = embodiment_named(embodiment)
    except UnknownEmbodimentError as exc:
        raise StageError('hand_tracking', ErrorCode.INVALID_GOAL, str(exc)) from exc
    result = PipelineResult(embodiment=embodiment, plan=plan, observation=observation)
    try:
        return _run_stages(result, observation, plan, robot_kind, config,
                           progress or no_progress)
    except StageError as exc:
        exc.result = result
        raise


def _run_stages(result: PipelineResult, observation: Observation, plan: VideoPlan,
                embodiment: Embodiment, config: PipelineConfig,
                progress: ProgressCallback) -> PipelineResult:
    from lvp_reconstruction.reconstruct import (
        ReconstructionConfig,
        ReconstructionError,
        hand_mesh,
        reconstruct,
    )

    stages = tuple(s for s in STAGES
                   if not (s in HAND_STAGES and s not in embodiment.hand_stages)
                   and not (s == 'executing' and config.plan_only))
    runner = StageRunner(result, progress, stages)

    tracking = runner.run('hand_tracking', _tracking_errors(),
                          lambda: track_hand(plan, config,
                                             lambda f: runner.report('hand_tracking', f)))
    result.tracking = tracking
    track = tracking.track
    result.hand_track = track
    indices = tracking.track_frame_indices
    if tracking.long_gaps:
        result.messages.append(f'hand tracking: track cut at long gaps, using frames '
                               f'{int(indices[0])}..{int(indices[-1])} of {plan.num_frames}')

    def reconstruct_stage():
        if observation.camera_to_base is None:
            raise ReconstructionError('the observation has no camera_to_base extrinsic: the '
                                      'wrist path cannot be put in the robot base frame')
        rec = reconstruct(track, observation,
                          config.reconstruction or (embodiment.reconstruction or
                                                    ReconstructionConfig)(),
                          frames=plan.frames[indices])
        if rec.wrist_base is None:
            raise ReconstructionError('no base-frame wrist path')
        return rec

    rec = runner.run('reconstruction', (ValueError,), reconstruct_stage)
    result.reconstruction = rec
    result.hand_track = hand_mesh(track, rec)  # the fitted hand's surface, when there is one
    result.wrist_base, result.wrist_base_raw = rec.wrist_base, rec.wrist_base_raw
    result.messages.extend(f'reconstruction: {m}' for m in rec.report.messages)
    wrist = result.wrist_base
    assert wrist is not None

    result.robot = robot_for(embodiment.name, config)
    embodiment.run_hand_stages(result, config, runner)
    mapping = result.mapping
    assert mapping is not None
    run_motion(result, wrist, mapping, config, runner)
    return result


def plan_record(result: PipelineResult, prompts: tuple[str, ...], plan: VideoPlan | None,
                observation: Observation | None, metadata: dict[str, object]):
    """Gather what a (possibly partial) run produced as an lvp_common PlanRecord to archive.

    The metadata gets the EE mapping (so `lvp replay` is exact) and whether the run was plan only.
    """
    from lvp_common.plan_record import PlanRecord

    rec: Any = result.reconstruction
    mapping = result.mapping
    return PlanRecord(
        prompts=prompts, embodiment=result.embodiment, observation=observation,
        plan=plan, hand_track=result.hand_track,
        wrist_camera=None if rec is None else rec.wrist_camera,
        wrist_base_raw=result.wrist_base_raw, wrist_base=result.wrist_base,
        scene_cloud=None if rec is None else rec.point_cloud_base,
        grasps=result.grasp_plan, hand_commands=result.hand_commands,
        gripper_events=result.gripper_events, joint_trajectory=result.trajectory,
        metadata={'ee_mapping': None if mapping is None else mapping.to_metadata(),
                  'plan_only': result.timed is not None and not result.executed,
                  **metadata})

