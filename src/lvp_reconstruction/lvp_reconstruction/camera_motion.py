"""Camera motion in a video plan: measure it from the background, or compensate a given one.

Measurement, each frame against frame 0 (no chaining: chaining frame-to-frame homographies
drifted by ~9 px over 20 s of a static real video), in three tests, first that holds:
1. Still camera: Shi-Tomasi corners of frame 0 picked per grid cell (a plain wall's few marks
   count next to a textured held object), outside a mask of the hand (its keypoints' hull,
   dilated, plus a band from the wrist to the image border for the forearm), tracked by
   pyramidal Lucas-Kanade (started from the previous frame's homography); at least
   `min_tracks` of them within `static_px` of where they were, spread over
   `min_static_spread` of the image, make the identity, whatever else moves (a held box with
   more corners than the room behind it is not the background).
2. Shaking still camera: one patch per cell of a finer grid, off the hand and off what it may
   hold (the keypoints' box grown by `held_object_margin` of the hand's size), searched within
   +-`shake_search_px` by normalised cross-correlation; one shift shared by enough of them
   (and half of those found), widespread, is the camera's. Lucas-Kanade wanders on faint marks
   and a held cup's shadow changes their grey levels; the correlation minds neither.
3. Dominant motion: a RANSAC homography of the corner tracks that kept their patch (an object
   the hand moved or covered drops out), led back to their corner by the reverse flow, with
   widespread inliers off the held-object mask; within the patches' reach it must also move
   enough of the matched patches, else a mixed fit (faint marks plus a held object's edge) is
   refused.
A frame passing none is unmeasured (it keeps the previous frame's estimate; counted). Two
numbers per frame: the mean displacement of the supporting points (pixels, measured, not
extrapolated to image corners they do not cover) and the angle of the camera rotation that best
maps their view rays (degrees; exact for a purely rotating camera, well posed for a small
patch of background, where a homography's projective part is not). The plan is flagged when
either maximum exceeds its threshold.

Compensation: given per-frame camera-to-world poses (e.g. from MegaSaM), wrist poses observed in
frame t's camera are re-expressed in frame 0's camera: T_c0<-ct = T_w<-c0^-1 T_w<-ct.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
from lvp_common.artifacts import CameraIntrinsics
from lvp_common.geometry import Pose, transform_poses


class CameraMotionError(ValueError):
    """Camera-motion inputs are inconsistent (frame count, image size, poses)."""


@dataclass(frozen=True)
class CameraMotionConfig:
    """Background-motion check parameters (pixels, degrees).

    max_displacement_px: flag when the background moves by more than this (mean over the
      supporting background points, relative to frame 0, at the video's resolution). 16 px at
      832x480 and 60 deg is ~1.3 deg of view, ~13 mm at a hand 0.6 m away: under the 15 mm
      the reconstruction is held to (8 px flagged cup.mp4, whose camera drifts ~9-13 px).
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
      height for the frame to count as a still camera's (and so must a homography's inliers
      or a shaking camera's patches).
    held_object_margin: what the hand holds is masked with it: the keypoints' bounding box
      grown by this fraction of the hand's size on every side.
    shake_grid / shake_patch_px / shake_search_px: a shaking still camera is tested with one
      background patch (half-size shake_patch_px) per cell of this grid, searched within
      +-shake_search_px of its frame-0 place by normalised cross-correlation...
    min_patch_correlation: ...a patch matching worse than this is covered or changed...
    shake_ransac_px / min_shake_patches / min_shake_agreement: ...and at least
      min_shake_patches of them, and min_shake_agreement of those that matched, must agree on
      one shift (within shake_ransac_px), spread over min_static_spread of the image; a
      dominant motion within the patches' reach must move as many of them as closely.
    forward_backward_px: a track followed back into frame 0 must land this close to its
      corner to count in the dominant-motion fit.
    """

    max_displacement_px: float = 16.0
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
    held_object_margin: float = 0.3
    shake_grid: tuple[int, int] = (24, 14)
    shake_patch_px: int = 12
    shake_search_px: int = 24
    min_patch_correlation: float = 0.7
    shake_ransac_px: float = 2.5
    min_shake_patches: int = 4
    min_shake_agreement: float = 0.5
    forward_backward_px: float = 1.0


@dataclass(frozen=True)
class CameraMotionReport:
    """Per-frame background motion relative to frame 0 and the verdict.

    homographies (T, 3, 3) map frame-0 pixels to frame-t pixels; displacement_px (T,),
    rotation_deg (T,); unmeasured_pairs counts frames that no test could measure (each keeps
    the previous frame's values).
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
              margin_px: int = 15, object_margin: float = 0.0) -> np.ndarray:
    """Return a uint8 mask (H, W), 255 on the hand (dilated hull) and its forearm band, and with
    object_margin > 0 on the keypoints' bounding box grown by that fraction of the hand's size
    (where a held object is)."""
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
    if object_margin > 0.0:
        grow = object_margin * size
        low, high = kp.min(axis=0) - grow, kp.max(axis=0) + grow
        cv2.rectangle(mask, (int(low[0]), int(low[1])), (int(high[0]), int(high[1])), 255, -1)
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


def _hand_mask_of(keypoints_px, shape: tuple[int, int], config: CameraMotionConfig,
                  held_object: bool = False) -> np.ndarray:
    return hand_mask(shape, keypoints_px, config.hand_margin, config.hand_margin_px,
                     config.held_object_margin if held_object else 0.0)


def _widespread(points: np.ndarray, shape: tuple[int, int], config: CameraMotionConfig) -> bool:
    """Whether points (N, 2) span min_static_spread of the image's width or height."""
    if len(points) < 2:
        return False
    h, w = shape
    return bool(np.any(np.ptp(points, axis=0) >= config.min_static_spread * np.array([w, h])))


def _still_background(p0: np.ndarray, p1: np.ndarray, shape: tuple[int, int],
                      config: CameraMotionConfig) -> float | None:
    """Return the mean displacement (px) of the tracks that stayed put when they are enough and
    spread widely enough to be a still camera's background, else None."""
    moved = np.linalg.norm(p1 - p0, axis=1)
    still = moved <= config.static_px
    if still.sum() < config.min_tracks or not _widespread(p0[still], shape, config):
        return None
    return float(np.mean(moved[still]))


def _background_patches(gray0: np.ndarray, mask0: np.ndarray,
                        config: CameraMotionConfig) -> np.ndarray:
    """Return frame 0's background patch centres (N, 2) int: per shake_grid cell its most
    corner-like pixel off the mask, with room for the search around it."""
    h, w = gray0.shape
    cols, rows = config.shake_grid
    reach = config.shake_patch_px + config.shake_search_px
    score = cv2.cornerMinEigenVal(gray0, 5)
    score[mask0 > 0] = 0.0
    centres = []
    for r in range(rows):
        for c in range(cols):
            y0, y1 = max(r * h // rows, reach), min((r + 1) * h // rows, h - reach)
            x0, x1 = max(c * w // cols, reach), min((c + 1) * w // cols, w - reach)
            if y1 <= y0 or x1 <= x0:
                continue
            cell = score[y0:y1, x0:x1]
            y, x = np.unravel_index(int(np.argmax(cell)), cell.shape)
            if cell[y, x] >= MIN_CORNER_EIGENVALUE:
                centres.append((x0 + x, y0 + y))
    return np.asarray(centres, dtype=np.int64).reshape(-1, 2)


def _match_patches(gray0: np.ndarray, gray: np.ndarray, patches: np.ndarray,
                   mask: np.ndarray, config: CameraMotionConfig
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Return the background patches' centres in frame 0 and now (N, 2) for those found.

    Each frame-0 patch is searched within +-shake_search_px in this frame by normalised
    cross-correlation (unlike Lucas-Kanade on faint marks it neither wanders nor minds the
    shadow a held object casts); patches that match poorly, best at the search's edge (the
    place may lie beyond) or on the mask drop out.
    """
    half, reach = config.shake_patch_px, config.shake_patch_px + config.shake_search_px
    found, moved = [], []
    for x, y in patches:
        template = gray0[y - half:y + half + 1, x - half:x + half + 1]
        window = gray[y - reach:y + reach + 1, x - reach:x + reach + 1]
        score = cv2.matchTemplate(window, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (dx, dy) = cv2.minMaxLoc(score)
        if best < config.min_patch_correlation or not (
                0 < dx < score.shape[1] - 1 and 0 < dy < score.shape[0] - 1):
            continue
        x1, y1 = x + dx - config.shake_search_px, y + dy - config.shake_search_px
        if mask[y1, x1] == 0:
            found.append((x, y))
            moved.append((x1, y1))
    return (np.asarray(found, dtype=np.float64).reshape(-1, 2),
            np.asarray(moved, dtype=np.float64).reshape(-1, 2))


def _agreeing(agree: np.ndarray, config: CameraMotionConfig) -> bool:
    """Whether the patches in `agree` (bool over those found) are enough and a large enough
    share of those found."""
    return bool(agree.sum() >= max(config.min_shake_patches,
                                   config.min_shake_agreement * len(agree)))


def _shaken_background(p0: np.ndarray, p1: np.ndarray, shape: tuple[int, int],
                       config: CameraMotionConfig
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Return the shift (as a 3x3 homography) that the matched background patches (frame 0,
    now) agree on and those patches when the camera is still up to a shake, else None."""
    if len(p0) < config.min_shake_patches:
        return None
    # one shift that most patches share (every patch's own shift is a candidate): two numbers
    # fitted to many patches, so wrong matches seldom agree by chance
    shifts = p1 - p0
    near = np.linalg.norm(shifts[:, None] - shifts[None], axis=2) <= config.shake_ransac_px
    used = near[int(np.argmax(near.sum(axis=1)))]
    if not _agreeing(used, config) or not _widespread(p0[used], shape, config):
        return None
    shift = shifts[used].mean(axis=0)
    hom = np.array([[1.0, 0.0, shift[0]], [0.0, 1.0, shift[1]], [0.0, 0.0, 1.0]])
    return hom, p0[used], p1[used]


class _FirstFrame:
    """Frame 0's background; what only the later tests need is built on first use."""

    def __init__(self, gray: np.ndarray, keypoints_px: np.ndarray,
                 config: CameraMotionConfig) -> None:
        self.gray, self.keypoints, self.config = gray, keypoints_px, config
        self.corners = _background_corners(
            gray, _hand_mask_of(keypoints_px, gray.shape, config), config)

    @cached_property
    def object_mask(self) -> np.ndarray:
        return _hand_mask_of(self.keypoints, self.gray.shape, self.config, True)

    @cached_property
    def patches(self) -> np.ndarray:
        return _background_patches(self.gray, self.object_mask, self.config)

    @cached_property
    def far_from_hand(self) -> np.ndarray:
        assert self.corners is not None
        xy = self.corners.reshape(-1, 2).astype(int)
        return self.object_mask[xy[:, 1], xy[:, 0]] == 0


def _register_to_first(first: _FirstFrame, gray: np.ndarray, keypoints_px: np.ndarray,
                       guess: np.ndarray, config: CameraMotionConfig
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[
                           np.ndarray, float, None] | None:
    """Return the homography (3, 3) from frame 0 to this frame and its support (points in frame
    0 and now, (N, 2) each), or None if unmeasurable; for a still camera the identity, the
    still tracks' mean displacement (px) and None.

    guess: 3x3 homography predicting where frame 0's corners are now (the previous frame's).
    """
    gray0, corners = first.gray, first.corners
    assert corners is not None
    mask = _hand_mask_of(keypoints_px, gray.shape, config)
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
    if keep.sum() >= config.min_tracks:
        still = _still_background(p0[keep], p1[keep], (h, w), config)
        if still is not None:
            return np.eye(3), still, None
    object_mask = _hand_mask_of(keypoints_px, gray.shape, config, True)
    patch0, patch1 = _match_patches(gray0, gray, first.patches, object_mask, config)
    shaken = _shaken_background(patch0, patch1, (h, w), config)
    if shaken is not None:
        return shaken[0], shaken[1], shaken[2]
    if keep.sum() < config.min_tracks:
        return None
    # forward-backward check: a track that does not lead back to its corner wandered (faint
    # marks on a plain wall match anywhere)
    back, back_status, _ = cv2.calcOpticalFlowPyrLK(gray, gray0, moved, corners.copy(),
                                                    flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
    keep &= back_status.reshape(-1).astype(bool)
    keep &= np.linalg.norm(back.reshape(-1, 2) - p0, axis=1) <= config.forward_backward_px
    if keep.sum() < config.min_tracks:
        return None
    hom, inliers = cv2.findHomography(p0[keep], p1[keep], cv2.RANSAC, config.ransac_px)
    if hom is None or inliers is None or int(inliers.sum()) < config.min_tracks:
        return None
    used = inliers.reshape(-1).astype(bool)
    # the dominant motion is the camera's only where it holds away from the hand and what it
    # holds: widespread inliers off the held-object mask in both frames
    off = (object_mask[yi, xi] == 0)[keep] & first.far_from_hand[keep]
    if (used & off).sum() < config.min_tracks or not _widespread(
            p0[keep][used & off], (h, w), config):
        return None
    if np.mean(np.linalg.norm(p1[keep][used] - p0[keep][used], axis=1)) <= (
            config.shake_search_px):
        # within the patches' reach the motion must be theirs too: faint marks and a held
        # object's edge can make up a mixed homography that the patches do not follow
        if len(patch0) == 0:
            return None
        predicted = cv2.perspectiveTransform(patch0.reshape(-1, 1, 2), hom).reshape(-1, 2)
        if not _agreeing(np.linalg.norm(predicted - patch1, axis=1) <= config.shake_ransac_px,
                         config):
            return None
    return np.asarray(hom, dtype=np.float64), p0[keep][used], p1[keep][used]


def bearing_rotation_deg(p0: np.ndarray, p1: np.ndarray, intrinsics: CameraIntrinsics) -> float:
    """Return the angle (deg) of the camera rotation that best maps the view rays of pixels p0
    (N, 2) onto those of p1 (Kabsch); exact for a purely rotating camera and, unlike a
    homography's, well posed when the points cover a small part of the image."""
    k_inv = np.linalg.inv(intrinsics.matrix)

    def rays(p: np.ndarray) -> np.ndarray:
        r = np.column_stack([p, np.ones(len(p))]) @ k_inv.T
        return r / np.linalg.norm(r, axis=1, keepdims=True)

    u, _, vt = np.linalg.svd(rays(p1).T @ rays(p0))
    rot = u @ np.diag([1.0, 1.0, float(np.sign(np.linalg.det(u @ vt)))]) @ vt
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
    n = len(video)
    homs = np.tile(np.eye(3), (n, 1, 1))
    disp = np.zeros(n)
    rot = np.zeros(n)
    first = _FirstFrame(_to_gray(video[0]), kp[0], config)
    measurable = first.corners is not None
    unmeasured = 0 if measurable else n - 1
    for i in range(1, n if measurable else 1):
        found = _register_to_first(first, _to_gray(video[i]), kp[i], homs[i - 1], config)
        if found is None:
            unmeasured += 1
            homs[i], disp[i], rot[i] = homs[i - 1], disp[i - 1], rot[i - 1]
            continue
        homs[i] = found[0] / found[0][2, 2]
        if found[2] is None:
            disp[i], rot[i] = float(found[1]), 0.0
        else:
            disp[i] = float(np.mean(np.linalg.norm(found[2] - found[1], axis=1)))
            rot[i] = bearing_rotation_deg(found[1], found[2], intrinsics)
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
