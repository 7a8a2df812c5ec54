"""Serve PlanAndExecute: ask a GenerateVideoPlan server for a plan, then run the stages here.

Planning goes through the `generate_video_plan` action (the model-backed `video_planner` or the
`demonstration_planner`; this node does not care which); hand tracking -> reconstruction ->
retargeting/grasping -> IK -> timing -> safety -> execution run in-process with
`lvp_bringup.pipeline.run_pipeline`. One goal at a time; cancel is honoured while planning (the
planner goal is cancelled too) and before every stage and tracked frame. The MuJoCo backend
runs a trajectory in well under a second and lvp_exec's `MujocoArmSim.execute` has no stop hook
yet, so a cancel that arrives during `executing` takes effect when the simulation returns.
Every plan is archived (`lvp_common.plan_archive`) and its artifacts are published, latched, on
the live topics.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np
from lvp_common.artifacts import ArtifactError, CameraIntrinsics, Observation, VideoPlan
from lvp_common.geometry import GeometryError, Pose
from lvp_common.image_encoding import ImageEncodingError
from lvp_common.ros_conversions import (
    camera_info_to_intrinsics,
    depth_image_to_metres,
    hand_commands_to_msg,
    hand_track_to_msg,
    image_to_rgb8,
    joint_trajectory_to_msg,
    make_header,
    video_plan_from_msg,
    wrist_trajectory_to_msg,
)
from lvp_common.ros_node import LATCHED, describe, run_node
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future

from lvp_bringup.pipeline import (
    EMBODIMENTS,
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    StageError,
    plan_record,
    run_pipeline,
)
from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan, PlanAndExecute

EXECUTION_BACKENDS = ('sim',)
"""Wired in this round: MuJoCo. ros2_control (Franka) and Unitree (G1) are not yet."""

PLANNING_SHARE, ARCHIVE_SHARE = 0.4, 0.05
"""Parts of overall_progress spent planning and archiving; the stages share the rest."""

_LIVE_TOPICS_OF_OTHERS = (topics.OBSERVATION_IMAGE, topics.OBSERVATION_DEPTH,
                          topics.OBSERVATION_CAMERA_INFO, topics.VIDEO_PLAN)
"""Published by the camera driver and the planner, not by this node."""

_STAGE_CODES = {
    'validation': ErrorCode.INVALID_GOAL, 'planning': ErrorCode.PLANNER_FAILED,
    'hand_tracking': ErrorCode.NO_HAND_FOUND, 'reconstruction': ErrorCode.RECONSTRUCTION_FAILED,
    'retargeting': ErrorCode.RETARGET_FAILED, 'grasping': ErrorCode.GRASP_FAILED,
    'ik': ErrorCode.UNREACHABLE, 'timing': ErrorCode.UNREACHABLE,
    'safety': ErrorCode.SAFETY_VIOLATION, 'archive': ErrorCode.ARCHIVE_FAILED,
}
"""The error code of an unexpected exception, by the stage it escaped from."""

_PLANNER_CODES = {
    GenerateVideoPlan.Result.INVALID_GOAL: ErrorCode.INVALID_GOAL,
    GenerateVideoPlan.Result.CANCELED: ErrorCode.CANCELED,
}


class PlanAndExecuteNode(Node):
    """Answer PlanAndExecute goals: plan via GenerateVideoPlan, then run the pipeline."""

    def __init__(self) -> None:
        super().__init__('plan_and_execute')
        declare = self.declare_parameter
        declare('embodiment', 'franka_gripper',
                describe(f'robot used when a goal names none: one of {EMBODIMENTS}'))
        declare('camera_to_base', Parameter.Type.DOUBLE_ARRAY,
                describe('camera optical frame in the robot base: x, y, z (m), qx, qy, qz, qw '
                         '(required)'))
        declare('execution_backend', 'sim',
                describe(f'how the motion is executed: one of {EXECUTION_BACKENDS} (MuJoCo)'))
        declare('archive_dir', '~/.ros/lvp/plan_archives',
                describe('folder for the plan archives (one rosbag2 folder per plan)'))
        declare('default_horizontal_fov_deg', 60.0,
                describe('field of view assumed when a goal has no CameraInfo, deg'))
        declare('planner_wait_s', 10.0,
                describe('how long to wait for the generate_video_plan server, s'))
        declare('planner_timeout_s', 1800.0, describe('longest a plan may take, s'))
        declare('handedness', '', describe("'left'/'right' overrides the acting hand; "
                                           'empty = plan metadata, else the detector vote'))
        declare('min_tcp_height', 0.02,
                describe('lowest Franka TCP height above the table (base plane), m'))
        declare('require_grasp_candidate', False,
                describe('fail with GRASP_FAILED when no antipodal grasp is found'))
        declare('publish_artifacts', True,
                describe('publish every plan\'s artifacts, latched, on the lvp/ topics'))
        self._busy = threading.Lock()
        self._group = ReentrantCallbackGroup()
        self._planner = ActionClient(self, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION,
                                     callback_group=self._group)
        self._artifact_publishers: dict[str, Any] = {}
        self._server = ActionServer(
            self, PlanAndExecute, topics.PLAN_AND_EXECUTE_ACTION,
            execute_callback=self._execute, goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT, callback_group=self._group)
        backend = self._str('execution_backend')
        if backend not in EXECUTION_BACKENDS:
            self.get_logger().error(_backend_message(backend))

    def _str(self, name: str) -> str:
        return self.get_parameter(name).get_parameter_value().string_value

    def _float(self, name: str) -> float:
        return self.get_parameter(name).get_parameter_value().double_value

    def _bool(self, name: str) -> bool:
        return self.get_parameter(name).get_parameter_value().bool_value

    def _on_goal(self, _goal: PlanAndExecute.Goal) -> GoalResponse:
        # One goal at a time: a second goal while one runs is rejected, not queued.
        if not self._busy.acquire(blocking=False):
            self.get_logger().warn('rejecting a goal: a goal is already running')
            return GoalResponse.REJECT
        self._busy.release()
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> PlanAndExecute.Result:
        with self._busy:
            run = _GoalRun(self, goal_handle)
            result = run.run()
        if result.error_code == ErrorCode.SUCCESS:
            goal_handle.succeed()
        elif result.error_code == ErrorCode.CANCELED and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        summary = (f'goal done: {ErrorCode(result.error_code).name}'
                   + (f' at {result.failed_stage}: {result.error_message}'
                      if result.error_code else '')
                   + (f'; archive {result.archive_path}' if result.archive_path else ''))
        if result.error_code == ErrorCode.SUCCESS:
            self.get_logger().info(summary)
        else:
            self.get_logger().warn(summary)
        return result

    def publish_record(self, record) -> None:
        """Publish a plan record's artifacts (as the archive holds them) plus RViz markers."""
        if not self._bool('publish_artifacts'):
            return
        from lvp_common.plan_archive import record_messages

        stamp = self.get_clock().now()
        t0 = stamp.nanoseconds * 1e-9
        messages = [(topic, msg) for topic, _t, msg in record_messages(record, t0)
                    if topic not in _LIVE_TOPICS_OF_OTHERS]
        if record.hand_track is not None:
            from lvp_hand_tracking.tracking_node import skeleton_markers

            frame = record.observation.camera_frame if record.observation else ''
            messages.append((topics.HAND_MARKERS,
                             skeleton_markers(record.hand_track, frame, stamp.to_msg())))
        if record.grasps is not None:
            from lvp_grasp.grasp_node import grasp_markers

            messages.append((topics.GRASP_MARKERS,
                             grasp_markers(record.grasps, 5, stamp.to_msg())))
        for topic, msg in messages:
            if topic not in self._artifact_publishers:
                self._artifact_publishers[topic] = self.create_publisher(type(msg), topic, LATCHED)
            self._artifact_publishers[topic].publish(msg)


