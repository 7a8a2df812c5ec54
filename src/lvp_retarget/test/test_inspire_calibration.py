"""The Inspire calibration (radians of each actuated joint <-> the [0, 1] command, 1 = open)
follows Unitree's rule (unitreerobotics/xr_teleoperate, teleop/robot_control/
robot_hand_inspire.py): the command spans the actuated joint's range in the hand model, with
xr_teleoperate's formula and direction."""

import numpy as np
import pytest
from lvp_retarget.dexterous import normalize_actuators
from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS, INSPIRE_NATIVE_MAX, inspire_joints

# (actuator, joint, open = command 1, closed = command 0) in the order of rt/inspire/cmd
CALIBRATION = (
    ('little', 'pinky_proximal_joint', 0.0, 1.47),
    ('ring', 'ring_proximal_joint', 0.0, 1.47),
    ('middle', 'middle_proximal_joint', 0.0, 1.47),
    ('index', 'index_proximal_joint', 0.0, 1.47),
    ('thumb_bend', 'thumb_proximal_pitch_joint', 0.0, 0.6),
    ('thumb_rotation', 'thumb_proximal_yaw_joint', 0.0, 1.308),
)


def xr_teleoperate_normalize(value, min_value, max_value):
    """Unitree's mapping, written from its description: (max - value) / range, clipped."""
    return np.clip((max_value - value) / (max_value - min_value), 0.0, 1.0)


def test_calibration_table_is_pinned():
    assert [(a.name, a.joint, a.open_position, a.closed_position)
            for a in INSPIRE_ACTUATORS] == list(CALIBRATION)
    assert INSPIRE_NATIVE_MAX == 1000


@pytest.mark.parametrize('side', ['right', 'left'])
def test_each_command_spans_its_joints_range_in_the_model(side):
    limits = {j.name: (j.lower, j.upper) for j in inspire_joints(side)}
    for actuator in INSPIRE_ACTUATORS:
        assert (actuator.open_position, actuator.closed_position) == limits[actuator.joint]


def test_commands_follow_xr_teleoperates_formula_and_direction():
    joints = [a.joint for a in INSPIRE_ACTUATORS]
    lows = np.array([c[2] for c in CALIBRATION])
    highs = np.array([c[3] for c in CALIBRATION])
    q = np.random.default_rng(0).uniform(lows - 0.2, highs + 0.2, size=(200, len(joints)))
    normalized, native = normalize_actuators(q, joints, INSPIRE_ACTUATORS)
    expected = np.stack([xr_teleoperate_normalize(q[:, i], lo, hi)
                         for i, (_, _, lo, hi) in enumerate(CALIBRATION)], axis=1)
    np.testing.assert_allclose(normalized, expected, atol=1e-12)
    np.testing.assert_array_equal(native, np.rint(expected * 1000).astype(np.int32))


@pytest.mark.parametrize('joint, angle, command', [
    ('index_proximal_joint', 0.0, 1.0),           # straight finger: open
    ('index_proximal_joint', 1.47, 0.0),          # bent to the model's limit: closed
    ('index_proximal_joint', 0.735, 0.5),
    ('thumb_proximal_pitch_joint', 0.15, 0.75),
    ('thumb_proximal_yaw_joint', 0.0, 1.0),       # thumb beside the palm: open
    ('thumb_proximal_yaw_joint', 1.308, 0.0),     # in opposition: closed
])
def test_documented_angles_map_to_their_commands(joint, angle, command):
    joints = [a.joint for a in INSPIRE_ACTUATORS]
    q = np.array([[a.open_position for a in INSPIRE_ACTUATORS]])
    q[0, joints.index(joint)] = angle
    normalized, _ = normalize_actuators(q, joints, INSPIRE_ACTUATORS)
    assert normalized[0, joints.index(joint)] == pytest.approx(command, abs=1e-12)
