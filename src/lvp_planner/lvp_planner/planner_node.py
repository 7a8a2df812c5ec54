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
from lvp_planner.feedback_heartbeat import FeedbackHeartbeat
from lvp_planner.planner_parameters import PARAMETERS, load_planner_from_parameters
from lvp_planner.sampler import PlanningCancelled

Result = GenerateVideoPlan.Result
RESULT_TIMEOUT_S = 10
"""How long a finished goal's result (a whole plan) is kept for a late get_result; clients ask
for it as they send the goal. rclpy's default, 900 s, would hold every plan of 15 minutes."""


class VideoPlannerNode(Node):
    """Answer GenerateVideoPlan goals by sampling the LVP model."""

    def __init__(self) -> None:
        super().__init__('video_planner')
        for name, (default, text) in PARAMETERS.items():
            self.declare_parameter(name, default, describe(text))
        self._state = threading.Lock()
        self._busy = False
        loaded = load_planner_from_parameters(
            {name: self.get_parameter(name).value for name in PARAMETERS})
        self._planner = loaded.planner
        self._load_error = loaded.error
        if loaded.error:
            self.get_logger().error(loaded.error)
        else:
            self.get_logger().info(loaded.message)
        self._plan_pub = self.create_publisher(VideoPlanMsg, topics.VIDEO_PLAN, LATCHED)
        self._server = ActionServer(
            self, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION,
            execute_callback=self._execute, goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(), result_timeout=RESULT_TIMEOUT_S)

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
