"""Smooth a 6-DoF wrist path: outlier rejection, Savitzky-Golay positions, log-map rotations.

1. Outliers: a Hampel test on positions (distance to the window's component-wise median against
   the window's median distance) and on orientations (angle to the window's rotation average),
   with floors so that ordinary noise is never flagged. Outliers and frames already invalid are
   refilled by interpolation (linear positions, SLERP orientations) from the kept frames.
2. Positions: Savitzky-Golay filter (polynomial fit over a sliding window; keeps the peaks of
   a reach better than a moving average).
3. Depth along the camera ray: a monocular fit's wrist lies on its pixel's ray to within a few
   millimetres, but its distance along that ray inherits the hand-size and 3D-shape errors of
   the tracker frame by frame (+-5-10 %, in runs of several frames, with single frames off by
   15 %). So the distance is smoothed apart from the direction and harder: a robust local
   polynomial (`robust_local_polynomial`: tricube weights in time, Tukey biweight weights on the
   residuals, iterated) of log distance over a wider window, fitted to the kept frames only;
   the smoothed direction of step 2 is kept. Positions must then be in the camera frame (rays
   through its origin).
4. Orientations: Gaussian-weighted average in the tangent space (log map) about each frame's
   rotation, iterated (a Karcher mean); the smoothed path stays on SO(3).
Windows are in frames; for 16 fps plans the defaults span 0.56 s (positions), +-0.5 s (depth
along the ray) and +-0.25 s (orientations).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lvp_common.geometry import continuous_quaternions, interpolate_poses
from scipy.signal import savgol_filter
from scipy.spatial.transform import Rotation


class SmoothingError(ValueError):
    """Smoothing inputs are unusable (no valid frame, bad window)."""


@dataclass(frozen=True)
class SmoothingConfig:
    """Smoothing parameters (frames, metres, degrees).

    hampel_half_window: neighbours on each side used by the outlier test.
    hampel_sigmas: robust standard deviations (1.4826 MAD) beyond which a frame is an outlier.
    hampel_min_position_m / hampel_min_angle_deg: deviations below these are never outliers.
    savgol_window / savgol_order: Savitzky-Golay window (odd, frames) and polynomial order;
      shrunk for short sequences.
    depth_half_window: neighbours on each side in the robust fit of the distance along the
      camera ray (0: the distance is smoothed with the rest of the position, by step 2 only).
    depth_order: polynomial order of that fit.
    depth_tukey_c: Tukey biweight constant in robust standard deviations (1.4826 MAD of the
      residuals): frames farther off than that get no weight in the next iteration.
    depth_iterations: robust re-weighting iterations after the first (plain) fit.
    rotation_sigma_frames: standard deviation of the Gaussian weights of the rotation average.
    rotation_half_window: neighbours on each side in the rotation average.
    rotation_iterations: Karcher-mean iterations.
    """

    hampel_half_window: int = 3
    hampel_sigmas: float = 3.0
    hampel_min_position_m: float = 0.02
    hampel_min_angle_deg: float = 10.0
    savgol_window: int = 9
    savgol_order: int = 2
    depth_half_window: int = 8
    depth_order: int = 2
    depth_tukey_c: float = 4.685
    depth_iterations: int = 4
    rotation_sigma_frames: float = 2.0
    rotation_half_window: int = 4
    rotation_iterations: int = 2

    def __post_init__(self) -> None:
        if self.savgol_window < 3 or self.savgol_window % 2 == 0:
            raise SmoothingError(f'savgol_window must be odd and >= 3, got {self.savgol_window}')
        if not 0 <= self.savgol_order < self.savgol_window:
            raise SmoothingError(f'savgol_order must be in [0, savgol_window), got '
                                 f'{self.savgol_order}')
        if self.hampel_half_window < 1 or self.rotation_half_window < 0:
            raise SmoothingError('hampel_half_window must be >= 1 and rotation_half_window >= 0')
        if self.depth_half_window < 0 or not 0 <= self.depth_order <= 3:
            raise SmoothingError(f'depth_half_window must be >= 0 and depth_order in [0, 3], got '
                                 f'{self.depth_half_window}, {self.depth_order}')
        if not self.depth_tukey_c > 0.0 or self.depth_iterations < 0:
            raise SmoothingError(f'depth_tukey_c must be > 0 and depth_iterations >= 0, got '
                                 f'{self.depth_tukey_c}, {self.depth_iterations}')


@dataclass(frozen=True)
class SmoothedPoses:
    """Smoothed positions (T, 3), quaternions (T, 4), and the frames replaced as outliers."""

    positions: np.ndarray
    quaternions: np.ndarray
    outliers: np.ndarray


def _windows(n: int, half: int) -> list[np.ndarray]:
    return [np.arange(max(0, i - half), min(n, i + half + 1)) for i in range(n)]


def position_outliers(positions, keep, half_window: int = 3, n_sigmas: float = 3.0,
                      min_deviation_m: float = 0.02) -> np.ndarray:
    """Return (T,) True where a kept position is a Hampel outlier among kept neighbours."""
    p = np.asarray(positions, dtype=np.float64)
    keep = np.asarray(keep, dtype=bool)
    out = np.zeros(len(p), dtype=bool)
    for i, idx in enumerate(_windows(len(p), half_window)):
        idx = idx[keep[idx]]
        if not keep[i] or len(idx) < 3:
            continue
        median = np.median(p[idx], axis=0)
        spread = 1.4826 * np.median(np.linalg.norm(p[idx] - median, axis=1))
        out[i] = np.linalg.norm(p[i] - median) > max(n_sigmas * spread, min_deviation_m)
    return out


def rotation_outliers(quaternions, keep, half_window: int = 3, n_sigmas: float = 3.0,
                      min_angle_deg: float = 10.0) -> np.ndarray:
    """Return (T,) True where a kept orientation is far from its kept neighbours' average."""
    q = np.asarray(quaternions, dtype=np.float64)
    rot = Rotation.from_quat(q)
    keep = np.asarray(keep, dtype=bool)
    out = np.zeros(len(q), dtype=bool)
    for i, idx in enumerate(_windows(len(q), half_window)):
        idx = idx[keep[idx] & (idx != i)]
        if not keep[i] or len(idx) < 2:
            continue
        neighbours = Rotation.from_quat(q[idx])
        mean = neighbours.mean()
        angles = (mean.inv() * neighbours).magnitude()
        spread = 1.4826 * np.median(angles)
        angle = (mean.inv() * rot[i]).magnitude()
        out[i] = angle > max(n_sigmas * spread, np.radians(min_angle_deg))
    return out


