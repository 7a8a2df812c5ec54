"""Fix the hand's metric scale with a depth image, and reject depths the scene rules out.

Two kinds of depth are handled:
- scene depth (the robot camera's depth at planning time, the hand absent): the hand is always
  in front of the scene, and touches it somewhere during a manipulation. For a keypoint at model
  depth z over a surface at depth D, the scale that puts it on the surface is
  r = (D - contact_offset_m) / z (a keypoint sits ~1 cm in front of a surface it touches). Per
  frame, the hand's closest-to-contact value rho_t is the `contact_keypoints`-th smallest r
  (rho_t bounds that frame's scale from above: the hand is in front of the scene). A hand
  touches the scene over a stretch of frames (a grasp, a push, a press), and a monocular fit's
  per-frame scale wanders by ~10 % with the pose (MediaPipe's fist looks farther away than it
  is), so the clip's scale is the median of rho_t over the lowest `contact_frame_fraction` of
  frames (the contact stretch), not its single smallest value, which picks the frame whose fit is
  farthest off. Applied only when it lies in [min_scale, max_scale]: a larger value means the
  hand never touched the scene (kept as is, reported), a smaller one that the depth and the fit
  disagree (kept as is, reported).
  After scaling, a frame whose rho_t is below the clip's scale would put the hand inside the
  scene: by up to `max_surface_pull` (relative) it is pulled forward onto the surface (its own
  scale becomes rho_t: the hand is touching there); beyond that, a frame whose
  `contact_keypoints` or more keypoints lie behind the surface by more than behind_margin_m is
  rejected (impossible, or a keypoint hidden behind an object).
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
    contact_scale: apply the clip scale measured from contact with scene depth (below). Off by
      default: on the synthetic demonstrations it was biased (fingers wrapped around a grasped
      cube lie behind its visible face; a tracker's fingertip depth is unreliable) and made the
      constant-size hand's depth worse (reach_grasp_lift median 33 -> 79 mm); the estimate is
      still reported, and the behind-the-scene rejection always runs.
    window_px: side of the square window whose median depth is read at each keypoint.
    contact_offset_m: keypoint centre in front of a surface the hand touches.
    contact_keypoints: how many keypoints must agree (k-th smallest ratio; robust to one).
    contact_frame_fraction: share of frames (those with the smallest contact ratios) taken as
      the contact stretch; the median of their ratios is the scale.
    max_surface_pull: largest relative scale decrease applied to one frame to bring a hand that
      lies inside the scene onto its surface (0 disables the per-frame correction).
    min_scale / max_scale: range of scale corrections accepted from scene depth.
    behind_margin_m: how far behind the scene surface a keypoint may appear before its frame is
      rejected (keypoint error, depth noise, thin objects).
    hand_surface_offset_m: keypoint centre behind the visible skin (hand depth mode).
    min_valid_keypoints: keypoints with valid depth needed to use a frame.
    """

    enabled: bool = True
    contact_scale: bool = False
    window_px: int = 5
    contact_offset_m: float = 0.01
    contact_keypoints: int = 2
    contact_frame_fraction: float = 0.1
    max_surface_pull: float = 0.2
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
        if not 0.0 < self.contact_frame_fraction <= 1.0:
            raise DepthFusionError(f'contact_frame_fraction must be in (0, 1], got '
                                   f'{self.contact_frame_fraction}')
        if not 0.0 <= self.max_surface_pull < 1.0:
            raise DepthFusionError(f'max_surface_pull must be in [0, 1), got '
                                   f'{self.max_surface_pull}')


@dataclass(frozen=True)
class DepthScale:
    """Outcome of depth fusion: the factor applied (1.0 when none) and why.

    frame_factors (T,): per-frame factor on top of `factor` (1 except frames pulled onto the
    scene's surface); None when no per-frame correction was made.
    source: what measured the scale ('scene contact', 'hand depth'; 'none' when nothing did).
    residual: the measurement's robust spread relative to its estimate (median absolute
    deviation of the frames' ratios over the estimate); None when nothing was measured.
    """

    factor: float
    estimate: float | None
    applied: bool
    status: str
    frames_used: int
    frame_factors: np.ndarray | None = None
    source: str = 'none'
    residual: float | None = None


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


