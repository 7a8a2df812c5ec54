"""Articulated hand fit: the project's kinematic hand fitted to a whole clip's 2D keypoints.

A small bundle adjustment over the clip. Unknowns per frame: the wrist's 6-DoF pose in the camera
(the hand frame of lvp_common.hand_kinematics: origin at the wrist, +y to the fingers, +z the palm
normal) and the hand's 20 joint angles; per clip: the hand's size (`scale`, bone lengths of the
model times it). The residuals, all in pixel-equivalent units:

- reprojection of the 21 model landmarks onto the tracked pixels, Huber-weighted (a keypoint the
  tracker misplaced by more than `huber_px` counts linearly), frames filled by interpolation
  down-weighted by `interpolated_weight`;
- temporal smoothness: second differences of the wrist position (`position_smoothing` px per
  metre), wrist rotation (`rotation_smoothing` px per radian) and joint angles
  (`joint_smoothing` px per radian), frame to frame;
- a weak prior pulling the joints to a relaxed hand (`joint_prior`), and joint limits
  (`limit_weight` px per radian beyond a limit).

A monocular fit cannot tell a larger hand farther away from a smaller one nearer, so the size is
not a free unknown: it is set from an assumed wrist -> middle-MCP length (the caller's), and depth
fusion may later rescale the whole fit (translations and scale together) where the scene measures
it. The articulated model fixes what the keypoint-only fit cannot: bone proportions and joint
limits hold in every frame, and fingers cannot bend backwards, so the depth-mirror of a hand does
not fit.

Solver: Levenberg-Marquardt with the analytic Jacobian (joint axes from the forward kinematics);
the normal equations are banded (each frame couples to the two frames on either side), solved as a
sparse system each iteration. Start: per-frame PnP of the model's rigid palm landmarks (SQPnP),
with the joints at the relaxed hand.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from lvp_common.artifacts import CameraIntrinsics, Handedness
from lvp_common.hand_kinematics import (
    HandSurface,
    hand_keypoints,
)
from scipy.spatial.transform import Rotation

from lvp_reconstruction.hand_fit_problem import (
    UNKNOWNS,
    FitProblem,
    landmark_offsets_m,
    relaxed_hand,
    solve_block_tridiagonal,
)
from lvp_reconstruction.lifting import HandPoseFit, LiftingError

PALM_LANDMARKS = (0, 1, 5, 9, 13, 17)
"""Wrist, thumb CMC and the four MCPs: rigid in the model's hand frame."""

MEDIAPIPE_LANDMARK_OFFSETS_MM = (
    (-0.1, 5.2, -9.3),
    (-1.4, 6.7, -3.8),
    (-1.9, -5.4, 0.0),
    (0.2, -9.3, 3.5),
    (-0.2, -8.2, -1.1),
    (-4.2, 0.9, -0.6),
    (-4.1, -2.2, 4.1),
    (-3.9, -5.0, 2.1),
    (-2.4, -8.3, -2.8),
    (-3.7, -3.3, -0.2),
    (-5.0, -3.7, 4.0),
    (-5.1, -6.7, 3.8),
    (-2.5, -11.1, -1.1),
    (-1.8, -2.0, 1.4),
    (-2.5, -5.5, 1.8),
    (-3.8, -9.2, 2.5),
    (-1.9, -12.2, -0.8),
    (1.7, 0.2, -0.5),
    (1.1, -2.4, -0.8),
    (2.1, -9.3, -2.7),
    (3.8, -14.2, -6.6),
)
"""Where MediaPipe's landmarks sit relative to the model's joint centres (mm, scale-1 right
hand, each in the frame of the body the landmark rides; lvp_common.hand_kinematics): the
least-squares offsets between MediaPipe's pixels and the true pose's projection over the
rendered demonstrations of seeds 0-5 (4 tasks x the 3 camera poses of the Franka layout,
33 frames; the tracked frames with the true pose and joint angles). MediaPipe puts the wrist
~9 mm towards the back of the hand and the fingertips ~8-14 mm short of the model's tip sites.
Opt-in (HandFitConfig.landmark_offsets_mm): it does not carry over to other views."""

