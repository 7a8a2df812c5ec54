"""The plan archive: every artifact of one plan in a rosbag2 (MCAP) on the live topic names.

Messages are serialized by rclpy (the same CDR bytes a live publisher sends) and stored with
`rosbags` (which embeds each message definition and writes metadata.yaml) into an MCAP file
written by the `mcap` library: zstd-compressed chunks with CRCs, each topic offered reliable +
transient-local, depth 1 (the live topics' QoS), so `ros2 bag play` republishes the plan latched
and RViz receives it whenever it subscribes. `ros2 bag`, Foxglove, `mcap`, `mcap-ros2-support`
and `rosbags` open an archive without this project installed.

The plan's frames are stored once, as JPEG (`VIDEO_PLAN_FRAMES`, what image viewers show); the
archived VideoPlan message carries everything else (prompts, source, seed, metadata) with no
frames, and `read_plan_archive` rebuilds the frames from the JPEGs. Replay needs the archived
wrist path, not the frames: that keeps a 49-frame 832x480 archive near 3 MB instead of ~60 MB.
An archive is written to `<name>.partial` and renamed when complete: a killed writer never
leaves a half archive under the final name.

This is lvp_common's ROS part (rclpy serializes the messages); the record itself, the archive
folder check and the retention are ROS-free, in `lvp_common.plan_record`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from rclpy.serialization import deserialize_message, serialize_message
from std_msgs.msg import String

from lvp_common import topics
from lvp_common.artifacts import (
    Observation,
    VideoPlan,
    WristTrajectory,
)
from lvp_common.plan_record import PARTIAL_SUFFIX, PlanArchiveError, PlanRecord
from lvp_common.ros import conversions as rc
from lvp_interfaces.msg import VideoPlan as VideoPlanMsg

PLAN_FRAME_JPEG_QUALITY = 90
"""JPEG quality of the archived (and published) plan frames."""
def _lvp_interfaces_types() -> dict:
    """Parse lvp_interfaces' installed .msg files into rosbags type definitions."""
    from ament_index_python.packages import get_package_share_directory
    from rosbags.typesys import get_types_from_msg

    msg_dir = Path(get_package_share_directory('lvp_interfaces')) / 'msg'
    types: dict = {}
    for path in sorted(msg_dir.glob('*.msg')):
        types.update(get_types_from_msg(path.read_text(), f'lvp_interfaces/msg/{path.stem}'))
    return types


def typestore():
    """A rosbags typestore with ROS 2 Jazzy's standard messages and lvp_interfaces."""
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY)
    store.register(_lvp_interfaces_types())
    return store


def _msgtype(msg) -> str:
    module = type(msg).__module__.split('.')  # e.g. sensor_msgs.msg._image
    return f'{module[0]}/msg/{type(msg).__name__}'


def _frameless_plan_msg(plan: VideoPlan, header) -> VideoPlanMsg:
    """The plan's VideoPlan message without its frames (they travel as JPEG)."""
    keys = sorted(plan.metadata)
    return VideoPlanMsg(header=header, frames=[], fps=float(plan.fps), prompts=list(plan.prompts),
                        chunk_starts=[int(s) for s in plan.chunk_starts],
                        source=plan.source.value, seed=int(plan.seed), model=plan.model,
                        metadata_keys=keys, metadata_values=[str(plan.metadata[k]) for k in keys])


