"""ROS 2 node: HandTrack + observation in, wrist trajectories, paths and scene cloud out.

A thin adapter around `reconstruct.reconstruct`. The camera->base extrinsic comes from the
`camera_to_base` parameter when it is set, else from TF (/tf_static, /tf): the camera frame of
the observation looked up in `base_frame` at each hand track.
"""

from __future__ import annotations

from typing import Any

from lvp_common.artifacts import HandTrack
from lvp_common.geometry import Pose
from lvp_common.ros.conversions import (
    camera_info_to_intrinsics,
    depth_image_to_metres,
    hand_track_from_msg,
    image_to_rgb8,
)
from lvp_common.ros.node import LATCHED, describe, run_node
from lvp_common.ros.tf_listener import TfListener, TfUnavailableError
from lvp_common.tf_buffer import TransformLookupError
from lvp_common.topics import (
    HAND_TRACK,
    OBSERVATION_CAMERA_INFO,
    OBSERVATION_DEPTH,
    OBSERVATION_IMAGE,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image

from lvp_interfaces.msg import HandTrack as HandTrackMsg
from lvp_reconstruction.reconstruct import assemble_observation, reconstruct
from lvp_reconstruction.reconstruction_parameters import (
    CAMERA_TO_BASE_DESCRIPTION,
    CONFIG_PARAMETERS,
    PARAMETERS,
    camera_to_base_pose,
    config_default,
    config_from_parameters,
)
from lvp_reconstruction.result_messages import OUTPUT_TYPES, result_messages


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
        self._output_pubs = {topic: self.create_publisher(msg_type, topic, LATCHED)
                            for topic, msg_type in OUTPUT_TYPES.items()}
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
        for topic, out in result_messages(result, track, msg.header.stamp):
            self._output_pubs[topic].publish(out)
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
