"""Stream video files frame by frame (RGB uint8), reading and writing, with bounded memory.

lvp_common.video_io reads and writes whole clips held in memory (right for 49-frame plans); a
long recorded video (621 frames of 1280x720 are 1.7 GB) is tracked and overlaid frame by frame
with these instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import imageio_ffmpeg
import numpy as np
from lvp_common.video_io import VideoReadError, decode_note

__all__ = ['VideoInfo', 'VideoReadError', 'decode_note', 'iter_video_frames', 'probe_video',
           'window_frames', 'write_video_stream']


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds: frame rate (Hz) and frame size (pixels)."""

    path: Path
    fps: float
    width: int
    height: int


def probe_video(path: str | Path) -> VideoInfo:
    """Return the frame rate and size of a video file."""
    video = Path(path)
    if not video.is_file():
        raise VideoReadError(f'video {video} does not exist')
    reader = imageio_ffmpeg.read_frames(str(video))
    try:
        meta = next(reader)
    except (RuntimeError, OSError, StopIteration) as exc:
        raise VideoReadError(f'cannot decode video {video}: {exc}') from exc
    finally:
        reader.close()
    fps = float(meta.get('fps') or 0.0)
    if fps <= 0.0:
        raise VideoReadError(f'video {video} reports no frame rate ({meta.get("fps")!r})')
    width, height = meta['size']
    return VideoInfo(video, fps, int(width), int(height))


def window_frames(fps: float, start_s: float = 0.0,
                  duration_s: float | None = None) -> tuple[int, float]:
    """Return (first frame index, end index (exclusive, inf = to the end)) of the clip window
    [start_s, start_s + duration_s) of a video at `fps`: the frames lvp_common's read_video
    takes for the same window at the video's own rate."""
    if start_s < 0.0:
        raise ValueError(f'start {start_s} s: must be >= 0')
    if duration_s is not None and duration_s <= 0.0:
        raise ValueError(f'duration {duration_s} s: must be > 0 (leave it out for the rest of '
                         'the video)')
    first = int(round(start_s * fps))
    if duration_s is None:
        return first, float('inf')
    return first, float(first + math.ceil(duration_s * fps - 1e-9))


def iter_video_frames(path: str | Path, stride: int = 1, max_frames: int | None = None,
                      start_s: float = 0.0, duration_s: float | None = None
                      ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, RGB frame (H, W, 3) uint8) for every `stride`-th frame of a video
    in the window [start_s, start_s + duration_s) (`window_frames`; None = to the end)."""
    if stride < 1:
        raise ValueError(f'stride must be >= 1, got {stride}')
    info = probe_video(path)
    first, end = window_frames(info.fps, start_s, duration_s)
    reader = imageio_ffmpeg.read_frames(str(info.path), pix_fmt='rgb24')
    try:
        next(reader)
        taken = 0
        for index, raw in enumerate(reader):
            if index >= end:
                break
            if index < first or (index - first) % stride:
                continue
            if max_frames is not None and taken >= max_frames:
                break
            frame = np.frombuffer(raw, dtype=np.uint8).reshape(info.height, info.width, 3)
            taken += 1
            yield index, frame
    finally:
        reader.close()


def write_video_stream(path: str | Path, frames: Iterable[np.ndarray], fps: float) -> int:
    """Write RGB frames one by one to an H.264 MP4 (odd sizes lose a row/column); return count."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    count = 0
    try:
        for frame in frames:
            rgb = np.asarray(frame)
            even = rgb[:rgb.shape[0] // 2 * 2, :rgb.shape[1] // 2 * 2]
            if writer is None:
                # ffmpeg takes fractional rates; imageio-ffmpeg's annotation says int.
                writer = imageio_ffmpeg.write_frames(
                    str(out), (even.shape[1], even.shape[0]), fps=cast(int, fps), codec='libx264',
                    pix_fmt_in='rgb24', pix_fmt_out='yuv420p', macro_block_size=1,
                    ffmpeg_log_level='error')
                writer.send(None)
            writer.send(np.ascontiguousarray(even))
            count += 1
    finally:
        if writer is not None:
            writer.close()
    return count
