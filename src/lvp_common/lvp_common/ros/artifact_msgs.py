"""The pipeline's artifacts (lvp_common.artifacts) to and from lvp_interfaces, nav_msgs,
sensor_msgs/PointCloud2 and trajectory_msgs messages."""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, PoseStamped
from nav_msgs.msg import Path
from sensor_msgs.msg import PointCloud2, PointField
from std_msgs.msg import Header
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg
from trajectory_msgs.msg import JointTrajectoryPoint

from lvp_common.artifacts import (
    NUM_HAND_KEYPOINTS,
    ArtifactError,
    GraspCandidate,
    GraspPlan,
    GripperAction,
    GripperEvent,
    HandCommands,
    Handedness,
    HandMesh,
    HandTrack,
    JointTrajectory,
    PlanSource,
    PointCloud,
    VideoPlan,
    WristTrajectory,
)
from lvp_common.ros.image_msgs import image_to_rgb8, rgb8_to_image
from lvp_common.ros.pose_msgs import (
    point_msg,
    points_to_array,
    pose_from_msg,
    pose_to_msg,
    quaternion_msg,
    quaternion_to_array,
)
from lvp_common.ros.stamps import duration_to_seconds, make_header, seconds_to_duration
from lvp_interfaces.msg import GraspCandidate as GraspCandidateMsg
from lvp_interfaces.msg import GraspCandidates as GraspCandidatesMsg
from lvp_interfaces.msg import GripperEvent as GripperEventMsg
from lvp_interfaces.msg import HandCommands as HandCommandsMsg
from lvp_interfaces.msg import HandTrack as HandTrackMsg
from lvp_interfaces.msg import HandTrackFrame
from lvp_interfaces.msg import VideoPlan as VideoPlanMsg
from lvp_interfaces.msg import WristTrajectory as WristTrajectoryMsg

# ---------------------------------------------------------------- video plan


def video_plan_to_msg(plan: VideoPlan, header: Header | None = None) -> VideoPlanMsg:
    keys = sorted(plan.metadata)
    return VideoPlanMsg(
        header=header or Header(),
        frames=[rgb8_to_image(frame) for frame in plan.frames],
        fps=float(plan.fps), prompts=list(plan.prompts),
        chunk_starts=[int(s) for s in plan.chunk_starts], source=plan.source.value,
        seed=int(plan.seed), model=plan.model, metadata_keys=keys,
        metadata_values=[str(plan.metadata[k]) for k in keys])


def video_plan_from_msg(msg: VideoPlanMsg) -> VideoPlan:
    if len(msg.metadata_keys) != len(msg.metadata_values):
        raise ValueError(f'VideoPlan: {len(msg.metadata_keys)} metadata keys but '
                         f'{len(msg.metadata_values)} values')
    frames = np.stack([image_to_rgb8(f) for f in msg.frames]) if msg.frames else np.zeros(
        (0, 0, 0, 3), np.uint8)
    return VideoPlan(frames=frames, fps=msg.fps, prompts=tuple(msg.prompts),
                     source=PlanSource(msg.source), seed=msg.seed,
                     chunk_starts=tuple(int(s) for s in msg.chunk_starts) or (0,),
                     model=msg.model,
                     metadata=dict(zip(msg.metadata_keys, msg.metadata_values)))


# ---------------------------------------------------------------- hand track


def hand_track_to_msg(track: HandTrack, header: Header | None = None) -> HandTrackMsg:
    frames = []
    for t in range(track.num_frames):
        frames.append(HandTrackFrame(
            keypoints_px=[Point(x=float(u), y=float(v), z=0.0) for u, v in track.keypoints_px[t]],
            keypoints_m=[point_msg(p) for p in track.keypoints_m[t]],
            wrist_orientation=quaternion_msg(track.wrist_quaternions[t]),
            confidence=float(track.confidence[t]), detected=bool(track.detected[t]),
            mesh_vertices=[] if track.mesh is None else [
                point_msg(v) for v in track.mesh.vertices[t]]))
    return HandTrackMsg(
        header=header or Header(), handedness=track.handedness.value,
        image_width=int(track.image_size[0]), image_height=int(track.image_size[1]),
        times=[float(t) for t in track.times], frames=frames,
        mesh_faces=[] if track.mesh is None else [int(i) for i in track.mesh.faces.ravel()])


