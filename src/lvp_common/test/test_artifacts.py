import numpy as np
import pytest
from lvp_common.artifacts import (
    ArtifactError,
    CameraIntrinsics,
    HandTrack,
    JointTrajectory,
    Observation,
    PlanRequest,
    PlanSource,
    VideoPlan,
)
from lvp_common.geometry import GeometryError


def make_track(n: int = 4, **overrides) -> HandTrack:
    fields = dict(times=np.arange(n) / 16.0, keypoints_px=np.zeros((n, 21, 2)),
                  keypoints_m=np.zeros((n, 21, 3)), wrist_quaternions=np.tile([0, 0, 0, 1.0],
                                                                              (n, 1)),
                  confidence=np.ones(n), detected=np.ones(n, bool), handedness='right',
                  image_size=(832, 480))
    fields.update(overrides)
    return HandTrack(**fields)


def test_video_plan_validates_frames_and_chunks():
    frames = np.zeros((49, 48, 64, 3), np.uint8)
    plan = VideoPlan(frames, 16.0, ('pick up the cup',), 'generated', chunk_starts=(0,))
    assert plan.source is PlanSource.GENERATED
    assert plan.times[-1] == pytest.approx(3.0)
    with pytest.raises(ArtifactError, match='uint8'):
        VideoPlan(frames.astype(np.float32), 16.0, ('x',), 'generated')
    with pytest.raises(ArtifactError, match='chunk_starts'):
        VideoPlan(frames, 16.0, ('x',), 'generated', chunk_starts=(0, 60))
    with pytest.raises(ValueError):
        VideoPlan(frames, 16.0, ('x',), 'imagined')


def test_hand_track_checks_shapes_and_values():
    track = make_track()
    assert track.num_frames == 4
    with pytest.raises(GeometryError, match='keypoints_px'):
        make_track(keypoints_px=np.zeros((4, 20, 2)))
    with pytest.raises(GeometryError, match='non-finite'):
        bad = np.zeros((4, 21, 3))
        bad[2, 5, 1] = np.nan
        make_track(keypoints_m=bad)
    with pytest.raises(ArtifactError, match='increasing'):
        make_track(times=np.array([0, 1, 1, 2.0]))
    with pytest.raises(ArtifactError, match='confidence'):
        make_track(confidence=np.full(4, 1.5))


def test_observation_checks_depth_and_intrinsics():
    rgb = np.zeros((48, 64, 3), np.uint8)
    k = CameraIntrinsics.from_fov(64, 48, 60.0)
    assert k.assumed and k.fx == pytest.approx(32 / np.tan(np.radians(30)))
    Observation(rgb, depth=np.full((48, 64), np.nan, np.float32), intrinsics=k)
    with pytest.raises(ArtifactError, match='does not match'):
        Observation(rgb, depth=np.zeros((10, 10), np.float32))
    with pytest.raises(ArtifactError, match='negative depth'):
        Observation(rgb, depth=-np.ones((48, 64), np.float32))
    with pytest.raises(ArtifactError, match='intrinsics are for'):
        Observation(rgb, intrinsics=CameraIntrinsics.from_fov(640, 480, 60.0))


def test_intrinsics_projection():
    k = CameraIntrinsics(500.0, 500.0, 320.0, 240.0, 640, 480)
    np.testing.assert_allclose(k.project([[0.1, -0.2, 2.0]]), [[345.0, 190.0]])
    with pytest.raises(ArtifactError, match='fx'):
        CameraIntrinsics(0.0, 500.0, 320.0, 240.0, 640, 480)


def test_plan_request_and_joint_trajectory():
    assert PlanRequest(('  open the drawer ',)).prompts == ('open the drawer',)
    with pytest.raises(ArtifactError, match='non-empty'):
        PlanRequest(('ok', ' '))
    with pytest.raises(ArtifactError, match='repeat'):
        JointTrajectory(np.array([0.0]), ('a', 'a'), np.zeros((1, 2)))
