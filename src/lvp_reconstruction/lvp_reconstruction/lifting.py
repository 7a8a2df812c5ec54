"""Metric lifting: place a constant-size hand in the camera by robust PnP per frame.

A person's hand does not change size within a clip, but a tracker's metric keypoints do
(MediaPipe's world-landmark hand spreads by +-20 % in size within one clip, its palm and fingers
in different proportions), and fitting each frame's own metric hand to its pixels turns that
size noise into depth noise along the camera ray. So the track's keypoints are first rebuilt as
one clip-wide hand (`clip_hand_model`): every bone keeps its per-frame direction but takes its
clip median length, and the whole hand is scaled so that its wrist -> middle-MCP bone has an
assumed adult length (`palm_length_m`, flagged as assumed; depth fusion may replace it with a
scale measured where the hand touches the scene). A frame whose 3D hand is the depth-mirror of
the known handedness (fingers bending away from the palm: the depth-reversal ambiguity of a
monocular estimate) is reflected first.

Model: p_camera_i = R @ (s * X_i) + t, where X_i are the clip hand's keypoints of that frame, s
the clip scale and (R, t) the unknown pose. Each frame is solved from up to three starts (the
previous frame's pose, the camera-aligned prior R = I with t from linear least squares, and
OpenCV's RANSAC PnP), each refined by Levenberg-Marquardt on Huber-weighted reprojection errors
in which the nearly rigid palm (wrist, thumb CMC, the four MCPs) counts fully and the
articulated finger joints by `finger_weight`; keypoints whose error exceeds a robust threshold
are dropped and the pose refit. Because the projection is invariant to a common scale of (s, t),
a later scale correction (depth fusion) multiplies t and s by one factor without changing R or
the residuals.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from lvp_common.artifacts import CameraIntrinsics, Handedness
from lvp_common.hand_frame import hand_frame_rotations
from scipy.spatial.transform import Rotation


class LiftingError(ValueError):
    """Lifting inputs are inconsistent (shapes, scale, parameters)."""


PALM_KEYPOINTS = (0, 1, 5, 9, 13, 17)
"""Wrist, thumb CMC and the four MCPs: the nearly rigid part of the hand (MediaPipe order)."""

KEYPOINT_PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
"""Parent of each of the 21 keypoints in the hand's kinematic tree (the wrist is the root)."""

MIDDLE_MCP = 9
LIFTING_METHODS = ('hand_model', 'keypoints')
"""`LiftingConfig.method` values: the articulated hand fit, or per-frame keypoint PnP."""
_FINGER_JOINTS = (2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 18, 19, 20)


@dataclass(frozen=True)
class LiftingConfig:
    """Parameters of the clip hand and the per-frame metric fit (pixels, metres).

    palm_length_m: assumed wrist -> middle-MCP length of the demonstrator's hand (m); the clip
      hand is scaled to it (an adult hand: about 8.5-10 cm; 9 cm is the project's reference
      hand, lvp_retarget's `reference_palm_length`). Every depth inherits its error
      (+-5 % of length = +-5 % of depth) unless depth fusion measures the scale. 0 trusts the
      track's metric size instead (its clip median).
    hand_scale: multiplies the clip hand after that (1.0: none). With palm_length_m = 0 and
      MediaPipe keypoints, whose world landmarks come out 5-7 % small (SYNTHETIC_HANDS.md), 1.06
      removes that bias.
    finger_weight: weight of the finger joints (PIP, DIP, tips, thumb MCP/IP/tip) against the
      palm's 1 in the fit: the palm is rigid, a tracker's finger articulation in depth is not
      reliable.
    enforce_handedness: reflect frames whose 3D hand is the mirror image of the track's
      handedness (its fingers bend away from the palm side) before fitting.
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
    method: 'keypoints' (default): the per-frame PnP of the track's metric keypoints rebuilt as
      one clip hand (this module). 'hand_model': fit the project's articulated hand to the whole
      clip's 2D keypoints (hand_fit.py; joint limits, constant bone lengths, temporal
      smoothness; the track's metric keypoints are then not used) and give the hand's mesh.
      The hand model is better on the Franka layout's rendered demonstrations (README) but not
      yet the default: with it the G1 layout's end-to-end demonstration (lvp demo, g1_inspire,
      test_lvp_cli) stops at IK (a wrist orientation the arm cannot reach), although its wrist
      error on that clip was lower (62 vs 74 mm, reach_grasp_lift seed 0, 49 frames).
    """

    method: str = 'keypoints'
    palm_length_m: float = 0.09
    hand_scale: float = 1.0
    finger_weight: float = 1.0
    enforce_handedness: bool = True
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
        if self.method not in LIFTING_METHODS:
            raise LiftingError(f'lifting method must be one of {LIFTING_METHODS}, got '
                               f'{self.method!r}')
        if not np.isfinite(self.hand_scale) or not 0.2 < self.hand_scale < 5.0:
            raise LiftingError(f'hand_scale must be in (0.2, 5), got {self.hand_scale}')
        if not (self.palm_length_m == 0.0 or 0.03 <= self.palm_length_m <= 0.2):
            raise LiftingError(f'palm_length_m must be 0 (use the track\'s size) or in '
                               f'[0.03, 0.2] m, got {self.palm_length_m}')
        if not 0.0 <= self.finger_weight <= 1.0:
            raise LiftingError(f'finger_weight must be in [0, 1], got {self.finger_weight}')
        if not 0.0 < self.min_depth_m < self.max_depth_m:
            raise LiftingError(f'need 0 < min_depth_m < max_depth_m, got '
                               f'{self.min_depth_m}, {self.max_depth_m}')
        if self.min_inliers < 4:
            raise LiftingError(f'min_inliers must be >= 4, got {self.min_inliers}')