def record_messages(record: PlanRecord, t0: float) -> list[tuple[str, float, object]]:
    """(topic, stamp in s, rclpy message) for every artifact of the record."""
    out: list[tuple[str, float, object]] = []
    obs = record.observation
    if obs is not None:
        header = rc.make_header(obs.camera_frame, t0)
        out.append((topics.OBSERVATION_IMAGE, t0, rc.rgb8_to_image(obs.rgb, header)))
        if obs.depth is not None:
            out.append((topics.OBSERVATION_DEPTH, t0, rc.metres_to_depth_image(obs.depth, header)))
        if obs.intrinsics is not None:
            out.append((topics.OBSERVATION_CAMERA_INFO, t0,
                        rc.intrinsics_to_camera_info(obs.intrinsics, header)))
    if record.prompts:
        out.append((topics.TASK, t0, String(data='\n'.join(record.prompts))))
    if record.plan is not None:
        frame_id = obs.camera_frame if obs is not None else ''
        # the frames go once, as JPEG, on VIDEO_PLAN_FRAMES (see the module docstring)
        out.append((topics.VIDEO_PLAN, t0, _frameless_plan_msg(record.plan,
                                                               rc.make_header(frame_id, t0))))
        for k, frame in enumerate(record.plan.frames):
            stamp = t0 + k / record.plan.fps
            out.append((topics.VIDEO_PLAN_FRAMES, stamp, rc.numpy_to_compressed_image(
                frame, 'jpeg', PLAN_FRAME_JPEG_QUALITY, rc.make_header(frame_id, stamp))))
    if record.hand_track is not None:
        frame_id = obs.camera_frame if obs is not None else ''
        out.append((topics.HAND_TRACK, t0,
                    rc.hand_track_to_msg(record.hand_track, rc.make_header(frame_id, t0))))
    if record.wrist_camera is not None:
        out.append((topics.WRIST_TRAJECTORY_CAMERA, t0,
                    rc.wrist_trajectory_to_msg(record.wrist_camera, t0)))
    for traj, path_topic in ((record.wrist_base_raw, topics.WRIST_PATH_RAW),
                             (record.wrist_base, topics.WRIST_PATH_SMOOTHED)):
        if traj is not None:
            out.append((path_topic, t0, rc.wrist_trajectory_to_path(traj, t0)))
    if record.wrist_base is not None:
        out.append((topics.WRIST_TRAJECTORY_BASE, t0,
                    rc.wrist_trajectory_to_msg(record.wrist_base, t0)))
    if record.scene_cloud is not None:
        out.append((topics.SCENE_CLOUD, t0, rc.point_cloud_to_msg(record.scene_cloud, t0)))
    if record.grasps is not None:
        out.append((topics.GRASP_CANDIDATES, t0, rc.grasp_plan_to_msg(record.grasps, t0)))
    if record.hand_commands is not None or record.gripper_events:
        out.append((topics.HAND_COMMANDS, t0, rc.hand_commands_to_msg(
            record.hand_commands, record.gripper_events, rc.make_header('', t0))))
    if record.joint_trajectory is not None:
        out.append((topics.JOINT_TRAJECTORY, t0, rc.joint_trajectory_to_msg(
            record.joint_trajectory, rc.make_header('', t0))))
    meta = {'prompts': list(record.prompts), 'embodiment': record.embodiment,
            'camera_to_base': None if obs is None or obs.camera_to_base is None else {
                'position': obs.camera_to_base.position.tolist(),
                'quaternion': obs.camera_to_base.quaternion.tolist()},
            'wrist_base_raw_in_archive': record.wrist_base_raw is not None,
            **record.metadata}
    out.append((topics.ARCHIVE_METADATA, t0, String(data=json.dumps(meta, default=str))))
    return out


def _canonical_cdr(raw: bytes, msgtype: str, store) -> bytes:
    """Re-encode rclpy's CDR through rosbags: the same message, without stray bytes.

    The ROS 2 wheels' serializer leaves uninitialised padding and, after some nested sequences,
    extra bytes past the end of the message; live subscribers ignore them, but strict readers
    (rosbags) refuse such records, and they would make archives differ run to run.
    """
    if raw[:2] != b'\x00\x01':
        raise PlanArchiveError(f'{msgtype}: expected little-endian CDR from rclpy')
    msgdef = store.get_msgdef(msgtype)
    message, _end = msgdef.deserialize_cdr_le(raw[4:], 0, msgdef.cls, store)
    return bytes(store.serialize_cdr(message, msgtype))


class _McapStorage:
    """rosbags' storage-writer protocol on the `mcap` library: zstd chunks with CRCs.

    rosbags' own MCAP writer stores no CRCs; this one lets readers detect a corrupt archive.
    The file is named after the archive's final name, so the rename keeps metadata.yaml right.
    """

    def __init__(self, path: Path, _compression) -> None:
        from mcap.writer import CompressionType, Writer

        name = path.name[:-len(PARTIAL_SUFFIX)] if path.name.endswith(PARTIAL_SUFFIX) \
            else path.name
        self.path = path / f'{name}.mcap'
        self._stream = self.path.open('xb')
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD,
                              enable_crcs=True, enable_data_crcs=True)
        self._writer.start(profile='ros2', library='lvp_common.plan_archive')
        self._schemas: dict[str, int] = {}

    def add_msgtype(self, connection) -> None:
        self._schemas[connection.msgtype] = self._writer.register_schema(
            connection.msgtype, 'ros2msg', connection.msgdef.data.encode())

    def add_connection(self, connection, offered_qos_profiles: str) -> None:
        channel = self._writer.register_channel(
            connection.topic, 'cdr', self._schemas[connection.msgtype],
            {'offered_qos_profiles': offered_qos_profiles})
        if channel != connection.id:
            raise PlanArchiveError(f'MCAP channel {channel} for connection {connection.id}')

    def write(self, connection, timestamp: int, data: bytes | memoryview) -> None:
        self._writer.add_message(connection.id, timestamp, bytes(data), timestamp)

    def close(self, _version: int, metadata: str) -> None:
        self._writer.add_metadata('rosbag2', {'serialized_metadata': metadata})
        self._writer.finish()
        self._stream.close()

    def abort(self) -> None:
        self._stream.close()


