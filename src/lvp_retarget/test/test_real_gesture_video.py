"""Retargeted commands follow the real human hand of the shared gesture video."""

from pathlib import Path

import numpy as np
import pytest
from lvp_retarget.dexterous import DexterousRetargetConfig, DexterousRetargeter, RetargetingMethod
from lvp_retarget.gripper import retarget_gripper

FINGERTIPS = [4, 8, 12, 16, 20]


@pytest.fixture(scope='module')
def gesture_track(shared_data: Path):
    tracker_module = pytest.importorskip('lvp_hand_tracking.tracker')
    model_assets = pytest.importorskip('lvp_hand_tracking.model_assets')
    try:
        model_assets.ensure_hand_landmarker_task()
    except model_assets.ModelAssetError as exc:
        pytest.skip(f'MediaPipe hand model unavailable: {exc}')
    video = shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4'
    with tracker_module.HandTracker() as tracker:
        return tracker.track_video(video, handedness='right', stride=3).track


@pytest.mark.slow
@pytest.mark.parametrize('method', list(RetargetingMethod))
def test_commands_follow_the_hand_opening(gesture_track, method: RetargetingMethod) -> None:
    kp = gesture_track.keypoints_m
    opening = np.linalg.norm(kp[:, FINGERTIPS] - kp[:, :1], axis=2).mean(axis=1) / \
        np.linalg.norm(kp[:, 9] - kp[:, 0], axis=1)
    retargeter = DexterousRetargeter(gesture_track.handedness,
                                     DexterousRetargetConfig(method=method))
    commands = retargeter.retarget_sequence(gesture_track.times, kp)
    mean_command = commands.normalized.mean(axis=1)
    assert np.corrcoef(opening, mean_command)[0, 1] > 0.7
    assert mean_command.max() - mean_command.min() > 0.5


@pytest.mark.slow
def test_gripper_closes_when_the_hand_pinches(gesture_track) -> None:
    result = retarget_gripper(gesture_track.times, gesture_track.keypoints_m)
    assert result.events and result.close_time is not None
    actions = [e.action.value for e in result.events]
    assert all(a != b for a, b in zip(actions, actions[1:]))  # strictly alternating
