"""MediaPipe HandLandmarker (Tasks API, VIDEO running mode by default) as a hand pose backend."""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from lvp_common.artifacts import Handedness

from lvp_hand_tracking.estimator import BackendError, HandDetection
from lvp_hand_tracking.model_assets import resolve_model_path


@dataclass(frozen=True)
class MediaPipeConfig:
    """Settings of the MediaPipe hand landmarker.

    model_path: a `hand_landmarker.task` bundle; empty = the cached one (built on first use).
    num_hands: most hands reported per frame; 2 lets the tracker see and reject a second hand.
    running_mode: 'video' (MediaPipe tracks each hand's region between frames: faster and
    steadier) or 'image' (every frame detected afresh: finds both of two crossed, overlapping
    hands, which VIDEO mode reduces to one on the shared crossed-hands photo).
    The detection and presence thresholds (0.4) are below MediaPipe's 0.5: at 0.5 the man's
    left hand in the shared crossed-hands photo is missed.
    labels_assume_mirrored_input: swap MediaPipe's Left/Right labels. False is right for the
    Tasks API of mediapipe >= 0.10.15 on ordinary (not mirrored) images: measured on the shared
    photos and the gesture video, its label is the person's own hand.
    more_hands_check_stride: in video mode with num_hands > 1, MediaPipe runs its palm detector
    on every frame while fewer hands than num_hands are tracked: half the time per frame of a
    one-hand clip. So a clip is tracked for one hand, and every this-many frames an image-mode
    landmarker looks for more; from the first frame where it sees more than one, the clip is
    tracked for num_hands (a fresh video landmarker). The tracked hand's keypoints are the same
    either way (0.000 px apart on five clips, README). 0: track num_hands from the first frame.
    """

    model_path: str = ''
    num_hands: int = 2
    running_mode: str = 'video'
    min_detection_confidence: float = 0.4
    min_presence_confidence: float = 0.4
    min_tracking_confidence: float = 0.5
    labels_assume_mirrored_input: bool = False
    more_hands_check_stride: int = 8

    def __post_init__(self) -> None:
        if self.num_hands < 1:
            raise ValueError(f'MediaPipeConfig.num_hands must be >= 1, got {self.num_hands}')
        if self.more_hands_check_stride < 0:
            raise ValueError(f'MediaPipeConfig.more_hands_check_stride must be >= 0, got '
                             f'{self.more_hands_check_stride}')
        if self.running_mode not in ('video', 'image'):
            raise ValueError(f"MediaPipeConfig.running_mode must be 'video' or 'image', "
                             f'got {self.running_mode!r}')
        for name in ('min_detection_confidence', 'min_presence_confidence',
                     'min_tracking_confidence'):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f'MediaPipeConfig.{name} must lie in [0, 1], got {value}')


_NATIVE_NOISE = re.compile(
    r'^(INFO: |WARNING: (Logging before InitGoogle|Read-only tensor)|[IW]\d{4} [\d:. ]+\d+ )')
"""LiteRT INFO lines and absl INFO/WARNING lines that MediaPipe's C++ writes straight to the
stderr file descriptor (absl is never initialised, so no log level reaches it)."""
_STDERR_LOCK = threading.Lock()


@contextmanager
def _native_noise_filtered() -> Iterator[None]:
    """Capture fd 2 while MediaPipe's native code runs; pass on all but its INFO/WARNING noise."""
    with _STDERR_LOCK, tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors='replace').splitlines()
                    if line and not _NATIVE_NOISE.match(line)]
            if kept:
                print('\n'.join(kept), file=sys.stderr)


_LABELS = {'left': Handedness.LEFT, 'right': Handedness.RIGHT}
_SWAPPED = {Handedness.LEFT: Handedness.RIGHT, Handedness.RIGHT: Handedness.LEFT}