def savgol_positions(positions, window: int = 9, order: int = 2) -> np.ndarray:
    """Savitzky-Golay-filter positions (T, 3) along time, shrinking the window if T is short."""
    p = np.asarray(positions, dtype=np.float64)
    n = len(p)
    window = min(window, n if n % 2 == 1 else n - 1)
    if window <= order or window < 3:
        return p.copy()
    return np.asarray(savgol_filter(p, window, order, axis=0, mode='interp'), dtype=np.float64)


def robust_local_polynomial(times, values, keep, half_window: int = 8, order: int = 2,
                            tukey_c: float = 4.685, iterations: int = 4) -> np.ndarray:
    """Return (T,) robust local polynomial fits of `values` (T,) at every frame (LOESS).

    At each frame, a polynomial of `order` in time is fitted by weighted least squares to the
    kept frames within `half_window` frames, weighted by a tricube of the time offset; the
    fits are repeated `iterations` times with each kept frame also weighted by Tukey's
    biweight of its residual (in units of tukey_c x 1.4826 MAD of all kept residuals), so that
    runs of outliers shorter than about half the window lose their pull. Frames not kept are
    interpolated linearly between the fits at the kept frames around them (a polynomial fitted
    on one side of a gap extrapolates wildly into it). The order drops where a window has too
    few frames.
    """
    t = np.asarray(times, dtype=np.float64)
    y = np.asarray(values, dtype=np.float64)
    keep = np.asarray(keep, dtype=bool) & np.isfinite(y)
    n = len(y)
    if not keep.any():
        raise SmoothingError(f'no kept value among {n} to fit')
    y = np.where(keep, y, 0.0)
    step = float(np.median(np.diff(t))) if n > 1 else 1.0
    span = (half_window + 1) * step
    kept_frames = np.flatnonzero(keep)
    robust = keep.astype(np.float64)
    fit = y.copy()
    for iteration in range(iterations + 1):
        for i, idx in enumerate(_windows(n, half_window)):
            dt = t[idx] - t[i]
            tricube = (1.0 - np.abs(dt / span) ** 3) ** 3
            w = tricube * robust[idx]
            if not np.any(w > 0.0):  # every neighbour rejected: fall back to the kept ones
                w = tricube * keep[idx]
            if not np.any(w > 0.0):  # no kept frame within reach: the nearest kept value
                fit[i] = y[kept_frames[np.argmin(np.abs(kept_frames - i))]]
                continue
            degree = min(order, int(np.count_nonzero(w > 0.0)) - 1)
            sw = np.sqrt(w)
            basis = np.vander(dt / span, degree + 1)
            coef = np.linalg.lstsq(basis * sw[:, None], y[idx] * sw, rcond=None)[0]
            fit[i] = coef[-1]
        if iteration == iterations:
            break
        residual = y - fit
        scale = 1.4826 * np.median(np.abs(residual[keep]))
        if scale < 1e-12:
            break
        u = residual / (tukey_c * scale)
        robust = np.where(keep & (np.abs(u) < 1.0), (1.0 - u**2) ** 2, 0.0)
    # Frames not kept lie in gaps, where a one-sided polynomial would extrapolate: they are
    # interpolated linearly between the fits at the kept frames around them.
    fit[~keep] = np.interp(t[~keep], t[keep], fit[keep])
    return fit


