"""Which tracklet is the acting hand, and which hand (left/right) it is.

Without a wanted hand, the tracklet covering the clip best acts (`select_acting_hand`) and its
handedness is the plan metadata's, else the majority of the detector's labels.

A wanted hand (`--handedness`, the `handedness` parameter) SELECTS: each tracklet is given a
side from the detector's labels, and where those are weak (less than `CONFIDENT_SHARE` of the
votes) from its image position relative to a hand seen at the same time whose side is
confident (two hands in one view are one left, one right). The best-covering tracklet of the
wanted side acts; when there is none, `WantedHandMissingError` says which hands were seen.
The hand is never relabelled: a right hand does not become a left one.
"""

from __future__ import annotations

from collections.abc import Sequence

from lvp_common.artifacts import Handedness

from lvp_hand_tracking.association import HandTracklet, select_acting_hand
from lvp_hand_tracking.estimator import HandDetection

HANDEDNESS_METADATA_KEY = 'handedness'
"""VideoPlan.metadata key ('left' / 'right') that names the demonstrating hand."""

CONFIDENT_SHARE = 2.0 / 3.0
"""A tracklet's side is taken from its labels when this share of its votes agree."""

_OTHER = {Handedness.LEFT: Handedness.RIGHT, Handedness.RIGHT: Handedness.LEFT}


class NoHandFoundError(RuntimeError):
    """The acting hand is missing from too much of the clip to make a track."""

    def __init__(self, message: str, frames_with_hand: int, num_frames: int) -> None:
        super().__init__(message)
        self.frames_with_hand = frames_with_hand
        self.num_frames = num_frames


class WantedHandMissingError(NoHandFoundError):
    """The hand asked for (left/right) is not in the clip."""


class HandednessUnknownError(ValueError):
    """Neither the caller, the plan metadata nor the backend says which hand it is."""


def vote_handedness(detections: Sequence[HandDetection]) -> dict[str, float]:
    """Return the score-weighted votes of the detections' labels ('left'/'right')."""
    votes = {Handedness.LEFT.value: 0.0, Handedness.RIGHT.value: 0.0}
    for d in detections:
        if d.label is not None:
            votes[d.label.value] += max(d.label_score, 1e-3)
    return votes


def _labelled_side(tracklet: HandTracklet) -> tuple[Handedness | None, bool]:
    """Return (majority side or None, whether the majority is confident)."""
    votes = vote_handedness(tracklet.detections)
    total = votes['left'] + votes['right']
    if total == 0.0 or votes['left'] == votes['right']:
        return None, False
    side = Handedness.LEFT if votes['left'] > votes['right'] else Handedness.RIGHT
    return side, votes[side.value] >= CONFIDENT_SHARE * total


def _mean_wrist_x(tracklet: HandTracklet, frames: set[int]) -> float:
    xs = [d.keypoints_px[0, 0] for f, d in zip(tracklet.frames, tracklet.detections)
          if f in frames]
    return float(sum(xs) / len(xs))


def tracklet_sides(tracklets: Sequence[HandTracklet]) -> list[Handedness | None]:
    """Return each tracklet's side: its confident labels, else the side opposite a confident
    hand seen in the same frames (the hand on that hand's other side of the image), else its
    weak majority label (None without labels)."""
    labelled = [_labelled_side(t) for t in tracklets]
    sides: list[Handedness | None] = []
    for k, tracklet in enumerate(tracklets):
        side, confident = labelled[k]
        if not confident:
            own = set(tracklet.frames)
            partners = [(len(own & set(o.frames)), j) for j, o in enumerate(tracklets)
                        if j != k and labelled[j][1] and own & set(o.frames)]
            if partners:
                _, j = max(partners)
                # the two hands are one left, one right: this one is the other side
                side = _OTHER[labelled[j][0]]  # type: ignore[index]
        sides.append(side)
    return sides


def _seen(tracklets: Sequence[HandTracklet], sides: Sequence[Handedness | None]) -> str:
    if not tracklets:
        return 'no hand'
    parts = [f'{side.value if side else "unlabelled"} hand in {t.num_frames} frames'
             for t, side in zip(tracklets, sides)]
    return ', '.join(parts)


def select_hand(tracklets: Sequence[HandTracklet], wanted: Handedness | str | None,
                metadata: dict[str, str] | None, num_frames: int
                ) -> tuple[HandTracklet | None, Handedness | None, str]:
    """Return (the acting tracklet or None, its hand or None when undecided, the source:
    'argument', 'metadata' or 'majority_vote').

    A wanted hand selects (WantedHandMissingError when absent); the metadata's hand names the
    best-covering tracklet (the plan's maker knows its hand better than the detector's label on
    a render); else the best-covering tracklet's labels decide, later (`resolve_handedness`).
    """
    if wanted is not None:
        hand = Handedness(wanted)
        sides = tracklet_sides(tracklets)
        matching = [t for t, side in zip(tracklets, sides) if side is hand]
        if not matching:
            raise WantedHandMissingError(
                f'handedness {hand.value}: no {hand.value} hand in the clip (seen: '
                f'{_seen(tracklets, sides)}); ask for the hand that is there or leave '
                'handedness unset', 0, num_frames)
        return select_acting_hand(matching), hand, 'argument'
    acting = select_acting_hand(tracklets)
    meta = (metadata or {}).get(HANDEDNESS_METADATA_KEY, '').strip().lower()
    if meta:
        try:
            return acting, Handedness(meta), 'metadata'
        except ValueError as exc:
            raise HandednessUnknownError(
                f'plan metadata {HANDEDNESS_METADATA_KEY}={meta!r}: expected left or '
                f'right') from exc
    return acting, None, 'majority_vote'


def resolve_handedness(votes: dict[str, float]) -> Handedness:
    """Return the majority of the acting hand's label votes (HandednessUnknownError: none)."""
    if votes['left'] == votes['right'] == 0.0:
        raise HandednessUnknownError('the backend gives no handedness labels; pass handedness')
    return Handedness.LEFT if votes['left'] > votes['right'] else Handedness.RIGHT
