"""Metric lifting: place the hand's metric 3D keypoints in the camera by robust PnP per frame.

Model: p_camera_i = R @ (s * X_i) + t, where X_i are the track's hand-centred metric keypoints
(any origin, axes roughly camera-aligned as MediaPipe's world landmarks are), s the hand-size
scale and (R, t) the unknown pose. Each frame is solved from up to three starts (the previous
frame's pose, the camera-aligned prior R = I with t from linear least squares, and OpenCV's
RANSAC PnP), each refined by Levenberg-Marquardt on Huber-weighted reprojection errors; keypoints
whose error exceeds a robust threshold are dropped and the pose refit. Because the projection is
invariant to a common scale of (s, t), a later scale correction (depth fusion) multiplies t and s
by one factor without changing R or the residuals.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from lvp_common.artifacts import CameraIntrinsics
from scipy.spatial.transform import Rotation


class LiftingError(ValueError):
    """Lifting inputs are inconsistent (shapes, scale, parameters)."""


@dataclass(frozen=True)
class LiftingConfig:
    """Parameters of the per-frame metric fit (pixels, metres).

    hand_scale: multiplies the track's metric keypoints. 1.0 trusts them; MediaPipe's world
      landmarks come out 5-7 % small (SYNTHETIC_HANDS.md), so 1.06 removes that bias when the
      keypoints come from MediaPipe and no depth image fixes the scale.
    huber_px: reprojection error (px) above which a keypoint's weight falls off (Huber).
    outlier_px / outlier_sigmas: a keypoint is an outlier when its error exceeds the larger of
      outlier_px and outlier_sigmas robust standard deviations (1.4826 MAD) of the frame's errors.
    ransac_reprojection_px / ransac_iterations: OpenCV RANSAC PnP start.
    max_iterations: Levenberg-Marquardt iterations per start.
    min_inliers: fewer inlier keypoints than this rejects the frame.
    max_residual_px: an inlier RMS error above this rejects the frame.
    min_depth_m / max_depth_m: plausible wrist depth along the optical axis; outside: rejected.
    ambiguity_ratio: starts whose robust cost is within this factor of the best are ties; the one
      nearest the prior rotation (previous frame, else camera-aligned) wins (flat-hand flips).
    """

    hand_scale: float = 1.0
    huber_px: float = 3.0
    outlier_px: float = 12.0
    outlier_sigmas: float = 4.0
    ransac_reprojection_px: float = 10.0
    ransac_iterations: int = 100
    max_iterations: int = 30
    min_inliers: int = 8
    max_residual_px: float = 25.0
    min_depth_m: float = 0.1
    max_depth_m: float = 3.0
    ambiguity_ratio: float = 1.2

    def __post_init__(self) -> None:
        if not np.isfinite(self.hand_scale) or not 0.2 < self.hand_scale < 5.0:
            raise LiftingError(f'hand_scale must be in (0.2, 5), got {self.hand_scale}')
        if not 0.0 < self.min_depth_m < self.max_depth_m:
            raise LiftingError(f'need 0 < min_depth_m < max_depth_m, got '
                               f'{self.min_depth_m}, {self.max_depth_m}')
        if self.min_inliers < 4:
            raise LiftingError(f'min_inliers must be >= 4, got {self.min_inliers}')


@dataclass(frozen=True)
class PnPSolution:
    """One frame's fit: keypoint-frame pose in the camera, inliers, inlier RMS error (px)."""

    rotation: np.ndarray
    translation: np.ndarray
    inliers: np.ndarray
    rms_px: float
    success: bool


