"""plan_and_execute's live topics: the observation it reads, the artifacts and TF it publishes."""

from __future__ import annotations

import time
from typing import Any

from lvp_common.ros.conversions import make_header, pose_to_transform_msg
from lvp_common.ros.node import LATCHED
from lvp_common.ros.tf_listener import TF_STATIC_TOPIC, TfUnavailableError, tf_message_type
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

from lvp_common import topics

LIVE_TOPICS_OF_OTHERS = (topics.OBSERVATION_IMAGE, topics.OBSERVATION_DEPTH,
                         topics.OBSERVATION_CAMERA_INFO, topics.VIDEO_PLAN)
"""Published by the camera driver and the planner, not by plan_and_execute."""


class ObservationTopics:
    """Keep the latest message of each `lvp/observation/*` topic (a camera driver, or
    `ros2 bag play` of an archive): a goal without an image uses them."""

    def __init__(self, node: Node) -> None:
        self._latest: dict[str, tuple[Any, float]] = {}
        # best effort + volatile: matches camera drivers (sensor data) and latched publishers
        for topic, msg_type in ((topics.OBSERVATION_IMAGE, Image),
                                (topics.OBSERVATION_DEPTH, Image),
                                (topics.OBSERVATION_CAMERA_INFO, CameraInfo)):
            node.create_subscription(msg_type, topic, self._keeper(topic),
                                     qos_profile_sensor_data)

    def _keeper(self, topic: str):
        def keep(msg) -> None:
            self._latest[topic] = (msg, time.monotonic())
        return keep

    def latest(self) -> tuple[Any, Any, Any, float] | None:
        """The latest image with the depth and CameraInfo of its size (empty messages when
        none matches), and its age in s; None when no image arrived."""
        if topics.OBSERVATION_IMAGE not in self._latest:
            return None
        image, received = self._latest[topics.OBSERVATION_IMAGE]
        found = {}
        for topic in (topics.OBSERVATION_DEPTH, topics.OBSERVATION_CAMERA_INFO):
            msg = self._latest.get(topic, (None, 0.0))[0]
            if msg is not None and (msg.width, msg.height) == (image.width, image.height):
                found[topic] = msg
        return (image, found.get(topics.OBSERVATION_DEPTH, Image()),
                found.get(topics.OBSERVATION_CAMERA_INFO, CameraInfo()),
                time.monotonic() - received)


class ArtifactPublishers:
    """Latched publishers of a plan's artifacts (as archived, plus RViz markers) and of the
    camera pose on /tf_static."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._publishers: dict[str, Any] = {}
        self._camera_tf: dict[str, Any] = {}

    def publish_record(self, record, messages: list[tuple[str, float, Any]]) -> None:
        """Publish a plan's archived messages (less others' topics) plus RViz markers."""
        out = [(topic, msg) for topic, _t, msg in messages if topic not in LIVE_TOPICS_OF_OTHERS]
        stamp = self._node.get_clock().now().to_msg()
        if record.hand_track is not None:
            from lvp_hand_tracking.tracking_node import skeleton_markers

            frame = record.observation.camera_frame if record.observation else ''
            out.append((topics.HAND_MARKERS, skeleton_markers(record.hand_track, frame, stamp)))
            if record.hand_track.mesh is not None:
                from lvp_reconstruction.mesh_markers import hand_mesh_markers

                out.append((topics.HAND_MESH_MARKERS,
                            hand_mesh_markers(record.hand_track, frame, stamp)))
            else:  # no hand model fit (lifting.method keypoints): clear an earlier plan's mesh
                from visualization_msgs.msg import Marker, MarkerArray

                out.append((topics.HAND_MESH_MARKERS, MarkerArray(markers=[
                    Marker(header=make_header(frame, stamp), action=Marker.DELETEALL)])))
        if record.grasps is not None:
            from lvp_grasp.grasp_node import grasp_markers

            out.append((topics.GRASP_MARKERS, grasp_markers(record.grasps, 5, stamp)))
        for topic, msg in out:
            self._publish(topic, msg)

    def publish_camera_tf(self, base_frame: str, camera_frame: str, pose) -> None:
        """Publish the camera pose on /tf_static (all camera frames seen, as tf2's static
        broadcaster does), so RViz places what is in the camera frame; skipped without
        tf2_msgs."""
        from geometry_msgs.msg import TransformStamped

        try:
            tf_message = tf_message_type()
        except TfUnavailableError as exc:
            self._node.get_logger().warn(f'camera pose not published on /tf_static: {exc}')
            return
        self._camera_tf[camera_frame] = TransformStamped(
            header=make_header(base_frame, self._node.get_clock().now().to_msg()),
            child_frame_id=camera_frame, transform=pose_to_transform_msg(pose))
        self._publish(TF_STATIC_TOPIC, tf_message(transforms=list(self._camera_tf.values())))

    def _publish(self, topic: str, msg: Any) -> None:
        if topic not in self._publishers:
            self._publishers[topic] = self._node.create_publisher(type(msg), topic, LATCHED)
        self._publishers[topic].publish(msg)
