"""sensor_msgs/Image encodings: names -> numpy layout, with no ROS import.

Covers the encodings of REP 118 and sensor_msgs/image_encodings.hpp that carry plain pixel
arrays: colour (rgb/bgr/rgba/bgra, 8 and 16 bit), mono8/mono16, the OpenCV-style
`<bits><U|S|F>C<channels>` names and the Bayer mosaics (returned as one raw channel).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np


class ImageEncodingError(ValueError):
    """An image encoding is unknown or does not match the data."""


@dataclass(frozen=True)
class EncodingLayout:
    dtype: np.dtype
    channels: int
    # Channel order of colour encodings ('rgb', 'bgr', 'rgba', 'bgra'); '' for the others.
    order: str = ''


_CV_TYPE = re.compile(r'^(8|16|32|64)(U|S|F)C([1-4])$')
_CV_DTYPES = {('8', 'U'): np.uint8, ('8', 'S'): np.int8, ('16', 'U'): np.uint16,
              ('16', 'S'): np.int16, ('32', 'S'): np.int32, ('32', 'F'): np.float32,
              ('64', 'F'): np.float64}

_NAMED = {
    'rgb8': EncodingLayout(np.dtype(np.uint8), 3, 'rgb'),
    'bgr8': EncodingLayout(np.dtype(np.uint8), 3, 'bgr'),
    'rgba8': EncodingLayout(np.dtype(np.uint8), 4, 'rgba'),
    'bgra8': EncodingLayout(np.dtype(np.uint8), 4, 'bgra'),
    'rgb16': EncodingLayout(np.dtype(np.uint16), 3, 'rgb'),
    'bgr16': EncodingLayout(np.dtype(np.uint16), 3, 'bgr'),
    'rgba16': EncodingLayout(np.dtype(np.uint16), 4, 'rgba'),
    'bgra16': EncodingLayout(np.dtype(np.uint16), 4, 'bgra'),
    'mono8': EncodingLayout(np.dtype(np.uint8), 1),
    'mono16': EncodingLayout(np.dtype(np.uint16), 1),
}
for _pattern in ('rggb', 'bggr', 'gbrg', 'grbg'):
    _NAMED[f'bayer_{_pattern}8'] = EncodingLayout(np.dtype(np.uint8), 1)
    _NAMED[f'bayer_{_pattern}16'] = EncodingLayout(np.dtype(np.uint16), 1)


def encoding_layout(encoding: str) -> EncodingLayout:
    """Return the numpy dtype and channel count of an image encoding name."""
    if not encoding:
        raise ImageEncodingError('the image has no encoding (empty encoding field)')
    if encoding in _NAMED:
        return _NAMED[encoding]
    match = _CV_TYPE.match(encoding.upper())
    if match and (match.group(1), match.group(2)) in _CV_DTYPES:
        return EncodingLayout(np.dtype(_CV_DTYPES[(match.group(1), match.group(2))]),
                              int(match.group(3)))
    raise ImageEncodingError(
        f'unsupported image encoding {encoding!r}; supported: {", ".join(sorted(_NAMED))} '
        'and <8|16|32|64><U|S|F>C<1-4>')


def to_rgb8(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """Convert an image array of a colour or mono encoding to RGB uint8 (H, W, 3)."""
    layout = encoding_layout(encoding)
    arr = np.asarray(pixels)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if layout.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif layout.dtype != np.uint8:
        raise ImageEncodingError(f'cannot show a {encoding} image as RGB: expected a colour or '
                                 'mono encoding')
    if encoding.startswith('bayer_'):
        raise ImageEncodingError(f'{encoding}: debayer the image before planning')
    if layout.order in ('bgr', 'bgra'):
        arr = arr[:, :, 2::-1]
    elif arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    else:
        arr = arr[:, :, :3]
    return np.ascontiguousarray(arr, dtype=np.uint8)
