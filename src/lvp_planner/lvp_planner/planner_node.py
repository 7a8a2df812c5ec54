"""Serve GenerateVideoPlan with the LVP video model, loaded once at start-up.

One goal at a time (a goal arriving while one runs is rejected), feedback after every denoising
step, cancellation between steps, and a result with an error code. The finished plan is also
published (latched) on the video plan topic, like the demonstration planner does.
"""

from __future__ import annotations

import threading
import time

from lvp_common.artifacts import ArtifactError, PlanRequest
from lvp_common.image_encoding import ImageEncodingError
from lvp_common.ros.conversions import image_to_rgb8, video_plan_to_msg
from lvp_common.ros.node import LATCHED, describe, run_node
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan
from lvp_interfaces.msg import VideoPlan as VideoPlanMsg
from lvp_planner.checkpoint import CheckpointError
from lvp_planner.cli import load_planner
from lvp_planner.feedback_heartbeat import FeedbackHeartbeat
from lvp_planner.sampler import PlanningCancelled, PlanningError, SamplerConfig, VideoPlanner
from lvp_planner.serve import APP_NAME, RayPlannerBackend
from lvp_planner.speed import CACHES, PRESETS, parse_mag_ratios, with_preset

Result = GenerateVideoPlan.Result
RESULT_TIMEOUT_S = 10
"""How long a finished goal's result (a whole plan) is kept for a late get_result; clients ask
for it as they send the goal. rclpy's default, 900 s, would hold every plan of 15 minutes."""