def hand_track_from_msg(msg: HandTrackMsg) -> HandTrack:
    frames = list(msg.frames)
    n = len(frames)
    px = np.array([[[p.x, p.y] for p in f.keypoints_px] for f in frames]).reshape(
        n, NUM_HAND_KEYPOINTS, 2)
    metric = np.stack([points_to_array(f.keypoints_m) for f in frames]) if n else np.zeros(
        (0, NUM_HAND_KEYPOINTS, 3))
    mesh = None
    if n and frames[0].mesh_vertices:
        mesh = HandMesh(np.stack([points_to_array(f.mesh_vertices) for f in frames]),
                        np.asarray(msg.mesh_faces, dtype=np.int64).reshape(-1, 3))
    return HandTrack(
        times=np.asarray(msg.times, dtype=np.float64), keypoints_px=px, keypoints_m=metric,
        wrist_quaternions=np.array([quaternion_to_array(f.wrist_orientation)
                                    for f in frames]).reshape(n, 4),
        confidence=np.array([f.confidence for f in frames], dtype=np.float64),
        detected=np.array([f.detected for f in frames], dtype=bool),
        handedness=Handedness(msg.handedness),
        image_size=(msg.image_width, msg.image_height), mesh=mesh)


# ---------------------------------------------------------------- wrist trajectory


def wrist_trajectory_to_msg(traj: WristTrajectory, stamp: float | Time = 0.0
                            ) -> WristTrajectoryMsg:
    fingers = [] if traj.finger_keypoints is None else [
        point_msg(p) for p in traj.finger_keypoints.reshape(-1, 3)]
    return WristTrajectoryMsg(
        header=make_header(traj.frame_id, stamp), times=[float(t) for t in traj.times],
        poses=[pose_to_msg(traj.pose(i)) for i in range(traj.num_frames)],
        smoothed=traj.smoothed,
        residuals_px=[] if traj.residuals_px is None else [float(r) for r in traj.residuals_px],
        finger_keypoints=fingers)


def wrist_trajectory_from_msg(msg: WristTrajectoryMsg) -> WristTrajectory:
    """Convert a WristTrajectory message; ArtifactError naming the first non-finite waypoint."""
    n = len(msg.poses)
    positions = points_to_array([p.position for p in msg.poses])
    quaternions = np.array([quaternion_to_array(p.orientation) for p in msg.poses],
                           dtype=np.float64).reshape(n, 4)
    times = np.asarray(msg.times, dtype=np.float64)
    bad = ~(np.isfinite(positions).all(axis=1) & np.isfinite(quaternions).all(axis=1))
    if bad.any():
        i = int(np.argmax(bad))
        when = f' (t = {times[i]:.3f} s)' if i < len(times) and np.isfinite(times[i]) else ''
        raise ArtifactError(f'WristTrajectory: waypoint {i}{when} of {n} has a non-finite pose: '
                            f'position {positions[i].tolist()}, quaternion (x, y, z, w) '
                            f'{quaternions[i].tolist()}')
    fingers = points_to_array(msg.finger_keypoints).reshape(n, NUM_HAND_KEYPOINTS, 3) \
        if msg.finger_keypoints else None
    return WristTrajectory(
        times=times,
        positions=positions,
        quaternions=quaternions,
        frame_id=msg.header.frame_id, smoothed=msg.smoothed, finger_keypoints=fingers,
        residuals_px=np.asarray(msg.residuals_px, dtype=np.float64) if msg.residuals_px else None)


def wrist_trajectory_to_path(traj: WristTrajectory, stamp: float = 0.0) -> Path:
    """A nav_msgs/Path for RViz; each pose stamped at `stamp` + its time in the plan."""
    return Path(header=make_header(traj.frame_id, stamp), poses=[
        PoseStamped(header=make_header(traj.frame_id, stamp + float(traj.times[i])),
                    pose=pose_to_msg(traj.pose(i))) for i in range(traj.num_frames)])


