"""Save and load a ReconstructionResult's wrist trajectories as a NumPy .npz file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from lvp_common.artifacts import WristTrajectory

from lvp_reconstruction.reconstruct import ReconstructionResult

TRAJECTORY_NAMES = ('camera_raw', 'camera_smoothed', 'base_raw', 'base_smoothed')
"""Keys of the trajectories a file may hold (the base ones only with an extrinsic)."""


def _trajectories(result: ReconstructionResult) -> dict[str, WristTrajectory | None]:
    return dict(zip(TRAJECTORY_NAMES, (result.wrist_camera_raw, result.wrist_camera,
                                       result.wrist_base_raw, result.wrist_base)))


def save_reconstruction_npz(path: str | Path, result: ReconstructionResult) -> Path:
    """Write the wrist trajectories, frame validity, intrinsics and scene cloud to `path`.

    Keys: times (T,), finger_keypoints (T, 21, 3) metres in the wrist frame, valid (T,),
    intrinsics [fx, fy, cx, cy, width, height], intrinsics_assumed, messages; per trajectory
    NAME in TRAJECTORY_NAMES that exists: NAME_positions (T, 3) metres, NAME_quaternions (T, 4)
    x, y, z, w, NAME_residuals_px (T,), NAME_frame_id; with depth: scene_cloud_points (N, 3),
    scene_cloud_colors (N, 3) uint8 and scene_cloud_frame_id (camera optical frame).
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    camera = result.wrist_camera
    intr = result.intrinsics
    arrays: dict[str, Any] = {
        'times': camera.times,
        'finger_keypoints': camera.finger_keypoints,
        'valid': result.valid,
        'intrinsics': np.array([intr.fx, intr.fy, intr.cx, intr.cy, intr.width, intr.height]),
        'intrinsics_assumed': np.array(intr.assumed),
        'messages': np.array(result.report.messages, dtype=str),
    }
    for name, traj in _trajectories(result).items():
        if traj is None:
            continue
        arrays[f'{name}_positions'] = traj.positions
        arrays[f'{name}_quaternions'] = traj.quaternions
        arrays[f'{name}_residuals_px'] = traj.residuals_px
        arrays[f'{name}_frame_id'] = np.array(traj.frame_id)
    cloud = result.point_cloud
    if cloud is not None:
        arrays['scene_cloud_points'] = cloud.points
        arrays['scene_cloud_colors'] = cloud.colors
        arrays['scene_cloud_frame_id'] = np.array(cloud.frame_id)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    with out.open('wb') as f:
        np.savez_compressed(f, **arrays)
    return out


def load_wrist_trajectories_npz(path: str | Path) -> dict[str, WristTrajectory]:
    """Read the trajectories written by `save_reconstruction_npz`, keyed by TRAJECTORY_NAMES."""
    with np.load(Path(path)) as data:
        fingers = data['finger_keypoints'] if 'finger_keypoints' in data else None
        return {name: WristTrajectory(
            times=data['times'], positions=data[f'{name}_positions'],
            quaternions=data[f'{name}_quaternions'], frame_id=str(data[f'{name}_frame_id']),
            smoothed=name.endswith('smoothed'), finger_keypoints=fingers,
            residuals_px=data[f'{name}_residuals_px'])
            for name in TRAJECTORY_NAMES if f'{name}_positions' in data}
