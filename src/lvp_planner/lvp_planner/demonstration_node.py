"""Serve GenerateVideoPlan from a demonstration (no video model needed).

Same action and topic as the model-backed planner, so the rest of the graph does not care which
one runs. With `video_path` set, every plan is that recording (`source: recorded_demonstration`);
without it, the synthetic in-scene demonstration of the goal's task for the goal's seed, in the
`embodiment`'s lvp_sim world (`source: synthetic_demonstration`, what `lvp demo` plans): the
launch files' default, so a first goal works without weights or a video.
"""

from __future__ import annotations

import threading
import time

from lvp_common.artifacts import ArtifactError, PlanRequest
from lvp_common.image_encoding import ImageEncodingError
from lvp_common.ros.conversions import image_to_rgb8, video_plan_to_msg
from lvp_common.ros.node import LATCHED, describe, run_node
from lvp_common.video_io import VideoReadError
from lvp_exec.embodiment_hardware import DEFAULT_EMBODIMENT, hardware_names, is_hardware
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node

from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan
from lvp_interfaces.msg import VideoPlan as VideoPlanMsg
from lvp_planner.demonstration import (
    DemonstrationConfig,
    DemonstrationError,
    plan_from_demonstration,
    plan_from_synthetic_demonstration,
)
from lvp_planner.feedback_heartbeat import FeedbackHeartbeat

RESULT_TIMEOUT_S = 10
"""How long a finished goal's result (a whole plan, ~60 MB) is kept for a late get_result;
clients ask for it as they send the goal. rclpy's default, 900 s, held every plan of 15 min."""


