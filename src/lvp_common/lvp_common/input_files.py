"""Read the command-line tools' input files: scene images, depth images, number lists, poses."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from lvp_common.artifacts import CameraIntrinsics
from lvp_common.geometry import Pose


class InputFileError(ValueError):
    """An input file or option is missing, unreadable or not what it should be."""


def parse_floats(text: str, count: int, option: str) -> np.ndarray:
    """Parse `count` comma-separated finite numbers, or raise naming `option`."""
    try:
        values = np.array([float(v) for v in text.split(',')])
    except ValueError:
        values = np.zeros(0)
    if len(values) != count or not np.all(np.isfinite(values)):
        raise InputFileError(f'{option} {text!r}: expected {count} comma-separated finite '
                             'numbers')
    return values


def parse_intrinsics(text: str, width: int, height: int,
                     option: str = '--intrinsics') -> CameraIntrinsics:
    """Parse 'fx,fy,cx,cy' (pixels) for an image of width x height, or raise naming `option`."""
    fx, fy, cx, cy = parse_floats(text, 4, option)
    try:
        return CameraIntrinsics(float(fx), float(fy), float(cx), float(cy), int(width),
                                int(height))
    except ValueError as exc:
        raise InputFileError(f'{option} {text!r}: {exc}') from exc


def parse_pose(text: str, option: str = '--camera-to-base') -> Pose:
    """Parse 'x,y,z,qx,qy,qz,qw' (metres, unit quaternion), or raise naming `option`."""
    values = parse_floats(text, 7, option)
    norm = float(np.linalg.norm(values[3:]))
    if norm < 1e-9:
        raise InputFileError(f'{option} {text!r}: the quaternion (qx, qy, qz, qw) is zero')
    if abs(norm - 1.0) > 0.01:
        raise InputFileError(f'{option} {text!r}: the quaternion (qx, qy, qz, qw) has norm '
                             f'{norm:.4g}; expected a unit quaternion')
    return Pose(values[:3], values[3:])


def read_rgb_image(path: str | Path, option: str = 'image') -> np.ndarray:
    """Read an 8-bit colour or grey image as (H, W, 3) uint8 RGB (alpha dropped)."""
    import imageio.v3 as iio

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f'{option} {path}: file not found')
    try:
        img = np.asarray(iio.imread(path))
    except Exception as exc:  # imageio raises whatever its plugins raise on a broken file
        raise InputFileError(f'{option} {path}: not a readable image (png/jpg): '
                             f'{_first_line(exc)}') from exc
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4):
        raise InputFileError(f'{option} {path}: expected an 8-bit RGB(A) or grey image, got '
                             f'{img.dtype} {img.shape}')
    if min(img.shape[:2]) < 2:
        raise InputFileError(f'{option} {path}: image is {img.shape[1]}x{img.shape[0]} pixels')
    return np.ascontiguousarray(img[:, :, :3])


def read_depth_image(path: str | Path, option: str = 'depth',
                     size: tuple[int, int] | None = None) -> np.ndarray:
    """Read depth (H, W) float32 metres, NaN where invalid: .npy metres or 16-bit .png mm.

    size: the (width, height) the depth must have (the scene image's). Refuses negative
    depth and a depth image with no valid pixel.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f'{option} {path}: file not found')
    if path.suffix.lower() == '.npy':
        depth = _load_npy(path, option)
        if depth.ndim != 2 or not np.issubdtype(depth.dtype, np.floating):
            raise InputFileError(f'{option} {path}: expected a 2-D float array in metres, got '
                                 f'{depth.dtype} {depth.shape}')
        depth = depth.astype(np.float32)
        finite = np.isfinite(depth)
        negative = int(np.count_nonzero(finite & (depth < 0.0)))
        if negative:
            raise InputFileError(f'{option} {path}: {negative} pixel(s) of negative depth (min '
                                 f'{float(depth[finite].min()):.3g} m); expected metres >= 0, '
                                 'NaN or 0 where invalid')
        depth[~finite | (depth <= 0.0)] = np.nan
    elif path.suffix.lower() == '.png':
        import imageio.v3 as iio

        try:
            raw = np.asarray(iio.imread(path))
        except Exception as exc:  # imageio raises whatever its plugins raise on a broken file
            raise InputFileError(f'{option} {path}: not a readable PNG: {_first_line(exc)}'
                                 ) from exc
        if raw.dtype != np.uint16 or raw.ndim != 2:
            raise InputFileError(f'{option} {path}: expected a single-channel 16-bit PNG in '
                                 f'millimetres, got {raw.dtype} {raw.shape}')
        depth = raw.astype(np.float32) / 1000.0
        depth[raw == 0] = np.nan
    else:
        raise InputFileError(f'{option} {path}: expected .npy (metres) or .png (16-bit '
                             'millimetres)')
    if not np.isfinite(depth).any():
        raise InputFileError(f'{option} {path}: no valid depth pixel (all NaN, 0 or negative)')
    if size is not None and (depth.shape[1], depth.shape[0]) != tuple(size):
        raise InputFileError(f'{option} {path}: is {depth.shape[1]}x{depth.shape[0]} pixels, '
                             f'the image is {size[0]}x{size[1]}; give depth registered to it')
    return depth


def _load_npy(path: Path, option: str) -> np.ndarray:
    """np.load a .npy file that must hold one plain array (no pickles)."""
    if zipfile.is_zipfile(path):
        raise InputFileError(f'{option} {path}: is an .npz archive renamed .npy; save the depth '
                             'with np.save (one array)')
    try:
        data = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputFileError(f'{option} {path}: not a NumPy .npy array: {_first_line(exc)}'
                             ) from exc
    if not isinstance(data, np.ndarray):
        raise InputFileError(f'{option} {path}: not a NumPy .npy array')
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