@dataclass(frozen=True)
class ClipHand:
    """The track's hand rebuilt at one size for the whole clip.

    keypoints (T, 21, 3) metres, wrist at the origin, axes those of the track's keypoints;
    bone_lengths (21,) metres (the clip median of each keypoint's bone to its parent; 0 for the
    wrist); size_factor: the factor that took the median hand to `palm_length_m` (1.0 when the
    track's size is kept); mirrored (T,): frames reflected to match the handedness.
    """

    keypoints: np.ndarray
    bone_lengths: np.ndarray
    size_factor: float
    size_assumed: bool
    mirrored: np.ndarray


def _unit_rows(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 1e-12, norm, 1.0)


def bend_towards_palm(keypoints_m, handedness: Handedness | str) -> np.ndarray:
    """Return (T,) mean height (m) of the finger joints over the palm, along the palm normal.

    Positive for a hand of the given handedness (fingers bend towards the palm side); negative
    for its mirror image, which is what a depth-reversed monocular estimate looks like.
    """
    kp = np.asarray(keypoints_m, dtype=np.float64)
    rot = hand_frame_rotations(kp, handedness)
    local = np.einsum('tji,tkj->tki', rot, kp - kp[:, :1])
    return local[:, list(_FINGER_JOINTS), 2].mean(axis=1)


