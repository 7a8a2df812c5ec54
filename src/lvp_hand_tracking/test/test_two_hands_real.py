"""Two real hands in every frame (the two-people photo, drifting): identities never swap."""

import cv2
import numpy as np
import pytest
from lvp_common.artifacts import Handedness
from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend
from lvp_hand_tracking.tracker import HandTracker


@pytest.fixture(scope='module')
def drifting_frames(shared_data):
    bgr = cv2.imread(str(shared_data / 'hand_images' / 'two_people_gesture.jpg'))
    assert bgr is not None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    h, w = rgb.shape[:2]
    frames = []
    for k in range(10):
        shift = np.array([[1, 0, 6 * k - 30], [0, 1, 3 * k - 15]], dtype=np.float32)
        frames.append(cv2.warpAffine(rgb, shift, (w, h), borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def test_both_hands_tracked_without_identity_swaps(drifting_frames, hand_model_path):
    backend = MediaPipeHandBackend(MediaPipeConfig(model_path=str(hand_model_path)))
    with HandTracker(backend=backend) as tracker:
        times = np.arange(len(drifting_frames)) / 16.0
        detections = tracker.detect(drifting_frames, times)
        result = tracker.track_frames(drifting_frames, times, (848, 565))
    from lvp_hand_tracking.association import associate_hands

    tracklets = associate_hands(detections)
    long = [t for t in tracklets if t.num_frames >= 8]
    assert len(long) == 2, [t.frames for t in tracklets]
    for tracklet in long:
        # The OK-sign hand's wrist sits left of x = 400 px, the thumbs-up hand's right of it.
        sides = {bool(d.keypoints_px[0, 0] < 400) for d in tracklet.detections}
        assert len(sides) == 1, f'tracklet {tracklet.track_id} jumps between the two hands'
    track = result.track
    assert result.num_hands_seen >= 2 and track.detected.mean() >= 0.8
    wrist_x = track.keypoints_px[track.detected, 0, 0]
    assert np.all(wrist_x < 400) or np.all(wrist_x > 400)
    assert track.handedness is Handedness.RIGHT


@pytest.mark.parametrize('wanted', ['left', 'right'])
def test_handedness_selects_each_real_hand_in_turn(two_hand_clip, hand_model_path, wanted):
    """The mirrored (left) hand is on the clip's left half, the right hand on its right half."""
    backend = MediaPipeHandBackend(MediaPipeConfig(model_path=str(hand_model_path)))
    with HandTracker(backend=backend) as tracker:
        result = tracker.track_video(two_hand_clip, handedness=wanted)
    track = result.track
    assert track.handedness.value == wanted and result.handedness_source == 'argument'
    assert result.num_hands_seen == 2 and track.detected.mean() >= 0.9
    wrist_x = track.keypoints_px[track.detected, 0, 0]
    assert np.all(wrist_x < 400) if wanted == 'left' else np.all(wrist_x > 880), wrist_x


def test_handedness_refuses_a_hand_that_is_not_there(shared_data, hand_model_path):
    from lvp_hand_tracking.tracker import WantedHandMissingError

    video = shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4'
    backend = MediaPipeHandBackend(MediaPipeConfig(model_path=str(hand_model_path)))
    with HandTracker(backend=backend) as tracker, pytest.raises(
            WantedHandMissingError, match=r'no left hand in the clip \(seen: right hand'):
        tracker.track_video(video, handedness='left', stride=30)
