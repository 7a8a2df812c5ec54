"""build_track on synthetic detections: gap filling, long gaps, rejection, handedness."""

import numpy as np
import pytest
from lvp_common.artifacts import Handedness
from lvp_common.geometry import rotation_angle_between
from lvp_common.hand_frame import hand_frame_quaternions
from lvp_hand_tracking.tracker import (
    HandednessUnknownError,
    LongGapError,
    NoHandFoundError,
    TrackerConfig,
    WantedHandMissingError,
    build_track,
)
from scipy.spatial.transform import Rotation

FPS = 16.0


def _moving_hand(camera, num_frames, missing=(), labels=None, handedness=Handedness.RIGHT):
    """One hand translating and turning steadily; `missing` frames have no detection."""
    frames, truth = [], []
    for k in range(num_frames):
        s = k / (num_frames - 1)
        rot = Rotation.from_euler('zy', [180 + 40 * s, 30 * s], degrees=True)
        label = labels[k] if labels is not None else handedness
        det = camera.detection(rot, [-0.1 + 0.2 * s, 0.05 * s, 0.5], handedness, label=label)
        truth.append(det)
        frames.append([] if k in missing else [det])
    return frames, truth, np.arange(num_frames) / FPS


def test_full_clip_is_one_detected_segment(camera):
    frames, truth, times = _moving_hand(camera, 20)
    result = build_track(frames, times, (camera.width, camera.height))
    track = result.track
    assert track.num_frames == 20 and track.detected.all() and result.gaps == ()
    assert result.detected_fraction == 1.0 and result.num_hands_seen == 1
    assert np.allclose(track.keypoints_px, [d.keypoints_px for d in truth])
    # keypoints_m: hand-centred at the wrist, camera-aligned (same as the detection's axes).
    assert np.allclose(track.keypoints_m[:, 0], 0.0)
    expected = [d.keypoints_m - d.keypoints_m[0] for d in truth]
    assert np.allclose(track.keypoints_m, expected)
    assert track.handedness is Handedness.RIGHT and result.handedness_source == 'majority_vote'


def test_short_gap_is_interpolated_and_marked(camera):
    frames, truth, times = _moving_hand(camera, 30, missing={10, 11, 12})
    result = build_track(frames, times, (camera.width, camera.height),
                         TrackerConfig(max_gap_frames=3))
    track = result.track
    assert track.num_frames == 30 and len(result.segments) == 1
    assert list(np.flatnonzero(~track.detected)) == [10, 11, 12]
    assert np.all(track.confidence[10:13] == 0.0) and np.all(track.confidence[:10] > 0.0)
    assert [(g.start_frame, g.end_frame, g.filled) for g in result.gaps] == [(10, 13, True)]
    # Slow, smooth motion: interpolation lands within a few pixels and degrees of the truth.
    err_px = np.linalg.norm(track.keypoints_px[10:13] - [d.keypoints_px for d in truth[10:13]],
                            axis=2)
    assert err_px.max() < 3.0
    truth_q = hand_frame_quaternions(
        np.stack([d.keypoints_m for d in truth[10:13]]), Handedness.RIGHT)
    assert np.degrees(rotation_angle_between(track.wrist_quaternions[10:13], truth_q)).max() < 2


def test_long_gap_is_reported_never_filled(camera):
    missing = set(range(12, 20))
    frames, _, times = _moving_hand(camera, 40, missing=missing)
    result = build_track(frames, times, (camera.width, camera.height),
                         TrackerConfig(max_gap_frames=3))
    assert [(g.start_frame, g.end_frame, g.filled) for g in result.gaps] == [(12, 20, False)]
    assert [list(f[[0, -1]]) for f in result.frame_indices] == [[0, 11], [20, 39]]
    for segment, indices in zip(result.segments, result.frame_indices):
        assert not missing & set(indices.tolist()), 'a long gap frame was invented'
        assert segment.detected.all()
    assert result.track is result.segments[1]  # the longer one
    assert np.allclose(result.track.times, np.arange(20, 40) / FPS)
    with pytest.raises(LongGapError, match='missing for 8 frames'):
        build_track(frames, times, (camera.width, camera.height),
                    TrackerConfig(max_gap_frames=3, long_gap_policy='error'))


def test_missing_ends_are_trimmed_not_extrapolated(camera):
    frames, _, times = _moving_hand(camera, 20, missing={0, 1, 18, 19})
    result = build_track(frames, times, (camera.width, camera.height))
    assert list(result.track_frame_indices[[0, -1]]) == [2, 17]
    assert result.track.times[0] == pytest.approx(2 / FPS)
    assert [(g.start_frame, g.end_frame, g.filled) for g in result.gaps] == [
        (0, 2, False), (18, 20, False)]


