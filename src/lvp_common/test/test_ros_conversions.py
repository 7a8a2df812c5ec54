"""Round trips between the dataclasses and real ROS 2 messages (rclpy message classes)."""

import numpy as np
import pytest
from lvp_common.artifacts import (
    ArtifactError,
    CameraIntrinsics,
    GraspCandidate,
    GraspPlan,
    GripperEvent,
    HandCommands,
    HandMesh,
    JointTrajectory,
    PointCloud,
    VideoPlan,
    WristTrajectory,
)
from lvp_common.geometry import Pose
from lvp_common.image_encoding import ImageEncodingError
from lvp_common.ros import conversions as rc
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image

from .test_artifacts import make_track


def wire(msg):
    """Serialize to CDR bytes and back, as a real publisher/subscriber pair does."""
    return deserialize_message(serialize_message(msg), type(msg))


ENCODINGS = [('rgb8', np.uint8, 3), ('bgra8', np.uint8, 4), ('rgb16', np.uint16, 3),
             ('mono8', np.uint8, 1), ('mono16', np.uint16, 1), ('32FC1', np.float32, 1),
             ('16UC1', np.uint16, 1), ('64FC3', np.float64, 3), ('8SC2', np.int8, 2),
             ('32SC1', np.int32, 1), ('bayer_rggb8', np.uint8, 1)]


@pytest.mark.parametrize('encoding,dtype,channels', ENCODINGS)
def test_image_round_trip_every_encoding(encoding, dtype, channels):
    rng = np.random.default_rng(1)
    shape = (5, 7) if channels == 1 else (5, 7, channels)
    if np.issubdtype(dtype, np.floating):
        pixels = rng.normal(size=shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        pixels = rng.integers(info.min, info.max, size=shape, endpoint=True).astype(dtype)
    msg = wire(rc.numpy_to_image(pixels, encoding))
    assert msg.step == 7 * channels * np.dtype(dtype).itemsize
    out = rc.image_to_numpy(msg)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, pixels)


def test_image_with_row_padding_and_big_endian():
    pixels = np.arange(12, dtype=np.uint16).reshape(3, 4) * 300
    data = bytearray()
    for row in pixels:
        data += row.astype('>u2').tobytes() + b'\xff' * 6  # 6 padding bytes per row
    msg = Image(height=3, width=4, encoding='mono16', is_bigendian=1, step=14, data=bytes(data))
    np.testing.assert_array_equal(rc.image_to_numpy(msg), pixels)


def test_colour_conversion_to_rgb8():
    bgr = np.zeros((2, 2, 3), np.uint8)
    bgr[..., 0] = 200  # blue
    rgb = rc.image_to_rgb8(rc.numpy_to_image(bgr, 'bgr8'))
    assert rgb[0, 0].tolist() == [0, 0, 200]
    mono = rc.image_to_rgb8(rc.numpy_to_image(np.full((2, 2), 65535, np.uint16), 'mono16'))
    assert mono[0, 0].tolist() == [255, 255, 255]


def test_image_errors_name_the_problem():
    with pytest.raises(ImageEncodingError, match='yuv422'):
        rc.image_to_numpy(Image(height=1, width=1, encoding='yuv422', step=2, data=b'00'))
    with pytest.raises(ImageEncodingError, match='6 data bytes, expected step 6 x height 2'):
        rc.image_to_numpy(Image(height=2, width=2, encoding='rgb8', step=6, data=b'0' * 6))
    with pytest.raises(ImageEncodingError, match='step 4 is less than width x 3 bytes'):
        rc.image_to_numpy(Image(height=2, width=2, encoding='rgb8', step=4, data=b'0' * 8))
    with pytest.raises(ImageEncodingError, match='rgb8 needs'):
        rc.numpy_to_image(np.zeros((2, 2), np.uint8), 'rgb8')


def test_empty_image_is_named_empty_not_an_unsupported_encoding():
    with pytest.raises(ImageEncodingError, match=r'empty image \(0x0 pixels, 0 data bytes'):
        rc.image_to_rgb8(Image())
    with pytest.raises(ImageEncodingError, match='no encoding'):
        rc.image_to_numpy(Image(height=1, width=1, step=3, data=b'000'))


