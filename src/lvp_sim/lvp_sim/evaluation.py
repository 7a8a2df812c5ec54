"""Score a hand detector on a synthetic demonstration against its exact 2D ground truth.

Uses the project's MediaPipe backend (lvp_hand_tracking; the offline `.task` it builds) in VIDEO
mode. A frame counts as correctly detected when a hand is reported and its mean landmark error
is below `correct_fraction` x the true wrist-to-middle-knuckle length in pixels (the criterion of
SYNTHETIC_HANDS.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lvp_common.artifacts import HAND_KEYPOINT_NAMES

from lvp_sim.demonstrations import SyntheticDemonstration

_WRIST = HAND_KEYPOINT_NAMES.index('wrist')
_MIDDLE_MCP = HAND_KEYPOINT_NAMES.index('middle_mcp')


@dataclass(frozen=True)
class DetectionScore:
    """Per-frame detector results on a demonstration.

    detected (T,): a hand was reported. correct (T,): reported and close to the truth.
    errors_px (T, 21): per-landmark distance to the truth (NaN where nothing was detected).
    """

    detected: np.ndarray
    correct: np.ndarray
    errors_px: np.ndarray

    @property
    def detection_rate(self) -> float:
        return float(np.mean(self.detected))

    @property
    def correct_rate(self) -> float:
        return float(np.mean(self.correct))

    @property
    def median_error_px(self) -> float:
        """Median landmark error over the detected frames (NaN if none)."""
        valid = self.errors_px[self.detected]
        return float(np.median(valid)) if valid.size else float('nan')


def score_mediapipe(demo: SyntheticDemonstration, correct_fraction: float = 0.25,
                    model_path: str = '') -> DetectionScore:
    """Run MediaPipe's hand landmarker over the plan and compare with the ground truth."""
    from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend

    truth = demo.ground_truth.keypoints_px
    palm = np.linalg.norm(truth[:, _MIDDLE_MCP] - truth[:, _WRIST], axis=1)
    n = demo.plan.num_frames
    detected = np.zeros(n, dtype=bool)
    errors = np.full((n, len(HAND_KEYPOINT_NAMES)), np.nan)
    config = MediaPipeConfig(model_path=model_path, num_hands=1)
    with MediaPipeHandBackend(config) as backend:
        backend.start_clip()
        for i, (frame, t) in enumerate(zip(demo.plan.frames, demo.plan.times)):
            hands = backend.detect(frame, float(t))
            if hands:
                detected[i] = True
                errors[i] = np.linalg.norm(hands[0].keypoints_px - truth[i], axis=1)
    with np.errstate(invalid='ignore'):
        correct = detected & (np.nanmean(np.where(detected[:, None], errors, 0.0), axis=1)
                              < correct_fraction * palm)
    return DetectionScore(detected, correct, errors)
