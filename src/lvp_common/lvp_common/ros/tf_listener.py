"""Read /tf_static and /tf into a `TransformBuffer` on a node; tf2_msgs is imported lazily.

tf2_msgs comes with every ROS 2 install but not with the PyPI wheels, so a node that only needs
TF when its `camera_to_base` parameter is empty must still start without it: `TfListener`
raises `TfUnavailableError` (a readable reason) instead of an ImportError at import time.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rclpy.callback_groups import CallbackGroup, MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from lvp_common.geometry import Pose
from lvp_common.ros.conversions import pose_from_transform_msg, time_to_seconds
from lvp_common.tf_buffer import TransformBuffer, TransformLookupError

TF_TOPIC = '/tf'
TF_STATIC_TOPIC = '/tf_static'

TF_STATIC_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                           durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""As tf2's static listener: every static broadcaster's latched message, whenever it started
(depth 100 so that several publishers' messages arriving together are all kept)."""
TF_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)
"""As tf2's listener on /tf."""

TF2_MSGS_MISSING = ('tf2_msgs not installed: set the camera_to_base parameter, or install '
                    'tf2_msgs (part of every ROS 2 install: ros-<distro>-tf2-msgs) to look the '
                    'camera up in TF')


class TfUnavailableError(RuntimeError):
    """TF cannot be read here: tf2_msgs is not importable."""


def tf_message_type() -> Any:
    """Return tf2_msgs/msg/TFMessage, or raise TfUnavailableError when tf2_msgs is missing."""
    try:
        from tf2_msgs.msg import TFMessage
    except ImportError as exc:
        raise TfUnavailableError(f'{TF2_MSGS_MISSING} ({exc})') from exc
    return TFMessage


class TfListener:
    """Subscribe `node` to /tf_static and /tf and keep the transforms in `buffer`.

    The subscriptions run in their own callback group, so `wait_for_transform` may block in
    another callback of the node when a MultiThreadedExecutor spins it (with a single-threaded
    executor the wait only sees what had arrived before it started).
    """

    def __init__(self, node: Node, buffer: TransformBuffer | None = None,
                 callback_group: CallbackGroup | None = None) -> None:
        tf_message = tf_message_type()
        self.buffer = buffer if buffer is not None else TransformBuffer()
        self._node = node
        self._changed = threading.Condition()
        self._warned: set[str] = set()
        group = callback_group if callback_group is not None else MutuallyExclusiveCallbackGroup()
        self._subscriptions = [
            node.create_subscription(tf_message, TF_STATIC_TOPIC,
                                     lambda msg: self.add_message(msg, static=True),
                                     TF_STATIC_QOS, callback_group=group),
            node.create_subscription(tf_message, TF_TOPIC,
                                     lambda msg: self.add_message(msg, static=False),
                                     TF_QOS, callback_group=group)]

    def add_message(self, msg: Any, static: bool) -> None:
        """Store every transform of a TFMessage; a malformed one is skipped with a warning."""
        with self._changed:
            for transform in msg.transforms:
                parent, child = transform.header.frame_id, transform.child_frame_id
                try:
                    self.buffer.set_transform(
                        parent, child, pose_from_transform_msg(transform.transform),
                        time_to_seconds(transform.header.stamp), static)
                except ValueError as exc:
                    if child not in self._warned:
                        self._warned.add(child)
                        self._node.get_logger().warning(
                            f'ignoring the transform {parent!r} -> {child!r} on '
                            f'{TF_STATIC_TOPIC if static else TF_TOPIC}: {exc}')
            self._changed.notify_all()

    def lookup(self, target: str, source: str) -> Pose:
        """Return target <- source now (the pose of `source` in `target`), or raise
        TransformLookupError."""
        with self._changed:
            return self.buffer.lookup(target, source)

    def wait_for_transform(self, target: str, source: str, timeout_s: float) -> Pose:
        """Return target <- source as soon as TF has it; TransformLookupError after `timeout_s`."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._changed:
            while True:
                try:
                    return self.buffer.lookup(target, source)
                except TransformLookupError as exc:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0.0:
                        raise TransformLookupError(
                            f'{exc} (after waiting {timeout_s:g} s for {TF_STATIC_TOPIC} and '
                            f'{TF_TOPIC})') from None
                    self._changed.wait(remaining)

    def close(self) -> None:
        """Stop listening (destroy the subscriptions)."""
        for subscription in self._subscriptions:
            self._node.destroy_subscription(subscription)
        self._subscriptions.clear()
