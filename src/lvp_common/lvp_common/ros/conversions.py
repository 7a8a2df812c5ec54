"""The one import point for message <-> dataclass conversions (nodes import this; the pure
core never does).

The conversions live by message family: `stamps` (time, duration, header), `pose_msgs`
(points, quaternions, poses, transforms), `image_msgs` (images, compressed, depth, CameraInfo)
and `artifact_msgs` (the pipeline artifacts: video plan, hand track, wrist trajectory, point
cloud, grasps, gripper events, joint trajectory, hand commands).
"""

from __future__ import annotations

from lvp_common.ros.artifact_msgs import (
    grasp_plan_from_msg,
    grasp_plan_to_msg,
    gripper_event_from_msg,
    gripper_event_to_msg,
    hand_commands_from_msg,
    hand_commands_to_msg,
    hand_track_from_msg,
    hand_track_to_msg,
    joint_trajectory_from_msg,
    joint_trajectory_to_msg,
    point_cloud_from_msg,
    point_cloud_to_msg,
    video_plan_from_msg,
    video_plan_to_msg,
    wrist_trajectory_from_msg,
    wrist_trajectory_to_msg,
    wrist_trajectory_to_path,
)
from lvp_common.ros.image_msgs import (
    MAX_ROW_PADDING,
    camera_info_to_intrinsics,
    compressed_image_to_numpy,
    depth_image_to_metres,
    image_to_numpy,
    image_to_rgb8,
    intrinsics_to_camera_info,
    metres_to_depth_image,
    numpy_to_compressed_image,
    numpy_to_image,
    rgb8_to_image,
)
from lvp_common.ros.pose_msgs import (
    point_msg,
    points_to_array,
    pose_from_msg,
    pose_from_transform_msg,
    pose_to_msg,
    pose_to_transform_msg,
    quaternion_msg,
    quaternion_to_array,
)
from lvp_common.ros.stamps import (
    duration_to_seconds,
    make_header,
    seconds_to_duration,
    seconds_to_time,
    time_to_seconds,
)

__all__ = [
    'MAX_ROW_PADDING',
    'camera_info_to_intrinsics',
    'compressed_image_to_numpy',
    'depth_image_to_metres',
    'duration_to_seconds',
    'grasp_plan_from_msg',
    'grasp_plan_to_msg',
    'gripper_event_from_msg',
    'gripper_event_to_msg',
    'hand_commands_from_msg',
    'hand_commands_to_msg',
    'hand_track_from_msg',
    'hand_track_to_msg',
    'image_to_numpy',
    'image_to_rgb8',
    'intrinsics_to_camera_info',
    'joint_trajectory_from_msg',
    'joint_trajectory_to_msg',
    'make_header',
    'metres_to_depth_image',
    'numpy_to_compressed_image',
    'numpy_to_image',
    'point_cloud_from_msg',
    'point_cloud_to_msg',
    'point_msg',
    'points_to_array',
    'pose_from_msg',
    'pose_from_transform_msg',
    'pose_to_msg',
    'pose_to_transform_msg',
    'quaternion_msg',
    'quaternion_to_array',
    'rgb8_to_image',
    'seconds_to_duration',
    'seconds_to_time',
    'time_to_seconds',
    'video_plan_from_msg',
    'video_plan_to_msg',
    'wrist_trajectory_from_msg',
    'wrist_trajectory_to_msg',
    'wrist_trajectory_to_path',
]