def smooth_along_rays(times, positions, directions, keep,
                      config: SmoothingConfig | None = None) -> np.ndarray:
    """Return positions (T, 3) at the robustly smoothed distance along `directions`' rays.

    positions (T, 3): the raw camera-frame positions (metres) whose distances from the origin
    are fitted (kept frames only, in log: the errors are relative); directions (T, 3): where
    each output lies (any length; e.g. the Savitzky-Golay-smoothed positions).
    """
    config = config or SmoothingConfig()
    p = np.asarray(positions, dtype=np.float64)
    direction = np.asarray(directions, dtype=np.float64)
    distance = np.linalg.norm(p, axis=1)
    keep = np.asarray(keep, dtype=bool) & (distance > 1e-9)
    with np.errstate(divide='ignore', invalid='ignore'):
        log_distance = np.log(distance)
    smoothed = np.exp(robust_local_polynomial(times, log_distance, keep,
                                              config.depth_half_window, config.depth_order,
                                              config.depth_tukey_c, config.depth_iterations))
    unit = direction / np.linalg.norm(direction, axis=1, keepdims=True)
    return unit * smoothed[:, None]


def average_rotations(quaternions, sigma_frames: float = 2.0, half_window: int = 4,
                      iterations: int = 2) -> np.ndarray:
    """Gaussian-weighted log-map (Karcher) average of each orientation's neighbours (T, 4)."""
    q = continuous_quaternions(quaternions)
    rot = Rotation.from_quat(q)
    if half_window == 0 or len(q) < 2:
        return q
    out = np.empty_like(q)
    for i, idx in enumerate(_windows(len(q), half_window)):
        w = np.exp(-0.5 * ((idx - i) / sigma_frames) ** 2)
        w /= w.sum()
        mean = rot[i]
        for _ in range(iterations):
            tangent = (mean.inv() * Rotation.from_quat(q[idx])).as_rotvec()
            mean = mean * Rotation.from_rotvec(w @ tangent)
        out[i] = mean.as_quat()
    return continuous_quaternions(out)


def smooth_poses(times, positions, quaternions, valid,
                 config: SmoothingConfig | None = None) -> SmoothedPoses:
    """Reject outliers, refill them and invalid frames, and smooth positions and orientations.

    positions (T, 3) in the camera frame (metres) when `config.depth_half_window` > 0: their
    distance from its origin is smoothed apart (`smooth_along_rays`).
    """
    config = config or SmoothingConfig()
    t = np.asarray(times, dtype=np.float64)
    p = np.asarray(positions, dtype=np.float64)
    keep = np.asarray(valid, dtype=bool) & np.all(np.isfinite(p), axis=1)
    if not keep.any():
        raise SmoothingError(f'no valid frame among {len(t)} to smooth')
    q = np.asarray(quaternions, dtype=np.float64)
    q = np.where(keep[:, None], q, np.array([0.0, 0.0, 0.0, 1.0]))
    outliers = position_outliers(p, keep, config.hampel_half_window, config.hampel_sigmas,
                                 config.hampel_min_position_m)
    outliers |= rotation_outliers(q, keep, config.hampel_half_window, config.hampel_sigmas,
                                  config.hampel_min_angle_deg)
    kept = keep & ~outliers
    if not kept.any():
        kept = keep
    filled_p, filled_q = interpolate_poses(t[kept], p[kept], q[kept], t)
    smooth_p = savgol_positions(filled_p, config.savgol_window, config.savgol_order)
    if config.depth_half_window > 0:
        smooth_p = smooth_along_rays(t, p, smooth_p, kept, config)
    smooth_q = average_rotations(filled_q, config.rotation_sigma_frames,
                                 config.rotation_half_window, config.rotation_iterations)
    return SmoothedPoses(smooth_p, smooth_q, outliers)


def fill_invalid(times, positions, quaternions, valid) -> tuple[np.ndarray, np.ndarray]:
    """Refill invalid frames by interpolation from the valid ones (no smoothing)."""
    keep = np.asarray(valid, dtype=bool)
    if not keep.any():
        raise SmoothingError(f'no valid frame among {len(keep)} to interpolate from')
    t = np.asarray(times, dtype=np.float64)
    pos, quat = interpolate_poses(t[keep], np.asarray(positions)[keep],
                                  np.asarray(quaternions)[keep], t)
    pos = np.where(keep[:, None], positions, pos)
    quat = continuous_quaternions(np.where(keep[:, None], quaternions, quat))
    return pos, quat