@dataclass(frozen=True)
class HandPoseFit:
    """Per-frame poses of the keypoint frame in the camera optical frame.

    rotations (T, 3, 3), translations (T, 3) metres, scale: the hand-size factor the metric
    keypoints were multiplied by; inliers (T, 21); residuals_px (T,) inlier RMS; valid (T,)
    False where the frame was rejected (its pose is then the fit as found, or NaN if none).
    frame_factors (T,) or None: per-frame factors on top of `scale` (depth fusion pulling single
    frames onto the scene); translations already include them.
    """

    rotations: np.ndarray
    translations: np.ndarray
    scale: float
    inliers: np.ndarray
    residuals_px: np.ndarray
    valid: np.ndarray
    frame_factors: np.ndarray | None = None

    def rescaled(self, factor: float, frame_factors=None) -> HandPoseFit:
        """Return the fit with the hand (and so every translation) scaled by `factor`.

        frame_factors (T,), optional: further per-frame factors (multiplied into any present).
        """
        frames = self.frame_scales()
        if frame_factors is not None:
            frames = frames * np.asarray(frame_factors, dtype=np.float64)
        step = factor * frames / self.frame_scales()
        return HandPoseFit(self.rotations, self.translations * step[:, None], self.scale * factor,
                           self.inliers, self.residuals_px, self.valid,
                           None if np.all(frames == 1.0) else frames)

    def frame_scales(self) -> np.ndarray:
        """Return the (T,) per-frame factors on top of `scale` (ones when there are none)."""
        if self.frame_factors is None:
            return np.ones(len(self.translations))
        return np.asarray(self.frame_factors, dtype=np.float64)

    def keypoints_camera(self, keypoints_m) -> np.ndarray:
        """Return the keypoints (T, 21, 3) placed in the camera optical frame (metres)."""
        scales = self.scale * self.frame_scales()
        kp = scales[:, None, None] * np.asarray(keypoints_m, dtype=np.float64)
        return np.einsum('tij,tkj->tki', self.rotations, kp) + self.translations[:, None, :]


