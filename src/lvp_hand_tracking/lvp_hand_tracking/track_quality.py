"""Numbers that say how good a hand track is: detection coverage and keypoint jitter."""

from __future__ import annotations

import numpy as np
from lvp_common.artifacts import HandTrack


def keypoint_jitter_px(track: HandTrack) -> float:
    """Return the median keypoint acceleration |p[t+1] - 2 p[t] + p[t-1]| in pixels.

    Only triples of consecutive detected frames count, so filled frames do not hide noise.
    Smooth motion contributes little; frame-to-frame noise shows up directly.
    """
    ok = track.detected[2:] & track.detected[1:-1] & track.detected[:-2]
    if not ok.any():
        return float('nan')
    kp = track.keypoints_px
    accel = kp[2:] - 2.0 * kp[1:-1] + kp[:-2]
    return float(np.median(np.linalg.norm(accel[ok], axis=2)))


def detected_fraction(track: HandTrack) -> float:
    """Return the fraction of the track's frames that were detected (not filled)."""
    return float(np.mean(track.detected))
