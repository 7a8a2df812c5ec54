"""Gripper retargeting: hysteresis, event timing and widths."""

import numpy as np
import pytest
from lvp_common.artifacts import GripperAction
from lvp_retarget.gripper import (
    GripperRetargetConfig,
    GripperRetargetError,
    gripper_states,
    hand_apertures,
    retarget_gripper,
)

RAW = GripperRetargetConfig(reference_palm_length=0.0)


def _keypoints_with_apertures(apertures: np.ndarray) -> np.ndarray:
    """Keypoints whose thumb-index tip distance is `apertures` (palm length 0.09 m)."""
    kp = np.zeros((len(apertures), 21, 3))
    kp[:, 9] = [0.0, 0.09, 0.0]
    kp[:, 8] = [0.02, 0.15, 0.0]
    kp[:, 4] = kp[:, 8] + np.stack([apertures, np.zeros_like(apertures),
                                    np.zeros_like(apertures)], axis=1)
    return kp


def test_noise_at_a_threshold_does_not_chatter() -> None:
    times = np.arange(200) / 30.0
    rng = np.random.default_rng(0)
    # Down to the close threshold, then noise of +-8 mm around it for 4 s, then fully open.
    aperture = np.concatenate([np.linspace(0.09, 0.035, 40),
                               0.035 + rng.uniform(-0.008, 0.008, 120), np.full(40, 0.09)])
    _, changes = gripper_states(times, aperture, RAW)
    actions = [closed for _, _, closed in changes]
    assert actions == [True, False]
    # And noise around the open threshold after closing.
    aperture = np.concatenate([np.full(40, 0.02), 0.055 + rng.uniform(-0.008, 0.008, 160)])
    _, changes = gripper_states(times, aperture, RAW)
    assert [closed for _, _, closed in changes] in ([True], [True, False])


def test_events_are_timed_at_the_threshold_crossings() -> None:
    times = np.arange(0, 3.0, 1.0 / 16.0)
    # Linear close from 0.08 m at 0.5 s to 0.01 m at 1.2 s, hold, reopen linearly 2.0 -> 2.5 s.
    aperture = np.interp(times, [0.0, 0.5, 1.2, 2.0, 2.5, 3.0],
                         [0.08, 0.08, 0.01, 0.01, 0.08, 0.08])
    result = retarget_gripper(times, _keypoints_with_apertures(aperture), RAW)
    assert [e.action for e in result.events] == [GripperAction.CLOSE, GripperAction.OPEN]
    close_expected = 0.5 + (0.08 - 0.035) / (0.07 / 0.7)
    open_expected = 2.0 + (0.055 - 0.01) / (0.07 / 0.5)
    assert result.events[0].time == pytest.approx(close_expected, abs=1e-9)
    assert result.events[1].time == pytest.approx(open_expected, abs=1e-9)
    assert result.close_time == result.events[0].time
    assert result.open_time == result.events[1].time
    assert result.events[0].width == 0.0
    assert result.events[1].width == pytest.approx(0.08)
    assert np.all((result.widths >= 0.0) & (result.widths <= 0.08))
    assert result.closed[times.searchsorted(1.5)] and not result.closed[-1]


def test_short_blips_are_ignored() -> None:
    times = np.arange(60) / 30.0
    aperture = np.full(60, 0.09)
    aperture[20:22] = 0.01  # a 2-frame mis-track
    aperture[22:24] = 0.09
    result = retarget_gripper(times, _keypoints_with_apertures(aperture),
                              GripperRetargetConfig(reference_palm_length=0.0,
                                                    min_state_duration=0.2))
    assert result.events == ()
    assert not result.closed.any()


def test_hand_size_normalisation() -> None:
    kp = _keypoints_with_apertures(np.array([0.04]))
    small = kp * 0.9  # MediaPipe's world landmarks come out ~5-10 % small
    np.testing.assert_allclose(hand_apertures(small), hand_apertures(kp))
    np.testing.assert_allclose(hand_apertures(kp, 0.0), [0.04])


def test_pinch_sequence_from_the_synthetic_hand(hand_model) -> None:
    open_kp = hand_model.hand_keypoints(hand_model.open_hand())
    pinch_kp = hand_model.hand_keypoints(hand_model.pinch())
    times = np.arange(48) / 16.0
    blend = np.interp(times, [0.0, 1.0, 1.5, 2.2, 3.0], [0.0, 1.0, 1.0, 0.0, 0.0])
    kp = (1 - blend)[:, None, None] * open_kp + blend[:, None, None] * pinch_kp
    result = retarget_gripper(times, kp)
    assert [e.action for e in result.events] == [GripperAction.CLOSE, GripperAction.OPEN]
    assert 0.4 < result.events[0].time < 1.0
    assert 1.5 < result.events[1].time < 2.2


def test_bad_input_is_rejected() -> None:
    with pytest.raises(GripperRetargetError, match='close_aperture'):
        GripperRetargetConfig(close_aperture=0.06, open_aperture=0.05)
    with pytest.raises(GripperRetargetError, match='close_width'):
        GripperRetargetConfig(close_width=0.1)
    with pytest.raises(GripperRetargetError, match=r'\(5, 3\)'):
        hand_apertures(np.zeros((5, 3)))


def test_release_is_the_opening_after_the_grasp_not_a_blip():
    from lvp_retarget.gripper import release_time

    t = np.arange(48) / 16.0
    aperture = np.full(48, 0.05)  # holding a 5 cm cube from t = 0.5 s
    aperture[:8] = 0.09
    aperture[20] = 0.08  # one mis-tracked frame: not a release
    aperture[36:] = np.linspace(0.05, 0.10, 12)  # lets go from 2.25 s
    released = release_time(t, aperture, after=0.6)
    # the grip is 5 cm; 1.5 cm wider is reached 30 % into the opening ramp
    assert released is not None and abs(released - (2.25 + 0.3 * 11 / 16)) < 1e-6
    kept = aperture.copy()
    kept[36:] = 0.05
    assert release_time(t, kept, after=0.6) is None


def test_continuous_width_is_the_aperture_less_the_finger_pads() -> None:
    # below the pad offset -> 0; in range -> aperture - 15 mm; past full opening -> 8 cm
    aperture = np.array([0.005, 0.015, 0.02, 0.05, 0.07, 0.095, 0.12])
    expected = np.array([0.0, 0.0, 0.005, 0.035, 0.055, 0.08, 0.08])
    times = np.arange(len(aperture)) / 16.0
    result = retarget_gripper(times, _keypoints_with_apertures(aperture), RAW)
    assert result.widths == pytest.approx(expected, abs=1e-12)
    assert result.apertures == pytest.approx(aperture, abs=1e-12)
    # a hand half the reference size: apertures (and widths) are those of the reference hand
    small = retarget_gripper(times, 0.5 * _keypoints_with_apertures(aperture),
                             GripperRetargetConfig())
    assert small.widths == pytest.approx(expected, abs=1e-12)
    offset = retarget_gripper(times, _keypoints_with_apertures(aperture),
                              GripperRetargetConfig(reference_palm_length=0.0,
                                                    finger_pad_offset=0.0, max_width=0.1))
    assert offset.widths == pytest.approx(np.minimum(aperture, 0.1), abs=1e-12)
