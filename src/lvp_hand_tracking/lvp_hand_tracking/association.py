"""Link per-frame hand detections into per-hand tracklets by 2D proximity and size.

Identity comes from where a hand is and how big it looks, never from the backend's Left/Right
label (which flips on hard views). Each frame, duplicate detections of one hand (MediaPipe
sometimes reports the same hand twice, a few pixels apart) are reduced to the best-scored one,
then live tracklets are matched to the new detections by an optimal assignment on the mean
keypoint distance (in hand sizes) between the tracklet's predicted keypoints (constant velocity)
and the detection, gated by distance and size ratio. `stitch_tracklets` then joins the pieces of
one hand that a long absence split (no overlap in time, same label, similar size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from lvp_common.artifacts import Handedness
from scipy.optimize import linear_sum_assignment

from lvp_hand_tracking.estimator import HandDetection


@dataclass(frozen=True)
class AssociationConfig:
    """Gates of the frame-to-frame hand association.

    max_distance: largest mean keypoint distance, in hand sizes (keypoint bounding-box
    diagonal), between a tracklet's prediction and a detection one frame later.
    distance_growth_per_frame: how much that gate widens per extra frame the hand was missed.
    max_size_ratio: largest ratio between the two hand sizes.
    max_missed_frames: a tracklet not matched for longer than this ends.
    duplicate_distance: two detections in one frame closer than this (mean keypoint distance in
    hand sizes) are one hand seen twice; the better-scored one is kept. Two distinct hands,
    even touching, differ by far more (measured: 0.13-0.16 for MediaPipe's duplicates on
    cup.mp4, > 0.9 between the two hands of the shared photos).
    """

    max_distance: float = 0.8
    distance_growth_per_frame: float = 0.25
    max_size_ratio: float = 1.8
    max_missed_frames: int = 30
    duplicate_distance: float = 0.35

    def __post_init__(self) -> None:
        if self.max_distance <= 0.0:
            raise ValueError(f'AssociationConfig.max_distance must be > 0, '
                             f'got {self.max_distance}')
        if self.distance_growth_per_frame < 0.0:
            raise ValueError(f'AssociationConfig.distance_growth_per_frame must be >= 0, '
                             f'got {self.distance_growth_per_frame}')
        if self.max_size_ratio < 1.0:
            raise ValueError(f'AssociationConfig.max_size_ratio must be >= 1, '
                             f'got {self.max_size_ratio}')
        if self.max_missed_frames < 0:
            raise ValueError(f'AssociationConfig.max_missed_frames must be >= 0, '
                             f'got {self.max_missed_frames}')
        if self.duplicate_distance < 0.0:
            raise ValueError(f'AssociationConfig.duplicate_distance must be >= 0, '
                             f'got {self.duplicate_distance}')


@dataclass
class HandTracklet:
    """One hand's detections through the clip: frame indices (increasing) and detections."""

    track_id: int
    frames: list[int] = field(default_factory=list)
    detections: list[HandDetection] = field(default_factory=list)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def first_frame(self) -> int:
        return self.frames[0]

    @property
    def last_frame(self) -> int:
        return self.frames[-1]

    @property
    def total_score(self) -> float:
        """Sum of detection scores: how much of the clip this hand confidently covers."""
        return float(sum(d.score for d in self.detections))

    @property
    def mean_size_px(self) -> float:
        return float(np.mean([d.size_px for d in self.detections]))

    def predict_keypoints(self, frame: int) -> np.ndarray:
        """Return the keypoints (21, 2) expected at `frame` under constant 2D velocity."""
        last = self.detections[-1].keypoints_px
        if len(self.frames) < 2:
            return last
        step = self.frames[-1] - self.frames[-2]
        velocity = (self.detections[-1].center_px - self.detections[-2].center_px) / step
        # Trust the velocity for a few frames only; a hand that vanished may have stopped.
        ahead = min(frame - self.frames[-1], 3)
        return last + velocity * ahead

    def append(self, frame: int, detection: HandDetection) -> None:
        self.frames.append(frame)
        self.detections.append(detection)


def association_cost(tracklet: HandTracklet, detection: HandDetection, frame: int) -> float:
    """Return the mean keypoint distance (hand sizes) from the tracklet's prediction."""
    size = max(tracklet.detections[-1].size_px, detection.size_px)
    predicted = tracklet.predict_keypoints(frame)
    return float(np.mean(np.linalg.norm(predicted - detection.keypoints_px, axis=1)) / size)


def keypoint_distance(a: HandDetection, b: HandDetection) -> float:
    """Return the mean keypoint distance between two detections, in hand sizes (the larger)."""
    size = max(a.size_px, b.size_px)
    return float(np.mean(np.linalg.norm(a.keypoints_px - b.keypoints_px, axis=1)) / size)


