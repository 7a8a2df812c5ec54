"""Draw the tracked hand skeleton on video frames (RGB), for checking a track by eye."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import cv2
import numpy as np

from lvp_hand_tracking.hand_skeleton import HAND_BONES
from lvp_hand_tracking.tracker import TrackingResult

DETECTED_COLOR = (40, 220, 40)
FILLED_COLOR = (255, 160, 0)
MISSING_COLOR = (230, 40, 40)


def draw_hand(frame_rgb: np.ndarray, keypoints_px: np.ndarray, detected: bool = True,
              label: str = '') -> np.ndarray:
    """Return a copy of `frame_rgb` with the skeleton drawn (green; orange if filled)."""
    image = np.ascontiguousarray(frame_rgb).copy()
    color = DETECTED_COLOR if detected else FILLED_COLOR
    scale = max(1, round(max(image.shape[:2]) / 640))
    pts = [tuple(int(round(v)) for v in p) for p in np.asarray(keypoints_px)]
    for a, b in HAND_BONES:
        cv2.line(image, pts[a], pts[b], color, 2 * scale, cv2.LINE_AA)
    for k, p in enumerate(pts):
        cv2.circle(image, p, 3 * scale if k else 5 * scale, (255, 255, 255) if k else (0, 0, 255),
                   -1, cv2.LINE_AA)
    if label:
        cv2.putText(image, label, (pts[0][0] + 8, pts[0][1]), cv2.FONT_HERSHEY_SIMPLEX,
                    0.6 * scale, color, 2 * scale, cv2.LINE_AA)
    return image


def _caption(image: np.ndarray, text: str, color: tuple[int, int, int]) -> np.ndarray:
    scale = max(1, round(max(image.shape[:2]) / 640))
    cv2.putText(image, text, (10, 25 * scale), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, color,
                2 * scale, cv2.LINE_AA)
    return image


def overlay_frame(frame_rgb: np.ndarray, index: int, result: TrackingResult) -> np.ndarray:
    """Return clip frame `index` with the track drawn, or marked 'no hand' outside the track."""
    for segment, frames in zip(result.segments, result.frame_indices):
        rows = np.flatnonzero(frames == index)
        if rows.size:
            k = int(rows[0])
            detected = bool(segment.detected[k])
            status = 'detected' if detected else 'filled'
            image = draw_hand(frame_rgb, segment.keypoints_px[k], detected,
                              segment.handedness.value)
            return _caption(image, f'frame {index}  {status}  conf {segment.confidence[k]:.2f}',
                            DETECTED_COLOR if detected else FILLED_COLOR)
    return _caption(np.ascontiguousarray(frame_rgb).copy(), f'frame {index}  no hand',
                    MISSING_COLOR)


def overlay_frames(frames: Iterable[np.ndarray], result: TrackingResult) -> Iterator[np.ndarray]:
    """Yield the clip's frames (in the order they were tracked) with the track drawn."""
    for index, frame in enumerate(frames):
        yield overlay_frame(frame, index, result)
