"""TfListener over loopback: latched /tf_static from several broadcasters, /tf updates, a wait
that times out with the frames named, and a readable error when tf2_msgs is missing."""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from geometry_msgs.msg import TransformStamped  # noqa: E402
from lvp_common.geometry import Pose  # noqa: E402
from lvp_common.ros.conversions import make_header, pose_to_transform_msg  # noqa: E402
from lvp_common.ros.tf_listener import (  # noqa: E402
    TF_TOPIC,
    TfListener,
    TfUnavailableError,
    tf_message_type,
)
from lvp_common.tf_buffer import TransformLookupError  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from ros_helpers import RosContext, static_transform_publisher  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402


def transform(parent: str, child: str, pose: Pose, stamp: float = 0.0) -> TransformStamped:
    return TransformStamped(header=make_header(parent, stamp), child_frame_id=child,
                            transform=pose_to_transform_msg(pose))


def test_missing_tf2_msgs_is_a_readable_error(monkeypatch):
    monkeypatch.setitem(sys.modules, 'tf2_msgs', None)
    monkeypatch.setitem(sys.modules, 'tf2_msgs.msg', None)
    with pytest.raises(TfUnavailableError, match='tf2_msgs not installed: set the '
                                                 'camera_to_base parameter'):
        tf_message_type()
    with pytest.raises(TfUnavailableError, match='tf2_msgs not installed'):
        TfListener(None)  # type: ignore[arg-type]  # fails before the node is used


@pytest.mark.ros
def test_listener_reads_latched_static_and_dynamic_transforms(ros_domain_id):
    tf_message = tf_message_type()
    mount = Pose(np.array([0.2, -0.1, 1.1]),
                 Rotation.from_euler('xyz', [0.0, 35.0, 20.0], degrees=True).as_quat())
    optical = Pose(np.array([0.0, 0.02, 0.0]),
                   Rotation.from_euler('xyz', [-90.0, 0.0, -90.0], degrees=True).as_quat())
    with RosContext(ros_domain_id) as context:
        # two static broadcasters publish before the listener exists (latched messages)
        calibration = rclpy.create_node('calibration_broadcaster', context=context)
        driver = rclpy.create_node('camera_driver_broadcaster', context=context)
        static_transform_publisher(calibration, 'base_link', 'camera_link', mount)
        static_transform_publisher(driver, 'camera_link', 'camera_optical', optical)
        arm = rclpy.create_node('arm_broadcaster', context=context)
        dynamic = arm.create_publisher(tf_message, TF_TOPIC, 100)
        node = rclpy.create_node('tf_listener_test', context=context)
        listener = TfListener(node)
        executor = MultiThreadedExecutor(context=context)
        for n in (calibration, driver, arm, node):
            executor.add_node(n)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            # the wait blocks this thread while the executor delivers the latched messages
            found = listener.wait_for_transform('base_link', 'camera_optical', 20.0)
            expected = mount.as_matrix() @ optical.as_matrix()
            assert found.position == pytest.approx(expected[:3, 3], abs=1e-12)
            assert np.allclose(found.rotation, expected[:3, :3], atol=1e-12)
            link = listener.buffer.link('camera_optical')
            assert link is not None and link.static

            # a missing frame: the wait ends with the frames named
            start = time.monotonic()
            with pytest.raises(TransformLookupError) as info:
                listener.wait_for_transform('base_link', 'hand_camera', 0.3)
            assert time.monotonic() - start >= 0.3
            message = str(info.value)
            assert "'hand_camera' is not a known frame" in message
            assert 'base_link, camera_link, camera_optical' in message
            assert 'after waiting 0.3 s' in message

            # /tf: a moving frame, latest stamp kept; a malformed transform is skipped. A
            # broadcaster publishes periodically: repeat until the listener has the newest.
            def gripper_at(x: float, stamp: float) -> TransformStamped:
                return transform('base_link', 'gripper',
                                 Pose(np.array([x, 0.0, 0.3]), np.array([0.0, 0.0, 0.0, 1.0])),
                                 stamp)

            bad = transform('base_link', 'broken', Pose.identity())
            bad.transform.rotation.w = 0.0
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline:
                dynamic.publish(tf_message(transforms=[gripper_at(0.4, 10.0)]))
                dynamic.publish(tf_message(transforms=[bad, gripper_at(0.5, 11.0)]))
                dynamic.publish(tf_message(transforms=[gripper_at(9.0, 10.5)]))  # out of date
                time.sleep(0.1)
                link = listener.buffer.link('gripper')
                if link is not None and link.stamp == 11.0:
                    break
            gripper_camera = listener.lookup('gripper', 'camera_optical')
            assert gripper_camera.position == pytest.approx(
                expected[:3, 3] - [0.5, 0.0, 0.3], abs=1e-12)
            link = listener.buffer.link('gripper')
            assert link is not None and not link.static
            assert listener.buffer.link('broken') is None
        finally:
            executor.shutdown(timeout_sec=2.0)
            spinner.join(timeout=5.0)
            listener.close()
