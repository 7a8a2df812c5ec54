"""Gripper retargeting: the human's thumb-index aperture -> parallel-gripper close/open events.

The aperture is the thumb-tip to index-tip distance (metres, frame-free). A hysteresis pair of
thresholds turns it into a closed/open state, so noise around one threshold cannot make the
gripper chatter; each state change becomes a `GripperEvent` timed on the plan's clock where the
aperture crosses the threshold (linear interpolation between frames). Widths are for the Franka
Hand (0 .. 0.08 m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lvp_common.artifacts import (
    NUM_HAND_KEYPOINTS,
    GripperAction,
    GripperEvent,
    HandTrack,
    WristTrajectory,
)

THUMB_TIP, INDEX_TIP = 4, 8
WRIST, MIDDLE_MCP = 0, 9
FRANKA_HAND_MAX_WIDTH = 0.08


class GripperRetargetError(ValueError):
    """Gripper retargeting input or configuration is unusable."""


@dataclass(frozen=True)
class GripperRetargetConfig:
    """Hysteresis thresholds and widths (metres, seconds).

    close_aperture / open_aperture: the hand counts as closed when the thumb-index distance drops
    below close_aperture and as open again only above open_aperture (> close_aperture).
    reference_palm_length: when > 0, apertures are rescaled to a hand whose wrist-to-middle-
    knuckle length is this (0.09 m, an adult hand), so the thresholds suit small or large hands
    and MediaPipe's slightly shrunk world landmarks; 0 = use raw distances.
    min_state_duration: a new state must hold this long (s) to count; shorter blips of
    mis-tracked frames are ignored.
    close_width: commanded width when closing (0 = close until contact, the Franka grasp).
    max_width: the gripper's full opening, commanded when opening and the clip for all widths.
    finger_pad_offset: subtracted from the aperture for the continuous width (fingertip
    keypoints sit inside the finger pads).
    """

    close_aperture: float = 0.035
    open_aperture: float = 0.055
    reference_palm_length: float = 0.09
    min_state_duration: float = 0.1
    close_width: float = 0.0
    max_width: float = FRANKA_HAND_MAX_WIDTH
    finger_pad_offset: float = 0.015

    def __post_init__(self) -> None:
        if not 0.0 < self.close_aperture < self.open_aperture:
            raise GripperRetargetError(
                f'need 0 < close_aperture < open_aperture, got {self.close_aperture} and '
                f'{self.open_aperture} m')
        if not 0.0 < self.max_width <= 0.5:
            raise GripperRetargetError(f'max_width must lie in (0, 0.5] m, got {self.max_width}')
        if not 0.0 <= self.close_width <= self.max_width:
            raise GripperRetargetError(
                f'close_width must lie in [0, {self.max_width}] m, got {self.close_width}')
        if self.min_state_duration < 0.0 or self.reference_palm_length < 0.0:
            raise GripperRetargetError('min_state_duration and reference_palm_length must be '
                                       f'>= 0, got {self.min_state_duration} and '
                                       f'{self.reference_palm_length}')


@dataclass(frozen=True)
class GripperRetargeting:
    """Per-frame apertures and widths (metres) and the close/open events."""

    times: np.ndarray
    apertures: np.ndarray
    widths: np.ndarray
    closed: np.ndarray
    events: tuple[GripperEvent, ...]

    @property
    def close_time(self) -> float | None:
        """Time of the first close event (s), or None."""
        return next((e.time for e in self.events if e.action is GripperAction.CLOSE), None)

    @property
    def open_time(self) -> float | None:
        """Time of the first open event after the first close (s), or None."""
        close = self.close_time
        return None if close is None else next(
            (e.time for e in self.events if e.action is GripperAction.OPEN and e.time > close),
            None)


def hand_apertures(keypoints, reference_palm_length: float = 0.09) -> np.ndarray:
    """Return thumb-tip to index-tip distances (T,) metres, optionally hand-size normalised."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (NUM_HAND_KEYPOINTS, 3) or not np.all(np.isfinite(kp)):
        raise GripperRetargetError(f'keypoints: expected finite (T, 21, 3) metres, got {kp.shape}')
    aperture = np.linalg.norm(kp[:, THUMB_TIP] - kp[:, INDEX_TIP], axis=1)
    if reference_palm_length > 0.0 and len(kp):
        # One scale for the whole clip: the hand's size does not change, its tracking noise does.
        palm = float(np.median(np.linalg.norm(kp[:, MIDDLE_MCP] - kp[:, WRIST], axis=1)))
        if palm < 1e-3:
            raise GripperRetargetError(f'wrist-to-middle-knuckle length {palm} m is degenerate')
        aperture = aperture * (reference_palm_length / palm)
    return aperture


