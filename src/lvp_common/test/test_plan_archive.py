"""A plan archive is read back completely by this project, by rosbags and by an MCAP reader."""

from collections import Counter

import numpy as np
import pytest
from lvp_common.artifacts import (
    CameraIntrinsics,
    GraspCandidate,
    GraspPlan,
    GripperEvent,
    JointTrajectory,
    Observation,
    PlanSource,
    PointCloud,
    VideoPlan,
    WristTrajectory,
)
from lvp_common.geometry import Pose
from lvp_common.plan_archive import (
    PlanArchiveError,
    PlanRecord,
    read_plan_archive,
    typestore,
    write_plan_archive,
)

from lvp_common import topics

from .test_artifacts import make_track


def full_record() -> PlanRecord:
    rng = np.random.default_rng(0)
    n = 4
    depth = rng.uniform(0.5, 1.5, (24, 32)).astype(np.float32)
    depth[0, 0] = np.nan
    obs = Observation(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8), depth,
                      CameraIntrinsics.from_fov(32, 24, 60.0, assumed=False),
                      Pose([0.1, 0.2, 0.9], [0.7071068, 0, 0, 0.7071068]))
    times = np.arange(n) / 16.0
    wrist = WristTrajectory(times, rng.normal(size=(n, 3)) * 0.1, np.tile([0, 0, 0, 1.0], (n, 1)),
                            'base_link', smoothed=True)
    return PlanRecord(
        prompts=('pick up the cube', 'put it down'), embodiment='franka_gripper',
        observation=obs,
        plan=VideoPlan(rng.integers(0, 255, (n, 24, 32, 3), dtype=np.uint8), 16.0,
                       ('pick up the cube', 'put it down'), PlanSource.SYNTHETIC_DEMONSTRATION,
                       chunk_starts=(0, 2)),
        hand_track=make_track(n),
        wrist_camera=WristTrajectory(times, wrist.positions + 1.0, wrist.quaternions,
                                     'camera_color_optical_frame'),
        wrist_base_raw=WristTrajectory(times, wrist.positions + 0.01, wrist.quaternions,
                                       'base_link'),
        wrist_base=wrist,
        scene_cloud=PointCloud(rng.normal(size=(100, 3)), 'base_link',
                               rng.integers(0, 255, (100, 3), dtype=np.uint8)),
        grasps=GraspPlan((GraspCandidate(Pose([0.5, 0, 0.1], [1, 0, 0, 0]), 0.05, 1.0),),
                         'base_link', close_time=1.0, open_time=2.5),
        gripper_events=(GripperEvent(1.0, 'close', 0.04), GripperEvent(2.5, 'open', 0.08)),
        joint_trajectory=JointTrajectory(np.linspace(0, 2, 5), tuple(f'j{i}' for i in range(7)),
                                         rng.normal(size=(5, 7))),
        metadata={'timings_s': {'planning': 1.5}})


def test_round_trip_through_the_project_reader(tmp_path):
    record = full_record()
    path = write_plan_archive(tmp_path / 'plan', record, start_time=1_700_000_000.0)
    back = read_plan_archive(path)
    assert back.prompts == record.prompts and back.embodiment == 'franka_gripper'
    assert back.metadata == {'timings_s': {'planning': 1.5}}
    assert back.observation is not None and record.observation is not None
    np.testing.assert_array_equal(back.observation.rgb, record.observation.rgb)
    np.testing.assert_array_equal(np.isnan(back.observation.depth),
                                  np.isnan(record.observation.depth))
    assert back.observation.camera_to_base is not None
    np.testing.assert_allclose(back.observation.camera_to_base.position, [0.1, 0.2, 0.9])
    assert back.plan is not None and back.plan.source is PlanSource.SYNTHETIC_DEMONSTRATION
    np.testing.assert_array_equal(back.plan.frames, record.plan.frames)
    assert back.hand_track is not None and back.hand_track.num_frames == 4
    assert back.wrist_base is not None and back.wrist_base_raw is not None
    np.testing.assert_allclose(back.wrist_base_raw.positions, record.wrist_base_raw.positions)
    np.testing.assert_allclose(back.wrist_base_raw.times, record.wrist_base_raw.times, atol=1e-6)
    assert back.wrist_camera is not None and back.wrist_camera.frame_id.startswith('camera')
    assert back.scene_cloud is not None and len(back.scene_cloud.points) == 100
    assert back.grasps is not None and back.grasps.open_time == pytest.approx(2.5)
    assert [e.action.value for e in back.gripper_events] == ['close', 'open']
    assert back.joint_trajectory is not None
    np.testing.assert_allclose(back.joint_trajectory.positions, record.joint_trajectory.positions)


def test_rosbags_and_mcap_readers_read_every_message(tmp_path):
    from mcap.reader import make_reader
    from rosbags.rosbag2 import Reader

    record = full_record()
    path = write_plan_archive(tmp_path / 'plan', record)
    store = typestore()
    counts: Counter = Counter()
    with Reader(path) as reader:
        for conn, _stamp, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)  # the whole message decodes
            counts[conn.topic] += 1
            if conn.topic == '/' + topics.VIDEO_PLAN:
                assert len(msg.frames) == 4 and msg.source == 'synthetic_demonstration'
    expected = {topics.OBSERVATION_IMAGE: 1, topics.OBSERVATION_DEPTH: 1,
                topics.OBSERVATION_CAMERA_INFO: 1, topics.TASK: 1, topics.VIDEO_PLAN: 1,
                topics.VIDEO_PLAN_FRAMES: 4, topics.HAND_TRACK: 1,
                topics.WRIST_TRAJECTORY_CAMERA: 1, topics.WRIST_TRAJECTORY_BASE: 1,
                topics.WRIST_PATH_RAW: 1, topics.WRIST_PATH_SMOOTHED: 1, topics.SCENE_CLOUD: 1,
                topics.GRASP_CANDIDATES: 1, topics.HAND_COMMANDS: 1,
                topics.JOINT_TRAJECTORY: 1, topics.ARCHIVE_METADATA: 1}
    assert counts == Counter({'/' + k: v for k, v in expected.items()})

    mcap_files = list(path.glob('*.mcap'))
    assert len(mcap_files) == 1
    mcap_counts: Counter = Counter()
    with open(mcap_files[0], 'rb') as stream:
        for schema, channel, message in make_reader(stream).iter_messages():
            assert schema is not None and schema.encoding == 'ros2msg' and schema.data
            assert message.data
            mcap_counts[channel.topic] += 1
    assert mcap_counts == counts


def test_archive_refuses_to_overwrite_and_names_bad_input(tmp_path):
    path = write_plan_archive(tmp_path / 'plan', PlanRecord(prompts=('x',)))
    with pytest.raises(PlanArchiveError, match='already exists'):
        write_plan_archive(path, PlanRecord())
    (tmp_path / 'empty').mkdir()
    with pytest.raises(PlanArchiveError, match='cannot read'):
        read_plan_archive(tmp_path / 'empty')
