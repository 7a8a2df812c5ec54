"""The messages one reconstruction result publishes, by topic: wrist trajectories (camera and
base frame), raw and smoothed paths, the scene cloud and the fitted hand's mesh markers."""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from lvp_common.artifacts import HandTrack
from lvp_common.ros.conversions import (
    point_cloud_to_msg,
    time_to_seconds,
    wrist_trajectory_to_msg,
    wrist_trajectory_to_path,
)
from lvp_common.topics import (
    HAND_MESH_MARKERS,
    SCENE_CLOUD,
    WRIST_PATH_RAW,
    WRIST_PATH_SMOOTHED,
    WRIST_TRAJECTORY_BASE,
    WRIST_TRAJECTORY_CAMERA,
)
from nav_msgs.msg import Path
from sensor_msgs.msg import PointCloud2
from visualization_msgs.msg import MarkerArray

from lvp_interfaces.msg import WristTrajectory as WristTrajectoryMsg
from lvp_reconstruction.mesh_markers import hand_mesh_markers
from lvp_reconstruction.reconstruct import ReconstructionResult, hand_mesh

OUTPUT_TYPES: dict[str, Any] = {
    WRIST_TRAJECTORY_CAMERA: WristTrajectoryMsg,
    WRIST_TRAJECTORY_BASE: WristTrajectoryMsg,
    WRIST_PATH_RAW: Path,
    WRIST_PATH_SMOOTHED: Path,
    SCENE_CLOUD: PointCloud2,
    HAND_MESH_MARKERS: MarkerArray,
}
"""Every output topic of the reconstruction node and its message type."""


def result_messages(result: ReconstructionResult, track: HandTrack, stamp: Time
                    ) -> list[tuple[str, Any]]:
    """Every (topic, message) of one result, stamped `stamp`, built before any is published."""
    stamp_s = time_to_seconds(stamp)
    raw = result.wrist_base_raw or result.wrist_camera_raw
    smoothed = result.wrist_base or result.wrist_camera
    outputs: list[tuple[str, Any]] = [
        (WRIST_TRAJECTORY_CAMERA, wrist_trajectory_to_msg(result.wrist_camera, stamp)),
        (WRIST_PATH_RAW, wrist_trajectory_to_path(raw, stamp_s)),
        (WRIST_PATH_SMOOTHED, wrist_trajectory_to_path(smoothed, stamp_s))]
    if result.wrist_base is not None:
        outputs.append((WRIST_TRAJECTORY_BASE, wrist_trajectory_to_msg(result.wrist_base, stamp)))
    cloud = result.point_cloud_base or result.point_cloud
    if cloud is not None:
        outputs.append((SCENE_CLOUD, point_cloud_to_msg(cloud, stamp)))
    if result.hand_fit is not None:  # the fitted hand's surface, beside the skeleton
        outputs.append((HAND_MESH_MARKERS, hand_mesh_markers(
            hand_mesh(track, result), result.wrist_camera.frame_id, stamp)))
    return outputs
