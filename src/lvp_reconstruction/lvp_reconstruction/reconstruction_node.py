"""ROS 2 node: HandTrack + observation in, wrist trajectories, paths and scene cloud out.

A thin adapter around `pipeline.reconstruct`. The camera->base extrinsic comes from the
`camera_to_base` parameter when it is set, else from TF (/tf_static, /tf): the camera frame of
the observation looked up in `base_frame` at each hand track.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from lvp_common.artifacts import CAMERA_OPTICAL_FRAME, ROBOT_BASE_FRAME, HandTrack
from lvp_common.geometry import Pose
from lvp_common.ros.conversions import (
    camera_info_to_intrinsics,
    depth_image_to_metres,
    hand_track_from_msg,
    image_to_rgb8,
    point_cloud_to_msg,
    time_to_seconds,
    wrist_trajectory_to_msg,
    wrist_trajectory_to_path,
)
from lvp_common.ros.node import LATCHED, describe, run_node
from lvp_common.ros.tf_listener import TfListener, TfUnavailableError
from lvp_common.tf_buffer import TransformLookupError
from lvp_common.topics import (
    HAND_MESH_MARKERS,
    HAND_TRACK,
    OBSERVATION_CAMERA_INFO,
    OBSERVATION_DEPTH,
    OBSERVATION_IMAGE,
    SCENE_CLOUD,
    WRIST_PATH_RAW,
    WRIST_PATH_SMOOTHED,
    WRIST_TRAJECTORY_BASE,
    WRIST_TRAJECTORY_CAMERA,
)
from nav_msgs.msg import Path
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from visualization_msgs.msg import MarkerArray

from lvp_interfaces.msg import HandTrack as HandTrackMsg
from lvp_interfaces.msg import WristTrajectory as WristTrajectoryMsg
from lvp_reconstruction.mesh_markers import hand_mesh_markers
from lvp_reconstruction.pipeline import (
    ReconstructionConfig,
    ReconstructionResult,
    assemble_observation,
    hand_mesh,
    reconstruct,
)

PARAMETERS: dict[str, tuple[Any, str]] = {
    'base_frame': (ROBOT_BASE_FRAME, 'frame_id of the base-frame outputs'),
    'camera_frame': (CAMERA_OPTICAL_FRAME, 'frame_id of the camera-frame outputs when neither '
                     'the CameraInfo, the images nor the HandTrack header names one'),
    'input_settle_s': (0.5, 'wait this long (s) after a HandTrack before reconstructing, so '
                       'that latched observation messages arriving with it are used'),
    'tf_timeout_s': (1.0, 'camera_to_base empty: wait up to this long (s) at each HandTrack '
                     'for the camera frame in base_frame on /tf_static and /tf'),
}
CAMERA_TO_BASE_DESCRIPTION = (
    'camera optical frame pose in the base frame: [x, y, z, qx, qy, qz, qw] (m, quaternion; '
    'write every value with a decimal point); empty = looked up in TF (the camera frame '
    'of the CameraInfo/image header in base_frame); without it: camera-frame outputs only and '
    'an error logged')

_DEFAULTS = ReconstructionConfig()
CONFIG_PARAMETERS: dict[str, str] = {
    'camera.default_horizontal_fov_deg': 'horizontal field of view (deg) assumed without '
                                         'CameraInfo',
    'lifting.method': "hand_model: fit the articulated hand to the clip's 2D keypoints (and "
                      'publish its mesh); keypoints: per-frame PnP of the metric keypoints',
    'lifting.palm_length_m': 'assumed wrist -> middle-MCP length (m) of the clip-wide hand; '
                             "0 keeps the track's metric size",
    'lifting.hand_scale': 'multiplies the clip-wide hand after sizing (1.06 undoes '
                          "MediaPipe's shrink when palm_length_m is 0)",
    'lifting.min_inliers': 'a frame with fewer inlier keypoints is rejected',
    'lifting.max_residual_px': 'a frame with a larger inlier reprojection RMS (px) is rejected',
    'lifting.min_depth_m': 'a frame with the wrist nearer than this (m) is rejected',
    'lifting.max_depth_m': 'a frame with the wrist farther than this (m) is rejected',
    'depth.enabled': 'use the depth image: reject hands behind the scene (and the contact '
                     'scale when depth.contact_scale)',
    'depth.contact_scale': 'apply the hand scale measured from contact with scene depth',
    'depth.min_scale': 'smallest hand-scale correction accepted from scene depth',
    'depth.max_scale': 'largest hand-scale correction accepted from scene depth',
    'smoothing.hampel_sigmas': 'robust sigmas beyond which a frame is an outlier',
    'smoothing.savgol_window': 'Savitzky-Golay window on positions (odd, frames)',
    'smoothing.savgol_order': 'Savitzky-Golay polynomial order',
    'smoothing.depth_half_window': 'frames on each side in the robust fit of the wrist distance '
                                   'along the camera ray (0: Savitzky-Golay only)',
    'smoothing.rotation_sigma_frames': 'Gaussian sigma (frames) of the rotation average',
    'point_cloud.stride': 'scene cloud: keep every stride-th pixel in both directions',
    'point_cloud.min_depth_m': 'scene cloud: nearest depth kept (m)',
    'point_cloud.max_depth_m': 'scene cloud: farthest depth kept (m)',
}
"""Parameters named `group.field` after ReconstructionConfig; defaults from its dataclasses."""


def config_default(name: str) -> Any:
    group, field = name.split('.')
    return getattr(getattr(_DEFAULTS, group), field)


def config_from_parameters(values: dict[str, Any]) -> ReconstructionConfig:
    """Return the default ReconstructionConfig with the `group.field` values replaced."""
    groups: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        group, field = name.split('.')
        groups.setdefault(group, {})[field] = value
    return replace(_DEFAULTS, **{group: replace(getattr(_DEFAULTS, group), **fields)
                                 for group, fields in groups.items()})


def camera_to_base_pose(values) -> Pose | None:
    """Parse the `camera_to_base` parameter: None when empty, else a Pose (ValueError if bad)."""
    v = np.asarray(list(values), dtype=np.float64)
    if v.size == 0:
        return None
    if v.size != 7 or not np.all(np.isfinite(v)) or np.linalg.norm(v[3:]) < 1e-9:
        raise ValueError(f'camera_to_base must be empty or 7 finite numbers [x, y, z, qx, qy, qz, '
                         f'qw] with a non-zero quaternion, got {v.tolist()}')
    return Pose(v[:3], v[3:])


class ReconstructionNode(Node):
    """Reconstruct the wrist trajectory of each hand track received and publish it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('reconstruction', **kwargs)
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default, describe(description))
        for name, description in CONFIG_PARAMETERS.items():
            self.declare_parameter(name, config_default(name), describe(description))
        # An empty list default would be typed BYTE_ARRAY; declare the type, read with a default.
        self.declare_parameter('camera_to_base', Parameter.Type.DOUBLE_ARRAY,
                               describe(CAMERA_TO_BASE_DESCRIPTION))
        p: dict[str, Any] = {name: self.get_parameter(name).value
                             for name in [*PARAMETERS, *CONFIG_PARAMETERS]}
        self._config = config_from_parameters({name: p[name] for name in CONFIG_PARAMETERS})
        self._camera_to_base = camera_to_base_pose(self.get_parameter_or(
            'camera_to_base', Parameter('camera_to_base', value=[])).value or [])
        self._base_frame: str = p['base_frame']
        self._camera_frame: str = p['camera_frame']
        self._tf_timeout_s = float(p['tf_timeout_s'])
        self._tf: TfListener | None = None
        self._tf_unavailable = ''
        if self._camera_to_base is None:
            try:
                self._tf = TfListener(self)
            except TfUnavailableError as exc:
                self._tf_unavailable = str(exc)
                self.get_logger().error(f'no base-frame outputs: {exc}')
        self._image: Image | None = None
        self._depth: Image | None = None
        self._camera_info: CameraInfo | None = None
        self._pending: HandTrackMsg | None = None
        self._traj_camera_pub = self.create_publisher(WristTrajectoryMsg,
                                                      WRIST_TRAJECTORY_CAMERA, LATCHED)
        self._traj_base_pub = self.create_publisher(WristTrajectoryMsg, WRIST_TRAJECTORY_BASE,
                                                    LATCHED)
        self._path_raw_pub = self.create_publisher(Path, WRIST_PATH_RAW, LATCHED)
        self._path_smoothed_pub = self.create_publisher(Path, WRIST_PATH_SMOOTHED, LATCHED)
        self._cloud_pub = self.create_publisher(PointCloud2, SCENE_CLOUD, LATCHED)
        self._mesh_pub = self.create_publisher(MarkerArray, HAND_MESH_MARKERS, LATCHED)
        self.create_subscription(Image, OBSERVATION_IMAGE, self._on_image, LATCHED)
        self.create_subscription(Image, OBSERVATION_DEPTH, self._on_depth, LATCHED)
        self.create_subscription(CameraInfo, OBSERVATION_CAMERA_INFO, self._on_camera_info,
                                 LATCHED)
        self.create_subscription(HandTrackMsg, HAND_TRACK, self._on_track, LATCHED)
        self._settle_timer = self.create_timer(
            max(float(p['input_settle_s']), 1e-3), self._on_settled)
        self._settle_timer.cancel()
        frame = (f'{self._base_frame} from camera_to_base' if self._camera_to_base is not None
                 else f'{self._base_frame} from TF' if self._tf is not None
                 else 'camera frame only')
        self.get_logger().info(f'reconstruction ready (outputs: {frame})')

    def _on_image(self, msg: Image) -> None:
        self._image = msg

    def _on_depth(self, msg: Image) -> None:
        self._depth = msg

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._camera_info = msg

    def _on_track(self, msg: HandTrackMsg) -> None:
        self._pending = msg
        self._settle_timer.reset()

    def _on_settled(self) -> None:
        self._settle_timer.cancel()
        msg, self._pending = self._pending, None
        if msg is not None:
            self._reconstruct(msg)

    def _camera_frame_of(self, track_msg: HandTrackMsg) -> str:
        headers = [m.header for m in (self._camera_info, self._image, self._depth, track_msg)
                   if m is not None]
        return next((h.frame_id for h in headers if h.frame_id), self._camera_frame)

    def _camera_to_base_for(self, camera_frame: str) -> Pose | None:
        """The parameter's extrinsic, else the camera frame in base_frame from TF (None, with
        an error logged, when TF does not have it)."""
        if self._camera_to_base is not None:
            return self._camera_to_base
        failed = 'no base-frame outputs for this hand track (camera frame only)'
        if self._tf is None:
            self.get_logger().error(f'{failed}: {self._tf_unavailable}')
            return None
        target = f'{self._base_frame} <- {camera_frame}'
        try:
            pose = self._tf.wait_for_transform(self._base_frame, camera_frame, self._tf_timeout_s)
        except TransformLookupError as exc:
            self.get_logger().error(f'{failed}: {exc}; publish {target} on /tf_static or set '
                                    'the camera_to_base parameter')
            return None
        values = ', '.join(f'{v:.4f}' for v in (*pose.position, *pose.quaternion))
        self.get_logger().info(f'camera_to_base from TF ({target}): [{values}]')
        return pose

    def _reconstruct(self, msg: HandTrackMsg) -> None:
        camera_frame = self._camera_frame_of(msg)
        try:
            track: HandTrack = hand_track_from_msg(msg)
            camera_to_base = self._camera_to_base_for(camera_frame)
            observation = assemble_observation(
                track.image_size,
                rgb=None if self._image is None else image_to_rgb8(self._image),
                depth=None if self._depth is None else depth_image_to_metres(self._depth),
                intrinsics=None if self._camera_info is None
                else camera_info_to_intrinsics(self._camera_info),
                camera_to_base=camera_to_base, camera_frame=camera_frame,
                base_frame=self._base_frame)
            result = reconstruct(track, observation, self._config)
        except ValueError as exc:
            self.get_logger().error(f'no wrist trajectory for this hand track: {exc}')
            return
        for publisher, out in self._outputs(result, msg, track):
            publisher.publish(out)
        report = result.report
        for message in report.messages:
            if report.intrinsics_assumed and 'assumed' in message:
                self.get_logger().warning(message)
            else:
                self.get_logger().info(message)
        frame = (result.wrist_base or result.wrist_camera).frame_id
        self.get_logger().info(
            f'wrist trajectory: {report.valid_frames}/{report.num_frames} frames valid, median '
            f'residual {report.median_residual_px:.1f} px, path {report.path_length_m:.3f} m; '
            f'paths in {frame}' + ('; scene cloud' if result.point_cloud is not None else ''))

    def _outputs(self, result: ReconstructionResult, msg: HandTrackMsg, track: HandTrack
                 ) -> list[tuple[Publisher, Any]]:
        """Every message of one result, built before any is published."""
        stamp = msg.header.stamp
        stamp_s = time_to_seconds(stamp)
        raw = result.wrist_base_raw or result.wrist_camera_raw
        smoothed = result.wrist_base or result.wrist_camera
        outputs: list[tuple[Publisher, Any]] = [
            (self._traj_camera_pub, wrist_trajectory_to_msg(result.wrist_camera, stamp)),
            (self._path_raw_pub, wrist_trajectory_to_path(raw, stamp_s)),
            (self._path_smoothed_pub, wrist_trajectory_to_path(smoothed, stamp_s))]
        if result.wrist_base is not None:
            outputs.append((self._traj_base_pub,
                            wrist_trajectory_to_msg(result.wrist_base, stamp)))
        cloud = result.point_cloud_base or result.point_cloud
        if cloud is not None:
            outputs.append((self._cloud_pub, point_cloud_to_msg(cloud, stamp)))
        if result.hand_fit is not None:  # the fitted hand's surface, beside the skeleton
            outputs.append((self._mesh_pub, hand_mesh_markers(
                hand_mesh(track, result), result.wrist_camera.frame_id, stamp)))
        return outputs


def main(args: list[str] | None = None) -> None:
    """Run the reconstruction node until shutdown."""
    try:
        # TF arrives on its own callback group while a reconstruction waits for it.
        run_node(ReconstructionNode, args, multithreaded=True)
    except ValueError as exc:
        print(f'reconstruction: {exc}')
        raise SystemExit(1) from exc


if __name__ == '__main__':
    main()
