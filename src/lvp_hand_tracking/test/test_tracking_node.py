"""The node over loopback: a VideoPlan in, a HandTrack and skeleton markers out."""

import time

import pytest

rclpy = pytest.importorskip('rclpy')

from lvp_common.artifacts import PlanSource, VideoPlan  # noqa: E402
from lvp_common.ros.conversions import (  # noqa: E402
    hand_track_from_msg,
    make_header,
    video_plan_to_msg,
)
from lvp_common.topics import HAND_MARKERS, HAND_TRACK, VIDEO_PLAN  # noqa: E402
from lvp_common.video_io import read_video  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from visualization_msgs.msg import Marker, MarkerArray  # noqa: E402

from lvp_interfaces.msg import HandTrack as HandTrackMsg  # noqa: E402
from lvp_interfaces.msg import VideoPlan as VideoPlanMsg  # noqa: E402


@pytest.mark.ros
def test_node_publishes_track_and_markers(shared_data, hand_model_path, ros_domain_id):
    from lvp_hand_tracking.tracking_node import LATCHED, HandTrackingNode

    clip = read_video(shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4', fps=10.0,
                      size=(416, 240), duration_s=1.0)
    plan = VideoPlan(clip.frames, clip.fps, ('wave',), PlanSource.RECORDED_DEMONSTRATION,
                     metadata={'handedness': 'right'})
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    received: dict[str, object] = {}
    executor = SingleThreadedExecutor(context=context)
    nodes = []
    try:
        node = HandTrackingNode(context=context, parameter_overrides=[
            Parameter('model_path', value=str(hand_model_path)),
            Parameter('more_hands_check_stride', value=4)])
        assert node._tracker.backend.config.more_hands_check_stride == 4  # type: ignore
        client = rclpy.create_node('hand_tracking_test_client', context=context)
        nodes += [node, client]
        client.create_subscription(HandTrackMsg, HAND_TRACK,
                                   lambda m: received.setdefault('track', m), LATCHED)
        client.create_subscription(MarkerArray, HAND_MARKERS,
                                   lambda m: received.setdefault('markers', m), LATCHED)
        publisher = client.create_publisher(VideoPlanMsg, VIDEO_PLAN, LATCHED)
        publisher.publish(video_plan_to_msg(plan, make_header('cam_optical', 5.0)))
        executor.add_node(node)
        executor.add_node(client)
        deadline = time.monotonic() + 60.0  # a hang guard, not a performance check
        while len(received) < 2 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        assert set(received) == {'track', 'markers'}
        msg = received['track']
        assert isinstance(msg, HandTrackMsg)
        assert msg.header.frame_id == 'cam_optical' and msg.header.stamp.sec == 5
        track = hand_track_from_msg(msg)
        assert track.num_frames == 10 and track.detected.mean() >= 0.8
        assert track.handedness.value == 'right' and track.image_size == (416, 240)
        markers = received['markers']
        assert isinstance(markers, MarkerArray)
        marker_list = list(markers.markers)
        assert marker_list[0].action == Marker.DELETEALL
        skeletons = marker_list[1:]
        assert len(skeletons) == 10 and all(len(m.points) == 42 for m in skeletons)
    finally:
        executor.shutdown()
        for n in nodes:
            n.destroy_node()
        rclpy.try_shutdown(context=context)