def contact_ratios(model_depth, scene_depth, valid, config: DepthFusionConfig) -> np.ndarray:
    """Return (T,) rho_t, the scale putting frame t's hand on the scene (NaN: not measured)."""
    z = np.asarray(model_depth, dtype=np.float64)
    d = np.asarray(scene_depth, dtype=np.float64)
    if z.shape != d.shape:
        raise DepthFusionError(f'model depth {z.shape} and scene depth {d.shape} differ')
    with np.errstate(invalid='ignore', divide='ignore'):
        ratios = (d - config.contact_offset_m) / z
    rho = np.full(len(z), np.nan)
    for t in np.flatnonzero(np.asarray(valid, dtype=bool)):
        r = np.sort(ratios[t][np.isfinite(ratios[t]) & (z[t] > 0.0)])
        if len(r) >= max(config.min_valid_keypoints, config.contact_keypoints):
            rho[t] = r[config.contact_keypoints - 1]
    return rho


def scene_contact_scale(model_depth, scene_depth, valid, config: DepthFusionConfig
                        ) -> DepthScale:
    """Estimate the hand scale from scene depth (T, N) behind keypoints at model depth (T, N)."""
    rho_t = contact_ratios(model_depth, scene_depth, valid, config)
    rho = np.sort(rho_t[np.isfinite(rho_t)])
    if not len(rho):
        return DepthScale(1.0, None, False, 'no frame has enough keypoints over valid depth', 0)
    stretch = max(1, int(round(config.contact_frame_fraction * len(rho))))
    estimate = float(np.median(rho[:stretch]))
    residual = float(np.median(np.abs(rho[:stretch] - estimate)) / estimate)
    measured = f'{100.0 * residual:.1f} % residual over {stretch} contact frames'
    if estimate > config.max_scale:
        return DepthScale(1.0, estimate, False,
                          f'no contact with the scene seen (scale {estimate:.3f} > '
                          f'{config.max_scale}; {measured}); scale kept', len(rho),
                          source='scene contact', residual=residual)
    if estimate < config.min_scale:
        return DepthScale(1.0, estimate, False,
                          f'depth puts the hand far inside the scene (scale {estimate:.3f} < '
                          f'{config.min_scale}; {measured}); scale kept', len(rho),
                          source='scene contact', residual=residual)
    frame_factors = np.ones(len(rho_t))
    if config.max_surface_pull > 0.0:
        with np.errstate(invalid='ignore'):
            pull = rho_t / estimate
            inside = np.isfinite(pull) & (pull < 1.0) & (pull >= 1.0 - config.max_surface_pull)
        frame_factors[inside] = pull[inside]
    status = f'scale {estimate:.3f} fixed by contact with the scene ({measured})'
    if np.any(frame_factors < 1.0):
        status += (f'; {int(np.sum(frame_factors < 1.0))} frames pulled onto the surface (by up '
                   f'to {100.0 * (1.0 - frame_factors.min()):.0f} %)')
    return DepthScale(estimate, estimate, True, status, len(rho), frame_factors,
                      source='scene contact', residual=residual)


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
    residual = float(np.median(np.abs(np.asarray(per_frame) - estimate)) / estimate)
    return DepthScale(estimate, estimate, True,
                      f'scale {estimate:.3f} fixed by per-frame depth of the hand '
                      f'({100.0 * residual:.1f} % residual over {len(per_frame)} frames)',
                      len(per_frame), source='hand depth', residual=residual)


def behind_scene(model_depth, scene_depth, config: DepthFusionConfig) -> np.ndarray:
    """Return (T,) True where `contact_keypoints`+ keypoints lie behind the scene surface."""
    z = np.asarray(model_depth, dtype=np.float64)
    d = np.asarray(scene_depth, dtype=np.float64)
    with np.errstate(invalid='ignore'):
        behind = np.isfinite(d) & (z > d + config.behind_margin_m)
    return behind.sum(axis=1) >= config.contact_keypoints