@dataclass(frozen=True)
class HandFitConfig:
    """Weights and limits of the articulated fit (pixels, metres, radians).

    huber_px: reprojection error above which a keypoint's residual grows linearly.
    outlier_px: error above which a keypoint is not an inlier (reported, and left out of the
      frame's residual).
    interpolated_weight: weight of frames the tracker filled by interpolation (not detected).
    position_smoothing / rotation_smoothing / joint_smoothing: weights of the second
      differences of wrist position (px per m), wrist rotation (px per rad) and joint angles
      (px per rad) between consecutive frames.
    joint_prior: weight (px per rad) pulling every joint towards the relaxed hand.
    limit_weight: weight (px per rad) of a joint's excursion beyond its limit.
    max_iterations: Levenberg-Marquardt iterations over the clip.
    tolerance: the solver stops when an iteration lowers the cost by less than this fraction.
    max_residual_px: a frame whose inlier RMS error exceeds this is rejected.
    min_inliers: fewer inlier keypoints than this rejects a frame.
    landmark_offsets_mm: (21, 3) where the tracker's landmarks sit on the model; None (default)
      fits the model's joint centres themselves. MEDIAPIPE_LANDMARK_OFFSETS_MM is MediaPipe's,
      measured from the Franka layout's views: it lowered the error there (35.6 -> 31.6 mm,
      seeds 0-1) but raised it on the G1 layout's view (62 -> 121 mm, reach_grasp_lift seed 0),
      so it is not the default.
    keypoint_sigma_px: (21,) the tracker's pixel noise per landmark; each landmark's residual
      is weighted by (smallest sigma / its sigma)^2 (None: all equal).
    """

    huber_px: float = 3.0
    outlier_px: float = 15.0
    interpolated_weight: float = 0.3
    position_smoothing: float = 300.0
    rotation_smoothing: float = 30.0
    joint_smoothing: float = 8.0
    joint_prior: float = 1.0
    limit_weight: float = 300.0
    max_iterations: int = 40
    tolerance: float = 1e-4
    max_residual_px: float = 25.0
    min_inliers: int = 8
    landmark_offsets_mm: tuple[tuple[float, float, float], ...] | None = None
    keypoint_sigma_px: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ('huber_px', 'outlier_px', 'position_smoothing', 'rotation_smoothing',
                     'joint_smoothing', 'joint_prior', 'limit_weight'):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0.0:
                raise LiftingError(f'HandFitConfig.{name} must be finite and >= 0, got {value}')
        if not 0.0 <= self.interpolated_weight <= 1.0:
            raise LiftingError(f'HandFitConfig.interpolated_weight must be in [0, 1], got '
                               f'{self.interpolated_weight}')
        if self.landmark_offsets_mm is not None and np.shape(self.landmark_offsets_mm) != (
                21, 3):
            raise LiftingError(f'HandFitConfig.landmark_offsets_mm must be (21, 3), got shape '
                               f'{np.shape(self.landmark_offsets_mm)}')
        if self.max_iterations < 1:
            raise LiftingError(f'HandFitConfig.max_iterations must be >= 1, got '
                               f'{self.max_iterations}')


