"""Publish ranked grasp candidates (+ RViz markers) where the demonstrating hand grasped.

Inputs (latched): the scene point cloud, the wrist trajectory in the same frame (robot base),
and optionally the hand commands carrying the gripper close/open events. Whenever a cloud and a
trajectory are both present, the grasp stage runs (lvp_grasp's core) and publishes
`lvp_interfaces/GraspCandidates` and a `visualization_msgs/MarkerArray` of gripper boxes.
"""

from __future__ import annotations

from lvp_common.artifacts import (
    ArtifactError,
    GraspPlan,
    GripperEvent,
    PointCloud,
    WristTrajectory,
)
from lvp_common.geometry import GeometryError, Pose
from lvp_common.ros.conversions import (
    grasp_plan_to_msg,
    hand_commands_from_msg,
    point_cloud_from_msg,
    pose_to_msg,
    wrist_trajectory_from_msg,
)
from lvp_common.ros.node import LATCHED, describe, run_node
from rclpy.node import Node
from sensor_msgs.msg import PointCloud2
from visualization_msgs.msg import Marker, MarkerArray

from lvp_common import topics
from lvp_grasp.antipodal import AntipodalConfig, AntipodalGraspDetector
from lvp_grasp.detector import FirstFoundDetector, GraspError
from lvp_grasp.franka_hand import gripper_box_poses
from lvp_grasp.human_contact import HumanContactConfig
from lvp_grasp.planning import grasp_plan_from_demonstration
from lvp_grasp.top_face import TopFaceGraspDetector
from lvp_interfaces.msg import GraspCandidates as GraspCandidatesMsg
from lvp_interfaces.msg import HandCommands as HandCommandsMsg
from lvp_interfaces.msg import WristTrajectory as WristTrajectoryMsg


class GraspNode(Node):
    """Run the grasp stage on the latest cloud + wrist trajectory (+ gripper events)."""

    def __init__(self, **node_options) -> None:
        super().__init__('grasp', **node_options)
        d, c = AntipodalConfig(), HumanContactConfig()
        declare = self.declare_parameter
        declare('friction_coefficient', d.friction_coefficient, describe('mu of the cone'))
        declare('num_seeds', d.num_seeds, describe('seed points sampled'))
        declare('seed_radius', d.seed_radius, describe('seeds within this of the contact, m'))
        declare('voxel_size', d.voxel_size, describe('downsampling grid, m'))
        declare('max_candidates', 10, describe('grasps published, best first'))
        declare('approach_window', c.approach_window,
                describe('wrist motion before contact defining the approach, s'))
        declare('marker_candidates', 5, describe('candidates drawn as markers'))
        self._cloud: PointCloud | None = None
        self._trajectory: WristTrajectory | None = None
        self._events: tuple[GripperEvent, ...] = ()
        self._grasp_pub = self.create_publisher(GraspCandidatesMsg, topics.GRASP_CANDIDATES,
                                                LATCHED)
        self._marker_pub = self.create_publisher(MarkerArray, topics.GRASP_MARKERS, LATCHED)
        self.create_subscription(PointCloud2, topics.SCENE_CLOUD, self._on_cloud, LATCHED)
        self.create_subscription(WristTrajectoryMsg, topics.WRIST_TRAJECTORY_BASE,
                                 self._on_trajectory, LATCHED)
        self.create_subscription(HandCommandsMsg, topics.HAND_COMMANDS, self._on_commands,
                                 LATCHED)

    def _float(self, name: str) -> float:
        return self.get_parameter(name).get_parameter_value().double_value

    def _int(self, name: str) -> int:
        return self.get_parameter(name).get_parameter_value().integer_value

    def _on_cloud(self, msg: PointCloud2) -> None:
        try:
            self._cloud = point_cloud_from_msg(msg)
        except (ArtifactError, GeometryError, ValueError) as exc:
            self.get_logger().error(f'ignoring a malformed point cloud: {exc}')
            return
        self._run()

    def _on_trajectory(self, msg: WristTrajectoryMsg) -> None:
        try:
            self._trajectory = wrist_trajectory_from_msg(msg)
        except (ArtifactError, GeometryError, ValueError) as exc:
            self.get_logger().error(f'ignoring a malformed wrist trajectory: {exc}')
            return
        self._run()

    def _on_commands(self, msg: HandCommandsMsg) -> None:
        _, events = hand_commands_from_msg(msg)
        if events:
            self._events = events
            self._run()

    def _run(self) -> None:
        if self._cloud is None or self._trajectory is None:
            return
        detector = FirstFoundDetector(AntipodalGraspDetector(AntipodalConfig(
            friction_coefficient=self._float('friction_coefficient'),
            num_seeds=self._int('num_seeds'),
            seed_radius=self._float('seed_radius'),
            voxel_size=self._float('voxel_size'))), TopFaceGraspDetector())
        try:
            plan = grasp_plan_from_demonstration(
                self._cloud, self._trajectory, self._events, detector,
                HumanContactConfig(approach_window=self._float('approach_window')),
                self._int('max_candidates'))
        except (GraspError, ArtifactError, GeometryError) as exc:
            self.get_logger().error(f'grasp detection failed: {exc}')
            return
        stamp = self.get_clock().now().to_msg()
        self._grasp_pub.publish(grasp_plan_to_msg(plan, stamp))
        self._marker_pub.publish(grasp_markers(plan, self._int('marker_candidates'),
                                               stamp))
        self.get_logger().info(f'published {len(plan.candidates)} grasp candidate(s) in '
                               f'{plan.frame_id}')


def grasp_markers(plan: GraspPlan, count: int, stamp) -> MarkerArray:
    """Draw the best `count` candidates as gripper boxes (best green, then fading to red)."""
    from lvp_grasp.franka_hand import FrankaHandModel

    model = FrankaHandModel()
    markers = [Marker(action=Marker.DELETEALL)]
    for rank, candidate in enumerate(plan.candidates[:count]):
        shade = rank / max(count - 1, 1)
        for part, (matrix, size) in enumerate(gripper_box_poses(
                candidate.pose.as_matrix(), model, candidate.depth,
                min(model.max_width, candidate.width + 0.01))):
            marker = Marker(type=Marker.CUBE, action=Marker.ADD, ns='grasp_candidates',
                            id=rank * 3 + part, pose=pose_to_msg(Pose.from_matrix(matrix)))
            marker.header.frame_id = plan.frame_id
            marker.header.stamp = stamp
            marker.scale.x, marker.scale.y, marker.scale.z = (float(v) for v in size)
            marker.color.r, marker.color.g, marker.color.b = shade, 1.0 - shade, 0.2
            marker.color.a = 0.8 if rank == 0 else 0.4
            markers.append(marker)
    return MarkerArray(markers=markers)



def main(args: list[str] | None = None) -> None:
    run_node(GraspNode, args)


if __name__ == '__main__':
    main()
