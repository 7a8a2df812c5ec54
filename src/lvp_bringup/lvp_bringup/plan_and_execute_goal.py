"""One PlanAndExecute goal: validate, plan, run the stages (or the plan court over several
candidates: lvp_bringup.plan_court), archive, report.

The node (plan_and_execute_node.py) owns the ROS plumbing this uses: parameters, the planner's
action client, the execution backends, TF, the observation topics and the artifact publishers.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import TYPE_CHECKING, Any

from lvp_common.artifacts import (
    CAMERA_OPTICAL_FRAME,
    ArtifactError,
    CameraIntrinsics,
    Observation,
    VideoPlan,
)
from lvp_common.geometry import GeometryError
from lvp_common.image_encoding import ImageEncodingError
from lvp_common.ros.conversions import (
    camera_info_to_intrinsics,
    depth_image_to_metres,
    hand_commands_to_msg,
    image_to_rgb8,
    joint_trajectory_to_msg,
    make_header,
    rgb8_to_image,
    video_plan_from_msg,
    wrist_trajectory_to_msg,
)
from lvp_common.ros.tf_listener import TfUnavailableError
from lvp_common.tf_buffer import TransformLookupError
from lvp_exec.backends import ExecutionSetupError, check_backend_fits, resolve_arm_model
from lvp_exec.safety_parameters import safety_config_from_parameters
from rclpy.action.server import ServerGoalHandle
from rclpy.task import Future

from lvp_bringup import closed_loop_goal, court_goal
from lvp_bringup import goal_session as session
from lvp_bringup.joint_state_playback import PlaybackExecutor
from lvp_bringup.pipeline import (
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    StageError,
    plan_record,
    robot_for,
    run_pipeline,
)
from lvp_bringup.pipeline_types import STAGE_CODES
from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan, PlanAndExecute

if TYPE_CHECKING:
    from lvp_bringup.plan_and_execute_node import PlanAndExecuteNode

PLANNING_SHARE, ARCHIVE_SHARE = 0.4, 0.05
"""Parts of overall_progress spent planning and archiving; the stages share the rest."""

_PLANNER_CODES = {
    GenerateVideoPlan.Result.INVALID_GOAL: ErrorCode.INVALID_GOAL,
    GenerateVideoPlan.Result.CANCELED: ErrorCode.CANCELED,
}


class GoalRun:
    """One PlanAndExecute goal on `node`, from its goal handle to its (compact) result."""

    def __init__(self, node: PlanAndExecuteNode, goal_handle: ServerGoalHandle) -> None:
        self.node = node
        self.handle = goal_handle
        self.goal: PlanAndExecute.Goal = goal_handle.request
        self.result = PlanAndExecute.Result()
        self.notes: list[str] = []
        self._sample = 0
        self._sample_share = 1.0
        self._count = 0
        """Candidates of a court goal (0: no court)."""
        self._verdicts: list[Any] = []
        """CandidateVerdict messages decided so far (feedback, result)."""
        self.replans = 0
        self.replan_reason = ''
        """Closed loop: re-plans so far and the latest one's reason (feedback)."""
        self.world: Any = None
        """The lvp_sim world the goal's scene was rendered in (None: a camera image)."""
        self._stage = 'validation'
        self.executor: Any = None
        """The execution backend for this goal (None for plan_only goals)."""
        self.arm_model = ''
        """The Franka arm planned for (the one the backend drives)."""

    def run(self) -> PlanAndExecute.Result:
        """Run the goal; every failure ends in an error code, stage and message."""
        try:
            observation, prompts, embodiment, count = self._validate()
            if self.goal.closed_loop:
                if count > 1:
                    raise session.invalid('closed_loop with num_candidates > 1 is not '
                                          'implemented: choose one')
                return closed_loop_goal.run_closed_loop_goal(self, observation, prompts,
                                                             embodiment)
            if count > 1:
                return court_goal.run_court_goal(self, observation, prompts, embodiment, count)
            return self._plan_and_run(observation, prompts, embodiment, int(self.goal.seed))
        except StageError as exc:
            self.result.error_code = int(exc.code)
            self.result.error_message = exc.message
            self.result.failed_stage = exc.stage
        except Exception as exc:  # a bug must still end the goal with a code, not a bare abort
            self.node.get_logger().error(f'unexpected error during {self._stage}: '
                                         f'{traceback.format_exc()}')
            self.result.error_code = int(STAGE_CODES.get(self._stage,
                                                                 ErrorCode.EXECUTION_FAILED))
            self.result.error_message = f'internal error: {type(exc).__name__}: {exc}'
            self.result.failed_stage = self._stage
        finally:
            self.result.notes = list(self.notes)
        return self.result

    # -- validation -------------------------------------------------------------------------

    def _validate(self) -> tuple[Observation, tuple[str, ...], str, int]:
        goal, node = self.goal, self.node
        prompts = session.goal_prompts(goal.task, goal.subtasks)
        embodiment = session.goal_embodiment(goal.embodiment, node.param('embodiment'))
        samples = session.candidate_count(goal.num_candidates, goal.num_samples,
                                          node.param('max_samples'))
        backend = node.param('execution_backend')
        try:  # plan for the arm the backend drives, so that its limits are the ones checked
            self.arm_model = resolve_arm_model(node.param('arm_model'), backend)
        except ExecutionSetupError as exc:
            raise session.invalid(f'parameter arm_model: {exc}') from exc
        if not goal.plan_only:
            try:
                check_backend_fits(backend, embodiment)
            except ExecutionSetupError as exc:
                raise session.invalid(f'parameter execution_backend: {exc} (plan_only goals '
                                      f'run without a backend)') from exc
        try:  # the limits the safety filter will use, checked before anything is planned
            safety_config_from_parameters(
                node, robot_for(embodiment, PipelineConfig(arm_model=self.arm_model)))
        except ValueError as exc:
            raise session.invalid(f'safety parameters: {exc}') from exc
        try:  # before anything moves: a plan that cannot be archived never runs
            node.archive_dir()
        except OSError as exc:
            raise StageError('validation', ErrorCode.ARCHIVE_FAILED, str(exc)) from exc
        base_frame = session.base_frame_for(embodiment, node.param('base_frame'))
        observation, world = self._observation(embodiment, backend, base_frame)
        self.world = world
        if not goal.plan_only:
            try:
                self.executor = node.executor_for(backend, world)
            except ExecutionSetupError as exc:
                raise StageError('validation', ErrorCode.EXECUTION_FAILED, str(exc)) from exc
        return observation, prompts, embodiment, samples

    def _observation(self, embodiment: str, backend: str,
                     base_frame: str) -> tuple[Observation, Any]:
        """The scene: the goal's image, else the latest observation topic, else the sim's
        camera (with its world, which the sim then executes in)."""
        goal, node = self.goal, self.node
        image, depth, info = goal.image, goal.depth, goal.camera_info
        if not len(image.data):
            latest = node.observations.latest()
            if latest is not None:
                image, depth, info, age = latest
                self._note(f'the goal has no image: using the latest {topics.OBSERVATION_IMAGE} '
                           f'({age:.1f} s old)' + ('' if depth.width else ', without depth'))
            elif backend == 'sim':
                scene = session.render_sim_scene(embodiment, int(goal.seed), base_frame)
                obs = scene.observation
                self._note(f'the goal has no image and no {topics.OBSERVATION_IMAGE} arrived: '
                           f'rendered the sim world\'s camera for seed {goal.seed} (RGB-D, exact '
                           f'intrinsics and camera pose)')
                node.artifacts.publish_camera_tf(base_frame, obs.camera_frame, obs.camera_to_base)
                return obs, scene.world_config
            else:
                raise session.invalid(
                    f'the goal has no image, no {topics.OBSERVATION_IMAGE} message arrived, and '
                    f'execution_backend {backend!r} cannot render one (sim can): set the goal\'s '
                    f'image or publish the camera on {topics.OBSERVATION_IMAGE}')
        fixed_pose = session.camera_to_base_pose(node.camera_to_base_values())
        camera_frame = image.header.frame_id or info.header.frame_id
        try:
            rgb = image_to_rgb8(image)
            if fixed_pose is None:
                pose = self._camera_to_base_from_tf(base_frame, camera_frame)
            else:
                pose, camera_frame = fixed_pose, camera_frame or CAMERA_OPTICAL_FRAME
                node.artifacts.publish_camera_tf(base_frame, camera_frame, pose)
            h, w = rgb.shape[:2]
            depth_m = depth_image_to_metres(depth) if depth.width and depth.height else None
            if info.width:
                intrinsics = camera_info_to_intrinsics(info)
            else:
                fov = node.param('default_horizontal_fov_deg')
                intrinsics = CameraIntrinsics.from_fov(w, h, fov)
                self._note(f'the goal has no CameraInfo: ASSUMED a {fov:g} deg horizontal field '
                           f'of view')
            if depth_m is None:
                self._note('the goal has no depth image: the wrist path scale comes from the '
                           'hand model alone')
            observation = Observation(rgb=rgb, depth=depth_m, intrinsics=intrinsics,
                                      camera_to_base=pose, camera_frame=camera_frame,
                                      base_frame=base_frame)
        except (ImageEncodingError, ArtifactError, GeometryError, ValueError) as exc:
            raise session.invalid(str(exc)) from exc
        return observation, None

    def _camera_to_base_from_tf(self, base_frame: str, camera_frame: str) -> Any:
        """The camera frame's pose in base_frame from TF; INVALID_GOAL naming the transform."""
        if not camera_frame:
            raise session.invalid('camera_to_base is empty and the goal image (and CameraInfo) '
                                  'has no header.frame_id to look the camera up in TF: set one '
                                  'of them')
        target = f'{base_frame} <- {camera_frame}'
        try:
            pose = self.node.tf_listener().wait_for_transform(
                base_frame, camera_frame, self.node.param('tf_timeout_s'))
        except TfUnavailableError as exc:
            raise session.invalid(str(exc)) from exc
        except TransformLookupError as exc:
            raise session.invalid(f'camera_to_base is empty and TF has no camera pose: {exc}; '
                                  f'publish {target} on /tf_static or set the camera_to_base '
                                  f'parameter') from exc
        values = ', '.join(f'{v:.4f}' for v in (*pose.position, *pose.quaternion))
        self.notes.append(f'camera_to_base from TF ({target}): [{values}]')
        self.node.get_logger().info(self.notes[-1])
        return pose

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.node.get_logger().warn(text)

    # -- feedback, cancel, waits ----------------------------------------------------------------

    def feedback(self, stage: str, stage_progress: float, overall: float,
                  step: int = 0, steps: int = 0) -> None:
        self._stage = stage
        overall = (self._sample + overall) * self._sample_share
        self.handle.publish_feedback(PlanAndExecute.Feedback(
            stage=stage, stage_progress=float(stage_progress), overall_progress=float(overall),
            denoising_step=step, denoising_steps=steps, candidate_index=self._sample,
            num_candidates=self._count, verdicts=list(self._verdicts), replans=self.replans,
            replan_reason=self.replan_reason))

    def set_court(self, count: int) -> None:
        """A court goal of `count` candidates: each, and the chosen one's motion, gets an equal
        share of overall_progress."""
        self._count, self._sample_share = count, 1.0 / (count + 1)

    def set_candidate(self, index: int) -> None:
        """The candidate the next feedback is about (the count: the chosen one executing)."""
        self._sample = index

    def add_verdict(self, verdict: Any) -> None:
        """A court verdict (CandidateVerdict): in every later feedback; published at once."""
        self._verdicts.append(verdict)
        self.feedback('court', 1.0, 1.0)

    def play(self, outcome: PipelineResult) -> None:
        """Play a plan-only goal's planned trajectory on the joint states (when enabled)."""
        if self.node.playback is not None and outcome.trajectory is not None:
            self.node.playback.play(outcome.robot, outcome.trajectory, outcome.gripper_events,
                                    outcome.hand_commands)

    def check_cancel(self, stage: str) -> None:
        if self.handle.is_cancel_requested:
            raise StageError(stage, ErrorCode.CANCELED, f'canceled by the client during {stage}')

    def stage_progress(self, stage: str, stage_progress: float, overall: float) -> None:
        """run_pipeline's progress callback: forward as feedback, stop here on cancel (named
        after the stage that was running when it arrived)."""
        self.check_cancel(self._stage)
        self.feedback(stage, stage_progress,
                       PLANNING_SHARE + (1.0 - PLANNING_SHARE - ARCHIVE_SHARE) * overall)

    def _wait(self, future: Future, timeout_s: float, liveness: session.PlannerLiveness) -> None:
        """Block until the planner completes `future` (other executor threads do); stop on a
        cancel, the timeout, or a planner that left or fell silent."""
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        deadline = time.monotonic() + timeout_s
        next_check = 0.0
        while not done.wait(0.05):
            self.check_cancel('planning')
            now = time.monotonic()
            if now > deadline:
                raise StageError('planning', ErrorCode.PLANNER_FAILED,
                                 f'no answer from the planner within {timeout_s:g} s')
            if now >= next_check:
                liveness.check(self.node.planner.server_is_ready())
                next_check = now + 0.5

    # -- planning -------------------------------------------------------------------------------

    def plan(self, observation: Observation, prompts: tuple[str, ...], seed: int) -> VideoPlan:
        node, planner = self.node, self.node.planner
        self.feedback('planning', 0.0, 0.0)
        wait_s = node.param('planner_wait_s')
        if not planner.wait_for_server(timeout_sec=wait_s):
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             f'no {topics.GENERATE_VIDEO_PLAN_ACTION} action server after '
                             f'{wait_s:g} s: start video_planner or demonstration_planner')
        image = rgb8_to_image(observation.rgb, make_header(observation.camera_frame))
        goal = GenerateVideoPlan.Goal(image=image, prompts=list(prompts), seed=seed)
        liveness = session.PlannerLiveness(node.param('planner_feedback_timeout_s'))

        def forward(msg) -> None:
            liveness.heard()
            f = msg.feedback
            steps = int(f.num_chunks) * int(f.num_steps)
            step = int(f.chunk) * int(f.num_steps) + int(f.step)
            self.feedback('planning', float(f.progress), PLANNING_SHARE * float(f.progress),
                           step, steps)

        sent = planner.send_goal_async(goal, feedback_callback=forward)
        self._wait(sent, wait_s, liveness)
        planner_goal = sent.result()
        if planner_goal is None or not planner_goal.accepted:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             'the planner rejected the goal (busy with another plan?)')
        liveness.heard()
        answer = planner_goal.get_result_async()
        try:
            self._wait(answer, node.param('planner_timeout_s'), liveness)
        except StageError as exc:
            # stop the planner too; a live one (the client canceled) gets a moment to confirm
            ended = threading.Event()
            planner_goal.cancel_goal_async().add_done_callback(lambda _f: ended.set())
            if exc.code == ErrorCode.CANCELED:
                ended.wait(5.0)
            raise
        result = answer.result().result  # type: ignore[union-attr]
        if result.error_code != GenerateVideoPlan.Result.SUCCESS:
            code = _PLANNER_CODES.get(result.error_code, ErrorCode.PLANNER_FAILED)
            raise StageError('planning', code, f'planner: {result.error_message}')
        try:
            return video_plan_from_msg(result.plan)
        except (ArtifactError, ValueError) as exc:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             f'the planner returned a malformed plan: {exc}') from exc

    # -- the stages and the archive ---------------------------------------------------------------

    def pipeline_config(self) -> PipelineConfig:
        """The stages' configuration from the node's parameters and this goal."""
        node = self.node
        executor = None if self.executor is None else PlaybackExecutor(self.executor,
                                                                       node.playback)
        return PipelineConfig(plan_only=bool(self.goal.plan_only),
                              handedness=node.param('handedness') or None,
                              executor=executor, arm_model=self.arm_model,
                              should_stop=lambda: bool(self.handle.is_cancel_requested),
                              safety_for=lambda robot, world: safety_config_from_parameters(
                                  node, robot, world),
                              min_tcp_height=node.param('min_tcp_height'),
                              scene_check=bool(node.param('scene_check')),
                              require_grasp_candidate=node.param('require_grasp_candidate'))

    def _plan_and_run(self, observation: Observation, prompts: tuple[str, ...],
                      embodiment: str, seed: int) -> PlanAndExecute.Result:
        self.result = PlanAndExecute.Result(sample_index=self._sample, seed=seed)
        plan = self.plan(observation, prompts, seed)
        self.result.plan_source = plan.source.value
        self.check_cancel('planning')
        config = self.pipeline_config()
        error: StageError | None = None
        try:
            outcome = run_pipeline(observation, plan, embodiment, config, self.stage_progress)
        except StageError as exc:
            error = exc
            outcome = exc.result or PipelineResult(embodiment=embodiment, plan=plan)
        if self.goal.plan_only:
            self.play(outcome)
        if error is None and self.handle.is_cancel_requested:
            error = StageError('executing' if outcome.executed else 'archive',
                               ErrorCode.CANCELED, 'canceled by the client as the motion '
                               'ended: it had run to its end' if outcome.executed else
                               'canceled by the client before archiving')
        self.fill_result(outcome)
        archive_error = self.archive(outcome, plan, observation, prompts, seed, error)
        if error is not None:
            raise error
        if archive_error is not None:
            raise archive_error
        self.feedback('archive', 1.0, 1.0)
        self.result.error_code = int(ErrorCode.SUCCESS)
        return self.result

    def fill_result(self, outcome: PipelineResult) -> None:
        """The small artifacts a client needs; the frames stay on the topics and the archive."""
        r, stamp = self.result, self.node.get_clock().now().to_msg()
        if outcome.wrist_base is not None:
            r.wrist_trajectory = wrist_trajectory_to_msg(outcome.wrist_base, stamp)
        if outcome.hand_commands is not None or outcome.gripper_events:
            r.hand_commands = hand_commands_to_msg(outcome.hand_commands, outcome.gripper_events,
                                                   make_header('', stamp))
        if outcome.trajectory is not None:
            r.joint_trajectory = joint_trajectory_to_msg(outcome.trajectory,
                                                         make_header('', stamp))

    def archive(self, outcome: PipelineResult, plan: VideoPlan | None, observation: Observation,
                 prompts: tuple[str, ...], seed: int, error: StageError | None,
                 court: dict[str, Any] | None = None, replan: dict[str, Any] | None = None,
                 suffix: str = '') -> StageError | None:
        """Publish and archive the plan (failed ones too; `court`: the candidate's verdict,
        `replan`: a closed-loop re-plan's parent and reason, `suffix`: of the folder name);
        return an ARCHIVE_FAILED error."""
        from lvp_common.plan_record import prune_archives
        from lvp_common.ros.plan_archive import record_messages, write_archive_messages

        node = self.node
        if error is None:
            self.feedback('archive', 0.0, 1.0 - ARCHIVE_SHARE)
        record = plan_record(outcome, prompts, plan, observation, {
            'plan_source': '' if plan is None else plan.source.value, 'tool': 'plan_and_execute',
            'seed': seed, 'sample_index': self._sample, 'court': court, 'replan': replan,
            'notes': self.notes, 'messages': outcome.messages,
            'error': None if error is None else {'code': error.code.name, 'stage': error.stage,
                                                 'message': error.message}})
        messages = record_messages(record, node.get_clock().now().nanoseconds * 1e-9)
        if node.param('publish_artifacts'):
            node.artifacts.publish_record(record, messages)
        name = session.archive_name(bytes(self.handle.goal_id.uuid), self._sample) + suffix
        try:
            folder = node.archive_dir()
            path = write_archive_messages(folder / name, messages)
            pruned = prune_archives(folder, node.param('archive_keep'))
        except OSError as exc:
            message = f'could not write the plan archive: {exc}'
            node.get_logger().error(message)
            return StageError('archive', ErrorCode.ARCHIVE_FAILED, message)
        if pruned:
            node.get_logger().info(f'archive_keep: removed {len(pruned)} old archive(s)')
        self.result.archive_path = str(path)
        return None