# ---------------------------------------------------------------- point cloud

_XYZRGB_FIELDS = [PointField(name='x', offset=0, datatype=PointField.FLOAT32, count=1),
                  PointField(name='y', offset=4, datatype=PointField.FLOAT32, count=1),
                  PointField(name='z', offset=8, datatype=PointField.FLOAT32, count=1),
                  PointField(name='rgb', offset=12, datatype=PointField.FLOAT32, count=1)]


def point_cloud_to_msg(cloud: PointCloud, stamp: float | Time = 0.0) -> PointCloud2:
    """An unorganised PointCloud2 with float32 x, y, z and packed rgb (RViz's layout)."""
    n = len(cloud.points)
    buf = np.zeros(n, dtype=[('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('rgb', '<u4')])
    buf['x'], buf['y'], buf['z'] = cloud.points.T.astype(np.float32)
    colors = cloud.colors if cloud.colors is not None else np.full((n, 3), 255, np.uint8)
    c = colors.astype(np.uint32)
    buf['rgb'] = (c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]
    return PointCloud2(header=make_header(cloud.frame_id, stamp), height=1, width=n,
                       fields=list(_XYZRGB_FIELDS), is_bigendian=False, point_step=16,
                       row_step=16 * n, data=buf.tobytes(), is_dense=True)


def point_cloud_from_msg(msg: PointCloud2) -> PointCloud:
    """Read x, y, z (float32/float64) and an optional packed rgb/rgba field; drop NaN points."""
    kinds = {PointField.FLOAT32: '<f4', PointField.FLOAT64: '<f8', PointField.UINT32: '<u4'}
    fields = {f.name: f for f in msg.fields}
    missing = {'x', 'y', 'z'} - set(fields)
    if missing:
        raise ValueError(f'PointCloud2 lacks field(s) {sorted(missing)}')
    if msg.is_bigendian:
        raise ValueError('big-endian PointCloud2 is not supported')
    color_name = 'rgb' if 'rgb' in fields else 'rgba' if 'rgba' in fields else None
    names = ['x', 'y', 'z'] + ([color_name] if color_name else [])
    dtype = np.dtype({'names': names,
                      'formats': [kinds.get(fields[n].datatype, '<f4') if n in 'xyz' else '<u4'
                                  for n in names],
                      'offsets': [fields[n].offset for n in names],
                      'itemsize': msg.point_step})
    count = msg.width * msg.height
    rows = np.frombuffer(bytes(msg.data), dtype=np.uint8).reshape(msg.height, msg.row_step)
    data = np.ascontiguousarray(rows[:, :msg.width * msg.point_step]).view(dtype).reshape(count)
    pts = np.stack([data['x'], data['y'], data['z']], axis=1).astype(np.float64)
    keep = np.all(np.isfinite(pts), axis=1)
    colors = None
    if color_name:
        packed = data[color_name][keep].astype(np.uint32)
        colors = np.stack([(packed >> 16) & 255, (packed >> 8) & 255, packed & 255],
                          axis=1).astype(np.uint8)
    return PointCloud(pts[keep], msg.header.frame_id, colors)


# ---------------------------------------------------------------- grasps and hand commands


def grasp_plan_to_msg(plan: GraspPlan, stamp: float | Time = 0.0) -> GraspCandidatesMsg:
    return GraspCandidatesMsg(
        header=make_header(plan.frame_id, stamp),
        candidates=[GraspCandidateMsg(pose=pose_to_msg(c.pose), width=float(c.width),
                                      depth=float(c.depth), score=float(c.score))
                    for c in plan.candidates],
        close_time=-1.0 if plan.close_time is None else float(plan.close_time),
        open_time=-1.0 if plan.open_time is None else float(plan.open_time))


def grasp_plan_from_msg(msg: GraspCandidatesMsg) -> GraspPlan:
    return GraspPlan(
        candidates=tuple(GraspCandidate(pose_from_msg(c.pose), c.width, c.score, c.depth)
                         for c in msg.candidates),
        frame_id=msg.header.frame_id,
        close_time=None if msg.close_time < 0.0 else msg.close_time,
        open_time=None if msg.open_time < 0.0 else msg.open_time)


def gripper_event_to_msg(event: GripperEvent) -> GripperEventMsg:
    action = GripperEventMsg.CLOSE if event.action == GripperAction.CLOSE else GripperEventMsg.OPEN
    return GripperEventMsg(action=action, time=float(event.time), width=float(event.width))


def gripper_event_from_msg(msg: GripperEventMsg) -> GripperEvent:
    if msg.action not in (GripperEventMsg.CLOSE, GripperEventMsg.OPEN):
        raise ValueError(f'GripperEvent.action must be CLOSE (0) or OPEN (1), got {msg.action}')
    action = GripperAction.CLOSE if msg.action == GripperEventMsg.CLOSE else GripperAction.OPEN
    return GripperEvent(msg.time, action, msg.width)


def joint_trajectory_to_msg(traj: JointTrajectory, header: Header | None = None
                            ) -> JointTrajectoryMsg:
    points = []
    for i, t in enumerate(traj.times):
        point = JointTrajectoryPoint(positions=[float(x) for x in traj.positions[i]],
                                     time_from_start=seconds_to_duration(float(t)))
        if traj.velocities is not None:
            point.velocities = [float(x) for x in traj.velocities[i]]
        if traj.accelerations is not None:
            point.accelerations = [float(x) for x in traj.accelerations[i]]
        points.append(point)
    return JointTrajectoryMsg(header=header or Header(), joint_names=list(traj.joint_names),
                              points=points)


def joint_trajectory_from_msg(msg: JointTrajectoryMsg) -> JointTrajectory:
    n, j = len(msg.points), len(msg.joint_names)

    def column(attr: str) -> np.ndarray | None:
        values = [list(getattr(p, attr)) for p in msg.points]
        if n and all(len(v) == j for v in values):
            return np.array(values, dtype=np.float64)
        if any(values):
            raise ValueError(f'JointTrajectory: every point needs {j} {attr} or none do')
        return None

    positions = column('positions')
    return JointTrajectory(
        times=np.array([duration_to_seconds(p.time_from_start) for p in msg.points]),
        joint_names=tuple(msg.joint_names),
        positions=positions if positions is not None else np.zeros((n, j)),
        velocities=column('velocities'), accelerations=column('accelerations'))


def hand_commands_to_msg(commands: HandCommands | None, events: tuple[GripperEvent, ...] = (),
                         header: Header | None = None) -> HandCommandsMsg:
    """Dexterous commands and/or gripper events as one HandCommands message."""
    msg = HandCommandsMsg(header=header or Header(),
                          gripper_events=[gripper_event_to_msg(e) for e in events])
    if commands is not None:
        msg.joint_trajectory = joint_trajectory_to_msg(
            JointTrajectory(commands.times, commands.joint_names, commands.joint_positions),
            msg.header)
        msg.actuator_names = list(commands.actuator_names)
        msg.normalized = [float(x) for x in commands.normalized.ravel()]
        msg.native = [int(x) for x in commands.native.ravel()]
    return msg


def hand_commands_from_msg(msg: HandCommandsMsg
                           ) -> tuple[HandCommands | None, tuple[GripperEvent, ...]]:
    events = tuple(gripper_event_from_msg(e) for e in msg.gripper_events)
    if not msg.joint_trajectory.points:
        return None, events
    joints = joint_trajectory_from_msg(msg.joint_trajectory)
    n, a = len(joints.times), len(msg.actuator_names)
    return HandCommands(
        times=joints.times, joint_names=joints.joint_names, joint_positions=joints.positions,
        actuator_names=tuple(msg.actuator_names),
        normalized=np.asarray(msg.normalized, dtype=np.float64).reshape(n, a),
        native=np.asarray(msg.native, dtype=np.int32).reshape(n, a)), events
