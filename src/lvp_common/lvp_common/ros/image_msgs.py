"""sensor_msgs images (every encoding of `lvp_common.image_encoding` both ways, row padding
and big-endian data on input), compressed images, depth in metres and CameraInfo."""

from __future__ import annotations

import sys

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from lvp_common.artifacts import CameraIntrinsics
from lvp_common.image_encoding import ImageEncodingError, encoding_layout, to_rgb8

MAX_ROW_PADDING = 64
"""Most bytes of padding accepted at the end of an Image row (alignment is at most a cache
line); more means the data is not in the encoding it is labelled with."""


def image_to_numpy(msg: Image) -> np.ndarray:
    """Return the pixels of an Image: (H, W) for one channel, else (H, W, C), native dtype.

    Refuses an empty image, and a step or buffer size that does not fit width x bytes per
    pixel of the encoding (e.g. rgb8 bytes labelled mono16).
    """
    if msg.width == 0 or msg.height == 0 or len(msg.data) == 0:
        raise ImageEncodingError(f'empty image ({msg.width}x{msg.height} pixels, '
                                 f'{len(msg.data)} data bytes, encoding {msg.encoding!r})')
    layout = encoding_layout(msg.encoding)
    pixel_bytes = layout.channels * layout.dtype.itemsize
    row_bytes = msg.width * pixel_bytes
    name = f'Image {msg.width}x{msg.height} {msg.encoding}'
    if msg.step < row_bytes:
        raise ImageEncodingError(f'{name}: step {msg.step} is less than width x {pixel_bytes} '
                                 f'bytes per pixel = {row_bytes}')
    if msg.step - row_bytes >= MAX_ROW_PADDING:
        raise ImageEncodingError(
            f'{name}: step {msg.step} is {msg.step - row_bytes} bytes more than width x '
            f'{pixel_bytes} bytes per pixel = {row_bytes}: the data is not {msg.encoding} '
            f'(e.g. {msg.step // msg.width} bytes per pixel)')
    if len(msg.data) != msg.step * msg.height:
        raise ImageEncodingError(f'{name}: {len(msg.data)} data bytes, expected step '
                                 f'{msg.step} x height {msg.height} = {msg.step * msg.height}')
    buf = np.frombuffer(bytes(msg.data), dtype=np.uint8)[:msg.step * msg.height]
    rows = buf.reshape(msg.height, msg.step)[:, :row_bytes]
    dtype = layout.dtype.newbyteorder('>' if msg.is_bigendian else '<')
    pixels = np.ascontiguousarray(rows).view(dtype).astype(layout.dtype, copy=False)
    shape = (msg.height, msg.width) if layout.channels == 1 else (
        msg.height, msg.width, layout.channels)
    return pixels.reshape(shape)


