"""plan_and_execute without the camera_to_base parameter: the camera pose comes from TF.

A goal whose camera frame TF does not have ends INVALID_GOAL at validation naming the transform;
once this test publishes base <- mount <- camera on /tf_static (the test-only tf2_msgs of
test/fixtures), the same goal passes validation with the camera pose composed through the tree
and stops at planning (no planner runs here), as does a goal without an image once a camera
publishes on lvp/observation/image. An unwritable archive folder is refused at validation.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
from lvp_common.geometry import Pose, rotation_angle_between
from lvp_common.ros.conversions import make_header, rgb8_to_image
from rclpy.action.client import ActionClient
from rclpy.qos import qos_profile_sensor_data
from ros_helpers import (
    RosContext,
    goal_result,
    send_goal,
    spin_until,
    start_node,
    static_transform_publisher,
    stop_node,
)
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import Image

from lvp_common import topics
from lvp_interfaces.action import PlanAndExecute

pytestmark = pytest.mark.ros
Result = PlanAndExecute.Result

CAMERA_TO_BASE = Pose(np.array([0.55, 0.1, 0.7]),
                      Rotation.from_euler('xyz', [-130.0, 5.0, -95.0], degrees=True).as_quat())
CAMERA_MOUNT = Pose(np.array([0.3, 0.2, 0.9]),
                    Rotation.from_euler('xyz', [0.0, 25.0, -40.0], degrees=True).as_quat())


def goal_with_frame(frame_id: str) -> PlanAndExecute.Goal:
    goal = PlanAndExecute.Goal(task='pick up the green cube', embodiment='franka_gripper',
                               plan_only=True)
    goal.image = rgb8_to_image(np.full((48, 64, 3), 90, np.uint8), make_header(frame_id))
    return goal


def test_camera_to_base_from_tf(tmp_path, ros_domain_id):
    server = start_node('lvp_bringup.plan_and_execute_node',
                        {'archive_dir': tmp_path / 'archives', 'base_frame': 'fr3_link0',
                         'tf_timeout_s': 5.0, 'planner_wait_s': 0.5,
                         'publish_joint_states': False}, ros_domain_id)
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('plan_and_execute_tf_test', context=context)
            client = ActionClient(node, PlanAndExecute, topics.PLAN_AND_EXECUTE_ACTION)
            assert spin_until(node, client.server_is_ready, 60.0), 'no plan_and_execute server'

            # no transform in TF: INVALID_GOAL at validation, naming the missing transform
            result = goal_result(send_goal(client, node, goal_with_frame('cam_optical')), node)
            assert result.error_code == Result.INVALID_GOAL, result.error_message
            assert result.failed_stage == 'validation'
            message = result.error_message
            assert 'fr3_link0 <- cam_optical' in message, message
            assert "neither 'fr3_link0' nor 'cam_optical' is a known frame" in message, message
            assert 'camera_to_base' in message, message

            # no camera frame to look up
            result = goal_result(send_goal(client, node, goal_with_frame('')), node)
            assert result.error_code == Result.INVALID_GOAL
            assert 'frame_id' in result.error_message, result.error_message

            # the camera on /tf_static from two broadcasters (as static_transform_publisher)
            publishers = [
                static_transform_publisher(node, 'fr3_link0', 'camera_mount', CAMERA_MOUNT),
                static_transform_publisher(node, 'camera_mount', 'cam_optical',
                                           CAMERA_MOUNT.inverse() @ CAMERA_TO_BASE)]
            assert spin_until(node, lambda: all(p.get_subscription_count() > 0
                                                for p in publishers), 30.0)
            result = goal_result(send_goal(client, node, goal_with_frame('cam_optical')), node)
            # validation passed: the goal got as far as the (absent) planner
            assert (result.failed_stage, result.error_code) == ('planning',
                                                               Result.PLANNER_FAILED), (
                result.failed_stage, result.error_message)

            # a goal without an image takes the latest lvp/observation/image (a camera driver's
            # sensor-data QoS), with its frame looked up in TF the same way
            camera = node.create_publisher(Image, topics.OBSERVATION_IMAGE,
                                           qos_profile_sensor_data)
            assert spin_until(node, lambda: camera.get_subscription_count() > 0, 30.0)
            # a stream at 10 Hz, as a driver publishes: one best-effort sample may be dropped
            frame = goal_with_frame('cam_optical').image
            stream = node.create_timer(0.1, lambda: camera.publish(frame))
            spin_until(node, lambda: False, 1.0)
            empty = goal_with_frame('')
            empty.image = Image()
            result = goal_result(send_goal(client, node, empty), node)
            assert (result.failed_stage, result.error_code) == ('planning',
                                                               Result.PLANNER_FAILED), (
                result.failed_stage, result.error_message)
            assert any(f'using the latest {topics.OBSERVATION_IMAGE}' in note
                       for note in result.notes), result.notes
            node.destroy_timer(stream)

            # an archive folder that cannot be written: refused at validation, before anything
            # is planned or moves (a file now stands where the folder was)
            archives = tmp_path / 'archives'
            shutil.rmtree(archives)
            archives.write_text('not a folder')
            result = goal_result(send_goal(client, node, goal_with_frame('cam_optical')), node)
            assert (result.failed_stage, result.error_code) == ('validation',
                                                               Result.ARCHIVE_FAILED), (
                result.failed_stage, result.error_message)
            assert f'archive folder {archives} is not writable' in result.error_message, (
                result.error_message)
            node.destroy_node()
    finally:
        log = stop_node(server)
        print(f'plan_and_execute log:\n{log}')
    found = re.search(r'camera_to_base from TF \(fr3_link0 <- cam_optical\): \[([^\]]+)\]', log)
    assert found, log
    values = np.array([float(v) for v in found.group(1).split(',')])
    assert values[:3] == pytest.approx(CAMERA_TO_BASE.position, abs=1e-4)
    assert rotation_angle_between(values[3:], CAMERA_TO_BASE.quaternion)[0] < 1e-3
