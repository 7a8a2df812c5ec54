"""Synthetic hands for the tracker's tests: keypoints of a known pose, as detections."""

from __future__ import annotations

import numpy as np
import pytest
from lvp_common.artifacts import Handedness
from lvp_hand_tracking.estimator import HandDetection
from scipy.spatial.transform import Rotation

# A right hand in its own frame (metres): x towards the thumb, y wrist -> fingers, z out of the
# palm; knuckle positions and phalanx lengths from SYNTHETIC_HANDS.md.
_MCP = {'index': (2.75, 8.6), 'middle': (0.95, 9.0), 'ring': (-0.85, 8.6), 'little': (-2.55, 7.8)}
_PHALANX = {'index': (4.2, 2.5, 2.1), 'middle': (4.5, 2.8, 2.2), 'ring': (4.2, 2.7, 2.1),
            'little': (3.4, 2.0, 1.9)}


def right_hand_template() -> np.ndarray:
    """Return the 21 keypoints (metres) of an open right hand in the hand frame."""
    pts = [np.zeros(3)]
    base = np.array([2.1, 2.3, 0.9])
    direction = np.array([0.6, 0.75, 0.28])
    direction /= np.linalg.norm(direction)
    pts.append(base)
    for length in (4.4, 3.2, 2.8):
        pts.append(pts[-1] + length * direction)
    for finger in ('index', 'middle', 'ring', 'little'):
        p = np.array([*_MCP[finger], 0.0])
        pts.append(p)
        for length in _PHALANX[finger]:
            p = p + np.array([0.0, length, 0.0])
            pts.append(p)
    return np.array(pts) / 100.0


class SyntheticCamera:
    """A pinhole camera (832x480, f = 600 px) seeing a hand at a given pose."""

    width, height, f = 832, 480, 600.0

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        return np.stack([self.f * points_cam[:, 0] / points_cam[:, 2] + self.width / 2,
                         self.f * points_cam[:, 1] / points_cam[:, 2] + self.height / 2], axis=1)

    def detection(self, rotation: Rotation, position, handedness: Handedness = Handedness.RIGHT,
                  label: Handedness | None = None, score: float = 0.9,
                  scale: float = 1.0) -> HandDetection:
        """Return what a perfect backend reports for the hand at this pose (camera frame)."""
        hand = right_hand_template() * scale
        if handedness is Handedness.LEFT:
            hand[:, 0] *= -1.0
        cam = rotation.apply(hand) + np.asarray(position, dtype=float)
        metric = cam - cam.mean(axis=0)  # MediaPipe's origin is near the hand's centre
        return HandDetection(self.project(cam), metric, score,
                             handedness if label is None else label, score)


@pytest.fixture
def camera() -> SyntheticCamera:
    return SyntheticCamera()


@pytest.fixture
def hand_template() -> np.ndarray:
    """The 21 keypoints (metres) of an open right hand in its hand frame."""
    return right_hand_template()


@pytest.fixture(scope='session')
def hand_model_path():
    """The real hand_landmarker.task (built into $LVP_CACHE_DIR on first use)."""
    from lvp_hand_tracking.model_assets import ModelAssetError, ensure_hand_landmarker_task

    try:
        return ensure_hand_landmarker_task()
    except ModelAssetError as exc:
        pytest.fail(f'no hand landmarker model ({exc}); run '
                    f'`python -m lvp_hand_tracking.model_assets` with PyPI access')


@pytest.fixture(scope='session')
def two_hand_clip(shared_data, tmp_path_factory):
    """A 1280x480 clip, 8 fps, 16 frames, with two real hands: the gesture video's right hand
    (right half) and its mirror image, a left hand (left half). Both wrists lie outside the
    centre 832 columns, where a centre crop to 832x480 loses them."""
    import cv2
    from lvp_common.video_io import read_video, write_video

    clip = read_video(shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4', fps=8.0,
                      start_s=1.0, duration_s=2.0)
    frames = []
    for frame in clip.frames:
        half = cv2.resize(frame, (853, 480), interpolation=cv2.INTER_AREA)[:, 106:746]
        frames.append(np.concatenate([half[:, ::-1], half], axis=1))
    path = tmp_path_factory.mktemp('two_hands') / 'two_hands_1280x480.mp4'
    write_video(path, np.ascontiguousarray(np.stack(frames)), 8.0)
    return path