def clip_hand_model(keypoints_m, config: LiftingConfig | None = None,
                    handedness: Handedness | str | None = None) -> ClipHand:
    """Rebuild per-frame keypoints (T, 21, 3) as one hand of constant bone lengths.

    Each bone keeps the frame's direction and takes its clip median length; frames whose hand
    is mirrored relative to `handedness` are reflected (in their own z) first; the result is
    scaled so the wrist -> middle-MCP bone is `palm_length_m` (when > 0).
    """
    config = config or LiftingConfig()
    kp = np.asarray(keypoints_m, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (len(KEYPOINT_PARENTS), 3):
        raise LiftingError(f'expected keypoints_m (T, 21, 3), got {kp.shape}')
    kp = kp - kp[:, :1]
    mirrored = np.zeros(len(kp), dtype=bool)
    if handedness is not None and config.enforce_handedness:
        mirrored = bend_towards_palm(kp, handedness) < 0.0
        kp = np.where(mirrored[:, None, None], kp * np.array([1.0, 1.0, -1.0]), kp)
    parents = np.array(KEYPOINT_PARENTS[1:])
    bones = kp[:, 1:] - kp[:, parents]
    lengths = np.concatenate([[0.0], np.median(np.linalg.norm(bones, axis=2), axis=0)])
    if lengths[MIDDLE_MCP] < 1e-4:
        raise LiftingError(f'the track\'s wrist -> middle-MCP bone is degenerate (median '
                           f'{lengths[MIDDLE_MCP]:.2g} m)')
    directions = _unit_rows(bones)
    out = np.zeros_like(kp)
    for child, parent in enumerate(KEYPOINT_PARENTS[1:], start=1):
        out[:, child] = out[:, parent] + lengths[child] * directions[:, child - 1]
    factor = 1.0
    if config.palm_length_m > 0.0:
        factor = config.palm_length_m / float(lengths[MIDDLE_MCP])
    return ClipHand(out * factor, lengths * factor, factor, config.palm_length_m > 0.0,
                    mirrored)


def keypoint_weights(num_points: int, config: LiftingConfig) -> np.ndarray:
    """Return (N,) fit weights: 1 on the palm keypoints, `finger_weight` elsewhere."""
    weights = np.full(num_points, config.finger_weight)
    weights[[i for i in PALM_KEYPOINTS if i < num_points]] = 1.0
    return weights


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
    """Per-frame poses of the clip hand's keypoint frame in the camera optical frame.

    rotations (T, 3, 3), translations (T, 3) metres, scale: the factor the clip hand's
    `model_keypoints` (T, 21, 3, metres) are multiplied by; inliers (T, 21); residuals_px (T,)
    inlier RMS; valid (T,) False where the frame was rejected (its pose is then the fit as
    found, or NaN if none). frame_factors (T,) or None: per-frame factors on top of `scale`
    (depth fusion pulling single frames onto the scene); translations already include them.
    size_assumed: the scale rests on the assumed `palm_length_m`, not on a measurement.
    """

    rotations: np.ndarray
    translations: np.ndarray
    scale: float
    inliers: np.ndarray
    residuals_px: np.ndarray
    valid: np.ndarray
    model_keypoints: np.ndarray
    frame_factors: np.ndarray | None = None
    size_assumed: bool = False

    def rescaled(self, factor: float, frame_factors=None) -> HandPoseFit:
        """Return the fit with the hand (and so every translation) scaled by `factor`.

        frame_factors (T,), optional: further per-frame factors (multiplied into any present).
        """
        frames = self.frame_scales()
        if frame_factors is not None:
            frames = frames * np.asarray(frame_factors, dtype=np.float64)
        step = factor * frames / self.frame_scales()
        return replace(self, translations=self.translations * step[:, None],
                       scale=self.scale * factor,
                       frame_factors=None if np.all(frames == 1.0) else frames)

    def frame_scales(self) -> np.ndarray:
        """Return the (T,) per-frame factors on top of `scale` (ones when there are none)."""
        if self.frame_factors is None:
            return np.ones(len(self.translations))
        return np.asarray(self.frame_factors, dtype=np.float64)

    def scaled_keypoints(self) -> np.ndarray:
        """Return the metric hand keypoints (T, 21, 3) in its own frame, as placed (metres)."""
        scales = self.scale * self.frame_scales()
        return scales[:, None, None] * self.model_keypoints

    def keypoints_camera(self) -> np.ndarray:
        """Return the keypoints (T, 21, 3) placed in the camera optical frame (metres)."""
        return np.einsum('tij,tkj->tki', self.rotations, self.scaled_keypoints()) \
            + self.translations[:, None, :]


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


def _huber_cost(err: np.ndarray, delta: float, weights: np.ndarray) -> float:
    rho = np.where(err <= delta, 0.5 * err**2, delta * (err - 0.5 * delta))
    return float(np.sum(weights * rho))


def refine_pose(obj: np.ndarray, uv: np.ndarray, k: np.ndarray, rotation: np.ndarray,
                translation: np.ndarray, mask: np.ndarray, huber_px: float,
                max_iterations: int, weights: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """Refine (R, t) by Levenberg-Marquardt on Huber-weighted reprojection errors of `mask`.

    weights (N,), optional: per-keypoint weights multiplying the robust cost (default 1).
    """
    rot, t = rotation.copy(), translation.copy()
    point_w = mask * (np.ones(len(obj)) if weights is None else weights)

    def errors(r: np.ndarray, tt: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = obj @ r.T
        p = q + tt
        if np.any(p[mask, 2] <= 1e-6):
            return q, p, np.full(len(obj), np.inf)
        return q, p, np.linalg.norm(project(p, k) - uv, axis=1)

    q, p, err = errors(rot, t)
    if not np.all(np.isfinite(err[mask])):
        return rot, t
    cost = _huber_cost(err, huber_px, point_w)
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
        w = _huber_weights(err, huber_px) * point_w
        jw = jac * w[:, None, None]
        rows = jw.reshape(-1, 6).T  # matrix products (BLAS), not einsum's plain loops
        h = rows @ jac.reshape(-1, 6)
        g = rows @ res.ravel()
        improved = False
        for _ in range(8):
            step = np.linalg.solve(h + lam * np.diag(np.diag(h) + 1e-9), -g)
            rot_new = cv2.Rodrigues(step[:3])[0] @ rot  # scipy's Rotation: 10x the overhead
            t_new = t + step[3:]
            q_new, p_new, err_new = errors(rot_new, t_new)
            cost_new = _huber_cost(err_new, huber_px, point_w) if np.all(
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
                translation: np.ndarray, config: LiftingConfig, weights: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Refine a start, drop outliers, refit; return R, t, inlier mask, per-point errors."""
    mask = np.ones(len(obj), dtype=bool)
    rot, t = refine_pose(obj, uv, k, rotation, translation, mask, config.huber_px,
                         config.max_iterations, weights)
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
        rot, t = refine_pose(obj, uv, k, rot, t, mask, config.huber_px, config.max_iterations,
                             weights)
    p = obj @ rot.T + t
    err = (np.linalg.norm(project(p, k) - uv, axis=1) if np.all(p[:, 2] > 1e-6)
           else np.full(len(obj), np.inf))
    sigma = 1.4826 * np.median(err)
    return rot, t, err <= max(config.outlier_px, config.outlier_sigmas * sigma), err


def solve_frame(obj: np.ndarray, uv: np.ndarray, k: np.ndarray, config: LiftingConfig,
                previous: tuple[np.ndarray, np.ndarray] | None = None) -> PnPSolution:
    """Fit one frame: object points (N, 3) metres, pixels (N, 2), K; warm start optional."""
    weights = keypoint_weights(len(obj), config)
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
        rot, t, inl, err = _robust_fit(obj, uv, k, rot0, t0, config, weights)
        cost = float(np.sum(weights * np.minimum(err, cap) ** 2))
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
              config: LiftingConfig | None = None,
              handedness: Handedness | str | None = None) -> HandPoseFit:
    """Fit the clip hand's pose in the camera per frame (warm-started from the last fit).

    keypoints_px (T, 21, 2) undistorted pixels, keypoints_m (T, 21, 3) the track's metric
    keypoints (any origin); handedness enables the mirror check of `clip_hand_model`.
    """
    config = config or LiftingConfig()
    px = np.asarray(keypoints_px, dtype=np.float64)
    kp = np.asarray(keypoints_m, dtype=np.float64)
    if px.ndim != 3 or kp.ndim != 3 or px.shape[:2] != kp.shape[:2] or px.shape[2] != 2 \
            or kp.shape[2] != 3:
        raise LiftingError(f'expected keypoints_px (T, N, 2) and keypoints_m (T, N, 3), got '
                           f'{px.shape} and {kp.shape}')
    hand = clip_hand_model(kp, config, handedness)
    scale = hand.size_factor * config.hand_scale
    model = hand.keypoints / hand.size_factor
    k = intrinsics.matrix
    n_frames, n_points = px.shape[:2]
    rotations = np.tile(np.eye(3), (n_frames, 1, 1))
    translations = np.full((n_frames, 3), np.nan)
    inliers = np.zeros((n_frames, n_points), dtype=bool)
    residuals = np.full(n_frames, np.inf)
    valid = np.zeros(n_frames, dtype=bool)
    previous = None
    for i in range(n_frames):
        obj = scale * model[i]
        sol = solve_frame(obj, px[i], k, config, previous)
        rotations[i], translations[i] = sol.rotation, sol.translation
        inliers[i], residuals[i] = sol.inliers, sol.rms_px
        if sol.success:
            wrist_z = (sol.rotation @ obj[0] + sol.translation)[2]
            valid[i] = bool(config.min_depth_m <= wrist_z <= config.max_depth_m)
        if valid[i]:
            previous = (sol.rotation, sol.translation)
    return HandPoseFit(rotations, translations, scale, inliers, residuals, valid, model,
                       size_assumed=hand.size_assumed)
