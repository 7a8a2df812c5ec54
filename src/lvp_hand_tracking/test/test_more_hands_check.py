"""VIDEO mode tracks one hand and looks for more every few frames: same keypoints, hands found.

Real frames: the shared gesture clip (one hand) and the two-people photo (two hands), with
MediaPipe's landmarker.
"""

import cv2
import numpy as np
import pytest
from lvp_common.video_io import read_video
from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend


def _detect(frames: np.ndarray, model: str, stride: int) -> list:
    with MediaPipeHandBackend(MediaPipeConfig(model_path=model,
                                              more_hands_check_stride=stride)) as backend:
        backend.start_clip()
        return [backend.detect(frame, k / 16.0) for k, frame in enumerate(frames)]


@pytest.fixture(scope='module')
def two_people(shared_data):
    bgr = cv2.imread(str(shared_data / 'hand_images' / 'two_people_gesture.jpg'))
    assert bgr is not None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_a_one_hand_clip_gives_the_same_keypoints(shared_data, hand_model_path):
    frames = read_video(shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4', fps=16.0,
                        size=(832, 480), start_s=3.0, duration_s=1.0, fit='letterbox').frames
    one = _detect(frames, str(hand_model_path), 8)
    every = _detect(frames, str(hand_model_path), 0)
    assert [len(d) for d in one] == [1] * len(frames)
    for a, b in zip(one, every):
        assert len(b) == 1 and np.array_equal(a[0].keypoints_px, b[0].keypoints_px)


def test_two_hands_from_the_first_frame_are_tracked_as_before(two_people, hand_model_path):
    frames = np.stack([two_people] * 6)
    checked = _detect(frames, str(hand_model_path), 8)
    every = _detect(frames, str(hand_model_path), 0)
    assert [len(d) for d in checked] == [len(d) for d in every] == [2] * 6
    for a, b in zip(checked, every):
        assert all(np.array_equal(x.keypoints_px, y.keypoints_px) for x, y in zip(a, b))


def test_a_second_hand_coming_in_is_tracked_from_the_next_check(two_people, hand_model_path):
    """Frames 0-4 hide the thumbs-up hand (x 389-481 px) and the woman's resting hand (bottom
    left), then the whole photo: tracking all hands from the start sees both from frame 5; the
    check at frame 4 finds one hand, the one at frame 8 both, tracked from then on."""
    covered = two_people.copy()
    covered[:, 384:] = 128
    covered[470:, :250] = 128
    frames = np.stack([covered] * 5 + [two_people] * 7)
    assert [len(d) for d in _detect(frames, str(hand_model_path), 0)] == [1] * 5 + [2] * 7
    assert [len(d) for d in _detect(frames, str(hand_model_path), 4)] == [1] * 8 + [2] * 4