def _archive_qos():
    """Reliable, transient local, keep last 1: the live topics' QoS (ros_node.LATCHED)."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    zero = QosTime(0, 0)
    return Qos(QosHistory.KEEP_LAST, 1, QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL,
               zero, zero, QosLiveliness.AUTOMATIC, zero, False)


def write_plan_archive(path: str | Path, record: PlanRecord, start_time: float = 0.0) -> Path:
    """Write `record` as a rosbag2 folder with one MCAP file; refuse to overwrite one.

    start_time: stamp (s since the epoch) of the plan's first frame; the archive's clock.
    """
    return write_archive_messages(path, record_messages(record, start_time))


def write_archive_messages(path: str | Path,
                           messages: list[tuple[str, float, object]]) -> Path:
    """Write (topic, stamp s, rclpy message) as a plan archive at `path` (via `.partial`)."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    class McapWriter(Writer):
        STORAGE_PLUGINS = {StoragePlugin.MCAP: _McapStorage}  # type: ignore[assignment]

    path = Path(path)
    if path.exists():
        raise PlanArchiveError(f'plan archive {path} already exists; choose another path')
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    store = typestore()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if partial.exists():  # left by a writer that was killed: never a valid archive
            shutil.rmtree(partial)
        qos = [_archive_qos()]
        with McapWriter(partial, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
            connections = {}
            for topic, stamp, msg in sorted(messages, key=lambda m: m[1]):
                if topic not in connections:
                    connections[topic] = writer.add_connection(
                        '/' + topic, _msgtype(msg), typestore=store, offered_qos_profiles=qos)
                writer.write(connections[topic], int(round(stamp * 1e9)),
                             _canonical_cdr(serialize_message(msg), _msgtype(msg), store))
        partial.rename(path)
    except Exception as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise PlanArchiveError(f'cannot write plan archive {path}: {exc}') from exc
    return path


def verify_archive(path: str | Path) -> None:
    """Check every MCAP file of an archive (chunk and data CRCs); PlanArchiveError names a
    corrupt or truncated file."""
    from mcap.reader import NonSeekingReader

    path = Path(path)
    files = sorted(path.glob('*.mcap')) if path.is_dir() else [path]
    if not files:
        raise PlanArchiveError(f'cannot read plan archive {path}: no .mcap file in it')
    for file in files:
        try:
            with file.open('rb') as stream:
                for _ in NonSeekingReader(stream, validate_crcs=True).iter_messages():
                    pass
        except Exception as exc:
            raise PlanArchiveError(f'plan archive file {file} is corrupt or truncated '
                                   f'({type(exc).__name__}: {exc})') from exc


def _message_classes() -> dict[str, type]:
    from geometry_msgs.msg import PoseStamped  # noqa: F401  (nav_msgs/Path needs it loaded)
    from nav_msgs.msg import Path as PathMsg
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
    from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

    from lvp_interfaces.msg import GraspCandidates, HandCommands, HandTrack, VideoPlan
    from lvp_interfaces.msg import WristTrajectory as WristTrajectoryMsg

    return {'sensor_msgs/msg/Image': Image, 'sensor_msgs/msg/CompressedImage': CompressedImage,
            'sensor_msgs/msg/CameraInfo': CameraInfo,
            'sensor_msgs/msg/PointCloud2': PointCloud2, 'std_msgs/msg/String': String,
            'nav_msgs/msg/Path': PathMsg, 'lvp_interfaces/msg/VideoPlan': VideoPlan,
            'lvp_interfaces/msg/HandTrack': HandTrack,
            'lvp_interfaces/msg/WristTrajectory': WristTrajectoryMsg,
            'lvp_interfaces/msg/GraspCandidates': GraspCandidates,
            'lvp_interfaces/msg/HandCommands': HandCommands,
            'trajectory_msgs/msg/JointTrajectory': JointTrajectoryMsg}


def read_archive_messages(path: str | Path) -> list[tuple[str, int, object]]:
    """Return every (topic, stamp ns, rclpy message) of an archive, in stored order."""
    from rosbags.rosbag2 import Reader

    classes = _message_classes()
    out = []
    verify_archive(path)
    try:
        with Reader(Path(path)) as reader:
            for conn, stamp, raw in reader.messages():
                cls = classes.get(conn.msgtype)
                if cls is None:
                    raise PlanArchiveError(f'{path}: unexpected message type {conn.msgtype} on '
                                           f'{conn.topic}')
                out.append((conn.topic.lstrip('/'), stamp, deserialize_message(raw, cls)))
    except PlanArchiveError:
        raise
    except Exception as exc:
        raise PlanArchiveError(f'cannot read plan archive {path}: {exc}') from exc
    return out


def read_plan_archive(path: str | Path) -> PlanRecord:
    """Read an archive written by write_plan_archive back into a PlanRecord."""
    from lvp_common.geometry import Pose

    by_topic: dict[str, object] = {}
    jpeg_frames = []
    for topic, _stamp, msg in read_archive_messages(path):
        if topic == topics.VIDEO_PLAN_FRAMES:
            jpeg_frames.append(msg)
        else:
            by_topic[topic] = msg
    plan_msg = by_topic.get(topics.VIDEO_PLAN)
    if plan_msg is not None and not plan_msg.frames:  # type: ignore[attr-defined]
        plan_msg.frames = [rc.rgb8_to_image(rc.compressed_image_to_numpy(f))  # type: ignore
                           for f in jpeg_frames]
    meta_msg = by_topic.get(topics.ARCHIVE_METADATA)
    if not isinstance(meta_msg, String):
        raise PlanArchiveError(f'{path} is not a plan archive: no {topics.ARCHIVE_METADATA}')
    meta = json.loads(meta_msg.data)
    record = PlanRecord(prompts=tuple(meta.pop('prompts', ())),
                        embodiment=meta.pop('embodiment', ''))
    pose = meta.pop('camera_to_base', None)
    meta.pop('wrist_base_raw_in_archive', None)
    record.metadata = meta
    image = by_topic.get(topics.OBSERVATION_IMAGE)
    if image is not None:
        depth = by_topic.get(topics.OBSERVATION_DEPTH)
        info = by_topic.get(topics.OBSERVATION_CAMERA_INFO)
        record.observation = Observation(
            rgb=rc.image_to_rgb8(image),  # type: ignore[arg-type]
            depth=None if depth is None else rc.depth_image_to_metres(depth),  # type: ignore
            intrinsics=None if info is None else rc.camera_info_to_intrinsics(info),  # type: ignore
            camera_to_base=None if pose is None else Pose(np.array(pose['position']),
                                                          np.array(pose['quaternion'])),
            camera_frame=image.header.frame_id)  # type: ignore[attr-defined]
    converters = {
        topics.VIDEO_PLAN: ('plan', rc.video_plan_from_msg),
        topics.HAND_TRACK: ('hand_track', rc.hand_track_from_msg),
        topics.WRIST_TRAJECTORY_CAMERA: ('wrist_camera', rc.wrist_trajectory_from_msg),
        topics.WRIST_TRAJECTORY_BASE: ('wrist_base', rc.wrist_trajectory_from_msg),
        topics.SCENE_CLOUD: ('scene_cloud', rc.point_cloud_from_msg),
        topics.GRASP_CANDIDATES: ('grasps', rc.grasp_plan_from_msg),
        topics.JOINT_TRAJECTORY: ('joint_trajectory', rc.joint_trajectory_from_msg),
    }
    for topic, (attr, convert) in converters.items():
        if topic in by_topic:
            setattr(record, attr, convert(by_topic[topic]))  # type: ignore[operator]
    if topics.HAND_COMMANDS in by_topic:
        record.hand_commands, record.gripper_events = rc.hand_commands_from_msg(
            by_topic[topics.HAND_COMMANDS])  # type: ignore[arg-type]
    if topics.WRIST_PATH_RAW in by_topic and record.wrist_base is not None:
        record.wrist_base_raw = _path_to_trajectory(by_topic[topics.WRIST_PATH_RAW],
                                                    record.wrist_base)
    return record


def _path_to_trajectory(path_msg, like: WristTrajectory) -> WristTrajectory:
    poses = [rc.pose_from_msg(p.pose) for p in path_msg.poses]
    t0 = rc.time_to_seconds(path_msg.header.stamp)
    return WristTrajectory(
        times=np.array([rc.time_to_seconds(p.header.stamp) - t0 for p in path_msg.poses]),
        positions=np.array([p.position for p in poses]),
        quaternions=np.array([p.quaternion for p in poses]),
        frame_id=path_msg.header.frame_id or like.frame_id, smoothed=False)

