"""Camera motion in a video plan: measure it from the background, or compensate a given one.

Measurement: background corners of frame 0 (Shi-Tomasi, outside a mask of the hand: its
keypoints' hull, dilated, plus a band from the wrist to the image border for the forearm) are
tracked straight into every later frame by pyramidal Lucas-Kanade, started from where the
previous frame's homography puts them; each frame's RANSAC homography maps frame 0 to it
directly, so errors do not accumulate along the clip (chaining frame-to-frame homographies
drifted by ~9 px over 20 s of a static real video). Tracks that land on the hand, whose patch no
longer matches frame 0's (an object the hand moved or covered), or that disagree with the
dominant motion (RANSAC) are left out, so a pushed or lifted object does not count as camera
motion. A static camera gives the identity. Two numbers per frame, relative to frame 0: the mean
displacement of the background tracks that agree with the homography (pixels, measured, not
extrapolated to image corners the tracks do not cover; rotation, translation and zoom all show
here), and the rotation angle of K^-1 H K projected onto
SO(3) (degrees; exact for a purely rotating camera). The plan is flagged when either maximum
exceeds its threshold.

A fixed camera is recognised first, before any dominant-motion fit: corners are picked per
cell of a grid (each cell's own best, so a plain wall's few marks count next to a textured held
object), and a frame whose background tracks include at least `min_tracks` that stayed within
`static_px` of where they were in frame 0, spread over `min_static_spread` of the image
(width or height), is a frame of a still camera, whatever else moves: a moving camera moves
every background point. Without this, a held box with more corners than the room behind it
(OpenCV's box.mp4) was taken for the background and its motion for the camera's.

Compensation: given per-frame camera-to-world poses (e.g. from MegaSaM), wrist poses observed in
frame t's camera are re-expressed in frame 0's camera: T_c0<-ct = T_w<-c0^-1 T_w<-ct.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from lvp_common.artifacts import CameraIntrinsics
from lvp_common.geometry import Pose, transform_poses


class CameraMotionError(ValueError):
    """Camera-motion inputs are inconsistent (frame count, image size, poses)."""


@dataclass(frozen=True)
class CameraMotionConfig:
    """Background-motion check parameters (pixels, degrees).

    max_displacement_px: flag when the background moves by more than this (mean over the inlier
      background tracks, relative to frame 0, at the video's resolution).
    max_rotation_deg: flag when the camera rotates by more than this relative to frame 0.
    hand_margin: the hand mask is the keypoints' hull grown by this fraction of its size...
    hand_margin_px: ...plus this many pixels.
    max_corners / corner_quality / min_corner_distance_px: corner detection (Shi-Tomasi).
    min_tracks: fewer background tracks than this make a frame unmeasurable (it keeps the
      previous frame's homography; counted in the report).
    ransac_px: homography RANSAC threshold.
    max_patch_error: a track whose Lucas-Kanade patch error (mean absolute grey-level difference
      between frame 0's patch and this frame's) exceeds this is dropped: its surface changed
      (an object moved or was covered).
    grid: corners are picked per cell of a (columns, rows) grid, max_corners spread over them.
    static_px: a track that stays within this of its frame-0 position is still.
    min_static_spread: the still tracks must span this fraction of the image's width or
      height for the frame to count as a still camera's.
    """

    max_displacement_px: float = 8.0
    max_rotation_deg: float = 1.5
    hand_margin: float = 0.25
    hand_margin_px: int = 15
    max_corners: int = 400
    corner_quality: float = 0.01
    min_corner_distance_px: int = 8
    min_tracks: int = 15
    ransac_px: float = 2.0
    max_patch_error: float = 12.0
    grid: tuple[int, int] = (8, 6)
    static_px: float = 1.5
    min_static_spread: float = 0.3


@dataclass(frozen=True)
class CameraMotionReport:
    """Per-frame background motion relative to frame 0 and the verdict.

    homographies (T, 3, 3) map frame-0 pixels to frame-t pixels; displacement_px (T,),
    rotation_deg (T,); unmeasured_pairs counts frames with too few background tracks.
    """

    homographies: np.ndarray
    displacement_px: np.ndarray
    rotation_deg: np.ndarray
    moving: bool
    unmeasured_pairs: int

    @property
    def max_displacement_px(self) -> float:
        return float(np.max(self.displacement_px))

    @property
    def max_rotation_deg(self) -> float:
        return float(np.max(self.rotation_deg))


@dataclass(frozen=True)
class CameraTrajectory:
    """External per-frame camera estimate (MegaSaM-style), frames aligned with the hand track.

    camera_to_world: one Pose per frame (optical frame of frame t in a world frame, metres).
    intrinsics: per-frame intrinsics, or one for all frames, or empty to keep the resolved ones.
    depth: (T, H, W) metres of each video frame (NaN invalid), or None.
    """

    camera_to_world: tuple[Pose, ...]
    intrinsics: tuple[CameraIntrinsics, ...] = ()
    depth: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.camera_to_world)
        if n == 0:
            raise CameraMotionError('CameraTrajectory needs at least one pose')
        if len(self.intrinsics) not in (0, 1, n):
            raise CameraMotionError(f'CameraTrajectory: {len(self.intrinsics)} intrinsics for '
                                    f'{n} frames (give 0, 1 or {n})')
        if self.depth is not None:
            depth = np.asarray(self.depth, dtype=np.float32)
            if depth.ndim != 3 or depth.shape[0] != n:
                raise CameraMotionError(f'CameraTrajectory.depth: expected ({n}, H, W), got '
                                        f'{depth.shape}')
            object.__setattr__(self, 'depth', depth)

    @property
    def num_frames(self) -> int:
        return len(self.camera_to_world)

    def intrinsics_at(self, index: int) -> CameraIntrinsics | None:
        """Return frame `index`'s intrinsics, or None when the trajectory carries none."""
        if not self.intrinsics:
            return None
        return self.intrinsics[index if len(self.intrinsics) > 1 else 0]


def hand_mask(shape: tuple[int, int], keypoints_px, margin: float = 0.25,
              margin_px: int = 15) -> np.ndarray:
    """Return a uint8 mask (H, W), 255 on the hand (dilated hull) and its forearm band."""
    h, w = shape
    mask = np.zeros((h, w), dtype=np.uint8)
    kp = np.asarray(keypoints_px, dtype=np.float64)
    kp = kp[np.all(np.isfinite(kp), axis=1)]
    if len(kp) < 3:
        return mask
    centre = kp.mean(axis=0)
    size = float(np.max(np.ptp(kp, axis=0)))
    grown = centre + (kp - centre) * (1.0 + margin)
    hull = cv2.convexHull(np.round(grown).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 255)
    # Forearm: from the wrist away from the middle knuckle, to beyond the image border.
    wrist, knuckle = kp[0], kp[9]
    axis = wrist - knuckle
    if np.linalg.norm(axis) > 1e-6:
        axis /= np.linalg.norm(axis)
        side = np.array([-axis[1], axis[0]]) * 0.4 * size * (1.0 + margin)
        far = wrist + axis * 2.0 * (h + w)
        band = np.array([wrist + side, wrist - side, far - side, far + side])
        cv2.fillConvexPoly(mask, np.round(band).astype(np.int32), 255)
    if margin_px > 0:
        kernel = np.ones((2 * margin_px + 1, 2 * margin_px + 1), dtype=np.uint8)
        mask = cv2.dilate(mask, kernel)
    return mask


def _to_gray(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2GRAY)


MIN_CORNER_EIGENVALUE = 1e-4
"""Smallest Shi-Tomasi score (OpenCV's normalised minimum eigenvalue) of a corner: below it a
cell is flat (sensor noise, not texture) and gives none."""


def _background_corners(gray0: np.ndarray, mask0: np.ndarray,
                        config: CameraMotionConfig) -> np.ndarray | None:
    """Return frame 0's background corners (N, 1, 2) float32 picked per grid cell, or None
    when too few."""
    h, w = gray0.shape
    cols, rows = config.grid
    per_cell = max(1, config.max_corners // (cols * rows))
    free = 255 - mask0
    found = []
    for r in range(rows):
        for c in range(cols):
            y0, y1 = r * h // rows, (r + 1) * h // rows
            x0, x1 = c * w // cols, (c + 1) * w // cols
            cell = np.ascontiguousarray(gray0[y0:y1, x0:x1])
            corners = cv2.goodFeaturesToTrack(cell, per_cell, config.corner_quality,
                                              config.min_corner_distance_px,
                                              mask=np.ascontiguousarray(free[y0:y1, x0:x1]))
            if corners is None:
                continue
            pts = corners.reshape(-1, 2)
            score = cv2.cornerMinEigenVal(cell, 3)
            strong = score[pts[:, 1].astype(int), pts[:, 0].astype(int)] >= MIN_CORNER_EIGENVALUE
            found.append(pts[strong] + [x0, y0])
    if not found or sum(len(f) for f in found) < config.min_tracks:
        return None
    return np.concatenate(found).astype(np.float32).reshape(-1, 1, 2)


def _still_background(p0: np.ndarray, p1: np.ndarray, shape: tuple[int, int],
                      config: CameraMotionConfig) -> float | None:
    """Return the mean displacement (px) of the tracks that stayed put when they are enough and
    spread widely enough to be a still camera's background, else None."""
    moved = np.linalg.norm(p1 - p0, axis=1)
    still = moved <= config.static_px
    if still.sum() < config.min_tracks:
        return None
    h, w = shape
    extent = np.ptp(p0[still], axis=0)
    if extent[0] < config.min_static_spread * w and extent[1] < config.min_static_spread * h:
        return None
    return float(np.mean(moved[still]))


def _register_to_first(gray0: np.ndarray, gray: np.ndarray, corners: np.ndarray,
                       mask: np.ndarray, guess: np.ndarray, config: CameraMotionConfig
                       ) -> tuple[np.ndarray, float] | None:
    """Return the homography (3, 3) from frame 0 to this frame and the mean displacement (px)
    of its inlier background tracks, or None if unmeasurable; the identity when enough of the
    background stayed put (`_still_background`).

    guess: 3x3 homography predicting where frame 0's corners are now (the previous frame's).
    """
    start = cv2.perspectiveTransform(corners, guess).astype(np.float32)
    moved, status, error = cv2.calcOpticalFlowPyrLK(
        gray0, gray, corners, start.copy(), flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    if moved is None:
        return None
    p0, p1 = corners.reshape(-1, 2), moved.reshape(-1, 2)
    h, w = gray.shape
    inside = (p1[:, 0] >= 0) & (p1[:, 0] < w) & (p1[:, 1] >= 0) & (p1[:, 1] < h)
    xi = np.clip(np.round(p1[:, 0]).astype(int), 0, w - 1)
    yi = np.clip(np.round(p1[:, 1]).astype(int), 0, h - 1)
    keep = status.reshape(-1).astype(bool) & inside & (mask[yi, xi] == 0)
    keep &= error.reshape(-1) <= config.max_patch_error
    if keep.sum() < config.min_tracks:
        return None
    still = _still_background(p0[keep], p1[keep], (h, w), config)
    if still is not None:
        return np.eye(3), still
    hom, inliers = cv2.findHomography(p0[keep], p1[keep], cv2.RANSAC, config.ransac_px)
    if hom is None or inliers is None or int(inliers.sum()) < config.min_tracks:
        return None
    used = inliers.reshape(-1).astype(bool)
    shift = float(np.mean(np.linalg.norm(p1[keep][used] - p0[keep][used], axis=1)))
    return np.asarray(hom, dtype=np.float64), shift


def homography_rotation_deg(homography: np.ndarray, intrinsics: CameraIntrinsics) -> float:
    """Return the rotation angle (deg) of K^-1 H K projected onto SO(3)."""
    k = intrinsics.matrix
    m = np.linalg.inv(k) @ homography @ k
    u, _, vt = np.linalg.svd(m)
    rot = u @ vt
    if np.linalg.det(rot) < 0.0:
        rot = -rot
    return float(np.degrees(np.arccos(np.clip((np.trace(rot) - 1.0) / 2.0, -1.0, 1.0))))


def estimate_camera_motion(frames, keypoints_px, intrinsics: CameraIntrinsics,
                           config: CameraMotionConfig | None = None) -> CameraMotionReport:
    """Measure background motion through RGB frames (T, H, W, 3) with the hand masked out."""
    config = config or CameraMotionConfig()
    video = np.asarray(frames)
    kp = np.asarray(keypoints_px, dtype=np.float64)
    if video.ndim != 4 or video.shape[3] != 3:
        raise CameraMotionError(f'expected frames (T, H, W, 3), got {video.shape}')
    if len(kp) != len(video):
        raise CameraMotionError(f'{len(video)} frames but {len(kp)} keypoint sets')
    n, h, w = video.shape[:3]
    homs = np.tile(np.eye(3), (n, 1, 1))
    disp = np.zeros(n)
    rot = np.zeros(n)
    gray0 = _to_gray(video[0])
    corners = _background_corners(
        gray0, hand_mask((h, w), kp[0], config.hand_margin, config.hand_margin_px), config)
    unmeasured = 0 if corners is not None else n - 1
    for i in range(1, n if corners is not None else 1):
        assert corners is not None
        mask = hand_mask((h, w), kp[i], config.hand_margin, config.hand_margin_px)
        found = _register_to_first(gray0, _to_gray(video[i]), corners, mask, homs[i - 1],
                                   config)
        if found is None:
            unmeasured += 1
            homs[i], disp[i], rot[i] = homs[i - 1], disp[i - 1], rot[i - 1]
            continue
        homs[i] = found[0] / found[0][2, 2]
        disp[i] = found[1]
        rot[i] = homography_rotation_deg(homs[i], intrinsics)
    moving = bool(disp.max() > config.max_displacement_px or rot.max() > config.max_rotation_deg)
    return CameraMotionReport(homs, disp, rot, moving, unmeasured)


def to_first_camera(camera_trajectory: CameraTrajectory, positions, quaternions
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Re-express per-frame poses (T, 3)+(T, 4), each in its frame's camera, in frame 0's."""
    p = np.asarray(positions, dtype=np.float64)
    q = np.asarray(quaternions, dtype=np.float64)
    if len(p) != camera_trajectory.num_frames:
        raise CameraMotionError(f'{len(p)} poses but the camera trajectory has '
                                f'{camera_trajectory.num_frames} frames')
    world_to_first = camera_trajectory.camera_to_world[0].inverse()
    out_p = np.empty_like(p)
    out_q = np.empty_like(q)
    for i, cam_to_world in enumerate(camera_trajectory.camera_to_world):
        rel = world_to_first @ cam_to_world
        pi, qi = transform_poses(rel, p[i:i + 1], q[i:i + 1])
        out_p[i], out_q[i] = pi[0], qi[0]
    return out_p, out_q