def test_rgb8_bytes_labelled_mono16_are_refused():
    msg = rc.rgb8_to_image(np.zeros((48, 64, 3), np.uint8))
    msg.encoding = 'mono16'  # the step and buffer stay rgb8's: 3 bytes per pixel
    with pytest.raises(ImageEncodingError, match=r'step 192 is 64 bytes more than width x 2'):
        rc.image_to_numpy(msg)
    msg.step = 128  # a consistent step for mono16 leaves the buffer 1.5x too long
    with pytest.raises(ImageEncodingError, match='9216 data bytes, expected step 128'):
        rc.depth_image_to_metres(msg)


def test_row_padding_up_to_alignment_is_read():
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    padded = np.zeros((2, 16), np.uint8)
    padded[:, :9] = pixels.reshape(2, 9)
    msg = Image(height=2, width=3, encoding='rgb8', step=16, data=padded.tobytes())
    assert (rc.image_to_numpy(msg) == pixels).all()


@pytest.mark.parametrize('depth, match', [
    (np.full((4, 4), np.nan, np.float32), 'no valid depth pixel'),
    (np.zeros((4, 4), np.float32), 'no valid depth pixel'),
    (np.full((4, 4), -0.5, np.float32), '16 pixel'),
])
def test_depth_without_valid_pixels_or_negative_is_refused(depth, match):
    with pytest.raises(ImageEncodingError, match=match):
        rc.depth_image_to_metres(rc.metres_to_depth_image(depth))
    with pytest.raises(ImageEncodingError, match='no valid depth pixel'):
        rc.depth_image_to_metres(rc.numpy_to_image(np.zeros((4, 4), np.uint16), '16UC1'))


def test_non_finite_wrist_waypoint_is_named():
    traj = WristTrajectory(np.arange(4) / 16.0, np.zeros((4, 3)), np.tile([0, 0, 0, 1.0], (4, 1)),
                           'panda_link0')
    msg = rc.wrist_trajectory_to_msg(traj)
    msg.poses[2].position.y = float('nan')
    with pytest.raises(ArtifactError, match=r'waypoint 2 \(t = 0.125 s\) of 4'):
        rc.wrist_trajectory_from_msg(msg)


def test_depth_images_in_metres():
    mm = np.array([[0, 1500], [250, 65535]], np.uint16)
    depth = rc.depth_image_to_metres(rc.numpy_to_image(mm, '16UC1'))
    assert np.isnan(depth[0, 0]) and depth[0, 1] == pytest.approx(1.5)
    metres = np.array([[np.inf, 0.7]], np.float32)
    depth = rc.depth_image_to_metres(rc.metres_to_depth_image(metres))
    assert np.isnan(depth[0, 0]) and depth[0, 1] == pytest.approx(0.7)
    with pytest.raises(ImageEncodingError, match='depth image encoding'):
        rc.depth_image_to_metres(rc.numpy_to_image(np.zeros((1, 1, 3), np.uint8), 'rgb8'))


def test_compressed_image_round_trip():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :8] = (255, 0, 0)
    msg = wire(rc.numpy_to_compressed_image(rgb, 'png'))
    np.testing.assert_array_equal(rc.compressed_image_to_numpy(msg), rgb)
    jpeg = rc.compressed_image_to_numpy(rc.numpy_to_compressed_image(rgb, 'jpeg', 95))
    assert np.abs(jpeg.astype(int) - rgb).mean() < 4
    with pytest.raises(ImageEncodingError, match='could not be decoded'):
        rc.compressed_image_to_numpy(type(msg)(format='jpeg', data=b'not an image'))


def test_camera_info_round_trip():
    k = CameraIntrinsics(600.0, 610.0, 320.5, 240.5, 640, 480, np.array([0.1, -0.01, 0, 0, 0]))
    back = rc.camera_info_to_intrinsics(wire(rc.intrinsics_to_camera_info(k)))
    assert (back.fx, back.fy, back.cx, back.cy) == (k.fx, k.fy, k.cx, k.cy)
    np.testing.assert_allclose(back.distortion, k.distortion)


def test_video_plan_round_trip():
    rng = np.random.default_rng(2)
    plan = VideoPlan(rng.integers(0, 255, (3, 4, 6, 3), dtype=np.uint8), 16.0, ('a', 'b'),
                     'recorded_demonstration', seed=7, chunk_starts=(0, 2),
                     metadata={'file': 'cup.mp4'})
    back = rc.video_plan_from_msg(wire(rc.video_plan_to_msg(plan)))
    np.testing.assert_array_equal(back.frames, plan.frames)
    assert (back.prompts, back.source, back.seed, back.chunk_starts, back.metadata) == (
        plan.prompts, plan.source, 7, (0, 2), {'file': 'cup.mp4'})


