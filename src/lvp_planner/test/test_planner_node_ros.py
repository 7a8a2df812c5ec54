"""The model-backed planner node in its own process, with a tiny model, over loopback."""

from __future__ import annotations

import subprocess

import pytest
import rclpy
from lvp_common.ros.conversions import rgb8_to_image, video_plan_from_msg
from lvp_planner.tiny_models import save_wan_dir
from rclpy.action.client import ActionClient
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from ros_helpers import goal_result, send_goal, spin_until, start_node, stop_node

from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan

pytestmark = pytest.mark.ros
Result = GenerateVideoPlan.Result


def start_planner(params: dict[str, object], domain_id: int) -> subprocess.Popen:
    return start_node('lvp_planner.planner_node', params, domain_id)


def test_planner_node_plans_rejects_when_busy_and_cancels(tmp_path, tiny_models, scene_image,
                                                          ros_domain_id):
    wan_dir = save_wan_dir(tiny_models, tmp_path / 'wan')
    server = start_planner({'wan_dir': wan_dir, 'device': 'cpu', 'num_frames': 9, 'height': 32,
                            'width': 48, 'num_inference_steps': 3, 'max_text_tokens': 8},
                           ros_domain_id)
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    try:
        node = rclpy.create_node('planner_test_client', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        client = ActionClient(node, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION)
        assert spin_until(executor, client.server_is_ready, 60.0), 'server never appeared'
        image = rgb8_to_image(scene_image)

        feedback = []
        # the second prompt (12 words + eos) is longer than max_text_tokens = 8
        long_prompt = 'put the red block in the blue bowl then close the lid'
        goal = GenerateVideoPlan.Goal(image=image, prompts=['pick up the cup', long_prompt],
                                      seed=4)
        handle = send_goal(client, executor, goal, feedback.append)
        assert handle.accepted
        result = goal_result(handle, executor)
        assert result.error_code == Result.SUCCESS, result.error_message
        plan = video_plan_from_msg(result.plan)
        assert plan.frames.shape == (17, 32, 48, 3) and plan.fps == 16.0
        assert plan.chunk_starts == (0, 9) and plan.seed == 4
        assert plan.source.value == 'generated' and result.elapsed_s > 0.0
        assert 'prompt 2 is 13 tokens' in plan.metadata['prompt_notes']
        # feedback has its own topic: the result can overtake the last messages
        spin_until(executor, lambda: bool(feedback) and
                   feedback[-1].feedback.progress == pytest.approx(1.0), 5.0)
        # the heartbeat may repeat a step's feedback; the steps themselves come in order
        steps = [(f.feedback.chunk, f.feedback.step) for f in feedback]
        distinct = [s for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
        assert distinct == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
        assert feedback[-1].feedback.progress == pytest.approx(1.0)

        # a long goal runs; a second goal meanwhile is rejected; cancelling ends the first
        long_goal = GenerateVideoPlan.Goal(image=image, prompts=['pick up the cup'],
                                           num_inference_steps=1000)
        long_feedback = []
        running = send_goal(client, executor, long_goal, long_feedback.append)
        assert running.accepted
        assert spin_until(executor, lambda: bool(long_feedback), 30.0)
        assert not send_goal(client, executor, goal).accepted
        cancel = running.cancel_goal_async()
        assert spin_until(executor, cancel.done, 10.0)
        result = goal_result(running, executor, 30.0)
        assert result.error_code == Result.CANCELED

        bad = send_goal(client, executor, GenerateVideoPlan.Goal(image=image, prompts=['']))
        assert bad.accepted
        result = goal_result(bad, executor, 30.0)
        assert result.error_code == Result.INVALID_GOAL and 'task sentence' in result.error_message
        node.destroy_node()
    finally:
        context.try_shutdown()
        log = stop_node(server)
    assert 'model loaded' in log


def test_planner_node_without_a_model_answers_model_not_loaded(tmp_path, scene_image,
                                                               ros_domain_id):
    server = start_planner({'wan_dir': tmp_path / 'missing', 'device': 'cpu'}, ros_domain_id)
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    try:
        node = rclpy.create_node('planner_test_client', context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        client = ActionClient(node, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION)
        assert spin_until(executor, client.server_is_ready, 60.0), 'server never appeared'
        goal = GenerateVideoPlan.Goal(image=rgb8_to_image(scene_image), prompts=['pick it up'])
        handle = send_goal(client, executor, goal)
        result = goal_result(handle, executor, 30.0)
        assert result.error_code == Result.MODEL_NOT_LOADED
        assert 'missing' in result.error_message
        node.destroy_node()
    finally:
        context.try_shutdown()
        stop_node(server)
