"""MediaPipe on the shared photos: every clearly visible hand found, with the right hand.

Truth, read off the photos by eye: `man_crossed_hands.jpg` shows the man's right hand (arm
from the image's left, wrist near (355, 380)) and his left hand (arm from the right, wrist near
(545, 400)), crossed. `two_people_gesture.jpg` shows the woman's right hand making the OK sign
(wrist near (335, 335)) and the girl's right hand giving a thumbs-up (thumb tip near
(445, 295)); the woman's resting left hand and the girl's half-hidden left hand are not
clearly visible and are not required.
"""

import cv2
import numpy as np
import pytest
from lvp_common.artifacts import Handedness
from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend


@pytest.fixture(scope='module')
def detect(hand_model_path):
    # IMAGE mode: single photos, and VIDEO mode's region tracking keeps one of two crossed hands.
    backend = MediaPipeHandBackend(MediaPipeConfig(model_path=str(hand_model_path),
                                                   num_hands=4, running_mode='image'))

    def run(path, mirrored=False):
        backend.config = MediaPipeConfig(model_path=str(hand_model_path), num_hands=4,
                                         running_mode='image',
                                         labels_assume_mirrored_input=mirrored)
        bgr = cv2.imread(str(path))
        assert bgr is not None, f'cannot read {path}'
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        backend.start_clip()
        return backend.detect(rgb, 0.0)

    yield run
    backend.close()


def _near(detections, point, radius):
    return [d for d in detections
            if np.min(np.linalg.norm(d.keypoints_px - np.asarray(point), axis=1)) < radius]


def test_crossed_hands_both_found_with_true_handedness(detect, shared_data):
    hands = detect(shared_data / 'hand_images' / 'man_crossed_hands.jpg')
    assert len(hands) == 2, f'expected the two crossed hands, got {len(hands)}'
    right = [d for d in hands if np.linalg.norm(d.keypoints_px[0] - [355, 380]) < 60]
    left = [d for d in hands if np.linalg.norm(d.keypoints_px[0] - [545, 400]) < 60]
    assert len(right) == 1 and right[0].label is Handedness.RIGHT
    assert len(left) == 1 and left[0].label is Handedness.LEFT


def test_two_people_gesturing_hands_found_with_true_handedness(detect, shared_data):
    hands = detect(shared_data / 'hand_images' / 'two_people_gesture.jpg')
    ok_sign = [d for d in hands if np.linalg.norm(d.keypoints_px[0] - [335, 335]) < 50]
    thumbs_up = _near(hands, [445, 295], 30)
    assert len(ok_sign) == 1 and ok_sign[0].label is Handedness.RIGHT
    assert len(thumbs_up) == 1 and thumbs_up[0].label is Handedness.RIGHT
    assert all(d.score > 0.5 for d in hands)


def test_mirrored_label_option_swaps_labels(detect, shared_data):
    hands = detect(shared_data / 'hand_images' / 'man_crossed_hands.jpg', mirrored=True)
    right_arm = [d for d in hands if np.linalg.norm(d.keypoints_px[0] - [355, 380]) < 60]
    assert len(right_arm) == 1 and right_arm[0].label is Handedness.LEFT


def test_metric_keypoints_have_camera_aligned_axes(detect, shared_data):
    """MediaPipe's world landmarks: x right, y down like the image (checked on 4 hands)."""
    hands = (detect(shared_data / 'hand_images' / 'man_crossed_hands.jpg')
             + detect(shared_data / 'hand_images' / 'two_people_gesture.jpg'))
    assert len(hands) >= 4
    for d in hands:
        for a, b in ((0, 9), (5, 17), (0, 12)):
            d2 = d.keypoints_px[b] - d.keypoints_px[a]
            d3 = d.keypoints_m[b, :2] - d.keypoints_m[a, :2]
            cos = d2 @ d3 / (np.linalg.norm(d2) * np.linalg.norm(d3))
            assert cos > 0.8, f'2D and metric directions {a}->{b} disagree (cos {cos:.2f})'
