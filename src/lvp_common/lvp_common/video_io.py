"""Read and write videos as RGB uint8 frame arrays (imageio + its bundled ffmpeg)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class VideoReadError(OSError):
    """A video file is missing, unreadable, or holds no frames in the asked range."""


MAX_CORRUPT_FRACTION = 0.1
"""Most frames of a video that may fail to decode (or decode corrupt) before it is refused."""


@dataclass(frozen=True)
class DecodeCheck:
    """What FFmpeg reported decoding a video's first video stream."""

    packets: int
    corrupt_frames: int
    """Frames FFmpeg could not decode, or decoded with concealed (corrupt) blocks."""

    @property
    def corrupt_fraction(self) -> float:
        return self.corrupt_frames / max(self.packets, 1)

    def note(self, path: str | Path) -> str:
        """A one-line report for users ('' when the video decoded cleanly)."""
        if not self.corrupt_frames:
            return ''
        return (f'video {path}: {self.corrupt_frames} of {self.packets} frames failed to decode '
                f'or decoded corrupt ({100 * self.corrupt_fraction:.1f} %); FFmpeg concealed them')


_FAILURE = re.compile(r'Invalid data|No such file|does not contain|matches no streams|[Ee]rror')
_SUMMARY = re.compile(r'(\d+) packets read.*?(\d+) frames decoded(?:; (\d+) decode errors)?')


def check_video_decoding(path: str | Path) -> DecodeCheck:
    """Decode the video's first video stream (to nowhere) and count its bad frames.

    Costs one decode of the file (FFmpeg alone, no frame is copied to Python).
    """
    from imageio_ffmpeg import get_ffmpeg_exe

    # one decoder thread: with frame threading, how many frames FFmpeg reports corrupt depends
    # on the threads' timing (the count varied under load)
    cmd = [get_ffmpeg_exe(), '-nostdin', '-v', 'verbose', '-threads', '1', '-i', str(path),
           '-map', '0:v:0', '-f', 'null', '-']
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, errors='replace',
                              timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VideoReadError(f'cannot decode video {path}: {exc}') from exc
    log = done.stderr
    corrupt = log.count('corrupt decoded frame')
    summary = _SUMMARY.search(log)
    if done.returncode != 0 or summary is None:
        reasons = [re.sub(r'\[[^\]]*@ 0x[0-9a-f]+\] ?', '', line).strip()
                   for line in log.splitlines() if _FAILURE.search(line)]
        raise VideoReadError(f'cannot decode video {path}: not a video FFmpeg can read ('
                             f'{reasons[0] if reasons else f"exit status {done.returncode}"})')
    packets, errors = int(summary.group(1)), int(summary.group(3) or 0)
    return DecodeCheck(packets, min(packets, corrupt + errors))


def decode_note(path: str | Path, max_corrupt_fraction: float = MAX_CORRUPT_FRACTION) -> str:
    """Refuse a video with too many bad frames (VideoReadError); else say which went bad."""
    check = check_video_decoding(path)
    if check.corrupt_fraction > max_corrupt_fraction:
        raise VideoReadError(f'{check.note(path)}: more than {100 * max_corrupt_fraction:g} % '
                             'of the frames; refusing it')
    return check.note(path)


@dataclass(frozen=True)
class VideoClip:
    """Frames (T, H, W, 3) uint8 RGB at `fps`; source_fps and source_size describe the file.

    decode_note: what went wrong decoding the file ('' when nothing did).
    """

    frames: np.ndarray
    fps: float
    source_fps: float
    source_size: tuple[int, int]
    decode_note: str = ''
    fit: FrameFit | None = None
    """How the frames were fitted to the asked size (None: kept at the file's size)."""


FIT_MODES = ('letterbox', 'crop')
"""How a frame of another aspect ratio is fitted to a size: 'letterbox' scales it to fit inside
and pads the rest (black; depth NaN), keeping the whole view; 'crop' scales it to cover and cuts
the centre out, losing the borders."""