class DemonstrationPlanner(Node):
    """Answer each GenerateVideoPlan goal with the demonstration video or the synthetic one."""

    def __init__(self) -> None:
        super().__init__('demonstration_planner')
        self.declare_parameter('video_path', '', describe(
            'demonstration video file; empty = the synthetic in-scene demonstration of the '
            "goal's task (lvp_sim) for the goal's seed"))
        self.declare_parameter('fps', 16.0, describe('plan frame rate, Hz'))
        self.declare_parameter('width', 832, describe('video_path: plan width, pixels'))
        self.declare_parameter('height', 480, describe('video_path: plan height, pixels'))
        self.declare_parameter('start_s', 0.0, describe('video_path: where the plan starts, s'))
        self.declare_parameter('duration_s', 0.0,
                               describe('video_path: plan length, s; 0 = to the end'))
        self.declare_parameter('embodiment', DEFAULT_EMBODIMENT, describe(
            f'synthetic: whose lvp_sim world the demonstration is rendered in: one of '
            f'{hardware_names()} (the plan_and_execute embodiment of the setup)'))
        self.declare_parameter('num_frames', 49,
                               describe('synthetic: plan length, frames (at fps; >= 8)'))
        self.declare_parameter('flaw_rate', 0.0, describe(
            'synthetic, for testing a plan court only: this fraction of the plans is flawed on '
            'purpose (lvp_sim.plan_flaws: wrong object, out of reach, missed grasp; drawn per '
            "seed, named in the plan's metadata 'flaw'); 0 = every plan faithful"))
        self.declare_parameter('flaw_seed', 0, describe(
            'synthetic: picks another reproducible draw of the flawed seeds'))
        self._busy = threading.Lock()
        self._plan_pub = self.create_publisher(VideoPlanMsg, topics.VIDEO_PLAN, LATCHED)
        self._server = ActionServer(
            self, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION,
            execute_callback=self._execute, goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup(), result_timeout=RESULT_TIMEOUT_S)

    def _config(self) -> DemonstrationConfig:
        param = self.get_parameter
        return DemonstrationConfig(
            video_path=param('video_path').get_parameter_value().string_value,
            fps=param('fps').get_parameter_value().double_value,
            width=param('width').get_parameter_value().integer_value,
            height=param('height').get_parameter_value().integer_value,
            start_s=param('start_s').get_parameter_value().double_value,
            duration_s=param('duration_s').get_parameter_value().double_value)

    def _on_goal(self, _goal: GenerateVideoPlan.Goal) -> GoalResponse:
        # One plan at a time: a second goal while one runs is rejected, not queued.
        if not self._busy.acquire(blocking=False):
            self.get_logger().warn('rejecting a goal: a plan is already being made')
            return GoalResponse.REJECT
        self._busy.release()
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> GenerateVideoPlan.Result:
        with self._busy:
            return self._plan(goal_handle)

    def _plan(self, goal_handle: ServerGoalHandle) -> GenerateVideoPlan.Result:
        result = GenerateVideoPlan.Result()
        goal: GenerateVideoPlan.Goal = goal_handle.request
        started = time.monotonic()
        try:
            image_to_rgb8(goal.image)
            request = PlanRequest(tuple(goal.prompts), seed=goal.seed)
        except (ImageEncodingError, ArtifactError) as exc:
            return _abort(goal_handle, GenerateVideoPlan.Result.INVALID_GOAL, str(exc))
        config = self._config()
        feedback = GenerateVideoPlan.Feedback(chunk=0, num_chunks=1, step=0, num_steps=1)
        try:
            with FeedbackHeartbeat(goal_handle, feedback):
                plan = self._make_plan(config, request, goal_handle)
        except DemonstrationError as exc:
            return _abort(goal_handle, GenerateVideoPlan.Result.INVALID_GOAL, str(exc))
        except (VideoReadError, ArtifactError) as exc:
            return _abort(goal_handle, GenerateVideoPlan.Result.GENERATION_FAILED, str(exc))
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
            return GenerateVideoPlan.Result(error_code=GenerateVideoPlan.Result.CANCELED,
                                            error_message='canceled by the client')
        feedback.step, feedback.progress = 1, 1.0
        goal_handle.publish_feedback(feedback)
        msg = video_plan_to_msg(plan)
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = goal.image.header.frame_id
        self._plan_pub.publish(msg)
        goal_handle.succeed()
        result.plan, result.elapsed_s = msg, time.monotonic() - started
        self.get_logger().info(f'demonstration plan ({plan.source.value}): {plan.num_frames} '
                               f'frames from {config.video_path or "lvp_sim"}')
        return result

    def _make_plan(self, config: DemonstrationConfig, request: PlanRequest,
                   goal_handle: ServerGoalHandle):
        if config.video_path:
            return plan_from_demonstration(config, request,
                                           should_stop=lambda: goal_handle.is_cancel_requested)
        embodiment = self.get_parameter('embodiment').get_parameter_value().string_value
        if not is_hardware(embodiment):
            raise DemonstrationError(f'parameter embodiment {embodiment!r} is not one of '
                                     f'{hardware_names()}')
        num_frames = self.get_parameter('num_frames').get_parameter_value().integer_value
        from lvp_sim.plan_flaws import FlawPolicy

        rate = self.get_parameter('flaw_rate').get_parameter_value().double_value
        flaw_seed = self.get_parameter('flaw_seed').get_parameter_value().integer_value
        try:
            flaws = FlawPolicy(rate, flaw_seed=flaw_seed) if rate > 0.0 else None
            return plan_from_synthetic_demonstration(request, embodiment, num_frames, config.fps,
                                                     flaws)
        except DemonstrationError:
            raise
        except ValueError as exc:  # lvp_sim refuses the num_frames or fps parameter
            raise ArtifactError(f'synthetic demonstration: {exc}') from exc


def _abort(goal_handle: ServerGoalHandle, code: int, message: str) -> GenerateVideoPlan.Result:
    goal_handle.abort()
    return GenerateVideoPlan.Result(error_code=code, error_message=message)



def main(args: list[str] | None = None) -> None:
    run_node(DemonstrationPlanner, args, multithreaded=True)


if __name__ == '__main__':
    main()
