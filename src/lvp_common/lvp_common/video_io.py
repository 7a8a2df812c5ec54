"""Read and write videos as RGB uint8 frame arrays (imageio + its bundled ffmpeg)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class VideoReadError(OSError):
    """A video file is missing, unreadable, or holds no frames in the asked range."""


@dataclass(frozen=True)
class VideoClip:
    """Frames (T, H, W, 3) uint8 RGB at `fps`; source_fps and source_size describe the file."""

    frames: np.ndarray
    fps: float
    source_fps: float
    source_size: tuple[int, int]


def fit_to_size(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover (width, height) keeping the aspect ratio, then centre-crop to it."""
    import cv2

    h, w = frame.shape[:2]
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    resized = cv2.resize(frame, (new_w, new_h), interpolation=interp)
    x0, y0 = (new_w - width) // 2, (new_h - height) // 2
    return np.ascontiguousarray(resized[y0:y0 + height, x0:x0 + width])


def read_video(path: str | Path, fps: float | None = None, size: tuple[int, int] | None = None,
               start_s: float = 0.0, duration_s: float | None = None,
               should_stop: Callable[[], bool] | None = None) -> VideoClip:
    """Read a video file, resampled to `fps` (nearest frame) and fitted to `size` = (w, h).

    Keeps the file's own rate and size where they are None. Raises VideoReadError naming the
    file when it cannot be read or the range holds no frame.
    """
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f'video file not found: {path}')
    try:
        meta = iio.immeta(path, plugin='FFMPEG')
        source_fps = float(meta['fps'])
        source_size = (int(meta['size'][0]), int(meta['size'][1]))
        out_fps = float(fps) if fps else source_fps
        end_s = float('inf') if duration_s is None else start_s + duration_s
        frames = []
        next_time = start_s
        for index, frame in enumerate(iio.imiter(path, plugin='FFMPEG')):
            if should_stop is not None and should_stop():
                break
            if index / source_fps >= end_s + 0.5 / source_fps:
                break
            # each output time takes the source frame nearest to it
            while next_time < end_s - 1e-9 and round(next_time * source_fps) <= index:
                frames.append(frame if size is None else fit_to_size(frame, *size))
                next_time = start_s + len(frames) / out_fps
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise VideoReadError(f'cannot read video {path}: {exc}') from exc
    if not frames:
        raise VideoReadError(f'video {path} has no frames between {start_s} s and {end_s} s')
    return VideoClip(np.stack(frames), out_fps, source_fps, source_size)


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Write RGB uint8 frames (T, H, W, 3) as an H.264 mp4 (or any format imageio knows)."""
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(frames)
    # yuv420p needs even sizes
    h, w = arr.shape[1] - arr.shape[1] % 2, arr.shape[2] - arr.shape[2] % 2
    iio.imwrite(path, arr[:, :h, :w], fps=fps, plugin='FFMPEG', codec='libx264',
                macro_block_size=1)
    return path