@dataclass(frozen=True)
class FrameFit:
    """A frame of `source_size` (w, h) fitted to `target_size`: scaled by `scale` (x, y) to
    `scaled_size`, then placed at `offset` (x, y) pixels (negative: cropped). Pixel centres map
    as x' = (x + 0.5) * scale_x - 0.5 + offset_x."""

    mode: str
    source_size: tuple[int, int]
    target_size: tuple[int, int]
    scaled_size: tuple[int, int]
    offset: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        return (self.scaled_size[0] / self.source_size[0],
                self.scaled_size[1] / self.source_size[1])

    @property
    def is_identity(self) -> bool:
        return self.source_size == self.target_size

    def note(self) -> str:
        """One line for users: what was done to the frames ('' when nothing was)."""
        if self.is_identity:
            return ''
        (sw, sh), (tw, th), (nw, nh) = self.source_size, self.target_size, self.scaled_size
        head = f'{sw}x{sh} fitted to {tw}x{th}: scaled {self.scale[0]:.3f} to {nw}x{nh}'
        ox, oy = self.offset
        if self.mode == 'letterbox':
            pads = [f'{p} px {side}' for p, side in ((ox, 'left and right'),
                                                     (oy, 'top and bottom')) if p]
            what = f', padded {" / ".join(pads)} (letterbox: the whole view kept)' if pads else ''
        else:
            cuts = [f'{-c} px {side}' for c, side in ((ox, 'left and right'),
                                                      (oy, 'top and bottom')) if c]
            what = f', cropped {" / ".join(cuts)} (the borders are lost)' if cuts else ''
        return f'{head}{what}; intrinsics adjusted to match'

    def intrinsics(self, intrinsics):
        """Return lvp_common CameraIntrinsics of the source frame, for the fitted frame."""
        from dataclasses import replace

        sx, sy = self.scale
        ox, oy = self.offset
        if (intrinsics.width, intrinsics.height) != self.source_size:
            raise ValueError(f'intrinsics are for {intrinsics.width}x{intrinsics.height}, the '
                             f'frames are {self.source_size[0]}x{self.source_size[1]}')
        return replace(intrinsics, fx=intrinsics.fx * sx, fy=intrinsics.fy * sy,
                       cx=(intrinsics.cx + 0.5) * sx - 0.5 + ox,
                       cy=(intrinsics.cy + 0.5) * sy - 0.5 + oy,
                       width=self.target_size[0], height=self.target_size[1])

    def apply(self, image: np.ndarray, fill: float = 0) -> np.ndarray:
        """Fit one image (H, W[, C]) of source_size: RGB frames, or depth (fill NaN)."""
        import cv2

        h, w = image.shape[:2]
        if (w, h) != self.source_size:
            raise ValueError(f'image is {w}x{h}, this fit is for {self.source_size[0]}x'
                             f'{self.source_size[1]}')
        if self.is_identity:
            return image
        nw, nh = self.scaled_size
        if image.dtype == np.uint8:
            interp = cv2.INTER_AREA if nw < w else cv2.INTER_CUBIC
        else:  # depth: never blend across a depth edge or into NaN
            interp = cv2.INTER_NEAREST
        resized = cv2.resize(image, (nw, nh), interpolation=interp)
        tw, th = self.target_size
        out = np.full((th, tw) + image.shape[2:], fill, dtype=image.dtype)
        ox, oy = self.offset
        # the part of the resized image that lands inside the target
        x0, y0 = max(0, -ox), max(0, -oy)
        x1, y1 = min(nw, tw - ox), min(nh, th - oy)
        out[y0 + oy:y1 + oy, x0 + ox:x1 + ox] = resized[y0:y1, x0:x1]
        return np.ascontiguousarray(out)


def frame_fit(source_size: tuple[int, int], target_size: tuple[int, int],
              mode: str = 'letterbox') -> FrameFit:
    """How frames of source_size (w, h) become target_size: 'letterbox' or 'crop' (FIT_MODES)."""
    if mode not in FIT_MODES:
        raise ValueError(f'fit mode {mode!r}: expected one of {", ".join(FIT_MODES)}')
    (w, h), (tw, th) = source_size, target_size
    pick = min if mode == 'letterbox' else max
    scale = pick(tw / w, th / h)
    nw, nh = round(w * scale), round(h * scale)
    if mode == 'letterbox':
        nw, nh = min(tw, nw), min(th, nh)
    else:
        nw, nh = max(tw, nw), max(th, nh)
    # letterbox: pad half the slack on the left/top; crop: cut half the excess there
    offset = (((tw - nw) // 2, (th - nh) // 2) if mode == 'letterbox' else
              (-((nw - tw) // 2), -((nh - th) // 2)))
    return FrameFit(mode, (int(w), int(h)), (int(tw), int(th)), (nw, nh), offset)


def fit_to_size(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover (width, height) keeping the aspect ratio, then centre-crop to it."""
    h, w = frame.shape[:2]
    return frame_fit((w, h), (width, height), 'crop').apply(frame)


def read_video(path: str | Path, fps: float | None = None, size: tuple[int, int] | None = None,
               start_s: float = 0.0, duration_s: float | None = None,
               should_stop: Callable[[], bool] | None = None,
               max_corrupt_fraction: float | None = MAX_CORRUPT_FRACTION,
               fit: str = 'crop') -> VideoClip:
    """Read a video file, resampled to `fps` (nearest frame) and fitted to `size` = (w, h)
    (`fit`: 'crop' or 'letterbox', FIT_MODES; the clip's `fit` says what was done).

    Keeps the file's own rate and size where they are None. Raises VideoReadError naming the
    file when it cannot be read, the range holds no frame, or more than max_corrupt_fraction
    of its frames fail to decode (None: no decode check); fewer bad frames are reported in
    the clip's decode_note.
    """
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise VideoReadError(f'video file not found: {path}')
    note = '' if max_corrupt_fraction is None else decode_note(path, max_corrupt_fraction)
    try:
        meta = iio.immeta(path, plugin='FFMPEG')
        source_fps = float(meta['fps'])
        source_size = (int(meta['size'][0]), int(meta['size'][1]))
        fitting = None if size is None else frame_fit(source_size, size, fit)
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
                frames.append(frame if fitting is None else fitting.apply(frame))
                next_time = start_s + len(frames) / out_fps
    except (OSError, RuntimeError, KeyError, ValueError) as exc:
        raise VideoReadError(f'cannot read video {path}: {exc}') from exc
    if not frames:
        raise VideoReadError(f'video {path} has no frames between {start_s} s and {end_s} s')
    return VideoClip(np.stack(frames), out_fps, source_fps, source_size, note, fitting)


def write_video(path: str | Path, frames: np.ndarray, fps: float) -> Path:
    """Write RGB uint8 frames (T, H, W, 3) as an H.264 mp4 (or any format imageio knows).

    The file appears at `path` complete or not at all (written as <stem>.partial<suffix>,
    then renamed).
    """
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.asarray(frames)
    # yuv420p needs even sizes
    h, w = arr.shape[1] - arr.shape[1] % 2, arr.shape[2] - arr.shape[2] % 2
    partial = path.with_name(f'{path.stem}.partial{path.suffix}')
    try:
        iio.imwrite(partial, arr[:, :h, :w], fps=fps, plugin='FFMPEG', codec='libx264',
                    macro_block_size=1)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)
    return path