def test_clip_without_enough_hand_is_rejected_with_the_count(camera):
    frames, _, times = _moving_hand(camera, 10, missing=set(range(3, 10)))
    with pytest.raises(NoHandFoundError, match='found in 3 of 10 frames') as info:
        build_track(frames, times, (camera.width, camera.height))
    assert info.value.frames_with_hand == 3 and info.value.num_frames == 10
    with pytest.raises(NoHandFoundError, match='found in 0 of 4 frames'):
        build_track([[], [], [], []], np.arange(4) / FPS, (832, 480))


def test_handedness_is_a_stable_majority_selected_never_relabelled(camera):
    labels = [Handedness.LEFT if k % 3 == 0 else Handedness.RIGHT for k in range(12)]
    frames, _, times = _moving_hand(camera, 12, labels=labels)
    size = (camera.width, camera.height)
    result = build_track(frames, times, size)
    assert result.track.handedness is Handedness.RIGHT
    assert result.handedness_votes['right'] > result.handedness_votes['left'] > 0
    by_arg = build_track(frames, times, size, handedness='right')
    assert by_arg.track.handedness is Handedness.RIGHT and by_arg.handedness_source == 'argument'
    # asking for the hand that is not there is refused, not a relabelled right hand
    with pytest.raises(WantedHandMissingError, match=r'no left hand in the clip \(seen: right '
                       r'hand in 12 frames\)'):
        build_track(frames, times, size, handedness='left')
    by_meta = build_track(frames, times, size, metadata={'handedness': 'Left'})
    assert by_meta.handedness_source == 'metadata'
    with pytest.raises(HandednessUnknownError, match="'both'"):
        build_track(frames, times, size, metadata={'handedness': 'both'})


def test_left_hand_palm_normal_follows_the_hand(camera):
    frames, truth, times = _moving_hand(camera, 6, handedness=Handedness.LEFT)
    track = build_track(frames, times, (camera.width, camera.height)).track
    assert track.handedness is Handedness.LEFT
    z_axes = Rotation.from_quat(track.wrist_quaternions).as_matrix()[:, :, 2]
    thumb_base = np.stack([d.keypoints_m[1] - d.keypoints_m[0] for d in truth])
    assert np.all(np.sum(z_axes * thumb_base, axis=1) > 0.0)  # thumb base on the palm side


def test_times_must_match_frames(camera):
    frames, _, _ = _moving_hand(camera, 5)
    with pytest.raises(ValueError, match='expected 5 timestamps'):
        build_track(frames, np.arange(4) / FPS, (832, 480))


def _two_hands(camera, num_frames, right_labels=None, left_labels=None):
    """A right hand on the image's left half and a left hand on its right half, both moving."""
    frames = []
    for k in range(num_frames):
        s = k / (num_frames - 1)
        right = camera.detection(Rotation.from_euler('z', 180, degrees=True),
                                 [-0.15, 0.02 * s, 0.5], Handedness.RIGHT,
                                 label=None if right_labels is None else right_labels[k])
        left = camera.detection(Rotation.from_euler('z', 180, degrees=True),
                                [0.15, -0.02 * s, 0.5], Handedness.LEFT,
                                label=None if left_labels is None else left_labels[k],
                                score=0.8)
        frames.append([right, left])
    return frames, np.arange(num_frames) / FPS


@pytest.mark.parametrize('wanted', ['left', 'right'])
def test_handedness_selects_that_hand_of_two(camera, wanted):
    frames, times = _two_hands(camera, 10)
    result = build_track(frames, times, (camera.width, camera.height), handedness=wanted)
    wrist_x = result.track.keypoints_px[:, 0, 0]
    # the right hand is on the image's left half here
    assert np.all(wrist_x < 416) if wanted == 'right' else np.all(wrist_x > 416)
    assert result.track.handedness.value == wanted and result.num_hands_seen == 2


def test_a_hand_with_wrong_labels_is_placed_by_its_partner(camera):
    """Both hands labelled 'right' half the time: the confident right hand makes the other the
    left one (two hands in one view are one of each)."""
    mixed = [Handedness.RIGHT if k % 2 else Handedness.LEFT for k in range(10)]
    frames, times = _two_hands(camera, 10, left_labels=mixed)
    left = build_track(frames, times, (camera.width, camera.height), handedness='left')
    assert np.all(left.track.keypoints_px[:, 0, 0] > 416)