def _crossing_time(times: np.ndarray, values: np.ndarray, i: int, threshold: float) -> float:
    """Interpolate when `values` crossed `threshold` between frames i-1 and i."""
    if i == 0:
        return float(times[0])
    v0, v1 = values[i - 1], values[i]
    frac = 0.0 if v1 == v0 else float(np.clip((threshold - v0) / (v1 - v0), 0.0, 1.0))
    return float(times[i - 1] + frac * (times[i] - times[i - 1]))


def gripper_states(times, apertures, config: GripperRetargetConfig) -> tuple[
        np.ndarray, list[tuple[int, float, bool]]]:
    """Return closed flags (T,) and the changes (frame, time s, closed) under hysteresis.

    A change counts only when the new state lasts min_state_duration (the aperture does not
    cross back over the other threshold meanwhile); it is timed at the threshold crossing.
    """
    t = np.asarray(times, dtype=np.float64)
    a = np.asarray(apertures, dtype=np.float64)
    if t.shape != a.shape or t.ndim != 1:
        raise GripperRetargetError(f'times {t.shape} and apertures {a.shape} must match (T,)')
    closed = np.zeros(len(a), dtype=bool)
    changes: list[tuple[int, float, bool]] = []
    state = False
    for i, value in enumerate(a):
        closing = not state and value < config.close_aperture
        opening = state and value > config.open_aperture
        if closing or opening:
            threshold = config.close_aperture if closing else config.open_aperture
            when = _crossing_time(t, a, i, threshold)
            window = a[(t >= when) & (t <= when + config.min_state_duration)]
            held = np.all(window <= config.open_aperture) if closing else np.all(
                window >= config.close_aperture)
            if held:
                state = closing
                changes.append((i, when, state))
        closed[i] = state
    return closed, changes


def release_time(times, apertures, after: float, opening: float = 0.015, hold: float = 0.15,
                 reference_window: float = 0.5) -> float | None:
    """When a hand holding something lets go: the first time after `after` (s) that the
    aperture exceeds its grip (the median over `reference_window` s from `after`) by `opening`
    (m) and stays above that for `hold` s (tracking blips are shorter); None if it never does
    (the object is kept)."""
    t = np.asarray(times, dtype=np.float64)
    a = np.asarray(apertures, dtype=np.float64)
    if t.shape != a.shape or t.ndim != 1 or len(t) == 0:
        raise GripperRetargetError(f'times {t.shape} and apertures {a.shape} must match (T,)')
    start = int(np.argmin(np.abs(t - after)))
    grip = a[(t >= t[start]) & (t <= t[start] + reference_window)]
    threshold = float(np.median(grip)) + opening
    for i in range(start + 1, len(a)):
        if a[i] > threshold:
            when = _crossing_time(t, a, i, threshold)
            window = a[(t >= when) & (t <= when + hold)]
            if t[-1] >= when + hold and np.all(window >= threshold - 1e-12):
                return when
    return None


def retarget_gripper(times, keypoints,
                     config: GripperRetargetConfig | None = None) -> GripperRetargeting:
    """Turn hand keypoints (T, 21, 3) at `times` (s) into gripper widths and events."""
    config = config or GripperRetargetConfig()
    t = np.asarray(times, dtype=np.float64)
    apertures = hand_apertures(keypoints, config.reference_palm_length)
    closed, changes = gripper_states(t, apertures, config)
    widths = np.clip(apertures - config.finger_pad_offset, 0.0, config.max_width)
    events = tuple(
        GripperEvent(time=max(when, 0.0),
                     action=GripperAction.CLOSE if is_closed else GripperAction.OPEN,
                     width=config.close_width if is_closed else config.max_width)
        for _, when, is_closed in changes)
    return GripperRetargeting(t, apertures, widths, closed, events)


def retarget_gripper_from_track(track: HandTrack,
                                config: GripperRetargetConfig | None = None
                                ) -> GripperRetargeting:
    """Gripper events from a hand track's metric keypoints."""
    return retarget_gripper(track.times, track.keypoints_m, config)


def retarget_gripper_from_trajectory(trajectory: WristTrajectory,
                                     config: GripperRetargetConfig | None = None
                                     ) -> GripperRetargeting:
    """Gripper events from a wrist trajectory's finger keypoints."""
    if trajectory.finger_keypoints is None:
        raise GripperRetargetError('WristTrajectory.finger_keypoints is None: no aperture')
    return retarget_gripper(trajectory.times, trajectory.finger_keypoints, config)