def suppress_duplicates(detections: Sequence[HandDetection],
                        max_distance: float) -> list[HandDetection]:
    """Return one frame's detections without duplicates of one hand (the best-scored kept)."""
    kept: list[HandDetection] = []
    for detection in sorted(detections, key=lambda d: -d.score):
        if all(keypoint_distance(detection, k) >= max_distance for k in kept):
            kept.append(detection)
    return kept


def associate_hands(detections_per_frame: Sequence[Sequence[HandDetection]],
                    config: AssociationConfig | None = None) -> list[HandTracklet]:
    """Group detections (one list per frame) into tracklets of one hand each (duplicates of a
    hand within a frame dropped, pieces of a hand split by a long absence stitched)."""
    cfg = config or AssociationConfig()
    tracklets: list[HandTracklet] = []
    for frame, found in enumerate(detections_per_frame):
        detections = suppress_duplicates(found, cfg.duplicate_distance)
        live = [t for t in tracklets if frame - t.last_frame <= cfg.max_missed_frames + 1]
        matched: set[int] = set()
        if live and detections:
            cost = np.full((len(live), len(detections)), np.inf)
            for i, tracklet in enumerate(live):
                missed = frame - tracklet.last_frame - 1
                gate = cfg.max_distance + cfg.distance_growth_per_frame * missed
                last_size = tracklet.detections[-1].size_px
                for j, detection in enumerate(detections):
                    ratio = max(last_size, detection.size_px) / min(last_size,
                                                                     detection.size_px)
                    if ratio > cfg.max_size_ratio:
                        continue
                    c = association_cost(tracklet, detection, frame)
                    if c <= gate:
                        cost[i, j] = c
            finite = np.where(np.isfinite(cost), cost, 1e6)
            rows, cols = linear_sum_assignment(finite)
            for i, j in zip(rows, cols):
                if np.isfinite(cost[i, j]):
                    live[i].append(frame, detections[j])
                    matched.add(int(j))
        for j, detection in enumerate(detections):
            if j not in matched:
                tracklet = HandTracklet(track_id=len(tracklets))
                tracklet.append(frame, detection)
                tracklets.append(tracklet)
    return stitch_tracklets(tracklets, cfg.max_size_ratio, cfg.max_missed_frames)


def majority_label(tracklet: HandTracklet) -> Handedness | None:
    """Return the label most of a tracklet's detections carry (score-weighted), or None."""
    votes = {Handedness.LEFT: 0.0, Handedness.RIGHT: 0.0}
    for d in tracklet.detections:
        if d.label is not None:
            votes[d.label] += max(d.label_score, 1e-3)
    if votes[Handedness.LEFT] == votes[Handedness.RIGHT]:
        return None
    return max(votes, key=lambda k: votes[k])


def stitch_tracklets(tracklets: Sequence[HandTracklet], max_size_ratio: float,
                     max_missed_frames: int) -> list[HandTracklet]:
    """Join tracklets that are one hand split by a long absence (renumbered in time order).

    A later tracklet continues an earlier one when it starts more than `max_missed_frames`
    after that one ends (closer pieces were kept apart by the association's gates), both carry
    the same majority label (or one has none) and their hand sizes differ by at most
    `max_size_ratio`; of several such, the one that ended nearest (in hand sizes) to where the
    later one starts. Two hands in view at the same time always overlap, so they stay apart.
    """
    chains: list[HandTracklet] = []
    for piece in sorted(tracklets, key=lambda t: t.first_frame):
        label = majority_label(piece)
        best, best_distance = None, np.inf
        for chain in chains:
            if piece.first_frame - chain.last_frame <= max_missed_frames + 1:
                continue
            other = majority_label(chain)
            if label is not None and other is not None and other != label:
                continue
            ratio = (max(chain.mean_size_px, piece.mean_size_px)
                     / min(chain.mean_size_px, piece.mean_size_px))
            if ratio > max_size_ratio:
                continue
            distance = keypoint_distance(chain.detections[-1], piece.detections[0])
            if distance < best_distance:
                best, best_distance = chain, distance
        if best is None:
            chains.append(HandTracklet(track_id=len(chains), frames=list(piece.frames),
                                       detections=list(piece.detections)))
        else:
            best.frames.extend(piece.frames)
            best.detections.extend(piece.detections)
    return chains


def select_acting_hand(tracklets: Sequence[HandTracklet]) -> HandTracklet | None:
    """Return the tracklet that covers the clip best (score sum, then size), or None."""
    if not tracklets:
        return None
    return max(tracklets, key=lambda t: (round(t.total_score, 6), t.mean_size_px))
