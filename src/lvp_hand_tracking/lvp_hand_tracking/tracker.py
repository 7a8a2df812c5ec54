"""Track the acting hand through a video plan: detections -> one HandTrack plus a gap report.

Pipeline: a backend finds every hand per frame; `associate_hands` links them into per-hand
tracklets by 2D proximity and size; the tracklet covering the clip best is the acting hand,
or, when the caller names a hand, the best tracklet of that hand (refused when it is absent:
`hand_selection`); its handedness is the plan metadata's, else the majority vote of the
backend's labels. Gaps of at most `max_gap_frames` missing frames are filled (linear
keypoints, SLERP orientation; detected False, confidence 0). Nothing is invented for longer
gaps: the track is split there into segments, and frames before the first / after the last
detection are trimmed, each reported as a `TrackGap`. `TrackingResult.track` is the longest
segment.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lvp_common.artifacts import (
    CameraIntrinsics,
    Handedness,
    HandMesh,
    HandTrack,
    VideoPlan,
)
from lvp_common.geometry import slerp
from lvp_common.hand_frame import hand_frame_quaternions

from lvp_hand_tracking.association import AssociationConfig, associate_hands
from lvp_hand_tracking.camera_axes import view_ray_rotations
from lvp_hand_tracking.estimator import HandDetection, HandPoseBackend
from lvp_hand_tracking.hand_selection import (
    HANDEDNESS_METADATA_KEY,
    HandednessUnknownError,
    NoHandFoundError,
    WantedHandMissingError,
    resolve_handedness,
    select_hand,
    vote_handedness,
)
from lvp_hand_tracking.hand_skeleton import WRIST
from lvp_hand_tracking.video_frames import VideoReadError, iter_video_frames, probe_video

__all__ = ['HANDEDNESS_METADATA_KEY', 'HandTracker', 'HandednessUnknownError', 'LongGapError',
           'NoHandFoundError', 'TrackGap', 'TrackerConfig', 'TrackingResult',
           'WantedHandMissingError', 'build_track', 'vote_handedness']

LONG_GAP_POLICIES = ('split', 'error')


class LongGapError(RuntimeError):
    """The acting hand vanishes for longer than the fill limit (policy 'error')."""


@dataclass(frozen=True)
class TrackerConfig:
    """How detections become a track.

    max_gap_frames: interior runs of at most this many frames without the hand are filled by
    interpolation; longer runs split the track.
    min_detected_fraction: the acting hand must be detected in at least this fraction of the
    clip's frames, else NoHandFoundError.
    long_gap_policy: 'split' (report the gap, return segments) or 'error' (raise LongGapError).
    """

    max_gap_frames: int = 4
    min_detected_fraction: float = 0.5
    long_gap_policy: str = 'split'
    association: AssociationConfig = field(default_factory=AssociationConfig)

    def __post_init__(self) -> None:
        if self.max_gap_frames < 0:
            raise ValueError(f'TrackerConfig.max_gap_frames must be >= 0, '
                             f'got {self.max_gap_frames}')
        if not 0.0 <= self.min_detected_fraction <= 1.0:
            raise ValueError(f'TrackerConfig.min_detected_fraction must lie in [0, 1], '
                             f'got {self.min_detected_fraction}')
        if self.long_gap_policy not in LONG_GAP_POLICIES:
            raise ValueError(f'TrackerConfig.long_gap_policy must be one of '
                             f'{LONG_GAP_POLICIES}, got {self.long_gap_policy!r}')


@dataclass(frozen=True)
class TrackGap:
    """A run of clip frames [start_frame, end_frame) without a detection of the acting hand.

    filled: True when interpolated into the track; False when left out (long interior gaps
    split the track, leading/trailing gaps are trimmed). Times are those of the first and last
    missing frame (seconds from the start of the plan).
    """

    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    filled: bool

    @property
    def num_frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True)
class TrackingResult:
    """The acting hand's track and how it was obtained.

    track: the longest segment (what the pipeline uses). segments: every segment, in time order.
    frame_indices: for each segment, the clip frame index of each of its frames.
    frames_with_hand: clip frames where the acting hand was detected (not filled).
    handedness_source: 'argument', 'metadata' or 'majority_vote'.
    handedness_votes: the backend's labels over the acting hand's detections, score-weighted.
    num_hands_seen: tracklets found (distinct hands, or fragments of one).
    """

    track: HandTrack
    segments: tuple[HandTrack, ...]
    frame_indices: tuple[np.ndarray, ...]
    gaps: tuple[TrackGap, ...]
    num_frames: int
    frames_with_hand: int
    handedness_source: str
    handedness_votes: dict[str, float]
    num_hands_seen: int
    backend: str = ''

    @property
    def detected_fraction(self) -> float:
        """Fraction of the clip's frames where the acting hand was detected."""
        return self.frames_with_hand / self.num_frames

    @property
    def track_frame_indices(self) -> np.ndarray:
        """Clip frame index of each frame of `track`."""
        for segment, indices in zip(self.segments, self.frame_indices):
            if segment is self.track:
                return indices
        raise ValueError('TrackingResult.track is not one of its segments')

    @property
    def long_gaps(self) -> tuple[TrackGap, ...]:
        """Gaps that were not filled (split points and trimmed ends)."""
        return tuple(g for g in self.gaps if not g.filled)