def _skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Project camera-frame points (..., 3) with camera matrix K to pixels (..., 2)."""
    z = points[..., 2]
    return np.stack([k[0, 0] * points[..., 0] / z + k[0, 2],
                     k[1, 1] * points[..., 1] / z + k[1, 2]], axis=-1)


def _huber_weights(err: np.ndarray, delta: float) -> np.ndarray:
    return np.where(err <= delta, 1.0, delta / np.maximum(err, 1e-12))


def _huber_cost(err: np.ndarray, delta: float, mask: np.ndarray) -> float:
    rho = np.where(err <= delta, 0.5 * err**2, delta * (err - 0.5 * delta))
    return float(np.sum(rho[mask]))


def refine_pose(obj: np.ndarray, uv: np.ndarray, k: np.ndarray, rotation: np.ndarray,
                translation: np.ndarray, mask: np.ndarray, huber_px: float,
                max_iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """Refine (R, t) by Levenberg-Marquardt on Huber-weighted reprojection errors of `mask`."""
    rot, t = rotation.copy(), translation.copy()

    def errors(r: np.ndarray, tt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = obj @ r.T
        p = q + tt
        if np.any(p[mask, 2] <= 1e-6):
            return q, p, np.full(len(obj), np.inf)
        return q, p, np.linalg.norm(project(p, k) - uv, axis=1)

    q, p, err = errors(rot, t)
    if not np.all(np.isfinite(err[mask])):
        return rot, t
    cost = _huber_cost(err, huber_px, mask)
    lam = 1e-3
    fx, fy = k[0, 0], k[1, 1]
    for _ in range(max_iterations):
        z = p[:, 2]
        res = project(p, k) - uv
        jp = np.zeros((len(obj), 2, 3))
        jp[:, 0, 0] = fx / z
        jp[:, 0, 2] = -fx * p[:, 0] / z**2
        jp[:, 1, 1] = fy / z
        jp[:, 1, 2] = -fy * p[:, 1] / z**2
        # Left perturbation R <- exp(w) R: dp/dw = -[R X]x, dp/dt = I.
        jac = np.concatenate([jp @ -_skew(q), jp], axis=2)
        w = _huber_weights(err, huber_px) * mask
        jw = jac * w[:, None, None]
        h = np.einsum('nia,nib->ab', jw, jac)
        g = np.einsum('nia,ni->a', jw, res)
        improved = False
        for _ in range(8):
            step = np.linalg.solve(h + lam * np.diag(np.diag(h) + 1e-9), -g)
            rot_new = Rotation.from_rotvec(step[:3]).as_matrix() @ rot
            t_new = t + step[3:]
            q_new, p_new, err_new = errors(rot_new, t_new)
            cost_new = _huber_cost(err_new, huber_px, mask) if np.all(
                np.isfinite(err_new[mask])) else np.inf
            if cost_new < cost:
                rot, t, q, p, err = rot_new, t_new, q_new, p_new, err_new
                improved = cost - cost_new > 1e-10 * max(cost, 1.0)
                cost = cost_new
                lam = max(lam / 3.0, 1e-9)
                break
            lam *= 5.0
        if not improved:
            break
    return rot, t


def translation_given_rotation(obj: np.ndarray, uv: np.ndarray, k: np.ndarray,
                               rotation: np.ndarray) -> np.ndarray:
    """Solve t by linear least squares with R fixed (the projection is linear in t then)."""
    q = obj @ rotation.T
    xn = (uv[:, 0] - k[0, 2]) / k[0, 0]
    yn = (uv[:, 1] - k[1, 2]) / k[1, 1]
    n = len(obj)
    a = np.zeros((2 * n, 3))
    b = np.zeros(2 * n)
    a[:n, 0], a[:n, 2], b[:n] = 1.0, -xn, xn * q[:, 2] - q[:, 0]
    a[n:, 1], a[n:, 2], b[n:] = 1.0, -yn, yn * q[:, 2] - q[:, 1]
    return np.linalg.lstsq(a, b, rcond=None)[0]


def _ransac_start(obj: np.ndarray, uv: np.ndarray, k: np.ndarray,
                  config: LiftingConfig) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        ok, rvec, tvec, _ = cv2.solvePnPRansac(
            obj.reshape(-1, 1, 3), uv.reshape(-1, 1, 2), k, None,
            iterationsCount=config.ransac_iterations,
            reprojectionError=config.ransac_reprojection_px, confidence=0.99,
            flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:
        return None
    if not ok:
        return None
    rot = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64))[0]
    return rot, np.asarray(tvec, dtype=np.float64).reshape(3)


def _robust_fit(obj: np.ndarray, uv: np.ndarray, k: np.ndarray, rotation: np.ndarray,
                translation: np.ndarray, config: LiftingConfig
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Refine a start, drop outliers, refit; return R, t, inlier mask, per-point errors."""
    mask = np.ones(len(obj), dtype=bool)
    rot, t = refine_pose(obj, uv, k, rotation, translation, mask, config.huber_px,
                         config.max_iterations)
    for _ in range(2):
        p = obj @ rot.T + t
        if np.any(p[:, 2] <= 1e-6):
            return rot, t, np.zeros(len(obj), bool), np.full(len(obj), np.inf)
        err = np.linalg.norm(project(p, k) - uv, axis=1)
        sigma = 1.4826 * np.median(err)
        new_mask = err <= max(config.outlier_px, config.outlier_sigmas * sigma)
        if np.array_equal(new_mask, mask) or new_mask.sum() < config.min_inliers:
            break
        mask = new_mask
        rot, t = refine_pose(obj, uv, k, rot, t, mask, config.huber_px, config.max_iterations)
    p = obj @ rot.T + t
    err = (np.linalg.norm(project(p, k) - uv, axis=1) if np.all(p[:, 2] > 1e-6)
           else np.full(len(obj), np.inf))
    sigma = 1.4826 * np.median(err)
    return rot, t, err <= max(config.outlier_px, config.outlier_sigmas * sigma), err


