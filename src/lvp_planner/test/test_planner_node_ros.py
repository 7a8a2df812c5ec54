"""The model-backed planner node in its own process, with a tiny model, over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import rclpy
from lvp_common.ros_conversions import rgb8_to_image, video_plan_from_msg
from lvp_planner.tiny_models import save_wan_dir
from rclpy.action.client import ActionClient
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan

pytestmark = pytest.mark.ros
Result = GenerateVideoPlan.Result


def start_planner(params: dict[str, object], domain_id: int) -> subprocess.Popen:
    args = [sys.executable, '-m', 'lvp_planner.planner_node', '--ros-args']
    for name, value in params.items():
        args += ['-p', f'{name}:={value}']
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1',
               ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def stop(process: subprocess.Popen) -> str:
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.communicate()[0] or ''


def spin_until(executor, done, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.05)
    return done()


def send(client, executor, goal, feedback=None):
    future = client.send_goal_async(goal, feedback_callback=feedback)
    assert spin_until(executor, future.done, 20.0), 'goal response never came'
    handle = future.result()
    assert handle is not None
    return handle


def result_of(handle, executor, timeout_s: float = 120.0):
    future = handle.get_result_async()
    assert spin_until(executor, future.done, timeout_s), 'no result'
    return future.result().result


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
        goal = GenerateVideoPlan.Goal(image=image, prompts=['pick up the cup', 'put it down'],
                                      seed=4)
        handle = send(client, executor, goal, feedback.append)
        assert handle.accepted
        result = result_of(handle, executor)
        assert result.error_code == Result.SUCCESS, result.error_message
        plan = video_plan_from_msg(result.plan)
        assert plan.frames.shape == (17, 32, 48, 3) and plan.fps == 16.0
        assert plan.chunk_starts == (0, 9) and plan.seed == 4
        assert plan.source.value == 'generated' and result.elapsed_s > 0.0
        steps = [(f.feedback.chunk, f.feedback.step) for f in feedback]
        assert steps == [(0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3)]
        assert feedback[-1].feedback.progress == pytest.approx(1.0)

        # a long goal runs; a second goal meanwhile is rejected; cancelling ends the first
        long_goal = GenerateVideoPlan.Goal(image=image, prompts=['pick up the cup'],
                                           num_inference_steps=1000)
        long_feedback = []
        running = send(client, executor, long_goal, long_feedback.append)
        assert running.accepted
        assert spin_until(executor, lambda: bool(long_feedback), 30.0)
        assert not send(client, executor, goal).accepted
        cancel = running.cancel_goal_async()
        assert spin_until(executor, cancel.done, 10.0)
        result = result_of(running, executor, 30.0)
        assert result.error_code == Result.CANCELED

        bad = send(client, executor, GenerateVideoPlan.Goal(image=image, prompts=['']))
        assert bad.accepted
        result = result_of(bad, executor, 30.0)
        assert result.error_code == Result.INVALID_GOAL and 'task sentence' in result.error_message
        node.destroy_node()
    finally:
        context.try_shutdown()
        log = stop(server)
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
        handle = send(client, executor, goal)
        result = result_of(handle, executor, 30.0)
        assert result.error_code == Result.MODEL_NOT_LOADED
        assert 'missing' in result.error_message
        node.destroy_node()
    finally:
        context.try_shutdown()
        stop(server)
