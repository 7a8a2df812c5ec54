# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""The procedural hand: proportions, flexion direction, mirroring."""

import mujoco
import numpy as np
import pytest
from lvp_common.artifacts import HAND_KEYPOINT_NAMES, Handedness
from lvp_common.geometry import Pose
from lvp_sim.hand_model import (
    JOINT_NAMES,
    HandConfig,
    HandModelError,
    HandRig,
    HandState,
    hand_pose,
)
from lvp_sim.world import WorldConfig, build_world


def _keypoints_in_hand_frame(side: Handedness, pose: np.ndarray) -> np.ndarray:
    world = build_world(WorldConfig(), hand=HandConfig(side=side))
    rig = HandRig(world.model, world.data)
    rig.set_state(HandState(Pose.identity(), pose))
    mujoco.mj_kinematics(world.model, world.data)
    return rig.keypoints()


def _index(name: str) -> int:
    return HAND_KEYPOINT_NAMES.index(name)


def test_flat_hand_has_the_measured_proportions():
    kp = _keypoints_in_hand_frame(Handedness.RIGHT, np.zeros(len(JOINT_NAMES)))
    assert kp[_index('wrist')] == pytest.approx(np.zeros(3))
    assert kp[_index('middle_mcp')] == pytest.approx([0.0095, 0.09, 0.0], abs=1e-6)
    assert kp[_index('index_mcp')] == pytest.approx([0.0275, 0.086, 0.0], abs=1e-6)
    assert kp[_index('thumb_cmc')] == pytest.approx([0.021, 0.023, 0.009], abs=1e-6)
    length = np.linalg.norm(kp[_index('middle_tip')] - kp[_index('wrist')])
    assert 0.175 < length < 0.185
    middle = [np.linalg.norm(kp[_index(b)] - kp[_index(a)]) for a, b in
              (('middle_mcp', 'middle_pip'), ('middle_pip', 'middle_dip'))]
    assert middle == pytest.approx([0.045, 0.028], abs=1e-6)


def test_fingers_flex_towards_the_palm_normal():
    flat = _keypoints_in_hand_frame(Handedness.RIGHT, np.zeros(len(JOINT_NAMES)))
    fist = _keypoints_in_hand_frame(Handedness.RIGHT, hand_pose('power'))
    for finger in ('index', 'middle', 'ring', 'little'):
        tip = _index(f'{finger}_tip')
        assert fist[tip, 2] > flat[tip, 2] + 0.03
        assert fist[tip, 1] < flat[tip, 1] - 0.03
    # the thumb moves across the palm, towards the fingers
    thumb = _index('thumb_tip')
    assert fist[thumb, 0] < flat[thumb, 0]


def test_left_hand_is_the_mirror_image():
    pose = hand_pose('pinch')
    right = _keypoints_in_hand_frame(Handedness.RIGHT, pose)
    left = _keypoints_in_hand_frame(Handedness.LEFT, pose)
    assert left == pytest.approx(right * np.array([-1.0, 1.0, 1.0]), abs=1e-6)


def test_bad_poses_and_configs_raise():
    with pytest.raises(HandModelError, match='unknown hand pose'):
        hand_pose('jazz_hands')
    with pytest.raises(HandModelError, match='joint_angles'):
        HandState(Pose.identity(), np.zeros(3))
    with pytest.raises(HandModelError, match='scale'):
        HandConfig(scale=3.0)