class _GoalRun:
    """One PlanAndExecute goal: validate, plan (per sample), run the stages, archive, report."""

    def __init__(self, node: PlanAndExecuteNode, goal_handle: ServerGoalHandle) -> None:
        self.node = node
        self.handle = goal_handle
        self.goal: PlanAndExecute.Goal = goal_handle.request
        self.result = PlanAndExecute.Result()
        self.notes: list[str] = []
        self._sample = 0
        self._sample_share = 1.0
        self._stage = 'validation'

    def run(self) -> PlanAndExecute.Result:
        try:
            observation, prompts, embodiment = self._validate()
            samples = max(1, int(self.goal.num_samples))
            self._sample_share = 1.0 / samples
            for k in range(samples):
                self._sample = k
                try:
                    return self._plan_and_run(observation, prompts, embodiment,
                                              int(self.goal.seed) + k)
                except StageError as exc:
                    last = k == samples - 1
                    if last or exc.code in (ErrorCode.INVALID_GOAL, ErrorCode.CANCELED,
                                            ErrorCode.PLANNER_FAILED):
                        raise
                    self.node.get_logger().warn(f'sample {k + 1}/{samples}: {exc}; trying the '
                                                'next sample')
        except StageError as exc:
            self.result.error_code = int(exc.code)
            self.result.error_message = exc.message
            self.result.failed_stage = exc.stage
        except Exception as exc:  # a bug must still end the goal with a code, not a bare abort
            self.node.get_logger().error(f'unexpected error during {self._stage}: '
                                         f'{traceback.format_exc()}')
            self.result.error_code = int(_STAGE_CODES.get(self._stage,
                                                          ErrorCode.EXECUTION_FAILED))
            self.result.error_message = f'internal error: {type(exc).__name__}: {exc}'
            self.result.failed_stage = self._stage
        return self.result

    # -- goal validation ------------------------------------------------------------------

    def _validate(self) -> tuple[Observation, tuple[str, ...], str]:
        goal, node = self.goal, self.node

        def invalid(message: str) -> StageError:
            return StageError('validation', ErrorCode.INVALID_GOAL, message)

        prompts = tuple(p.strip() for p in goal.subtasks) if len(goal.subtasks) else (
            (goal.task.strip(),) if goal.task.strip() else ())
        if not prompts or not all(prompts):
            raise invalid('the goal has no task: set `task` or non-empty `subtasks`')
        embodiment = goal.embodiment or node._str('embodiment')
        if embodiment not in EMBODIMENTS:
            raise invalid(f'unknown embodiment {embodiment!r}; expected one of {EMBODIMENTS}')
        backend = node._str('execution_backend')
        if not goal.plan_only and backend not in EXECUTION_BACKENDS:
            raise invalid(_backend_message(backend))
        camera_to_base = node.get_parameter('camera_to_base').value
        if camera_to_base is None or len(camera_to_base) != 7:
            raise invalid(f'parameter camera_to_base must be 7 floats (x, y, z, qx, qy, qz, qw '
                          f'of the camera optical frame in the robot base), got '
                          f'{None if camera_to_base is None else list(camera_to_base)}')
        try:
            values = np.asarray(camera_to_base, dtype=np.float64)
            pose = Pose(values[:3], values[3:])
            rgb = image_to_rgb8(goal.image)
            h, w = rgb.shape[:2]
            depth = None
            if goal.depth.width and goal.depth.height:
                depth = depth_image_to_metres(goal.depth)
            if goal.camera_info.width:
                intrinsics = camera_info_to_intrinsics(goal.camera_info)
            else:
                fov = node._float('default_horizontal_fov_deg')
                intrinsics = CameraIntrinsics.from_fov(w, h, fov)
                self._note(f'the goal has no CameraInfo: ASSUMED a {fov:g} deg horizontal field '
                           f'of view')
            if depth is None:
                self._note('the goal has no depth image: the wrist path scale comes from the '
                           'hand model alone')
            observation = Observation(rgb=rgb, depth=depth, intrinsics=intrinsics,
                                      camera_to_base=pose)
            if goal.image.header.frame_id:
                observation = replace(observation, camera_frame=goal.image.header.frame_id)
        except (ImageEncodingError, ArtifactError, GeometryError, ValueError) as exc:
            raise invalid(str(exc)) from exc
        return observation, prompts, embodiment

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.node.get_logger().warn(text)

    # -- feedback and cancel --------------------------------------------------------------

    def _feedback(self, stage: str, stage_progress: float, overall: float,
                  step: int = 0, steps: int = 0) -> None:
        self._stage = stage
        overall = (self._sample + overall) * self._sample_share
        self.handle.publish_feedback(PlanAndExecute.Feedback(
            stage=stage, stage_progress=float(stage_progress), overall_progress=float(overall),
            denoising_step=step, denoising_steps=steps))

    def _check_cancel(self, stage: str) -> None:
        if self.handle.is_cancel_requested:
            raise StageError(stage, ErrorCode.CANCELED, f'canceled by the client during {stage}')

    def _stage_progress(self, stage: str, stage_progress: float, overall: float) -> None:
        """run_pipeline's progress callback: forward as feedback, stop here on cancel."""
        self._check_cancel(stage)
        self._feedback(stage, stage_progress,
                       PLANNING_SHARE + (1.0 - PLANNING_SHARE - ARCHIVE_SHARE) * overall)

    def _wait(self, future: Future, timeout_s: float, stage: str) -> None:
        """Block until `future` is done (other executor threads complete it); cancel-aware."""
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        deadline = time.monotonic() + timeout_s
        while not done.wait(0.05):
            self._check_cancel(stage)
            if time.monotonic() > deadline:
                raise StageError(stage, ErrorCode.PLANNER_FAILED,
                                 f'no answer from the planner within {timeout_s:g} s')

    # -- planning ---------------------------------------------------------------------------

    def _plan(self, observation: Observation, prompts: tuple[str, ...], seed: int) -> VideoPlan:
        node = self.node
        self._feedback('planning', 0.0, 0.0)
        wait_s = node._float('planner_wait_s')
        if not node._planner.wait_for_server(timeout_sec=wait_s):
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             f'no {topics.GENERATE_VIDEO_PLAN_ACTION} action server after '
                             f'{wait_s:g} s: start video_planner or demonstration_planner')
        goal = GenerateVideoPlan.Goal(image=self.goal.image, prompts=list(prompts), seed=seed)

        def forward(msg) -> None:
            f = msg.feedback
            steps = int(f.num_chunks) * int(f.num_steps)
            step = int(f.chunk) * int(f.num_steps) + int(f.step)
            self._feedback('planning', float(f.progress), PLANNING_SHARE * float(f.progress),
                           step, steps)

        sent = node._planner.send_goal_async(goal, feedback_callback=forward)
        self._wait(sent, wait_s, 'planning')
        planner_goal = sent.result()
        if planner_goal is None or not planner_goal.accepted:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             'the planner rejected the goal (busy with another plan?)')
        answer = planner_goal.get_result_async()
        try:
            self._wait(answer, node._float('planner_timeout_s'), 'planning')
        except StageError:
            cancel = planner_goal.cancel_goal_async()
            # best effort: give the planner a moment to stop before the goal ends
            ended = threading.Event()
            answer.add_done_callback(lambda _f: ended.set())
            cancel.add_done_callback(lambda _f: None)
            ended.wait(5.0)
            raise
        result = answer.result().result  # type: ignore[union-attr]
        if result.error_code != GenerateVideoPlan.Result.SUCCESS:
            code = _PLANNER_CODES.get(result.error_code, ErrorCode.PLANNER_FAILED)
            raise StageError('planning', code, f'planner: {result.error_message}')
        try:
            plan = video_plan_from_msg(result.plan)
        except ArtifactError as exc:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             f'the planner returned a malformed plan: {exc}') from exc
        self.result.plan = result.plan
        return plan

    # -- the stages and the archive ----------------------------------------------------------

    def _plan_and_run(self, observation: Observation, prompts: tuple[str, ...],
                      embodiment: str, seed: int) -> PlanAndExecute.Result:
        from lvp_exec.sim import SimConfig

        node = self.node
        plan = self._plan(observation, prompts, seed)
        self._check_cancel('planning')
        handedness = node._str('handedness') or None
        config = PipelineConfig(plan_only=bool(self.goal.plan_only), handedness=handedness,
                                sim=SimConfig(),  # no rendering: nobody watches the frames
                                min_tcp_height=node._float('min_tcp_height'),
                                require_grasp_candidate=node._bool('require_grasp_candidate'))
        error: StageError | None = None
        try:
            outcome = run_pipeline(observation, plan, embodiment, config, self._stage_progress)
        except StageError as exc:
            error = exc
            outcome = exc.result or PipelineResult(embodiment=embodiment, plan=plan)
        if error is None and self.handle.is_cancel_requested:
            error = StageError('executing' if outcome.executed else 'archive',
                               ErrorCode.CANCELED, 'canceled by the client; the simulated '
                               'motion had already run to its end (the sim backend cannot stop '
                               'mid-trajectory yet)' if outcome.executed else
                               'canceled by the client before archiving')
        self._fill_result(outcome)
        archive_error = self._archive(outcome, plan, observation, prompts, seed, error)
        if error is not None:
            raise error
        if archive_error is not None:
            raise archive_error
        self._feedback('archive', 1.0, 1.0)
        self.result.error_code = int(ErrorCode.SUCCESS)
        return self.result

    def _fill_result(self, outcome: PipelineResult) -> None:
        r, frame = self.result, outcome.observation.camera_frame if outcome.observation else ''
        stamp = self.node.get_clock().now().to_msg()
        if outcome.hand_track is not None:
            r.hand_track = hand_track_to_msg(outcome.hand_track, make_header(frame, stamp))
        if outcome.wrist_base is not None:
            r.wrist_trajectory = wrist_trajectory_to_msg(outcome.wrist_base, stamp)
        if outcome.hand_commands is not None or outcome.gripper_events:
            r.hand_commands = hand_commands_to_msg(outcome.hand_commands, outcome.gripper_events,
                                                   make_header('', stamp))
        if outcome.trajectory is not None:
            r.joint_trajectory = joint_trajectory_to_msg(outcome.trajectory,
                                                         make_header('', stamp))

    def _archive(self, outcome: PipelineResult, plan: VideoPlan, observation: Observation,
                 prompts: tuple[str, ...], seed: int,
                 error: StageError | None) -> StageError | None:
        """Archive the plan (failed ones too) and publish it; return an ARCHIVE_FAILED error."""
        from lvp_common.plan_archive import write_plan_archive

        node = self.node
        if error is None:
            self._feedback('archive', 0.0, 1.0 - ARCHIVE_SHARE)
        record = plan_record(outcome, prompts, plan, observation, {
            'plan_source': plan.source.value, 'tool': 'plan_and_execute', 'seed': seed,
            'notes': self.notes, 'messages': outcome.messages,
            'error': None if error is None else {'code': error.code.name, 'stage': error.stage,
                                                 'message': error.message}})
        node.publish_record(record)
        folder = Path(node._str('archive_dir')).expanduser()
        name = time.strftime('%Y%m%d-%H%M%S') + f'-{bytes(self.handle.goal_id.uuid).hex()[:8]}'
        if seed != int(self.goal.seed):
            name += f'-sample{seed - int(self.goal.seed)}'
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = write_plan_archive(folder / name, record)
        except (OSError, ValueError) as exc:
            message = f'could not write the plan archive in {folder}: {exc}'
            node.get_logger().error(message)
            return StageError('archive', ErrorCode.ARCHIVE_FAILED, message)
        self.result.archive_path = str(path)
        return None


def _backend_message(backend: str) -> str:
    return (f'execution_backend {backend!r} is not available: only {EXECUTION_BACKENDS} '
            f'(MuJoCo) is wired in this release; ros2_control (Franka) and Unitree (G1) '
            f'backends are not. Use plan_only goals or execution_backend:=sim')


def main(args: list[str] | None = None) -> None:
    run_node(PlanAndExecuteNode, args, multithreaded=True)


if __name__ == '__main__':
    main()