def test_hand_track_round_trip_with_mesh():
    rng = np.random.default_rng(3)
    track = make_track(keypoints_px=rng.normal(size=(4, 21, 2)) * 100,
                       keypoints_m=rng.normal(size=(4, 21, 3)) * 0.05,
                       detected=np.array([1, 0, 1, 1], bool))
    track = type(track)(**{**track.__dict__, 'mesh': HandMesh(rng.normal(size=(4, 5, 3)),
                                                               [[0, 1, 2], [2, 3, 4]])})
    back = rc.hand_track_from_msg(wire(rc.hand_track_to_msg(track)))
    np.testing.assert_allclose(back.keypoints_px, track.keypoints_px)
    np.testing.assert_allclose(back.keypoints_m, track.keypoints_m)
    np.testing.assert_array_equal(back.detected, track.detected)
    assert back.mesh is not None
    np.testing.assert_array_equal(back.mesh.faces, [[0, 1, 2], [2, 3, 4]])


def test_wrist_trajectory_path_and_round_trip():
    n = 5
    traj = WristTrajectory(np.arange(n) * 0.1, np.linspace([0, 0, 0], [0.1, 0.2, 0.3], n),
                           np.tile([0, 0, 0.6, 0.8], (n, 1)), 'base_link', smoothed=True,
                           finger_keypoints=np.ones((n, 21, 3)), residuals_px=np.arange(n) * 1.)
    back = rc.wrist_trajectory_from_msg(wire(rc.wrist_trajectory_to_msg(traj, 12.0)))
    np.testing.assert_allclose(back.positions, traj.positions)
    np.testing.assert_allclose(back.quaternions, traj.quaternions)
    assert back.smoothed and back.frame_id == 'base_link'
    path = rc.wrist_trajectory_to_path(traj, 100.0)
    assert path.header.frame_id == 'base_link' and len(path.poses) == n
    assert rc.time_to_seconds(path.poses[-1].header.stamp) == pytest.approx(100.4)


def test_point_cloud_round_trip():
    rng = np.random.default_rng(4)
    cloud = PointCloud(rng.normal(size=(50, 3)), 'camera_color_optical_frame',
                       rng.integers(0, 255, (50, 3), dtype=np.uint8))
    back = rc.point_cloud_from_msg(wire(rc.point_cloud_to_msg(cloud)))
    np.testing.assert_allclose(back.points, cloud.points, atol=1e-6)
    np.testing.assert_array_equal(back.colors, cloud.colors)


def test_grasps_commands_and_trajectories_round_trip():
    plan = GraspPlan((GraspCandidate(Pose([0.5, 0, 0.1], [1, 0, 0, 0]), 0.04, 0.9, 0.02),),
                     'base_link', close_time=1.25)
    back = rc.grasp_plan_from_msg(wire(rc.grasp_plan_to_msg(plan)))
    assert back.close_time == 1.25 and back.open_time is None
    assert back.candidates[0].width == pytest.approx(0.04)

    commands = HandCommands(np.array([0.0, 0.5]), ('j1', 'j2'), np.zeros((2, 2)),
                            ('a1', 'a2', 'a3'), np.full((2, 3), 0.5), np.full((2, 3), 500))
    events = (GripperEvent(1.0, 'close', 0.03),)
    got, got_events = rc.hand_commands_from_msg(wire(rc.hand_commands_to_msg(commands, events)))
    assert got is not None and got.native.tolist() == [[500] * 3] * 2
    assert got_events[0].action.value == 'close' and got_events[0].width == pytest.approx(0.03)

    traj = JointTrajectory(np.array([0.0, 0.01, 1.5]), ('a', 'b'), np.ones((3, 2)),
                           velocities=np.zeros((3, 2)))
    back_traj = rc.joint_trajectory_from_msg(wire(rc.joint_trajectory_to_msg(traj)))
    np.testing.assert_allclose(back_traj.times, traj.times, atol=1e-9)
    assert back_traj.accelerations is None and back_traj.velocities is not None
