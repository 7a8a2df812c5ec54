"""Read the command-line tools' input files: scene images, depth images, number lists."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class InputFileError(ValueError):
    """An input file or option is missing, unreadable or not what it should be."""


def parse_floats(text: str, count: int, option: str) -> np.ndarray:
    """Parse `count` comma-separated finite numbers, or raise naming `option`."""
    try:
        values = np.array([float(v) for v in text.split(',')])
    except ValueError:
        values = np.zeros(0)
    if len(values) != count or not np.all(np.isfinite(values)):
        raise InputFileError(f'{option} {text!r}: expected {count} comma-separated numbers')
    return values


def read_rgb_image(path: str | Path, option: str = 'image') -> np.ndarray:
    """Read an 8-bit colour or grey image as (H, W, 3) uint8 RGB (alpha dropped)."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f'{option} {path}: file not found')
    try:
        img = np.asarray(iio.imread(path))
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputFileError(f'{option} {path}: unreadable image ({exc})') from exc
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
        raise InputFileError(f'{option} {path}: expected an 8-bit RGB(A) or grey image, got '
                             f'{img.dtype} {img.shape}')
    return np.ascontiguousarray(img[:, :, :3])


def read_depth_image(path: str | Path, option: str = 'depth') -> np.ndarray:
    """Read depth (H, W) float32 metres, NaN where invalid: .npy metres or 16-bit .png mm."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f'{option} {path}: file not found')
    if path.suffix.lower() == '.npy':
        depth = np.load(path)
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
            raise InputFileError(f'{option} {path}: expected a 2-D float array in metres, got '
                                 f'{depth.dtype} {depth.shape}')
        depth = depth.astype(np.float32)
        depth[~np.isfinite(depth) | (depth <= 0.0)] = np.nan
        return depth
    if path.suffix.lower() != '.png':
        raise InputFileError(f'{option} {path}: expected .npy (metres) or .png (16-bit '
                             'millimetres)')
    import imageio.v3 as iio

    raw = np.asarray(iio.imread(path))
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise InputFileError(f'{option} {path}: expected a single-channel 16-bit PNG in '
                             f'millimetres, got {raw.dtype} {raw.shape}')
    depth = raw.astype(np.float32) / 1000.0
    depth[raw == 0] = np.nan
    return depth
