"""Synthetic ground truth for reconstruction: a 21-keypoint hand on a known 6-DoF path.

The hand's proportions are those of SYNTHETIC_HANDS.md (cm; hand frame: +y wrist->fingers,
+x towards the thumb, +z palm normal; right hand), in MediaPipe's landmark order. Used by the
tests and the benchmark; nothing here is used at run time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lvp_common.artifacts import CameraIntrinsics, Handedness, HandTrack
from lvp_common.geometry import continuous_quaternions
from lvp_common.hand_frame import hand_frame_rotations
from scipy.spatial.transform import Rotation

_FINGERS = {  # MCP (x, y) cm, phalanx lengths cm
    'index': ((2.75, 8.6), (4.2, 2.5, 2.1)),
    'middle': ((0.95, 9.0), (4.5, 2.8, 2.2)),
    'ring': ((-0.85, 8.6), (4.2, 2.7, 2.1)),
    'little': ((-2.55, 7.8), (3.4, 2.0, 1.9)),
}
_THUMB_BASE = (2.1, 2.3, 0.9)
_THUMB_SEGMENTS = (4.4, 3.2, 2.8)


def hand_keypoints(curl: float = 0.3) -> np.ndarray:
    """Return a right hand's 21 keypoints (metres) in its hand frame, fingers flexed by `curl`.

    curl: flexion per finger joint (rad) towards the palm normal (+z); 0 is a flat hand.
    """
    points = [np.zeros(3)]
    # Thumb: out of the palm plane, towards the thumb side and the fingers, bending inwards.
    direction = np.array([0.55, 0.65, 0.52])
    position = np.array(_THUMB_BASE)
    points.append(position.copy())
    for i, length in enumerate(_THUMB_SEGMENTS):
        direction = Rotation.from_rotvec([0.0, 0.0, 0.25 * curl * (i + 1)]).apply(direction)
        direction /= np.linalg.norm(direction)
        position = position + length * direction
        points.append(position.copy())
    for (x, y), lengths in _FINGERS.values():
        position = np.array([x, y, 0.0])
        points.append(position.copy())
        angle = 0.0
        for length in lengths:
            angle += curl
            position = position + length * np.array([0.0, np.cos(angle), np.sin(angle)])
            points.append(position.copy())
    return np.asarray(points) / 100.0


@dataclass(frozen=True)
class SyntheticSequence:
    """A hand moving in front of a camera, with its exact wrist poses and keypoints.

    keypoints_camera (T, 21, 3) metres in the optical frame; wrist_positions (T, 3) and
    wrist_quaternions (T, 4) of the lvp_common.hand_frame frame in the optical frame.
    """

    times: np.ndarray
    keypoints_camera: np.ndarray
    wrist_positions: np.ndarray
    wrist_quaternions: np.ndarray
    intrinsics: CameraIntrinsics


def wrist_path(num_frames: int = 49, fps: float = 16.0, depth_m: float = 0.55,
               intrinsics: CameraIntrinsics | None = None, curl: float = 0.3
               ) -> SyntheticSequence:
    """Return a reach-like path: ~25 cm sweep, +-10 cm in depth, up to ~35 deg of rotation."""
    intrinsics = intrinsics or CameraIntrinsics.from_fov(832, 480, 60.0, assumed=False)
    times = np.arange(num_frames) / fps
    s = np.linspace(0.0, 1.0, num_frames)
    centre = np.stack([-0.12 + 0.25 * s, 0.06 - 0.06 * np.sin(np.pi * s),
                       depth_m + 0.10 * np.sin(2.0 * np.pi * s)], axis=1)
    # Palm towards the camera, fingers up: hand x = camera x, hand y = -camera y.
    base = Rotation.from_matrix(np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]))
    wobble = Rotation.from_rotvec(np.stack([0.35 * np.sin(2.0 * np.pi * s),
                                            0.45 * s - 0.2,
                                            0.3 * np.sin(np.pi * s)], axis=1))
    hand_rot = wobble * base
    model = hand_keypoints(curl)
    keypoints = np.stack([hand_rot[i].apply(model) for i in range(num_frames)]) \
        + centre[:, None, :] - hand_rot.apply(model[9] * 0.5)[:, None, :]
    wrist_rot = hand_frame_rotations(keypoints, Handedness.RIGHT)
    quats = continuous_quaternions(Rotation.from_matrix(wrist_rot).as_quat())
    return SyntheticSequence(times, keypoints, keypoints[:, 0, :].copy(), quats, intrinsics)


def make_track(sequence: SyntheticSequence, pixel_noise_px: float = 1.0,
               metric_noise_m: float = 0.002, metric_scale: float = 1.0,
               axis_error_deg: float = 5.0, outlier_fraction: float = 0.0,
               seed: int = 0) -> HandTrack:
    """Return a HandTrack as a tracker would report it for `sequence`.

    The metric keypoints are hand-centred (origin at the palm centroid), scaled by
    `metric_scale` (MediaPipe: ~0.94), rotated off the camera axes by `axis_error_deg` and noisy;
    `outlier_fraction` of the frames get two keypoints displaced by 30-60 px.
    """
    rng = np.random.default_rng(seed)
    kp_cam = sequence.keypoints_camera
    n = len(kp_cam)
    px = np.stack([sequence.intrinsics.project(kp_cam[i]) for i in range(n)])
    px = px + rng.normal(0.0, pixel_noise_px, px.shape)
    for i in np.flatnonzero(rng.random(n) < outlier_fraction):
        for j in rng.choice(np.arange(1, 21), size=2, replace=False):
            angle = rng.uniform(0.0, 2.0 * np.pi)
            px[i, j] += rng.uniform(30.0, 60.0) * np.array([np.cos(angle), np.sin(angle)])
    palm = kp_cam[:, [0, 5, 9, 13, 17], :].mean(axis=1, keepdims=True)
    local = kp_cam - palm
    axis_error = Rotation.from_rotvec(
        np.radians(axis_error_deg) * np.array([0.6, -0.8, 0.0]))
    kp_m = metric_scale * axis_error.apply(local.reshape(-1, 3)).reshape(local.shape)
    kp_m = kp_m + rng.normal(0.0, metric_noise_m, kp_m.shape)
    return HandTrack(
        times=sequence.times, keypoints_px=px, keypoints_m=kp_m,
        wrist_quaternions=sequence.wrist_quaternions, confidence=np.full(n, 0.9),
        detected=np.ones(n, dtype=bool), handedness=Handedness.RIGHT,
        image_size=(sequence.intrinsics.width, sequence.intrinsics.height))
