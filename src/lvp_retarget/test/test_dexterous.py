"""Dexterous retargeting on synthetic hands with known poses."""

from pathlib import Path

import numpy as np
import pytest
from lvp_common.artifacts import Handedness, HandTrack, WristTrajectory
from lvp_retarget.dexterous import (
    DexterousRetargetConfig,
    DexterousRetargeter,
    RetargetError,
    RetargetingMethod,
    keypoints_to_operator_frame,
    retarget_hand_track,
    retarget_wrist_trajectory,
)
from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS, inspire_joints

ACTUATORS = ('little', 'ring', 'middle', 'index', 'thumb_bend', 'thumb_rotation')
MODEL_LIMITS = {j.name: (j.lower, j.upper) for j in inspire_joints('right')}
"""The hand model's joint limits (rad): what retargeting can reach."""
FINGER_AT_MODEL_LIMIT = (INSPIRE_ACTUATORS[0].closed_position
                         - MODEL_LIMITS['pinky_proximal_joint'][1]) / (
    INSPIRE_ACTUATORS[0].closed_position - INSPIRE_ACTUATORS[0].open_position)
"""The command of a finger bent to the model's limit (Unitree's calibration closes at 1.7 rad,
the model stops at 1.47 rad: 0.135)."""


@pytest.fixture(scope='module', params=[(m, s) for m in RetargetingMethod for s in Handedness],
                ids=lambda p: f'{p[0].value}-{p[1].value}')
def retargeter(request) -> DexterousRetargeter:
    method, side = request.param
    return DexterousRetargeter(side, DexterousRetargetConfig(method=method))


def _command(retargeter: DexterousRetargeter, keypoints: np.ndarray) -> np.ndarray:
    times = np.arange(4) / 16.0
    frames = np.repeat(keypoints[None], 4, axis=0)
    return retargeter.retarget_sequence(times, frames).normalized[-1]


def _pose(hand_model, pose, side: Handedness, seed: int = 3) -> np.ndarray:
    # Any rigid rotation of the input (camera-aligned or wrist frame) gives the same result.
    return hand_model.hand_keypoints(pose, left=side is Handedness.LEFT) @ \
        hand_model.random_rotation(np.random.default_rng(seed)).T


def test_actuator_order_is_the_inspire_register_order(retargeter: DexterousRetargeter) -> None:
    assert retargeter.actuator_names == ACTUATORS


def test_open_hand_commands_open(retargeter: DexterousRetargeter, hand_model) -> None:
    command = _command(retargeter, _pose(hand_model, hand_model.open_hand(), retargeter.side))
    assert np.all(command > 0.85), command


def test_fist_commands_closed(retargeter: DexterousRetargeter, hand_model) -> None:
    command = _command(retargeter, _pose(hand_model, hand_model.fist(), retargeter.side))
    assert np.all(command[:4] < FINGER_AT_MODEL_LIMIT + 0.05), command
    assert command[5] < 0.3, command
    # The RH56 thumb tip cannot reach a human fist's thumb position; it bends partly.
    assert command[4] < 0.9, command
    assert command.mean() < 0.25


def test_pinch_closes_thumb_and_index_only(retargeter: DexterousRetargeter, hand_model) -> None:
    command = _command(retargeter, _pose(hand_model, hand_model.pinch(), retargeter.side))
    assert np.all(command[:3] > 0.9), command
    assert command[3] < 0.6, command
    assert command[5] < 0.3 and command[4] < 0.8, command


def test_commands_stay_within_joint_limits(retargeter: DexterousRetargeter, hand_model) -> None:
    rng = np.random.default_rng(0)
    frames = np.stack([_pose(hand_model, hand_model.half_closed(f), retargeter.side, seed=i)
                       + rng.normal(scale=0.004, size=(21, 3))
                       for i, f in enumerate(rng.uniform(-0.2, 1.2, size=12))])
    commands = retargeter.retarget_sequence(np.arange(12) / 16.0, frames)
    for name, (low, high) in ((a.joint, MODEL_LIMITS[a.joint]) for a in INSPIRE_ACTUATORS):
        column = commands.joint_positions[:, commands.joint_names.index(name)]
        assert np.all(column >= low - 1e-9) and np.all(column <= high + 1e-9), name
    assert np.all((commands.normalized >= 0.0) & (commands.normalized <= 1.0))
    assert np.array_equal(commands.native, np.rint(commands.normalized * 1000).astype(np.int32))


