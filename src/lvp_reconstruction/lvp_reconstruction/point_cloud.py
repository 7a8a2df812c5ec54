"""Scene point cloud from an RGB-D observation by pinhole back-projection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lvp_common.artifacts import CAMERA_OPTICAL_FRAME, CameraIntrinsics, PointCloud
from lvp_common.geometry import Pose

from lvp_reconstruction.camera_model import undistort_pixels


class PointCloudError(ValueError):
    """Point-cloud inputs are inconsistent (image sizes, parameters)."""


@dataclass(frozen=True)
class PointCloudConfig:
    """Back-projection parameters.

    stride: keep every stride-th pixel in both directions (1 = all).
    min_depth_m / max_depth_m: depth range kept (metres along the optical axis).
    """

    stride: int = 4
    min_depth_m: float = 0.1
    max_depth_m: float = 3.0

    def __post_init__(self) -> None:
        if self.stride < 1:
            raise PointCloudError(f'stride must be >= 1, got {self.stride}')
        if not 0.0 <= self.min_depth_m < self.max_depth_m:
            raise PointCloudError(f'need 0 <= min_depth_m < max_depth_m, got '
                                  f'{self.min_depth_m}, {self.max_depth_m}')


def back_project(depth, intrinsics: CameraIntrinsics, rgb=None,
                 config: PointCloudConfig | None = None,
                 frame_id: str = CAMERA_OPTICAL_FRAME) -> PointCloud:
    """Return the points (metres, camera optical frame) of a depth image (H, W), with colours."""
    config = config or PointCloudConfig()
    d = np.asarray(depth, dtype=np.float64)
    if d.shape != (intrinsics.height, intrinsics.width):
        raise PointCloudError(f'depth is {d.shape[1]}x{d.shape[0]} but the intrinsics are for '
                              f'{intrinsics.width}x{intrinsics.height}')
    s = config.stride
    v, u = np.mgrid[0:d.shape[0]:s, 0:d.shape[1]:s]
    z = d[::s, ::s]
    keep = np.isfinite(z) & (z >= config.min_depth_m) & (z <= config.max_depth_m) & (z > 0.0)
    uv = undistort_pixels(np.stack([u[keep], v[keep]], axis=1).astype(np.float64), intrinsics)
    zk = z[keep]
    points = np.stack([(uv[:, 0] - intrinsics.cx) / intrinsics.fx * zk,
                       (uv[:, 1] - intrinsics.cy) / intrinsics.fy * zk, zk], axis=1)
    colors = None
    if rgb is not None:
        img = np.asarray(rgb)
        if img.shape[:2] != d.shape:
            raise PointCloudError(f'rgb {img.shape[:2]} and depth {d.shape} sizes differ')
        colors = np.ascontiguousarray(img[::s, ::s][keep], dtype=np.uint8)
    return PointCloud(points.reshape(-1, 3), frame_id, colors)


def transform_cloud(cloud: PointCloud, transform: Pose, frame_id: str) -> PointCloud:
    """Return `cloud` mapped by `transform` (frame_id <- cloud.frame_id)."""
    return PointCloud(transform.transform_points(cloud.points), frame_id, cloud.colors)
