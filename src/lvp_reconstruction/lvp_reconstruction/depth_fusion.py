"""Fix the hand's metric scale with a depth image, and reject depths the scene rules out.

Two kinds of depth are handled:
- scene depth (the robot camera's depth at planning time, the hand absent): the hand is always
  in front of the scene, and touches it somewhere during a manipulation. For a keypoint at model
  depth z over a surface at depth D, the scale that puts it on the surface is
  r = (D - contact_offset_m) / z (a keypoint sits ~1 cm in front of a surface it touches). Per
  frame, the hand's closest-to-contact value rho_t is the `contact_keypoints`-th smallest r; the
  scale is a low quantile of rho_t over frames (the frames in contact). Applied only when it lies
  in [min_scale, max_scale]: a larger value means the hand never touched the scene (kept as is,
  reported), a smaller one that the depth and the fit disagree (kept as is, reported).
  After scaling, a frame whose `contact_keypoints` or more keypoints lie behind the surface by
  more than behind_margin_m is rejected (impossible: the hand would be inside the scene).
- hand depth (per-frame depth of the video itself, e.g. MegaSaM): the depth at a keypoint is the
  hand's skin; r = (D + hand_surface_offset_m) / z, median over keypoints, then over frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DepthFusionError(ValueError):
    """Depth inputs are inconsistent (shapes, parameters)."""


@dataclass(frozen=True)
class DepthFusionConfig:
    """Parameters of depth fusion (metres, pixels).

    enabled: use a depth image when one is given.
    window_px: side of the square window whose median depth is read at each keypoint.
    contact_offset_m: keypoint centre in front of a surface the hand touches.
    contact_keypoints: how many keypoints must agree (k-th smallest ratio; robust to one).
    contact_frame_quantile: quantile of per-frame contact ratios taken as the scale.
    min_scale / max_scale: range of scale corrections accepted from scene depth.
    behind_margin_m: how far behind the scene surface a keypoint may appear before its frame is
      rejected (keypoint error, depth noise, thin objects).
    hand_surface_offset_m: keypoint centre behind the visible skin (hand depth mode).
    min_valid_keypoints: keypoints with valid depth needed to use a frame.
    """

    enabled: bool = True
    window_px: int = 5
    contact_offset_m: float = 0.01
    contact_keypoints: int = 2
    contact_frame_quantile: float = 0.05
    min_scale: float = 0.8
    max_scale: float = 1.25
    behind_margin_m: float = 0.05
    hand_surface_offset_m: float = 0.01
    min_valid_keypoints: int = 3

    def __post_init__(self) -> None:
        if self.window_px < 1:
            raise DepthFusionError(f'window_px must be >= 1, got {self.window_px}')
        if not 0.0 < self.min_scale <= 1.0 <= self.max_scale:
            raise DepthFusionError(f'need 0 < min_scale <= 1 <= max_scale, got '
                                   f'{self.min_scale}, {self.max_scale}')
        if not 0.0 <= self.contact_frame_quantile <= 1.0:
            raise DepthFusionError(f'contact_frame_quantile must be in [0, 1], got '
                                   f'{self.contact_frame_quantile}')


@dataclass(frozen=True)
class DepthScale:
    """Outcome of depth fusion: the factor applied (1.0 when none) and why."""

    factor: float
    estimate: float | None
    applied: bool
    status: str
    frames_used: int


def sample_depth(depth: np.ndarray, pixels, window_px: int = 5) -> np.ndarray:
    """Return the median valid depth (metres) in a window at each pixel (..., 2); NaN if none."""
    d = np.asarray(depth, dtype=np.float64)
    px = np.asarray(pixels, dtype=np.float64)
    flat = px.reshape(-1, 2)
    out = np.full(len(flat), np.nan)
    h, w = d.shape
    half = window_px // 2
    d = np.where(d > 0.0, d, np.nan)  # 0 also marks invalid depth in 16UC1 images
    for i, (u, v) in enumerate(flat):
        if not (np.isfinite(u) and np.isfinite(v)):
            continue
        x, y = int(round(u)), int(round(v))
        if not (0 <= x < w and 0 <= y < h):
            continue
        patch = d[max(y - half, 0):y + half + 1, max(x - half, 0):x + half + 1]
        if np.any(np.isfinite(patch)):
            out[i] = np.nanmedian(patch)
    return out.reshape(px.shape[:-1])


def scene_contact_scale(model_depth, scene_depth, valid, config: DepthFusionConfig
                        ) -> DepthScale:
    """Estimate the hand scale from scene depth (T, N) behind keypoints at model depth (T, N)."""
    z = np.asarray(model_depth, dtype=np.float64)
    d = np.asarray(scene_depth, dtype=np.float64)
    if z.shape != d.shape:
        raise DepthFusionError(f'model depth {z.shape} and scene depth {d.shape} differ')
    ratios = (d - config.contact_offset_m) / z
    rho = []
    for t in np.flatnonzero(valid):
        r = np.sort(ratios[t][np.isfinite(ratios[t]) & (z[t] > 0.0)])
        if len(r) >= max(config.min_valid_keypoints, config.contact_keypoints):
            rho.append(r[config.contact_keypoints - 1])
    if not rho:
        return DepthScale(1.0, None, False, 'no frame has enough keypoints over valid depth', 0)
    estimate = float(np.quantile(rho, config.contact_frame_quantile))
    if estimate > config.max_scale:
        return DepthScale(1.0, estimate, False,
                          f'no contact with the scene seen (scale {estimate:.3f} > '
                          f'{config.max_scale}); scale kept', len(rho))
    if estimate < config.min_scale:
        return DepthScale(1.0, estimate, False,
                          f'depth puts the hand far inside the scene (scale {estimate:.3f} < '
                          f'{config.min_scale}); scale kept', len(rho))
    return DepthScale(estimate, estimate, True, 'scale fixed by contact with the scene',
                      len(rho))


def hand_surface_scale(model_depth, hand_depth, valid, config: DepthFusionConfig) -> DepthScale:
    """Estimate the hand scale from per-frame depth (T, N) of the hand's own surface."""
    z = np.asarray(model_depth, dtype=np.float64)
    d = np.asarray(hand_depth, dtype=np.float64)
    if z.shape != d.shape:
        raise DepthFusionError(f'model depth {z.shape} and hand depth {d.shape} differ')
    ratios = (d + config.hand_surface_offset_m) / z
    per_frame = []
    for t in np.flatnonzero(valid):
        r = ratios[t][np.isfinite(ratios[t]) & (z[t] > 0.0)]
        if len(r) >= config.min_valid_keypoints:
            per_frame.append(np.median(r))
    if not per_frame:
        return DepthScale(1.0, None, False, 'no frame has enough keypoints over valid depth', 0)
    estimate = float(np.median(per_frame))
    return DepthScale(estimate, estimate, True, 'scale fixed by per-frame depth of the hand',
                      len(per_frame))


def behind_scene(model_depth, scene_depth, config: DepthFusionConfig) -> np.ndarray:
    """Return (T,) True where `contact_keypoints`+ keypoints lie behind the scene surface."""
    z = np.asarray(model_depth, dtype=np.float64)
    d = np.asarray(scene_depth, dtype=np.float64)
    with np.errstate(invalid='ignore'):
        behind = np.isfinite(d) & (z > d + config.behind_margin_m)
    return behind.sum(axis=1) >= config.contact_keypoints
