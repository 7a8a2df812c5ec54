"""Hand identity comes from position and size, not from the backend's Left/Right label."""

import numpy as np
from lvp_common.artifacts import Handedness
from lvp_hand_tracking.association import associate_hands, select_acting_hand
from scipy.spatial.transform import Rotation


def _two_hands_passing(camera, num_frames=30):
    """A right hand moving right and a left hand moving left, passing close to each other.

    Labels are deliberately wrong on some frames, detection order is shuffled, and each hand
    is missed on a few frames. Returns per-frame detections and the truth id of each.
    """
    rng = np.random.default_rng(7)
    frames, truth = [], []
    for k in range(num_frames):
        s = k / (num_frames - 1)
        right = camera.detection(Rotation.from_euler('z', 180 + 20 * s, degrees=True),
                                 [-0.12 + 0.24 * s, 0.02, 0.5], Handedness.RIGHT,
                                 label=Handedness.LEFT if k % 4 == 0 else Handedness.RIGHT)
        left = camera.detection(Rotation.from_euler('z', 180 - 20 * s, degrees=True),
                                [0.12 - 0.24 * s, -0.06, 0.55], Handedness.LEFT,
                                label=Handedness.RIGHT, score=0.8)
        hands = [(right, 'right'), (left, 'left')]
        if k in (5, 6):
            hands = hands[1:]
        if k in (15, 22):
            hands = hands[:1]
        order = rng.permutation(len(hands))
        frames.append([hands[i][0] for i in order])
        truth.append([hands[i][1] for i in order])
    return frames, truth


def test_two_passing_hands_keep_their_identity(camera):
    frames, truth = _two_hands_passing(camera)
    tracklets = associate_hands(frames)
    assert len(tracklets) == 2, 'one tracklet per hand, none broken or merged'
    for tracklet in tracklets:
        ids = {truth[f][[d is x for x in frames[f]].index(True)]
               for f, d in zip(tracklet.frames, tracklet.detections)}
        assert len(ids) == 1, f'tracklet {tracklet.track_id} swapped hands: {ids}'
    acting = select_acting_hand(tracklets)
    assert acting is not None and acting.num_frames == 28
    assert {truth[f][[d is x for x in frames[f]].index(True)]
            for f, d in zip(acting.frames, acting.detections)} == {'right'}


def test_a_far_jump_starts_a_new_tracklet(camera):
    near = camera.detection(Rotation.identity(), [-0.15, 0.0, 0.5])
    far = camera.detection(Rotation.identity(), [0.15, 0.0, 0.5])
    tracklets = associate_hands([[near], [near], [far], [far]])
    assert [t.frames for t in tracklets] == [[0, 1], [2, 3]]


def test_a_much_smaller_hand_is_not_the_same_hand(camera):
    big = camera.detection(Rotation.identity(), [0.0, 0.0, 0.4])
    small = camera.detection(Rotation.identity(), [0.0, 0.0, 1.0])
    tracklets = associate_hands([[big], [small]])
    assert len(tracklets) == 2


def test_no_detections_give_no_acting_hand():
    assert select_acting_hand(associate_hands([[], []])) is None


def test_a_hand_reported_twice_in_a_frame_is_one_hand(camera):
    """MediaPipe's duplicates (cup.mp4: 0.13-0.16 hand sizes apart) do not make a second hand."""
    frames = []
    for k in range(6):
        hand = camera.detection(Rotation.identity(), [0.01 * k, 0.0, 0.5])
        twin = camera.detection(Rotation.from_euler('z', 4, degrees=True),
                                [0.01 * k + 0.004, 0.003, 0.5], score=0.7)
        frames.append([twin, hand] if k == 3 else [hand])
    tracklets = associate_hands(frames)
    assert len(tracklets) == 1 and tracklets[0].num_frames == 6
    assert tracklets[0].detections[3].score == 0.9  # the better-scored copy is kept


def test_one_hand_back_after_a_long_absence_is_one_tracklet(camera):
    """box.mp4: the hand leaves for 94 frames and comes back elsewhere: still one hand."""
    there = camera.detection(Rotation.identity(), [-0.1, 0.0, 0.5])
    back = camera.detection(Rotation.identity(), [0.1, 0.05, 0.5])
    frames = [[there]] * 5 + [[]] * 40 + [[back]] * 5
    tracklets = associate_hands(frames)
    assert len(tracklets) == 1 and tracklets[0].frames == [*range(5), *range(45, 50)]
    other_side = camera.detection(Rotation.identity(), [0.1, 0.05, 0.5], Handedness.LEFT)
    two = associate_hands([[there]] * 5 + [[]] * 40 + [[other_side]] * 5)
    assert len(two) == 2, 'a hand with the other label is another hand'