@dataclass(frozen=True)
class HandFit:
    """The fitted hand per frame, in the camera optical frame.

    rotations (T, 3, 3): the model hand frame's axes in the camera; translations (T, 3): the
    wrist (metres); scale: the hand's size (1 = the model's 18.3 cm hand); joint_angles (T, 20)
    radians in JOINT_NAMES order; residuals_px (T,): RMS reprojection error of the inlier
    keypoints (the fit's confidence: lower is better); inliers (T, 21); valid (T,); iterations
    and cost: the solver's.
    """

    rotations: np.ndarray
    translations: np.ndarray
    scale: float
    joint_angles: np.ndarray
    residuals_px: np.ndarray
    inliers: np.ndarray
    valid: np.ndarray
    handedness: Handedness
    iterations: int
    cost: float

    def model_keypoints(self) -> np.ndarray:
        """Return the landmarks (T, 21, 3) in the hand frame for a scale-1 hand (metres)."""
        return hand_keypoints(self.joint_angles, 1.0, self.handedness)

    def keypoints_camera(self) -> np.ndarray:
        """Return the fitted landmarks (T, 21, 3) in the camera optical frame (metres)."""
        kp = self.scale * self.model_keypoints()
        return np.einsum('tij,tkj->tki', self.rotations, kp) + self.translations[:, None]

    def confidence(self) -> np.ndarray:
        """Return (T,) in [0, 1]: 1 at a perfect fit, 0.5 at `huber_px`-sized RMS residuals."""
        return 1.0 / (1.0 + (self.residuals_px / 3.0) ** 2)

    def as_pose_fit(self) -> HandPoseFit:
        """Return the fit as lifting's HandPoseFit (model keypoints per frame, wrist origin)."""
        return HandPoseFit(self.rotations.copy(), self.translations.copy(), self.scale,
                           self.inliers.copy(), self.residuals_px.copy(), self.valid.copy(),
                           self.model_keypoints(), size_assumed=True)

    def mesh_vertices(self, surface: HandSurface, scale: float | None = None) -> np.ndarray:
        """Return the hand surface (T, V, 3) hand-centred with camera-aligned axes (metres).

        scale: the hand's size to use (default: the fit's; pass a rescaled fit's scale).
        """
        local = surface.vertices(self.joint_angles, self.scale if scale is None else scale,
                                 self.handedness)
        return np.einsum('tij,tvj->tvi', self.rotations, local)



