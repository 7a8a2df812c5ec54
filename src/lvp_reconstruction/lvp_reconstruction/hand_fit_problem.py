"""The articulated hand fit's least-squares problem: residuals, analytic Jacobian and the
banded normal equations of a clip (`FitProblem`), and their block-tridiagonal solve.

`lvp_reconstruction.hand_fit` sets the problem up and runs Levenberg-Marquardt on it; units and
weights are those of its HandFitConfig.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from lvp_common.artifacts import Handedness
from lvp_common.hand_kinematics import (
    JOINT_LIMITS,
    JOINT_NAMES,
    KEYPOINT_JOINTS,
    hand_keypoints_with_joints,
)
from scipy.spatial.transform import Rotation

from lvp_reconstruction.lifting import project

if TYPE_CHECKING:
    from lvp_reconstruction.hand_fit import HandFitConfig

NUM_JOINTS = len(JOINT_NAMES)
UNKNOWNS = 6 + NUM_JOINTS
"""Unknowns per frame: rotation step, translation, joint angles."""


def relaxed_hand() -> np.ndarray:
    """Return the relaxed posture (20,) the joint prior pulls towards (slightly curled)."""
    q = np.zeros(NUM_JOINTS)
    for i, name in enumerate(JOINT_NAMES):
        if name.startswith('thumb'):
            q[i] = 0.0 if name.endswith('abd') else 0.2
        elif name.endswith('mcp_flex'):
            q[i] = 0.3
        elif name.endswith('pip_flex'):
            q[i] = 0.35
        elif name.endswith('dip_flex'):
            q[i] = 0.2
    return q



def landmark_offsets_m(config: HandFitConfig) -> np.ndarray | None:
    if config.landmark_offsets_mm is None:
        return None
    return 1e-3 * np.asarray(config.landmark_offsets_mm, dtype=np.float64)


def _skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2] = -v[..., 2], v[..., 1]
    out[..., 1, 0], out[..., 1, 2] = v[..., 2], -v[..., 0]
    out[..., 2, 0], out[..., 2, 1] = -v[..., 1], v[..., 0]
    return out


def _second_difference(n: int) -> sp.csr_matrix:
    """Return the (n-2, n) second-difference operator (zero rows when n < 3)."""
    return sp.csr_matrix(np.diff(np.eye(n), 2, axis=0))


class FitProblem:
    """The clip's residuals and Jacobian for the current state (rotations, wrist, joints)."""

    def __init__(self, pixels: np.ndarray, weights: np.ndarray, k: np.ndarray, scale: float,
                 handedness: Handedness, config: HandFitConfig) -> None:
        self.uv, self.w, self.k, self.scale = pixels, weights, k, scale
        self.handedness, self.config = handedness, config
        self.offsets = landmark_offsets_m(config)
        n = len(pixels)
        self.n = n
        d2 = _second_difference(n)
        eye3, eyej = sp.identity(3, format='csr'), sp.identity(NUM_JOINTS, format='csr')
        sel_r = sp.hstack([eye3, sp.csr_matrix((3, 3 + NUM_JOINTS))])
        sel_t = sp.hstack([sp.csr_matrix((3, 3)), eye3, sp.csr_matrix((3, NUM_JOINTS))])
        sel_q = sp.hstack([sp.csr_matrix((NUM_JOINTS, 6)), eyej])
        self.d2 = d2
        self.smooth_jac = sp.vstack([
            config.rotation_smoothing * sp.kron(d2, sel_r),
            config.position_smoothing * sp.kron(d2, sel_t),
            config.joint_smoothing * sp.kron(d2, sel_q),
            config.joint_prior * sp.kron(sp.identity(n), sel_q),
        ]).tocsr()
        self.sel_q_all = sp.kron(sp.identity(n), sel_q).tocsr()
        self.padded = n + n % 2
        gram = sp.csr_matrix(self.smooth_jac.T @ self.smooth_jac)
        self.smooth_diag, self.smooth_upper = _pair_blocks(gram.toarray(), n)
        self.q0 = relaxed_hand()
        nk = pixels.shape[1]
        rows = np.arange(n)[:, None, None] * (2 * nk) + np.arange(2 * nk)[None, :, None]
        cols = np.arange(n)[:, None, None] * UNKNOWNS + np.arange(UNKNOWNS)[None, None, :]
        self.block_rows = np.broadcast_to(rows, (n, 2 * nk, UNKNOWNS)).ravel()
        self.block_cols = np.broadcast_to(cols, (n, 2 * nk, UNKNOWNS)).ravel()

    def reprojection(self, rot, t, q, with_jacobian: bool):
        kp, axes, origins = hand_keypoints_with_joints(q, self.scale, self.handedness,
                                                       self.offsets)
        local = np.einsum('tij,tkj->tki', rot, kp)
        p = local + t[:, None]
        z = p[..., 2]
        if np.any(z <= 1e-6):
            return None
        err_vec = project(p, self.k) - self.uv
        if not with_jacobian:
            return err_vec, None
        fx, fy = self.k[0, 0], self.k[1, 1]
        n, nk = z.shape
        jp = np.zeros((n, nk, 2, 3))
        jp[..., 0, 0] = fx / z
        jp[..., 0, 2] = -fx * p[..., 0] / z**2
        jp[..., 1, 1] = fy / z
        jp[..., 1, 2] = -fy * p[..., 1] / z**2
        dp = np.zeros((n, nk, 3, UNKNOWNS))
        dp[..., 0:3] = -_skew(local)
        dp[..., 3:6] = np.eye(3)
        # d p_k / d q_j = R (a_j x (p_k - o_j)) for the joints above keypoint k
        lever = kp[:, :, None, :] - origins[:, None, :, :]
        moved = np.cross(axes[:, None, :, :], lever) * KEYPOINT_JOINTS[None, :, :, None]
        # batched matrix products (BLAS), not einsum's plain loops
        dp[..., 6:] = np.swapaxes(moved @ np.swapaxes(rot, 1, 2)[:, None], -1, -2)
        return err_vec, jp @ dp

    def robust(self, err_vec: np.ndarray) -> tuple[np.ndarray, float]:
        """Return IRLS weights (T, 21) and the Huber reprojection cost."""
        err = np.linalg.norm(err_vec, axis=-1)
        delta = self.config.huber_px
        rho = np.where(err <= delta, 0.5 * err**2, delta * (err - 0.5 * delta))
        irls = np.where(err <= delta, 1.0, delta / np.maximum(err, 1e-12))
        return irls * self.w, float(np.sum(self.w * rho))

    def smooth_residuals(self, rot, t, q) -> np.ndarray:
        c = self.config
        if self.n >= 3:
            rel = Rotation.from_matrix(np.einsum('tij,tkj->tik', rot[1:], rot[:-1])).as_rotvec()
            d_rot = rel[1:] - rel[:-1]
            d_t = self.d2 @ t
            d_q = self.d2 @ q
        else:
            d_rot, d_t, d_q = np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, NUM_JOINTS))
        return np.concatenate([c.rotation_smoothing * d_rot.ravel(),
                               c.position_smoothing * d_t.ravel(),
                               c.joint_smoothing * d_q.ravel(),
                               c.joint_prior * (q - self.q0).ravel()])

    def limit_residuals(self, q) -> tuple[np.ndarray, np.ndarray]:
        over = np.maximum(q - JOINT_LIMITS[:, 1], 0.0) - np.maximum(JOINT_LIMITS[:, 0] - q, 0.0)
        return self.config.limit_weight * over.ravel(), (over != 0.0).ravel()

    def cost(self, rot, t, q) -> float:
        rep = self.reprojection(rot, t, q, False)
        if rep is None:
            return np.inf
        _, robust_cost = self.robust(rep[0])
        smooth = self.smooth_residuals(rot, t, q)
        lim, _ = self.limit_residuals(q)
        return robust_cost + 0.5 * float(smooth @ smooth) + 0.5 * float(lim @ lim)

    def normal_equations(self, rot, t, q) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return the Gauss-Newton matrix as block-tridiagonal pairs of frames, and the gradient.

        Frames are grouped in pairs (a padded frame completes an odd clip): second differences
        couple a frame with the two on either side, so only neighbouring pairs couple. Returns
        diagonal blocks (G, 2P, 2P), upper blocks (G - 1, 2P, 2P) and the gradient (G * 2P,).
        """
        rep = self.reprojection(rot, t, q, True)
        assert rep is not None
        err_vec, jac = rep
        assert jac is not None
        irls, _ = self.robust(err_vec)
        jw = jac * irls[..., None, None]
        n = len(jac)
        jw_rows = jw.reshape(n, -1, UNKNOWNS)
        blocks = np.swapaxes(jw_rows, 1, 2) @ jac.reshape(n, -1, UNKNOWNS)
        grad = (np.swapaxes(jw_rows, 1, 2) @ err_vec.reshape(n, -1, 1)).ravel()
        grad += self.smooth_jac.T @ self.smooth_residuals(rot, t, q)
        lim, active = self.limit_residuals(q)
        grad += self.config.limit_weight * (self.sel_q_all.T @ lim)
        frame_diag = np.zeros((self.padded, UNKNOWNS, UNKNOWNS))
        frame_diag[:self.n] = blocks
        idx = 6 + np.arange(NUM_JOINTS)
        frame_diag[:self.n, idx, idx] += (self.config.limit_weight ** 2) * active.reshape(
            self.n, NUM_JOINTS)
        diag = self.smooth_diag.copy()
        pairs = frame_diag.reshape(-1, 2, UNKNOWNS, UNKNOWNS)
        diag[:, :UNKNOWNS, :UNKNOWNS] += pairs[:, 0]
        diag[:, UNKNOWNS:, UNKNOWNS:] += pairs[:, 1]
        padded_grad = np.zeros(self.padded * UNKNOWNS)
        padded_grad[:len(grad)] = grad
        return diag, self.smooth_upper, padded_grad


def _pair_blocks(matrix: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Split a (n P)-square block-banded matrix into pair-of-frames diagonal and upper blocks."""
    padded = n + n % 2
    dense = np.zeros((padded * UNKNOWNS, padded * UNKNOWNS))
    dense[:n * UNKNOWNS, :n * UNKNOWNS] = matrix
    if padded > n:  # the padding frame: an identity keeps the system regular
        dense[n * UNKNOWNS:, n * UNKNOWNS:] = np.eye(UNKNOWNS)
    m = 2 * UNKNOWNS
    g = padded // 2
    diag = np.stack([dense[i * m:(i + 1) * m, i * m:(i + 1) * m] for i in range(g)])
    upper = np.stack([dense[i * m:(i + 1) * m, (i + 1) * m:(i + 2) * m]
                      for i in range(g - 1)]) if g > 1 else np.zeros((0, m, m))
    return diag, upper


def solve_block_tridiagonal(diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray
                            ) -> np.ndarray:
    """Solve a symmetric block-tridiagonal system (blocks (G, m, m), (G-1, m, m), rhs (G m,))."""
    g, m = diag.shape[:2]
    b = rhs.reshape(g, m)
    coupling = np.zeros((g, m, m))
    partial = np.zeros((g, m))
    for i in range(g):
        d, r = diag[i], b[i]
        if i:
            d = d - upper[i - 1].T @ coupling[i - 1]
            r = r - upper[i - 1].T @ partial[i - 1]
        rhs_i = np.concatenate([upper[i], r[:, None]], axis=1) if i < g - 1 else r[:, None]
        sol = np.linalg.solve(d, rhs_i)
        if i < g - 1:
            coupling[i] = sol[:, :m]
        partial[i] = sol[:, -1]
    x = np.zeros((g, m))
    x[-1] = partial[-1]
    for i in range(g - 2, -1, -1):
        x[i] = partial[i] - coupling[i] @ x[i + 1]
    return x.ravel()
