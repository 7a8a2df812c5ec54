"""The retarget node turns a published hand track into published HandCommands (real rclpy)."""

import time

import numpy as np
import pytest
from lvp_common.artifacts import Handedness, HandTrack

pytestmark = pytest.mark.ros


def _track(hand_model, n: int = 6) -> HandTrack:
    fractions = np.linspace(0.0, 1.0, n)
    kp = np.stack([hand_model.hand_keypoints(hand_model.half_closed(f)) for f in fractions])
    return HandTrack(times=np.arange(n) / 16.0, keypoints_px=np.zeros((n, 21, 2)),
                     keypoints_m=kp, wrist_quaternions=np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)),
                     confidence=np.ones(n), detected=np.ones(n, dtype=bool),
                     handedness=Handedness.RIGHT, image_size=(832, 480))


@pytest.mark.parametrize('embodiment', ['dexterous', 'gripper'])
def test_node_publishes_hand_commands(ros_domain_id, hand_model, embodiment: str) -> None:
    rclpy = pytest.importorskip('rclpy')
    from lvp_common.ros.conversions import hand_commands_from_msg, hand_track_to_msg
    from lvp_retarget.retarget_node import LATCHED, RetargetNode
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter

    from lvp_common import topics
    from lvp_interfaces.msg import HandCommands as HandCommandsMsg
    from lvp_interfaces.msg import HandTrack as HandTrackMsg

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = RetargetNode(context=context,
                            parameter_overrides=[Parameter('embodiment', value=embodiment)])
        helper = rclpy.create_node('retarget_test_helper', context=context)
        received: list = []
        helper.create_subscription(HandCommandsMsg, topics.HAND_COMMANDS, received.append,
                                   LATCHED)
        publisher = helper.create_publisher(HandTrackMsg, topics.HAND_TRACK, LATCHED)
        publisher.publish(hand_track_to_msg(_track(hand_model)))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.add_node(helper)
        give_up = time.monotonic() + 30.0
        while not received and time.monotonic() < give_up:
            executor.spin_once(timeout_sec=0.1)
        assert received, 'no HandCommands arrived'
        commands, events = hand_commands_from_msg(received[0])
        if embodiment == 'dexterous':
            assert commands is not None and commands.normalized.shape == (6, 6)
            assert commands.normalized[0].mean() > commands.normalized[-1].mean() + 0.4
        else:
            assert commands is None and events and events[0].action.value == 'close'
        executor.shutdown()
        node.destroy_node()
        helper.destroy_node()
    finally:
        rclpy.shutdown(context=context)