def _palm_start(pixels: np.ndarray, k: np.ndarray, scale: float, handedness: Handedness,
                offsets: np.ndarray | None, previous: tuple[np.ndarray, np.ndarray] | None
                ) -> tuple[np.ndarray, np.ndarray] | None:
    palm = hand_keypoints(relaxed_hand()[None], scale, handedness,
                          offsets=offsets)[0][np.asarray(PALM_LANDMARKS)]
    uv = pixels[np.asarray(PALM_LANDMARKS)]
    try:
        ok, rvec, tvec = cv2.solvePnP(palm.reshape(-1, 1, 3), uv.reshape(-1, 1, 2), k, None,
                                      flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:
        ok = False
    if not ok:
        return previous
    rot = cv2.Rodrigues(np.asarray(rvec, dtype=np.float64))[0]
    return rot, np.asarray(tvec, dtype=np.float64).reshape(3)


def _failed_fit(n: int, side: Handedness, scale: float) -> HandFit:
    """Return a fit with every frame rejected (no pose: NaN translations)."""
    return HandFit(np.tile(np.eye(3), (n, 1, 1)), np.full((n, 3), np.nan), float(scale),
                   np.tile(relaxed_hand(), (n, 1)), np.full(n, np.inf),
                   np.zeros((n, 21), dtype=bool), np.zeros(n, dtype=bool), side, 0, np.inf)


def fit_hand(keypoints_px, intrinsics: CameraIntrinsics, handedness: Handedness | str,
             scale: float, config: HandFitConfig | None = None, *, detected=None,
             keypoint_weights=None, start: tuple[np.ndarray, np.ndarray] | None = None
             ) -> HandFit:
    """Fit the kinematic hand to a clip's undistorted pixels (T, 21, 2).

    scale: the hand's size relative to the model (its wrist -> middle MCP is
    `lvp_common.hand_kinematics.PALM_LENGTH_M` times it). detected (T,), optional: False where
    the tracker interpolated. keypoint_weights (21,), optional. start: optional initial
    (rotations (T, 3, 3) of the model hand frame, wrist translations (T, 3)); default: per-frame
    PnP of the palm. A clip whose start cannot place the hand in front of the camera in every
    frame comes back with every frame rejected (valid False, NaN translations).
    """
    config = config or HandFitConfig()
    side = Handedness(handedness)
    px = np.asarray(keypoints_px, dtype=np.float64)
    if px.ndim != 3 or px.shape[1:] != (21, 2) or len(px) < 1:
        raise LiftingError(f'fit_hand: expected keypoints_px (T, 21, 2), got {px.shape}')
    if not np.all(np.isfinite(px)):
        raise LiftingError('fit_hand: keypoints_px has non-finite values')
    if not np.isfinite(scale) or not 0.3 <= scale <= 3.0:
        raise LiftingError(f'fit_hand: scale must be in [0.3, 3], got {scale}')
    n = len(px)
    k = intrinsics.matrix
    frame_w = np.ones(n)
    if detected is not None:
        frame_w = np.where(np.asarray(detected, dtype=bool), 1.0, config.interpolated_weight)
    if keypoint_weights is not None:
        kp_w = np.asarray(keypoint_weights, dtype=np.float64)
    elif config.keypoint_sigma_px is not None:
        sigma = np.asarray(config.keypoint_sigma_px, dtype=np.float64)
        kp_w = (sigma.min() / sigma) ** 2
    else:
        kp_w = np.ones(21)
    weights = frame_w[:, None] * kp_w[None, :]

    if start is not None:
        rot, t = np.array(start[0], dtype=np.float64), np.array(start[1], dtype=np.float64)
    else:
        rot, t = np.tile(np.eye(3), (n, 1, 1)), np.zeros((n, 3))
        previous = None
        for i in range(n):
            pose = _palm_start(px[i], k, scale, side, landmark_offsets_m(config), previous)
            if pose is None or pose[1][2] <= 0.0:
                pose = previous
            if pose is not None:
                rot[i], t[i] = pose
                previous = pose
        if previous is None:  # no frame's palm fits a hand in front of the camera
            return _failed_fit(n, side, scale)
        # frames before the first good one take its pose
        bad = t[:, 2] <= 0.0
        if bad.any():
            first = int(np.flatnonzero(~bad)[0])
            rot[bad], t[bad] = rot[first], t[first]
    q = np.tile(relaxed_hand(), (n, 1))

    problem = FitProblem(px, weights, k, scale, side, config)
    cost = problem.cost(rot, t, q)
    if not np.isfinite(cost):  # some frame's start puts the hand behind the camera
        return _failed_fit(n, side, scale)
    lam = 1e-3
    iterations = 0
    for iterations in range(1, config.max_iterations + 1):  # noqa: B007 (reported)
        diag_blocks, upper_blocks, g = problem.normal_equations(rot, t, q)
        diag = np.diagonal(diag_blocks, axis1=1, axis2=2).copy()
        idx = np.arange(diag.shape[1])
        improved = False
        for _ in range(8):
            damped = diag_blocks.copy()
            damped[:, idx, idx] += lam * (diag + 1e-9)
            try:
                step = solve_block_tridiagonal(damped, upper_blocks, -g)[:n * UNKNOWNS]
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            step = step.reshape(n, UNKNOWNS)
            rot_new = np.einsum('tij,tjk->tik', Rotation.from_rotvec(step[:, :3]).as_matrix(),
                                rot)
            t_new, q_new = t + step[:, 3:6], q + step[:, 6:]
            cost_new = problem.cost(rot_new, t_new, q_new)
            if cost_new < cost:
                improved = cost - cost_new > config.tolerance * cost
                rot, t, q, cost = rot_new, t_new, q_new, cost_new
                lam = max(lam / 5.0, 1e-9)
                break
            lam *= 10.0
        if not improved:
            break

    rep = problem.reprojection(rot, t, q, False)
    assert rep is not None
    err = np.linalg.norm(rep[0], axis=-1)
    inliers = err <= config.outlier_px
    sq = np.where(inliers, err**2, 0.0).sum(axis=1)
    count = inliers.sum(axis=1)
    residuals = np.where(count > 0, np.sqrt(sq / np.maximum(count, 1)), np.inf)
    valid = (count >= config.min_inliers) & (residuals <= config.max_residual_px)
    return HandFit(rot, t, float(scale), q, residuals, inliers, valid, side, iterations, cost)
