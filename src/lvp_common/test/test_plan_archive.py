"""A plan archive is read back completely by this project, by rosbags and by an MCAP reader;
it is compressed, records the latched QoS, is written atomically, checked and pruned."""

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
from lvp_common.plan_record import (
    PlanArchiveError,
    PlanRecord,
    check_archive_dir,
    prune_archives,
)
from lvp_common.ros.plan_archive import read_plan_archive, typestore, write_plan_archive

from lvp_common import topics

from .test_artifacts import make_track


def smooth_frames(n: int) -> np.ndarray:
    """Camera-like frames (gradients, no noise): what JPEG is made for."""
    y, x = np.mgrid[0:48, 0:64]
    return np.stack([np.stack([x * 3 + k * 10, y * 4, x + y], axis=-1) % 256
                     for k in range(n)]).astype(np.uint8)


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
        plan=VideoPlan(smooth_frames(n), 16.0,
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
    # the frames come back from their JPEGs (lossy, quality 90)
    assert back.plan.frames.shape == record.plan.frames.shape
    error = np.abs(back.plan.frames.astype(float) - record.plan.frames.astype(float))
    assert error.mean() < 3.0, error.mean()
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
    from mcap.records import Chunk
    from mcap.stream_reader import StreamReader
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
                # the frames travel once, as JPEG on VIDEO_PLAN_FRAMES
                assert len(msg.frames) == 0 and msg.source == 'synthetic_demonstration'
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
        reader = make_reader(stream, validate_crcs=True)
        for schema, channel, message in reader.iter_messages():
            assert schema is not None and schema.encoding == 'ros2msg' and schema.data
            assert message.data
            mcap_counts[channel.topic] += 1
            # ros2 bag play republishes what the channel offered: latched, like the live topics
            qos = channel.metadata['offered_qos_profiles']
            assert 'reliability: reliable' in qos and 'durability: transient_local' in qos
            assert 'depth: 1' in qos
        summary = reader.get_summary()
        assert summary is not None
        chunks = summary.chunk_indexes
        assert chunks and all(c.compression == 'zstd' for c in chunks)
    assert mcap_counts == counts
    with open(mcap_files[0], 'rb') as stream:
        chunk_crcs = [r.uncompressed_crc for r in StreamReader(stream, emit_chunks=True).records
                      if isinstance(r, Chunk)]
    assert chunk_crcs and all(chunk_crcs)
    metadata = (path / 'metadata.yaml').read_text()
    assert 'transient_local' in metadata and f'{path.name}.mcap' in metadata


def test_archive_is_written_via_partial_and_a_corrupt_file_is_named(tmp_path):
    record = full_record()
    path = write_plan_archive(tmp_path / 'plan', record)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['plan']
    # a killed writer's leftover under the partial name is replaced, never read as an archive
    (tmp_path / 'again.partial').mkdir()
    (tmp_path / 'again.partial' / 'junk').write_text('x')
    again = write_plan_archive(tmp_path / 'again', record)
    assert not (tmp_path / 'again.partial').exists() and again.is_dir()
    # flip one byte in the middle of the (compressed) data: the CRC check names the file
    mcap_file = next(path.glob('*.mcap'))
    data = bytearray(mcap_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    mcap_file.write_bytes(bytes(data))
    with pytest.raises(PlanArchiveError, match=f'{mcap_file.name} is corrupt'):
        read_plan_archive(path)


def test_archive_folder_check_and_retention(tmp_path):
    import os
    import time

    folder = check_archive_dir(tmp_path / 'new' / 'archives')
    assert folder.is_dir() and list(folder.iterdir()) == []
    blocker = tmp_path / 'a_file'
    blocker.write_text('x')
    with pytest.raises(PlanArchiveError, match='a_file.*not writable'):
        check_archive_dir(blocker / 'archives')
    paths = []
    for k in range(4):
        paths.append(write_plan_archive(folder / f'plan{k}', PlanRecord(prompts=('x',))))
        stamp = time.time() - 100 + k  # oldest first, whatever the file system's resolution
        os.utime(paths[-1] / 'metadata.yaml', (stamp, stamp))
    (folder / 'plan9.partial').mkdir()
    assert prune_archives(folder, 0) == []
    assert prune_archives(folder, 2) == paths[:2]
    assert sorted(p.name for p in folder.iterdir()) == ['plan2', 'plan3', 'plan9.partial']


def test_archive_refuses_to_overwrite_and_names_bad_input(tmp_path):
    path = write_plan_archive(tmp_path / 'plan', PlanRecord(prompts=('x',)))
    with pytest.raises(PlanArchiveError, match='already exists'):
        write_plan_archive(path, PlanRecord())
    (tmp_path / 'empty').mkdir()
    with pytest.raises(PlanArchiveError, match='cannot read'):
        read_plan_archive(tmp_path / 'empty')