def test_smooth_input_gives_smooth_commands(retargeter: DexterousRetargeter, hand_model) -> None:
    fractions = np.concatenate([np.linspace(0.0, 1.0, 30), np.linspace(1.0, 0.0, 30)])
    frames = np.stack([_pose(hand_model, hand_model.half_closed(f), retargeter.side)
                       for f in fractions])
    commands = retargeter.retarget_sequence(np.arange(len(frames)) / 16.0, frames)
    steps = np.abs(np.diff(commands.normalized, axis=0))
    assert steps.max() < 0.2, steps.max()
    # 16 fps at 4 rad/s: at most 0.25 rad (0.19 of the thumb rotation's range) per frame.
    # The mean command follows the hand: open -> closed -> open.
    mean = commands.normalized.mean(axis=1)
    assert mean[0] > 0.85 and mean[29] < 0.3 and mean[-1] > 0.85
    assert np.corrcoef(mean, 1.0 - fractions)[0, 1] > 0.9


def test_operator_frame_is_rotation_invariant(hand_model) -> None:
    kp = hand_model.hand_keypoints(hand_model.pinch())
    rotation = hand_model.random_rotation(np.random.default_rng(5))
    rotated = kp @ rotation.T + np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(keypoints_to_operator_frame(kp, 'right'),
                               keypoints_to_operator_frame(rotated, 'right'), atol=1e-9)
    operator = keypoints_to_operator_frame(kp, 'right')
    assert operator[9, 2] > 0.08  # z: wrist -> middle knuckle
    assert operator[5, 1] > operator[17, 1]  # y: towards the index finger


def test_hand_track_and_wrist_trajectory_entry_points(hand_model) -> None:
    n = 5
    fractions = np.linspace(0.0, 1.0, n)
    kp = np.stack([hand_model.hand_keypoints(hand_model.half_closed(f)) for f in fractions])
    times = np.arange(n) / 16.0
    track = HandTrack(times=times, keypoints_px=np.zeros((n, 21, 2)), keypoints_m=kp,
                      wrist_quaternions=np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)),
                      confidence=np.ones(n), detected=np.ones(n, dtype=bool),
                      handedness=Handedness.RIGHT, image_size=(832, 480))
    from_track = retarget_hand_track(track)
    trajectory = WristTrajectory(times=times, positions=np.zeros((n, 3)),
                                 quaternions=np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)),
                                 frame_id='base_link', finger_keypoints=kp)
    from_trajectory = retarget_wrist_trajectory(trajectory, 'right')
    np.testing.assert_allclose(from_track.normalized, from_trajectory.normalized, atol=1e-6)
    assert from_track.normalized.shape == (n, 6)
    with pytest.raises(RetargetError, match='finger_keypoints'):
        retarget_wrist_trajectory(WristTrajectory(times=times, positions=np.zeros((n, 3)),
                                                  quaternions=np.tile([0, 0, 0, 1.0], (n, 1)),
                                                  frame_id='base_link'), 'right')


def test_another_urdf_can_be_used(shared_data: Path, hand_model) -> None:
    reference = shared_data / 'robots' / 'inspire_hand' / 'inspire_hand_right.urdf'
    retargeter = DexterousRetargeter(Handedness.RIGHT,
                                     DexterousRetargetConfig(urdf_path=str(reference)))
    assert _command(retargeter, hand_model.hand_keypoints(hand_model.fist()))[:4].max() < (
        FINGER_AT_MODEL_LIMIT + 0.05)


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(RetargetError, match='not found'):
        DexterousRetargeter(Handedness.RIGHT, DexterousRetargetConfig(urdf_path='/nope.urdf'))
    with pytest.raises(RetargetError, match='low_pass_alpha'):
        DexterousRetargetConfig(low_pass_alpha=0.0)
    with pytest.raises(RetargetError, match='tip_links'):
        DexterousRetargetConfig(tip_links=('thumb_tip',))
    retargeter = DexterousRetargeter(Handedness.RIGHT)
    with pytest.raises(RetargetError, match=r'\(4, 3\)'):
        retargeter.retarget_frame(np.zeros((4, 3)))
