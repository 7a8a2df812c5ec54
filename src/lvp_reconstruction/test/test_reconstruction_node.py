"""The reconstruction node in its own process: a synthetic HandTrack + CameraInfo + depth in,
wrist trajectories, paths and the scene cloud out; a bad track is logged and publishes nothing.
Without the camera_to_base parameter the extrinsic comes from /tf_static (published here, with
the test-only tf2_msgs of test/fixtures), and a missing transform is a logged error."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from lvp_common.geometry import Pose, rotation_angle_between, transform_poses  # noqa: E402
from lvp_common.ros.conversions import (  # noqa: E402
    hand_track_to_msg,
    intrinsics_to_camera_info,
    make_header,
    metres_to_depth_image,
    point_cloud_from_msg,
    pose_from_msg,
    wrist_trajectory_from_msg,
)
from lvp_common.ros.node import LATCHED  # noqa: E402
from lvp_reconstruction.reconstruction_parameters import (  # noqa: E402
    CONFIG_PARAMETERS,
    camera_to_base_pose,
    config_default,
    config_from_parameters,
)
from lvp_reconstruction.synthetic_hand import make_track, wrist_path  # noqa: E402
from nav_msgs.msg import Path  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from ros_helpers import spin_until, static_transform_publisher  # noqa: E402
from scipy.spatial.transform import Rotation  # noqa: E402
from sensor_msgs.msg import CameraInfo, Image, PointCloud2  # noqa: E402

from lvp_common import topics  # noqa: E402
from lvp_interfaces.msg import HandTrack as HandTrackMsg  # noqa: E402
from lvp_interfaces.msg import WristTrajectory as WristTrajectoryMsg  # noqa: E402

CAMERA_TO_BASE = Pose(np.array([0.6, -0.1, 0.8]),
                      Rotation.from_euler('xyz', [-120.0, 0.0, -90.0], degrees=True).as_quat())
# The camera's pose in TF: a mount link on the robot base, then the optical frame on the mount;
# together exactly CAMERA_TO_BASE.
CAMERA_MOUNT = Pose(np.array([0.45, 0.25, 0.95]),
                    Rotation.from_euler('xyz', [5.0, 30.0, -70.0], degrees=True).as_quat())
OUTPUTS = {topics.WRIST_TRAJECTORY_CAMERA: WristTrajectoryMsg,
           topics.WRIST_TRAJECTORY_BASE: WristTrajectoryMsg,
           topics.WRIST_PATH_RAW: Path, topics.WRIST_PATH_SMOOTHED: Path,
           topics.SCENE_CLOUD: PointCloud2}


def test_parameters_map_onto_the_config_and_camera_to_base_is_checked():
    config = config_from_parameters({'lifting.hand_scale': 1.06, 'point_cloud.stride': 2})
    assert config.lifting.hand_scale == 1.06 and config.point_cloud.stride == 2
    assert config.smoothing.savgol_window == config_default('smoothing.savgol_window')
    assert all(config_default(name) is not None for name in CONFIG_PARAMETERS)
    assert camera_to_base_pose([]) is None
    pose = camera_to_base_pose([0.1, 0.2, 0.3, 0.0, 0.0, 0.0, 2.0])
    assert pose is not None and pose.quaternion == pytest.approx([0.0, 0.0, 0.0, 1.0])
    for bad in ([0.0] * 6, [0.0] * 7, [0.0, 0.0, float('nan'), 0.0, 0.0, 0.0, 1.0]):
        with pytest.raises(ValueError, match='camera_to_base'):
            camera_to_base_pose(bad)


class NodeProcess:
    """`python -m lvp_reconstruction.reconstruction_node` with its output collected by a thread."""

    def __init__(self, params: dict[str, str], domain_id: int) -> None:
        args = [sys.executable, '-m', 'lvp_reconstruction.reconstruction_node', '--ros-args']
        for name, value in params.items():
            args += ['-p', f'{name}:={value}']
        env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), PYTHONUNBUFFERED='1',
                   ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
        self.process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def logged(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)
        return ''.join(self.lines)



@pytest.mark.ros
def test_node_publishes_trajectories_paths_and_cloud(ros_domain_id):
    seq = wrist_path()
    track = make_track(seq, pixel_noise_px=1.0, metric_noise_m=0.002, outlier_fraction=0.3,
                       seed=5)
    intr = seq.intrinsics
    # Pixels scattered over the image, no hand's projection: no frame gives a usable fit.
    bad = make_track(wrist_path(8), pixel_noise_px=0.0, metric_noise_m=0.0)
    bad.keypoints_px[:] = np.random.default_rng(3).uniform((0, 0), (832, 480), (8, 21, 2))
    extrinsic = [*CAMERA_TO_BASE.position, *CAMERA_TO_BASE.quaternion]
    # the synthetic hand is not the kinematic hand: the keypoint PnP's bound (test_hand_fit)
    node = NodeProcess({'camera_to_base': '[' + ','.join(repr(float(v)) for v in extrinsic)
                        + ']', 'input_settle_s': '0.3', 'lifting.palm_length_m': '0.0',
                        'lifting.method': 'keypoints'},
                       ros_domain_id)
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    received: dict[str, object] = {}
    client = rclpy.create_node('reconstruction_test_client', context=context)
    try:
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(client)
        for topic, kind in OUTPUTS.items():
            client.create_subscription(kind, topic,
                                       lambda m, topic=topic: received.__setitem__(topic, m),
                                       LATCHED)
        track_pub = client.create_publisher(HandTrackMsg, topics.HAND_TRACK, LATCHED)
        info_pub = client.create_publisher(CameraInfo, topics.OBSERVATION_CAMERA_INFO, LATCHED)
        depth_pub = client.create_publisher(Image, topics.OBSERVATION_DEPTH, LATCHED)
        header = make_header('cam_optical', 7.0)
        # a different camera pose in TF: the parameter wins
        static_transform_publisher(client, 'base_link', 'cam_optical', CAMERA_MOUNT)
        info_pub.publish(intrinsics_to_camera_info(intr, header))
        # A wall 2 m away: the scene cloud, and no contact, so the hand scale stays 1.
        depth_pub.publish(metres_to_depth_image(
            np.full((intr.height, intr.width), 2.0, np.float32), header))
        track_pub.publish(hand_track_to_msg(bad, header))
        assert spin_until(executor, lambda: track_pub.get_subscription_count() > 0, 30.0), \
            node.stop()
        assert spin_until(executor, lambda: node.logged('no wrist trajectory'), 30.0), \
            node.stop()
        assert node.logged('gave a usable metric fit')
        spin_until(executor, lambda: bool(received), 0.5)
        assert not received, f'a failed track published {sorted(received)}'

        track_pub.publish(hand_track_to_msg(track, header))
        assert spin_until(executor, lambda: len(received) == len(OUTPUTS), 60.0), (
            sorted(received), node.stop())
    finally:
        log = node.stop()
        client.destroy_node()  # its latched publishers would outlive the context otherwise
        rclpy.try_shutdown(context=context)
    print(log)

    camera_msg = received[topics.WRIST_TRAJECTORY_CAMERA]
    assert isinstance(camera_msg, WristTrajectoryMsg)
    assert camera_msg.header.stamp.sec == 7
    camera = wrist_trajectory_from_msg(camera_msg)
    assert camera.frame_id == 'cam_optical' and camera.smoothed and camera.num_frames == 49
    error_mm = 1000 * np.linalg.norm(camera.positions - seq.wrist_positions, axis=1)
    angle = np.degrees(rotation_angle_between(camera.quaternions, seq.wrist_quaternions))
    # Bounds of test_pipeline's smoothed trajectory on the same sequence.
    assert np.median(error_mm) < 5.0 and error_mm.max() < 15.0
    assert np.median(angle) < 3.0 and angle.max() < 8.0

    base_msg = received[topics.WRIST_TRAJECTORY_BASE]
    assert isinstance(base_msg, WristTrajectoryMsg)
    base = wrist_trajectory_from_msg(base_msg)
    assert base.frame_id == 'base_link' and base.smoothed
    truth_base = CAMERA_TO_BASE.transform_points(seq.wrist_positions)
    assert np.median(1000 * np.linalg.norm(base.positions - truth_base, axis=1)) < 5.0
    for topic, smoothed in ((topics.WRIST_PATH_SMOOTHED, base),
                            (topics.WRIST_PATH_RAW, None)):
        path = received[topic]
        assert isinstance(path, Path) and path.header.frame_id == 'base_link'
        poses = list(path.poses)
        assert len(poses) == 49 and poses[1].header.stamp.nanosec == 62_500_000  # 7 s + 1/16 s
        positions = np.array([pose_from_msg(p.pose).position for p in poses])
        if smoothed is not None:
            assert positions == pytest.approx(smoothed.positions, abs=1e-9)
        assert np.median(1000 * np.linalg.norm(positions - truth_base, axis=1)) < 10.0
    cloud_msg = received[topics.SCENE_CLOUD]
    assert isinstance(cloud_msg, PointCloud2)
    cloud = point_cloud_from_msg(cloud_msg)
    assert cloud.frame_id == 'base_link' and len(cloud.points) > 1000
    wall = CAMERA_TO_BASE.inverse().transform_points(cloud.points)
    assert wall[:, 2] == pytest.approx(np.full(len(wall), 2.0), abs=1e-5)


def stamp_sec(msg) -> int:
    return msg.header.stamp.sec


@pytest.mark.ros
def test_node_looks_camera_to_base_up_in_tf(ros_domain_id):
    """No camera_to_base: a missing transform gives camera-frame outputs and a logged error;
    once /tf_static has base_link <- camera_mount <- cam_optical (two broadcasters), the
    base-frame outputs are what the parameter gives."""
    seq = wrist_path(25)
    track = make_track(seq, pixel_noise_px=1.0, metric_noise_m=0.002, seed=5)
    intr = seq.intrinsics
    node = NodeProcess({'input_settle_s': '0.3', 'tf_timeout_s': '5.0',
                        'lifting.palm_length_m': '0.0', 'lifting.method': 'keypoints'},
                       ros_domain_id)
    context = Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    received: dict[str, object] = {}
    client = rclpy.create_node('reconstruction_tf_test_client', context=context)
    try:
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(client)
        for topic, kind in OUTPUTS.items():
            client.create_subscription(kind, topic,
                                       lambda m, topic=topic: received.__setitem__(topic, m),
                                       LATCHED)
        track_pub = client.create_publisher(HandTrackMsg, topics.HAND_TRACK, LATCHED)
        info_pub = client.create_publisher(CameraInfo, topics.OBSERVATION_CAMERA_INFO, LATCHED)
        depth_pub = client.create_publisher(Image, topics.OBSERVATION_DEPTH, LATCHED)
        header = make_header('cam_optical', 7.0)
        info_pub.publish(intrinsics_to_camera_info(intr, header))
        depth_pub.publish(metres_to_depth_image(
            np.full((intr.height, intr.width), 2.0, np.float32), header))

        # 1. nothing in TF: camera-frame outputs, no base-frame ones, and an error naming frames
        track_pub.publish(hand_track_to_msg(track, header))
        assert spin_until(executor, lambda: node.logged('no base-frame outputs'), 60.0), \
            node.stop()
        assert spin_until(executor, lambda: topics.WRIST_TRAJECTORY_CAMERA in received
                          and topics.SCENE_CLOUD in received, 30.0), (sorted(received),
                                                                      node.stop())
        spin_until(executor, lambda: False, 0.5)
        assert topics.WRIST_TRAJECTORY_BASE not in received, 'base frame without a transform'
        error = next(line for line in node.lines if 'no base-frame outputs' in line)
        assert 'base_link <- cam_optical' in error and 'camera_to_base' in error, error
        assert "neither 'base_link' nor 'cam_optical' is a known frame" in error, error
        for topic in (topics.WRIST_PATH_RAW, topics.WRIST_PATH_SMOOTHED, topics.SCENE_CLOUD):
            assert received[topic].header.frame_id == 'cam_optical'  # type: ignore[attr-defined]
        camera_cloud = point_cloud_from_msg(received[topics.SCENE_CLOUD])  # type: ignore
        first_camera = wrist_trajectory_from_msg(
            received[topics.WRIST_TRAJECTORY_CAMERA])  # type: ignore[arg-type]

        # 2. the camera's pose on /tf_static, from two broadcasters
        publishers = [
            static_transform_publisher(client, 'base_link', 'camera_mount', CAMERA_MOUNT),
            static_transform_publisher(client, 'camera_mount', 'cam_optical',
                                       CAMERA_MOUNT.inverse() @ CAMERA_TO_BASE)]
        assert spin_until(executor, lambda: all(p.get_subscription_count() > 0
                                                for p in publishers), 30.0)
        received.clear()
        track_pub.publish(hand_track_to_msg(track, make_header('cam_optical', 8.0)))
        assert spin_until(executor, lambda: len(received) == len(OUTPUTS) and all(
            stamp_sec(m) == 8 for m in received.values()), 60.0), (sorted(received),
                                                                    node.stop())
    finally:
        log = node.stop()
        client.destroy_node()  # its latched publishers would outlive the context otherwise
        rclpy.try_shutdown(context=context)
    print(log)
    assert 'camera_to_base from TF (base_link <- cam_optical)' in log

    camera_msg = received[topics.WRIST_TRAJECTORY_CAMERA]
    base_msg = received[topics.WRIST_TRAJECTORY_BASE]
    assert isinstance(camera_msg, WristTrajectoryMsg) and isinstance(base_msg, WristTrajectoryMsg)
    camera, base = wrist_trajectory_from_msg(camera_msg), wrist_trajectory_from_msg(base_msg)
    assert camera.positions == pytest.approx(first_camera.positions, abs=1e-12)
    assert base.frame_id == 'base_link' and base.num_frames == 25
    # exactly what camera_to_base = CAMERA_TO_BASE gives (reconstruct's own transform)
    expected_p, expected_q = transform_poses(CAMERA_TO_BASE, camera.positions, camera.quaternions)
    assert base.positions == pytest.approx(expected_p, abs=1e-9)
    assert np.max(rotation_angle_between(base.quaternions, expected_q)) < 1e-7
    assert np.median(1000 * np.linalg.norm(
        base.positions - CAMERA_TO_BASE.transform_points(seq.wrist_positions), axis=1)) < 10.0
    for topic in (topics.WRIST_PATH_RAW, topics.WRIST_PATH_SMOOTHED):
        path = received[topic]
        assert isinstance(path, Path) and path.header.frame_id == 'base_link'
    smoothed = np.array([pose_from_msg(p.pose).position
                         for p in received[topics.WRIST_PATH_SMOOTHED].poses])  # type: ignore
    assert smoothed == pytest.approx(expected_p, abs=1e-9)
    cloud_msg = received[topics.SCENE_CLOUD]
    assert isinstance(cloud_msg, PointCloud2)
    cloud = point_cloud_from_msg(cloud_msg)
    assert cloud.frame_id == 'base_link' and len(cloud.points) == len(camera_cloud.points)
    assert cloud.points == pytest.approx(
        CAMERA_TO_BASE.transform_points(camera_cloud.points), abs=1e-5)
