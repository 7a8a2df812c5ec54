"""The grasp node turns a published cloud + wrist trajectory into grasps and markers."""

import time

import numpy as np
import pytest
from lvp_common.artifacts import WristTrajectory
from lvp_grasp.synthetic_scenes import bar_above_table, scene_cloud, table

pytestmark = pytest.mark.ros


def _trajectory() -> WristTrajectory:
    n = 33
    times = np.arange(n) / 16.0
    z = np.interp(times, [0.0, 1.25, 2.0], [0.35, 0.2, 0.2])
    kp = np.zeros((n, 21, 3))
    kp[:, 9] = [0.0, 0.0, -0.09]
    gap = np.interp(np.arange(n), [0, 20, n - 1], [0.08, 0.01, 0.01])
    kp[:, 4] = np.stack([np.zeros(n), -gap / 2, np.full(n, -0.08)], axis=1)
    kp[:, 8] = np.stack([np.zeros(n), gap / 2, np.full(n, -0.08)], axis=1)
    return WristTrajectory(times=times, positions=np.stack([0 * z, 0 * z, z], axis=1),
                           quaternions=np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)),
                           frame_id='base_link', finger_keypoints=kp)


def test_node_publishes_grasps_and_markers(ros_domain_id) -> None:
    rclpy = pytest.importorskip('rclpy')
    from lvp_common.ros.conversions import (
        grasp_plan_from_msg,
        point_cloud_to_msg,
        wrist_trajectory_to_msg,
    )
    from lvp_grasp.grasp_node import LATCHED, GraspNode
    from rclpy.executors import SingleThreadedExecutor
    from sensor_msgs.msg import PointCloud2
    from visualization_msgs.msg import MarkerArray

    from lvp_common import topics
    from lvp_interfaces.msg import GraspCandidates as GraspCandidatesMsg
    from lvp_interfaces.msg import WristTrajectory as WristTrajectoryMsg

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = GraspNode(context=context)
        helper = rclpy.create_node('grasp_test_helper', context=context)
        grasps: list = []
        markers: list = []
        helper.create_subscription(GraspCandidatesMsg, topics.GRASP_CANDIDATES, grasps.append,
                                   LATCHED)
        helper.create_subscription(MarkerArray, topics.GRASP_MARKERS, markers.append, LATCHED)
        cloud, _ = scene_cloud(table(), bar_above_table(), noise=0.0005)
        helper.create_publisher(PointCloud2, topics.SCENE_CLOUD, LATCHED).publish(
            point_cloud_to_msg(cloud))
        helper.create_publisher(WristTrajectoryMsg, topics.WRIST_TRAJECTORY_BASE,
                                LATCHED).publish(wrist_trajectory_to_msg(_trajectory()))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.add_node(helper)
        give_up = time.monotonic() + 60.0
        while not (grasps and markers) and time.monotonic() < give_up:
            executor.spin_once(timeout_sec=0.1)
        assert grasps and markers, 'no grasps / markers arrived'
        plan = grasp_plan_from_msg(grasps[-1])
        assert plan.frame_id == 'base_link' and plan.candidates
        assert plan.close_time == pytest.approx(15 / 16.0)  # the pinch 75 % closed
        best = plan.candidates[0].pose.position
        assert np.linalg.norm(best - [0.0, 0.0, 0.12]) < 0.02
        cubes = [m for m in markers[-1].markers if m.type == m.CUBE]
        assert len(cubes) == 3 * min(5, len(plan.candidates))
        executor.shutdown()
        node.destroy_node()
        helper.destroy_node()
    finally:
        rclpy.shutdown(context=context)
