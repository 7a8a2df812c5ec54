"""Synthetic tabletop point clouds with exact surface normals (tests, benchmarks, demos).

Frame: z up, the table top at z = 0, metres. Every generator returns points (N, 3) and the
true outward unit normals (N, 3) of the surfaces they were sampled from.
"""

from __future__ import annotations

import numpy as np
from lvp_common.artifacts import PointCloud


def _grid(u_extent: float, v_extent: float, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    u = np.arange(-u_extent / 2, u_extent / 2 + 1e-9, spacing)
    v = np.arange(-v_extent / 2, v_extent / 2 + 1e-9, spacing)
    uu, vv = np.meshgrid(u, v, indexing='ij')
    return uu.ravel(), vv.ravel()


def table(size: float = 0.4, spacing: float = 0.004) -> tuple[np.ndarray, np.ndarray]:
    """Return a square table top centred on the origin."""
    u, v = _grid(size, size, spacing)
    points = np.stack([u, v, np.zeros_like(u)], axis=1)
    return points, np.tile([0.0, 0.0, 1.0], (len(points), 1))


def box_on_table(size=(0.05, 0.05, 0.1), spacing: float = 0.003) -> tuple[np.ndarray, np.ndarray]:
    """Return the four sides and the top of a box standing on the table at the origin."""
    sx, sy, sz = size
    points, normals = [], []
    for axis, extent in ((0, sx), (1, sy)):
        other = sy if axis == 0 else sx
        u, h = _grid(other, sz, spacing)
        for sign in (-1.0, 1.0):
            p = np.zeros((len(u), 3))
            p[:, axis] = sign * extent / 2
            p[:, 1 - axis] = u
            p[:, 2] = h + sz / 2
            n = np.zeros_like(p)
            n[:, axis] = sign
            points.append(p)
            normals.append(n)
    u, v = _grid(sx, sy, spacing)
    points.append(np.stack([u, v, np.full_like(u, sz)], axis=1))
    normals.append(np.tile([0.0, 0.0, 1.0], (len(u), 1)))
    return np.concatenate(points), np.concatenate(normals)


def cylinder_on_table(radius: float = 0.03, height: float = 0.12,
                      spacing: float = 0.003) -> tuple[np.ndarray, np.ndarray]:
    """Return the side and the top of an upright cylinder standing on the table at the origin."""
    angles = np.arange(0.0, 2 * np.pi, spacing / radius)
    heights = np.arange(0.0, height + 1e-9, spacing)
    aa, hh = np.meshgrid(angles, heights, indexing='ij')
    normals = np.stack([np.cos(aa.ravel()), np.sin(aa.ravel()), np.zeros(aa.size)], axis=1)
    side = normals * radius + np.stack([np.zeros(aa.size), np.zeros(aa.size), hh.ravel()], 1)
    u, v = _grid(2 * radius, 2 * radius, spacing)
    inside = u ** 2 + v ** 2 <= radius ** 2
    top = np.stack([u[inside], v[inside], np.full(inside.sum(), height)], axis=1)
    return (np.concatenate([side, top]),
            np.concatenate([normals, np.tile([0.0, 0.0, 1.0], (len(top), 1))]))


def bar_above_table(radius: float = 0.012, length: float = 0.2, height: float = 0.12,
                    spacing: float = 0.003) -> tuple[np.ndarray, np.ndarray]:
    """Return a horizontal bar (a handle, along x) with its axis `height` above the table."""
    angles = np.arange(0.0, 2 * np.pi, spacing / radius)
    xs = np.arange(-length / 2, length / 2 + 1e-9, spacing)
    aa, xx = np.meshgrid(angles, xs, indexing='ij')
    normals = np.stack([np.zeros(aa.size), np.cos(aa.ravel()), np.sin(aa.ravel())], axis=1)
    points = normals * radius + np.stack([xx.ravel(), np.zeros(aa.size),
                                          np.full(aa.size, height)], axis=1)
    return points, normals


def scene_cloud(*parts: tuple[np.ndarray, np.ndarray], noise: float = 0.0, seed: int = 0,
                frame_id: str = 'base_link') -> tuple[PointCloud, np.ndarray]:
    """Merge parts into a PointCloud (Gaussian noise of `noise` m) and the matching normals."""
    points = np.concatenate([p for p, _ in parts])
    normals = np.concatenate([n for _, n in parts])
    if noise > 0.0:
        points = points + np.random.default_rng(seed).normal(scale=noise, size=points.shape)
    return PointCloud(points=points, frame_id=frame_id), normals
