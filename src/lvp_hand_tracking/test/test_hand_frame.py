import numpy as np
import pytest
from lvp_common.artifacts import CameraIntrinsics, Handedness
from lvp_common.geometry import rotation_angle_between
from lvp_common.hand_frame import HandFrameError, hand_frame_quaternions, hand_frame_rotations
from lvp_hand_tracking.camera_axes import view_ray_rotations
from scipy.spatial.transform import Rotation


def test_template_frame_axes_mean_what_the_docs_say(hand_template):
    rot = hand_frame_rotations(hand_template, Handedness.RIGHT)
    x, y, z = rot.T
    assert np.allclose(rot.T @ rot, np.eye(3), atol=1e-9) and np.linalg.det(rot) > 0.999
    assert y[1] > 0.99  # wrist -> fingers
    assert x[0] > 0.99  # towards the thumb
    assert z[2] > 0.99  # out of the palm (the thumb base sits on the +z side)


@pytest.mark.parametrize('hand', [Handedness.RIGHT, Handedness.LEFT])
def test_recovers_a_known_rotation_for_either_hand(hand, hand_template):
    template = hand_template.copy()
    if hand is Handedness.LEFT:
        template[:, 0] *= -1.0  # a left hand is the mirror image
    base = Rotation.from_matrix(hand_frame_rotations(template, hand))
    truth = Rotation.from_quat(np.random.default_rng(3).normal(size=(20, 4)))
    keypoints = np.stack([r.apply(template) + [0.1, -0.2, 0.6] for r in truth])
    quats = hand_frame_quaternions(keypoints, hand)
    expected = (truth * base).as_quat()
    assert np.max(rotation_angle_between(quats, expected)) < 1e-6
    # Both hands: z is the palm normal (the thumb base is on the +z side) and y the fingers.
    rot = hand_frame_rotations(template, hand)
    assert (template[1] @ rot[:, 2]) > 0.0 and rot[1, 1] > 0.99


def test_left_hand_x_points_to_the_little_finger(hand_template):
    template = hand_template.copy()
    template[:, 0] *= -1.0
    rot = hand_frame_rotations(template, Handedness.LEFT)
    across = template[17] - template[5]  # index MCP -> little MCP
    assert rot[:, 0] @ across > 0.0


def test_degenerate_palm_names_the_frame(hand_template):
    keypoints = np.stack([hand_template] * 3)
    keypoints[2, 9] = keypoints[2, 0]
    with pytest.raises(HandFrameError, match='frame 2'):
        hand_frame_rotations(keypoints, Handedness.RIGHT)


def test_view_ray_rotation_turns_the_optical_axis_onto_the_pixel_ray():
    k = CameraIntrinsics(600.0, 600.0, 416.0, 240.0, 832, 480)
    rots = view_ray_rotations([[416.0, 240.0], [716.0, 90.0]], k)
    assert np.allclose(rots[0], np.eye(3))
    ray = np.array([300.0 / 600.0, -150.0 / 600.0, 1.0])
    assert np.allclose(rots[1] @ [0.0, 0.0, 1.0], ray / np.linalg.norm(ray))
