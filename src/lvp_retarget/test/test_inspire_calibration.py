"""The Inspire calibration (radians of each actuated joint <-> the [0, 1] command, 1 = open) is
Unitree's: unitreerobotics/xr_teleoperate, teleop/robot_control/robot_hand_inspire.py."""

import numpy as np
import pytest
from lvp_retarget.dexterous import normalize_actuators
from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS, INSPIRE_NATIVE_MAX

# xr_teleoperate: "idx 0~3: 0~1.7 (1.7 = closed), idx 4: 0~0.5, idx 5: -0.1~1.3", in the hand's
# actuator order pinky, ring, middle, index, thumb bend (pitch), thumb rotation (yaw)
UNITREE_RANGES = (
    ('little', 'pinky_proximal_joint', 0.0, 1.7),
    ('ring', 'ring_proximal_joint', 0.0, 1.7),
    ('middle', 'middle_proximal_joint', 0.0, 1.7),
    ('index', 'index_proximal_joint', 0.0, 1.7),
    ('thumb_bend', 'thumb_proximal_pitch_joint', 0.0, 0.5),
    ('thumb_rotation', 'thumb_proximal_yaw_joint', -0.1, 1.3),
)


def unitree_normalize(value, min_value, max_value):
    """xr_teleoperate's mapping, written from its description: (max - value) / range, clipped."""
    return np.clip((max_value - value) / (max_value - min_value), 0.0, 1.0)


def test_actuator_table_is_unitrees_calibration():
    assert [(a.name, a.joint, a.open_position, a.closed_position)
            for a in INSPIRE_ACTUATORS] == list(UNITREE_RANGES)
    assert INSPIRE_NATIVE_MAX == 1000


def test_commands_follow_unitrees_formula_and_direction():
    joints = [a.joint for a in INSPIRE_ACTUATORS]
    rng = np.random.default_rng(0)
    lows = np.array([r[2] for r in UNITREE_RANGES]) - 0.2
    highs = np.array([r[3] for r in UNITREE_RANGES]) + 0.2
    q = rng.uniform(lows, highs, size=(200, len(joints)))  # also beyond both ends
    normalized, native = normalize_actuators(q, joints, INSPIRE_ACTUATORS)
    expected = np.stack([unitree_normalize(q[:, i], lo, hi)
                         for i, (_, _, lo, hi) in enumerate(UNITREE_RANGES)], axis=1)
    np.testing.assert_allclose(normalized, expected, atol=1e-12)
    np.testing.assert_array_equal(native, np.rint(expected * 1000).astype(np.int32))


@pytest.mark.parametrize('joint, angle, command', [
    ('index_proximal_joint', 0.0, 1.0),           # straight finger: open
    ('index_proximal_joint', 1.7, 0.0),           # fully bent: closed
    ('index_proximal_joint', 1.47, 0.23 / 1.7),   # the model's own limit: not fully closed
    ('thumb_proximal_pitch_joint', 0.25, 0.5),
    ('thumb_proximal_yaw_joint', -0.1, 1.0),      # rotated away from the palm: open
    ('thumb_proximal_yaw_joint', 1.3, 0.0),       # in opposition: closed
])
def test_documented_angles_map_to_their_commands(joint, angle, command):
    joints = [a.joint for a in INSPIRE_ACTUATORS]
    q = np.array([[a.open_position for a in INSPIRE_ACTUATORS]])
    q[0, joints.index(joint)] = angle
    normalized, _ = normalize_actuators(q, joints, INSPIRE_ACTUATORS)
    assert normalized[0, joints.index(joint)] == pytest.approx(command, abs=1e-12)