def solve_frame(obj: np.ndarray, uv: np.ndarray, k: np.ndarray, config: LiftingConfig,
                previous: tuple[np.ndarray, np.ndarray] | None = None) -> PnPSolution:
    """Fit one frame: object points (N, 3) metres, pixels (N, 2), K; warm start optional."""
    prior_rot = previous[0] if previous is not None else np.eye(3)
    starts: list[tuple[np.ndarray, np.ndarray]] = []
    if previous is not None:
        starts.append((previous[0].copy(), previous[1].copy()))
    starts.append((prior_rot, translation_given_rotation(obj, uv, k, prior_rot)))
    ransac = _ransac_start(obj, uv, k, config)
    if ransac is not None:
        starts.append(ransac)
    # Truncated quadratic: a cost comparable across starts whatever their inlier sets.
    cap = config.outlier_px
    fits = []
    for rot0, t0 in starts:
        if not np.all(np.isfinite(t0)) or t0[2] <= 0.0:
            continue
        rot, t, inl, err = _robust_fit(obj, uv, k, rot0, t0, config)
        cost = float(np.sum(np.minimum(err, cap) ** 2))
        angle = Rotation.from_matrix(prior_rot.T @ rot).magnitude()
        fits.append((cost, angle, rot, t, inl, err))
    if not fits:
        return PnPSolution(np.eye(3), np.full(3, np.nan), np.zeros(len(obj), bool), np.inf,
                           False)
    best_cost = min(f[0] for f in fits)
    ties = [f for f in fits if f[0] <= config.ambiguity_ratio * best_cost + 1e-9]
    _, _, rot, t, inl, err = min(ties, key=lambda f: f[1])
    rms = float(np.sqrt(np.mean(err[inl] ** 2))) if inl.any() else np.inf
    ok = bool(inl.sum() >= config.min_inliers and rms <= config.max_residual_px)
    return PnPSolution(rot, t, inl, rms, ok)


def lift_hand(keypoints_px, keypoints_m, intrinsics: CameraIntrinsics,
              config: LiftingConfig | None = None, wrist_index: int = 0) -> HandPoseFit:
    """Fit the keypoint frame's pose in the camera per frame (warm-started from the last fit).

    keypoints_px (T, N, 2) undistorted pixels, keypoints_m (T, N, 3) metres hand-centred.
    """
    config = config or LiftingConfig()
    px = np.asarray(keypoints_px, dtype=np.float64)
    kp = np.asarray(keypoints_m, dtype=np.float64)
    if px.ndim != 3 or kp.ndim != 3 or px.shape[:2] != kp.shape[:2] or px.shape[2] != 2 \
            or kp.shape[2] != 3:
        raise LiftingError(f'expected keypoints_px (T, N, 2) and keypoints_m (T, N, 3), got '
                           f'{px.shape} and {kp.shape}')
    k = intrinsics.matrix
    n_frames, n_points = px.shape[:2]
    rotations = np.tile(np.eye(3), (n_frames, 1, 1))
    translations = np.full((n_frames, 3), np.nan)
    inliers = np.zeros((n_frames, n_points), dtype=bool)
    residuals = np.full(n_frames, np.inf)
    valid = np.zeros(n_frames, dtype=bool)
    previous = None
    for i in range(n_frames):
        obj = config.hand_scale * kp[i]
        sol = solve_frame(obj, px[i], k, config, previous)
        rotations[i], translations[i] = sol.rotation, sol.translation
        inliers[i], residuals[i] = sol.inliers, sol.rms_px
        if sol.success:
            wrist_z = (sol.rotation @ obj[wrist_index] + sol.translation)[2]
            valid[i] = bool(config.min_depth_m <= wrist_z <= config.max_depth_m)
        if valid[i]:
            previous = (sol.rotation, sol.translation)
    return HandPoseFit(rotations, translations, config.hand_scale, inliers, residuals, valid)
