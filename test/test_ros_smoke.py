"""A workspace node in its own process serves an lvp_interfaces action and publishes an
lvp_interfaces message to this process over loopback (real rclpy, Fast DDS)."""

import numpy as np
import pytest
from lvp_common.ros.conversions import rgb8_to_image, video_plan_from_msg
from rclpy.action.client import ActionClient
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from ros_helpers import RosContext, spin_until, start_node, stop_node

from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan
from lvp_interfaces.msg import VideoPlan as VideoPlanMsg

pytestmark = pytest.mark.ros


def test_demonstration_planner_serves_action_and_publishes_plan(shared_data, ros_domain_id):
    video = shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4'
    server = start_node('lvp_planner.demonstration_node',
                        {'video_path': video, 'width': 160, 'height': 96, 'duration_s': 1.0},
                        ros_domain_id)
    try:
        with RosContext(ros_domain_id) as context:
            node = rclpy_node(context)
            received: list[VideoPlanMsg] = []
            latched = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                                 durability=DurabilityPolicy.TRANSIENT_LOCAL)
            node.create_subscription(VideoPlanMsg, topics.VIDEO_PLAN, received.append, latched)
            client = ActionClient(node, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION)
            assert spin_until(node, client.server_is_ready, 30.0), 'action server never appeared'

            goal = GenerateVideoPlan.Goal(prompts=['wave at the camera'], seed=3)
            goal.image = rgb8_to_image(np.zeros((96, 160, 3), np.uint8))
            feedback = []
            send = client.send_goal_async(goal, feedback_callback=feedback.append)
            assert spin_until(node, send.done, 10.0)
            handle = send.result()
            assert handle is not None and handle.accepted
            result_future = handle.get_result_async()
            assert spin_until(node, result_future.done, 60.0), 'no result'
            result = result_future.result().result
            assert result.error_code == GenerateVideoPlan.Result.SUCCESS, result.error_message
            assert spin_until(node, lambda: bool(received), 10.0), 'plan topic got nothing'
            # feedback travels on its own topic: the last one may land after the result
            assert spin_until(node, lambda: any(f.feedback.progress == 1.0 for f in feedback),
                              5.0), [f.feedback for f in feedback]

            plan = video_plan_from_msg(result.plan)
            # 1 s of a 30 fps recording resampled to 16 fps
            assert plan.frames.shape == (16, 96, 160, 3)
            assert plan.source.value == 'recorded_demonstration'
            assert plan.prompts == ('wave at the camera',) and plan.seed == 3
            assert plan.frames.std() > 5.0, 'frames are blank'
            published = video_plan_from_msg(received[0])
            np.testing.assert_array_equal(published.frames, plan.frames)

            # a bad goal ends with a result and an error code, not a hang
            bad = GenerateVideoPlan.Goal(prompts=[''], image=goal.image)
            send = client.send_goal_async(bad)
            assert spin_until(node, send.done, 10.0)
            bad_handle = send.result()
            assert bad_handle is not None
            bad_result = bad_handle.get_result_async()
            assert spin_until(node, bad_result.done, 10.0)
            assert bad_result.result().result.error_code == GenerateVideoPlan.Result.INVALID_GOAL
            assert 'task sentence' in bad_result.result().result.error_message
    finally:
        log = stop_node(server)
    assert 'demonstration plan (recorded_demonstration): 16 frames' in log, log


def rclpy_node(context):
    import rclpy

    return rclpy.create_node('smoke_test_client', context=context)