def _split_runs(frames: np.ndarray, num_frames: int, times: np.ndarray,
                max_gap: int) -> tuple[list[tuple[int, int]], list[TrackGap]]:
    """Return segments (first, last detected frame, inclusive) and the gaps around them."""

    def gap(a: int, b: int, filled: bool) -> TrackGap:
        return TrackGap(a, b, float(times[a]), float(times[b - 1]), filled)

    gaps = []
    if frames[0] > 0:
        gaps.append(gap(0, int(frames[0]), False))
    segments = []
    start = int(frames[0])
    for prev, nxt in zip(frames[:-1], frames[1:]):
        missing = int(nxt - prev - 1)
        if missing == 0:
            continue
        long_gap = missing > max_gap
        gaps.append(gap(int(prev) + 1, int(nxt), not long_gap))
        if long_gap:
            segments.append((start, int(prev)))
            start = int(nxt)
    segments.append((start, int(frames[-1])))
    if frames[-1] < num_frames - 1:
        gaps.append(gap(int(frames[-1]) + 1, num_frames, False))
    return segments, gaps


def _interp(t_known: np.ndarray, values: np.ndarray, t_all: np.ndarray) -> np.ndarray:
    flat = values.reshape(len(values), -1)
    out = np.stack([np.interp(t_all, t_known, flat[:, k]) for k in range(flat.shape[1])],
                   axis=1)
    return out.reshape((len(t_all),) + values.shape[1:])


def build_track(detections_per_frame: Sequence[Sequence[HandDetection]], times,
                image_size: tuple[int, int], config: TrackerConfig | None = None,
                handedness: Handedness | str | None = None,
                metadata: dict[str, str] | None = None,
                intrinsics: CameraIntrinsics | None = None,
                mesh_faces: np.ndarray | None = None, backend: str = '') -> TrackingResult:
    """Turn per-frame detections (one list per clip frame) into the acting hand's track.

    times: (T,) seconds of each clip frame. image_size: (width, height) pixels. intrinsics,
    when known, turn MediaPipe's view-aligned metric keypoints into camera optical axes.
    """
    cfg = config or TrackerConfig()
    t = np.asarray(times, dtype=np.float64)
    num_frames = len(detections_per_frame)
    if t.shape != (num_frames,):
        raise ValueError(f'expected {num_frames} timestamps (one per frame), got {t.shape}')
    tracklets = associate_hands(detections_per_frame, cfg.association)
    acting, chosen, source = select_hand(tracklets, handedness, metadata, num_frames)
    found = acting.num_frames if acting is not None else 0
    needed = max(1, math.ceil(cfg.min_detected_fraction * num_frames))
    if acting is None or found < needed:
        any_hand = sum(1 for d in detections_per_frame if d)
        which = 'acting hand' if chosen is None or source != 'argument' else f'{chosen.value} hand'
        raise NoHandFoundError(
            f'the {which} was found in {found} of {num_frames} frames (any hand in '
            f'{any_hand}); at least {needed} ({cfg.min_detected_fraction:.0%}) are needed '
            f'(min_detected_fraction {cfg.min_detected_fraction:g})', found, num_frames)

    votes = vote_handedness(acting.detections)
    hand = chosen if chosen is not None else resolve_handedness(votes)

    frames = np.asarray(acting.frames)
    kp_px = np.stack([d.keypoints_px for d in acting.detections])
    kp_m = np.stack([d.keypoints_m for d in acting.detections])
    origin = kp_m[:, WRIST:WRIST + 1]
    kp_m = kp_m - origin
    rot = None
    if intrinsics is not None:
        rot = view_ray_rotations([d.center_px for d in acting.detections], intrinsics)
        kp_m = np.einsum('tij,tkj->tki', rot, kp_m)
    quats = hand_frame_quaternions(kp_m, hand)
    scores = np.array([d.score for d in acting.detections])
    vertices = None
    if mesh_faces is not None and all(d.mesh_vertices is not None for d in acting.detections):
        vertices = np.stack([np.asarray(d.mesh_vertices) for d in acting.detections]) - origin
        if rot is not None:
            vertices = np.einsum('tij,tkj->tki', rot, vertices)

    runs, gaps = _split_runs(frames, num_frames, t, cfg.max_gap_frames)
    if cfg.long_gap_policy == 'error' and len(runs) > 1:
        worst = max((g for g in gaps if not g.filled and 0 < g.start_frame
                     and g.end_frame < num_frames), key=lambda g: g.num_frames)
        raise LongGapError(f'the hand is missing for {worst.num_frames} frames '
                           f'({worst.start_frame}..{worst.end_frame - 1}); at most '
                           f'{cfg.max_gap_frames} are filled')

    segments, indices = [], []
    for first, last in runs:
        sel = (frames >= first) & (frames <= last)
        seg_frames = np.arange(first, last + 1)
        t_known, t_all = t[frames[sel]], t[seg_frames]
        detected = np.isin(seg_frames, frames[sel])
        confidence = np.zeros(len(seg_frames))
        confidence[detected] = scores[sel]
        mesh = None
        if vertices is not None and mesh_faces is not None:
            mesh = HandMesh(_interp(t_known, vertices[sel], t_all), mesh_faces)
        segments.append(HandTrack(
            times=t_all,
            keypoints_px=_interp(t_known, kp_px[sel], t_all),
            keypoints_m=_interp(t_known, kp_m[sel], t_all),
            wrist_quaternions=slerp(t_known, quats[sel], t_all),
            confidence=confidence,
            detected=detected,
            handedness=hand,
            image_size=(int(image_size[0]), int(image_size[1])),
            mesh=mesh))
        indices.append(seg_frames)
    longest = max(range(len(segments)), key=lambda k: segments[k].num_frames)
    return TrackingResult(
        track=segments[longest], segments=tuple(segments), frame_indices=tuple(indices),
        gaps=tuple(gaps), num_frames=num_frames, frames_with_hand=found,
        handedness_source=source, handedness_votes=votes, num_hands_seen=len(tracklets),
        backend=backend)


