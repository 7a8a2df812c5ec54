"""Save and load a TrackingResult's track as a NumPy .npz file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from lvp_common.artifacts import Handedness, HandMesh, HandTrack

from lvp_hand_tracking.tracker import TrackingResult


def save_track_npz(path: str | Path, result: TrackingResult) -> Path:
    """Write the main track, its clip frame indices and the gap report to `path` (.npz).

    Keys: the HandTrack fields (times, keypoints_px, keypoints_m, wrist_quaternions, confidence,
    detected, handedness, image_size[, mesh_vertices, mesh_faces]), frame_indices, and gaps
    (N, 3) int rows [start_frame, end_frame, filled], detected_fraction, backend.
    """
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    track = result.track
    arrays: dict[str, Any] = {
        'times': track.times,
        'keypoints_px': track.keypoints_px,
        'keypoints_m': track.keypoints_m,
        'wrist_quaternions': track.wrist_quaternions,
        'confidence': track.confidence,
        'detected': track.detected,
        'handedness': np.array(track.handedness.value),
        'image_size': np.array(track.image_size, dtype=np.int64),
        'frame_indices': result.track_frame_indices,
        'gaps': np.array([[g.start_frame, g.end_frame, int(g.filled)] for g in result.gaps],
                         dtype=np.int64).reshape(-1, 3),
        'detected_fraction': np.array(result.detected_fraction),
        'backend': np.array(result.backend),
    }
    if track.mesh is not None:
        arrays['mesh_vertices'] = track.mesh.vertices
        arrays['mesh_faces'] = track.mesh.faces
    with out.open('wb') as f:
        np.savez_compressed(f, **arrays)
    return out


def load_track_npz(path: str | Path) -> HandTrack:
    """Read the HandTrack written by `save_track_npz`."""
    with np.load(Path(path)) as data:
        mesh = None
        if 'mesh_vertices' in data:
            mesh = HandMesh(data['mesh_vertices'], data['mesh_faces'])
        width, height = (int(v) for v in data['image_size'])
        return HandTrack(
            times=data['times'], keypoints_px=data['keypoints_px'],
            keypoints_m=data['keypoints_m'], wrist_quaternions=data['wrist_quaternions'],
            confidence=data['confidence'], detected=data['detected'],
            handedness=Handedness(str(data['handedness'])), image_size=(width, height), mesh=mesh)