def numpy_to_image(pixels: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """Build an Image from (H, W) or (H, W, C) pixels whose dtype matches `encoding`."""
    layout = encoding_layout(encoding)
    arr = np.asarray(pixels)
    channels = 1 if arr.ndim == 2 else arr.shape[2] if arr.ndim == 3 else -1
    if arr.dtype != layout.dtype or channels != layout.channels:
        raise ImageEncodingError(
            f'{encoding} needs {layout.dtype} with {layout.channels} channel(s), got '
            f'{arr.dtype} {arr.shape}')
    arr = np.ascontiguousarray(arr)
    msg = Image(header=header or Header(), height=arr.shape[0], width=arr.shape[1],
                encoding=encoding, is_bigendian=int(sys.byteorder == 'big'))
    msg.step = arr.shape[1] * layout.channels * layout.dtype.itemsize
    msg.data = arr.tobytes()
    return msg


def image_to_rgb8(msg: Image) -> np.ndarray:
    """Return an Image of any colour or mono encoding as RGB uint8 (H, W, 3)."""
    return to_rgb8(image_to_numpy(msg), msg.encoding)


def rgb8_to_image(rgb: np.ndarray, header: Header | None = None) -> Image:
    return numpy_to_image(rgb, 'rgb8', header)


def depth_image_to_metres(msg: Image) -> np.ndarray:
    """Return a depth Image as float32 metres, NaN where invalid (REP 118).

    Accepts 32FC1 (metres; NaN/inf/0 invalid) and 16UC1 / mono16 (millimetres; 0 invalid).
    Refuses negative depth and a depth image with no valid pixel.
    """
    pixels = image_to_numpy(msg)
    if msg.encoding.upper() == '32FC1':
        depth = pixels.astype(np.float32, copy=True)
    elif msg.encoding.upper() == '16UC1' or msg.encoding == 'mono16':
        depth = pixels.astype(np.float32) / 1000.0
    else:
        raise ImageEncodingError(f'depth image encoding {msg.encoding!r}: expected 32FC1 '
                                 '(metres) or 16UC1 (millimetres)')
    finite = np.isfinite(depth)
    negative = int(np.count_nonzero(finite & (depth < 0.0)))
    if negative:
        raise ImageEncodingError(f'depth image: {negative} pixel(s) of negative depth (min '
                                 f'{float(depth[finite].min()):.3g} m)')
    depth[~finite | (depth <= 0.0)] = np.nan
    if not np.isfinite(depth).any():
        raise ImageEncodingError(f'depth image {msg.width}x{msg.height} {msg.encoding}: no '
                                 'valid depth pixel (all NaN, inf or 0)')
    return depth


def metres_to_depth_image(depth: np.ndarray, header: Header | None = None) -> Image:
    return numpy_to_image(np.asarray(depth, dtype=np.float32), '32FC1', header)


def compressed_image_to_numpy(msg: CompressedImage) -> np.ndarray:
    """Decode a CompressedImage (jpeg/png): RGB uint8 (H, W, 3) for colour, (H, W) for mono."""
    import cv2

    decoded = cv2.imdecode(np.frombuffer(bytes(msg.data), dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ImageEncodingError(f'CompressedImage ({msg.format!r}, {len(msg.data)} bytes) '
                                 'could not be decoded')
    if decoded.ndim == 3 and decoded.shape[2] == 3:
        return np.ascontiguousarray(decoded[:, :, ::-1])
    if decoded.ndim == 3 and decoded.shape[2] == 4:
        return np.ascontiguousarray(decoded[:, :, [2, 1, 0, 3]])
    return decoded


def numpy_to_compressed_image(pixels: np.ndarray, fmt: str = 'jpeg', quality: int = 90,
                              header: Header | None = None) -> CompressedImage:
    """Encode RGB (H, W, 3) or mono (H, W) pixels as a jpeg or png CompressedImage."""
    import cv2

    arr = np.asarray(pixels)
    if fmt not in ('jpeg', 'png'):
        raise ImageEncodingError(f'compressed format {fmt!r}: expected "jpeg" or "png"')
    bgr = arr[:, :, ::-1] if arr.ndim == 3 else arr
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if fmt == 'jpeg' else []
    ok, data = cv2.imencode('.jpg' if fmt == 'jpeg' else '.png', bgr, params)
    if not ok:
        raise ImageEncodingError(f'could not encode a {arr.dtype} {arr.shape} image as {fmt}')
    encoding = 'rgb8' if arr.ndim == 3 else ('mono8' if arr.dtype == np.uint8 else 'mono16')
    return CompressedImage(header=header or Header(), format=f'{encoding}; {fmt} compressed',
                           data=data.tobytes())


# ---------------------------------------------------------------- camera


def camera_info_to_intrinsics(msg: CameraInfo) -> CameraIntrinsics:
    k = msg.k
    return CameraIntrinsics(fx=float(k[0]), fy=float(k[4]), cx=float(k[2]), cy=float(k[5]),
                            width=int(msg.width), height=int(msg.height),
                            distortion=np.asarray(msg.d, dtype=np.float64))


def intrinsics_to_camera_info(intrinsics: CameraIntrinsics,
                              header: Header | None = None) -> CameraInfo:
    k = intrinsics.matrix
    p = np.zeros((3, 4))
    p[:, :3] = k
    return CameraInfo(header=header or Header(), width=intrinsics.width,
                      height=intrinsics.height, distortion_model='plumb_bob',
                      d=[float(x) for x in intrinsics.distortion],
                      k=[float(x) for x in k.ravel()],
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      p=[float(x) for x in p.ravel()])