class HandTracker:
    """Run a hand pose backend over a clip and build the acting hand's track.

    The default backend is MediaPipe's hand landmarker with its default settings.
    """

    def __init__(self, config: TrackerConfig | None = None,
                 backend: HandPoseBackend | None = None) -> None:
        self.config = config or TrackerConfig()
        if backend is None:
            from lvp_hand_tracking.mediapipe_backend import MediaPipeHandBackend

            backend = MediaPipeHandBackend()
        self.backend: HandPoseBackend = backend

    def detect(self, frames: Iterable[np.ndarray], times) -> list[list[HandDetection]]:
        """Return every hand the backend finds in each frame (RGB uint8), in order."""
        self.backend.start_clip()
        return [self.backend.detect(frame, float(stamp)) for frame, stamp in zip(frames, times)]

    def track_frames(self, frames: Iterable[np.ndarray], times,
                     image_size: tuple[int, int],
                     handedness: Handedness | str | None = None,
                     metadata: dict[str, str] | None = None,
                     intrinsics: CameraIntrinsics | None = None) -> TrackingResult:
        """Track the acting hand through RGB frames with timestamps (seconds)."""
        t = np.asarray(times, dtype=np.float64)
        detections = self.detect(frames, t)
        if len(detections) != len(t):
            raise ValueError(f'got {len(detections)} frames for {len(t)} timestamps')
        return build_track(detections, t, image_size, self.config, handedness, metadata,
                           intrinsics, self.backend.mesh_faces, self.backend.name)

    def track_plan(self, plan: VideoPlan, handedness: Handedness | str | None = None,
                   intrinsics: CameraIntrinsics | None = None) -> TrackingResult:
        """Track the acting hand through a video plan (handedness: argument > metadata > vote)."""
        height, width = plan.frames.shape[1:3]
        return self.track_frames(plan.frames, plan.times, (width, height), handedness,
                                 plan.metadata, intrinsics)

    def track_video(self, path: str | Path, handedness: Handedness | str | None = None,
                    stride: int = 1, max_frames: int | None = None,
                    intrinsics: CameraIntrinsics | None = None, start_s: float = 0.0,
                    duration_s: float | None = None) -> TrackingResult:
        """Track the acting hand through every `stride`-th frame of a video file (streamed) in
        the window [start_s, start_s + duration_s) (None = to the end); times are the frames'
        times in the file (s)."""
        info = probe_video(path)
        indices: list[int] = []

        def frames() -> Iterable[np.ndarray]:
            for index, frame in iter_video_frames(path, stride, max_frames, start_s,
                                                  duration_s):
                indices.append(index)
                yield frame

        self.backend.start_clip()
        detections = [self.backend.detect(frame, indices[-1] / info.fps) for frame in frames()]
        if len(detections) < 2:
            raise VideoReadError(f'video {path} gave {len(detections)} frame(s) in the window '
                                 f'from {start_s:g} s; a track needs 2 (a photo is tracked '
                                 'with track_image)')
        times = np.asarray(indices, dtype=np.float64) / info.fps
        return build_track(detections, times, (info.width, info.height), self.config,
                           handedness, None, intrinsics, self.backend.mesh_faces,
                           self.backend.name)

    def track_image(self, rgb: np.ndarray, handedness: Handedness | str | None = None,
                    intrinsics: CameraIntrinsics | None = None) -> TrackingResult:
        """Find the acting hand in one still image (RGB uint8): a one-frame track at t = 0."""
        height, width = rgb.shape[:2]
        return self.track_frames([rgb], [0.0], (width, height), handedness, None, intrinsics)

    def close(self) -> None:
        """Release the backend's model."""
        self.backend.close()

    def __enter__(self) -> HandTracker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