class MediaPipeHandBackend:
    """Run MediaPipe's hand landmarker over the frames of a clip (CPU).

    MediaPipe returns no per-hand presence score, so a detection's score is the handedness
    classifier's top probability (every reported hand already passed the presence threshold).
    """

    name = 'mediapipe_hand_landmarker'
    mesh_faces: np.ndarray | None = None

    def __init__(self, config: MediaPipeConfig | None = None) -> None:
        self.config = config or MediaPipeConfig()
        self.model_path: Path = resolve_model_path(self.config.model_path or None)
        self._landmarker = None
        self._probe = None  # image-mode landmarker looking for more hands (no clip state)
        self._hands = self.config.num_hands  # hands the video landmarker tracks
        self._frame_index = 0
        self._last_ms = -1

    def _checks_for_more_hands(self) -> bool:
        cfg = self.config
        return (cfg.running_mode == 'video' and cfg.more_hands_check_stride > 0
                and self._hands < cfg.num_hands)

    def _create(self, video: bool | None = None, num_hands: int | None = None):
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import HandLandmarker, HandLandmarkerOptions
        from mediapipe.tasks.python.vision.core.vision_task_running_mode import (
            VisionTaskRunningMode,
        )

        cfg = self.config
        options = HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=(VisionTaskRunningMode.VIDEO
                          if (cfg.running_mode == 'video' if video is None else video)
                          else VisionTaskRunningMode.IMAGE),
            num_hands=cfg.num_hands if num_hands is None else num_hands,
            min_hand_detection_confidence=cfg.min_detection_confidence,
            min_hand_presence_confidence=cfg.min_presence_confidence,
            min_tracking_confidence=cfg.min_tracking_confidence)
        try:
            return HandLandmarker.create_from_options(options)
        except (RuntimeError, ValueError) as exc:
            raise BackendError(f'MediaPipe could not load {self.model_path}: {exc}') from exc

    def start_clip(self) -> None:
        """Start a fresh landmarker (VIDEO mode keeps tracking state and a timestamp clock)."""
        if self._landmarker is not None:
            with _native_noise_filtered():
                self._landmarker.close()
        cfg = self.config
        video_more = cfg.running_mode == 'video' and cfg.more_hands_check_stride > 0
        self._hands = 1 if video_more else cfg.num_hands
        with _native_noise_filtered():
            self._landmarker = self._create(num_hands=self._hands)
        self._frame_index = 0
        self._last_ms = -1

    def _more_hands_seen(self, image) -> bool:
        """Run the image-mode check for more hands than the video landmarker tracks."""
        first = self._probe is None
        with _native_noise_filtered() if first else nullcontext():
            if self._probe is None:
                self._probe = self._create(video=False)
            return len(self._probe.detect(image).hand_landmarks) > self._hands

    def detect(self, frame_rgb: np.ndarray, timestamp_s: float) -> list[HandDetection]:
        """Return the hands MediaPipe finds in one RGB frame at `timestamp_s` seconds."""
        import mediapipe as mp

        if self._landmarker is None:
            self.start_clip()
        assert self._landmarker is not None
        frame = np.ascontiguousarray(frame_rgb)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise BackendError(f'expected an RGB uint8 frame (H, W, 3), got {frame.dtype} '
                               f'{frame.shape}')
        stamp_ms = int(round(timestamp_s * 1000.0))
        if stamp_ms <= self._last_ms:
            raise BackendError(f'frame timestamps must increase by at least 1 ms: got '
                               f'{stamp_ms} ms after {self._last_ms} ms')
        first = self._last_ms < 0  # the first inference logs its buffer set-up
        self._last_ms = stamp_ms
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=frame)
        if (self._checks_for_more_hands()
                and self._frame_index % self.config.more_hands_check_stride == 0
                and self._more_hands_seen(image)):
            with _native_noise_filtered():  # from this frame on, track them all
                self._landmarker.close()
                self._landmarker = self._create()
            self._hands, first = self.config.num_hands, True
        self._frame_index += 1
        with _native_noise_filtered() if first else nullcontext():
            if self.config.running_mode == 'video':
                result = self._landmarker.detect_for_video(image, stamp_ms)
            else:
                result = self._landmarker.detect(image)
        height, width = frame.shape[:2]
        detections = []
        for landmarks, world, categories in zip(result.hand_landmarks,
                                                result.hand_world_landmarks, result.handedness):
            px = np.array([[p.x * width, p.y * height] for p in landmarks], dtype=np.float64)
            metric = np.array([[p.x, p.y, p.z] for p in world], dtype=np.float64)
            top = max(categories, key=lambda c: c.score or 0.0)
            score = float(np.clip(top.score or 0.0, 0.0, 1.0))
            label = _LABELS.get((top.category_name or '').lower())
            if label is not None and self.config.labels_assume_mirrored_input:
                label = _SWAPPED[label]
            detections.append(HandDetection(px, metric, score, label, score))
        return detections

    def close(self) -> None:
        """Release the landmarkers."""
        for landmarker in (self._landmarker, self._probe):
            if landmarker is not None:
                with _native_noise_filtered():
                    landmarker.close()
        self._landmarker = self._probe = None

    def __enter__(self) -> MediaPipeHandBackend:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