class VideoPlannerNode(Node):
    """Answer GenerateVideoPlan goals by sampling the LVP model."""

    def __init__(self) -> None:
        super().__init__('video_planner')
        d = SamplerConfig()
        declare = self.declare_parameter
        declare('backend', 'local', describe('local = load the model in this process; ray = '
                                             'plan on the Ray Serve app ray_app'))
        declare('ray_address', 'auto', describe('Ray cluster address (backend ray)'))
        declare('ray_app', APP_NAME, describe('Ray Serve app of the planner (backend ray)'))
        declare('checkpoint', '', describe('LVP Lightning .ckpt or diffusers transformer folder; '
                                            'empty = the Wan folder\'s own transformer'))
        declare('trust_checkpoint_pickle', False,
                describe('allow non-tensor objects in the checkpoint (runs code from the file)'))
        declare('wan_dir', '', describe('Wan 2.1 I2V 14B 480P diffusers folder (required)'))
        declare('device', d.device, describe('torch device; auto = cuda when available'))
        declare('dtype', d.dtype, describe('auto = bfloat16 on cuda, float32 on cpu'))
        declare('num_frames', d.num_frames, describe('frames per chunk (4 n + 1)'))
        declare('height', d.height, describe('plan height, pixels (multiple of 16)'))
        declare('width', d.width, describe('plan width, pixels (multiple of 16)'))
        declare('fps', d.fps, describe('plan frame rate, Hz'))
        declare('num_inference_steps', d.num_inference_steps, describe('denoising steps'))
        declare('shift', d.shift, describe('flow-matching timestep shift'))
        declare('text_guidance_scale', d.text_guidance_scale, describe('w_text'))
        declare('history_guidance_scale', d.history_guidance_scale, describe('w_hist'))
        declare('history_latent_frames', d.history_latent_frames,
                describe('history length of extension chunks, latent frames'))
        declare('batched_guidance', d.batched_guidance,
                describe('run the three guidance passes as one batched forward'))
        declare('offload_text_encoder', d.offload_text_encoder,
                describe('keep umT5 on the CPU between plans'))
        declare('attention_backend', '', describe('diffusers attention backend; empty = default'))
        declare('max_text_tokens', d.max_text_tokens, describe('umT5 tokens per prompt'))
        declare('preset', '', describe(f'speed preset ({", ".join(PRESETS)}); it replaces the '
                                       f'speed parameters it sets; empty = none'))
        declare('solver_order', d.solver_order, describe('UniPC solver order, 1-3'))
        declare('cache', '', describe(f'diffusers cache ({", ".join(CACHES)}); empty = none'))
        declare('cache_threshold', d.cache_threshold,
                describe('first_block / mag cache threshold'))
        declare('cache_interval', d.cache_interval,
                describe('taylorseer: compute every N-th step'))
        declare('cache_warmup_steps', d.cache_warmup_steps,
                describe('taylorseer: steps always computed first'))
        declare('cache_mag_ratios', '', describe('mag: comma-separated per-step ratios'))
        declare('fp8', d.fp8, describe('torchao FP8 transformer blocks (CUDA, cc >= 8.9)'))
        declare('compile_backend', '',
                describe('torch.compile backend for the transformer blocks; empty = eager'))
        self._state = threading.Lock()
        self._busy = False
        self._planner: VideoPlanner | RayPlannerBackend | None = None
        self._load_error = ''
        self._load_model()
        self._plan_pub = self.create_publisher(VideoPlanMsg, topics.VIDEO_PLAN, LATCHED)
        self._server = ActionServer(
            self, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION,
            execute_callback=self._execute, goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(), result_timeout=RESULT_TIMEOUT_S)

    def _str(self, name: str) -> str:
        return self.get_parameter(name).get_parameter_value().string_value

    def _int(self, name: str) -> int:
        return self.get_parameter(name).get_parameter_value().integer_value

    def _float(self, name: str) -> float:
        return self.get_parameter(name).get_parameter_value().double_value

    def _bool(self, name: str) -> bool:
        return self.get_parameter(name).get_parameter_value().bool_value

    def _config(self) -> SamplerConfig:
        config = SamplerConfig(
            num_frames=self._int('num_frames'), height=self._int('height'),
            width=self._int('width'), fps=self._float('fps'),
            num_inference_steps=self._int('num_inference_steps'), shift=self._float('shift'),
            text_guidance_scale=self._float('text_guidance_scale'),
            history_guidance_scale=self._float('history_guidance_scale'),
            history_latent_frames=self._int('history_latent_frames'),
            batched_guidance=self._bool('batched_guidance'),
            device=self._str('device'), dtype=self._str('dtype'),
            offload_text_encoder=self._bool('offload_text_encoder'),
            attention_backend=self._str('attention_backend') or None,
            max_text_tokens=self._int('max_text_tokens'),
            solver_order=self._int('solver_order'), cache=self._str('cache') or None,
            cache_threshold=self._float('cache_threshold'),
            cache_interval=self._int('cache_interval'),
            cache_warmup_steps=self._int('cache_warmup_steps'),
            cache_mag_ratios=parse_mag_ratios(self._str('cache_mag_ratios')),
            fp8=self._bool('fp8'), compile_backend=self._str('compile_backend') or None)
        return with_preset(config, self._str('preset')) if self._str('preset') else config

    def _load_model(self) -> None:
        """Load the model once; on failure keep serving goals with MODEL_NOT_LOADED."""
        backend = self._str('backend')
        if backend == 'ray':
            try:
                self._planner = RayPlannerBackend(self._str('ray_app'), self._str('ray_address'),
                                                  self._config())
            except (PlanningError, ValueError) as exc:
                self._load_error = f'model not loaded: {exc}'
                self.get_logger().error(self._load_error)
                return
            self.get_logger().info(f'model loaded: planning on {self._planner.device}')
            return
        if backend != 'local':
            self._load_error = f'parameter backend must be local or ray, got {backend!r}'
            self.get_logger().error(self._load_error)
            return
        wan_dir = self._str('wan_dir')
        checkpoint = self._str('checkpoint') or None
        if not wan_dir:
            self._load_error = 'parameter wan_dir is empty: no model to plan with'
            self.get_logger().error(self._load_error)
            return
        started = time.monotonic()
        try:
            self._planner = load_planner(wan_dir, checkpoint, self._config(),
                                         trust_pickle=self._bool('trust_checkpoint_pickle'))
        except (CheckpointError, ValueError, OSError, RuntimeError) as exc:
            self._load_error = f'model not loaded: {exc}'
            self.get_logger().error(self._load_error)
            return
        self.get_logger().info(f'model loaded from {checkpoint or wan_dir} on '
                               f'{self._planner.device} in {time.monotonic() - started:.1f} s')

    def _on_goal(self, _goal: GenerateVideoPlan.Goal) -> GoalResponse:
        # One plan at a time: a goal arriving while one is accepted or running is rejected.
        with self._state:
            if self._busy:
                self.get_logger().warn('rejecting a goal: a plan is already being made')
                return GoalResponse.REJECT
            self._busy = True
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> GenerateVideoPlan.Result:
        try:
            return self._plan(goal_handle)
        finally:
            with self._state:
                self._busy = False

    def _plan(self, goal_handle: ServerGoalHandle) -> GenerateVideoPlan.Result:
        goal: GenerateVideoPlan.Goal = goal_handle.request
        started = time.monotonic()
        try:
            image = image_to_rgb8(goal.image)
            request = PlanRequest(tuple(goal.prompts), seed=int(goal.seed))
        except (ImageEncodingError, ArtifactError) as exc:
            return _abort(goal_handle, Result.INVALID_GOAL, str(exc))
        planner = self._planner
        if planner is None:
            return _abort(goal_handle, Result.MODEL_NOT_LOADED, self._load_error)
        num_chunks = len(request.prompts)
        # A denoising step of the 14B model takes seconds: the heartbeat repeats the latest
        # feedback so plan_and_execute does not take a busy planner for a dead one.
        heartbeat = FeedbackHeartbeat(goal_handle, GenerateVideoPlan.Feedback(
            chunk=0, num_chunks=num_chunks, step=0, num_steps=1, progress=0.0))

        def progress(chunk: int, step: int, num_steps: int) -> None:
            done = (chunk * num_steps + step) / (num_chunks * num_steps)
            heartbeat.publish(GenerateVideoPlan.Feedback(
                chunk=chunk, num_chunks=num_chunks, step=step, num_steps=num_steps,
                progress=float(done)))

        try:
            with heartbeat:
                plan = planner.plan(
                    image, request, num_inference_steps=int(goal.num_inference_steps) or None,
                    text_guidance_scale=float(goal.text_guidance_scale) or None,
                    history_guidance_scale=float(goal.history_guidance_scale) or None,
                    progress=progress, should_cancel=lambda: goal_handle.is_cancel_requested)
        except PlanningCancelled:
            goal_handle.canceled()
            return Result(error_code=Result.CANCELED, error_message='canceled by the client')
        except ValueError as exc:  # bad per-goal overrides (ArtifactError included)
            return _abort(goal_handle, Result.INVALID_GOAL, str(exc))
        except RuntimeError as exc:  # PlanningError and torch failures (e.g. out of memory)
            return _abort(goal_handle, Result.GENERATION_FAILED, str(exc))
        msg = video_plan_to_msg(plan)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = goal.image.header.frame_id
        self._plan_pub.publish(msg)
        goal_handle.succeed()
        elapsed = time.monotonic() - started
        self.get_logger().info(f'plan: {plan.num_frames} frames, {num_chunks} chunk(s), '
                               f'{elapsed:.1f} s')
        return Result(error_code=Result.SUCCESS, plan=msg, elapsed_s=elapsed)


def _abort(goal_handle: ServerGoalHandle, code: int, message: str) -> GenerateVideoPlan.Result:
    goal_handle.abort()
    return Result(error_code=code, error_message=message)



def main(args: list[str] | None = None) -> None:
    run_node(VideoPlannerNode, args, multithreaded=True)


if __name__ == '__main__':
    main()
