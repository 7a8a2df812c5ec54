"""Antipodal grasp sampling on a point cloud, near where the human grasped (the embedded default).

1. Crop the cloud around the contact point and voxel-downsample it.
2. Estimate point normals by local PCA (sign-free: only the normal's line matters here).
3. Sample seed points (denser near the contact point); pair each with points across the object
   such that the line between them lies inside both points' friction cones (half-angle
   atan(mu)) and the pair fits in the gripper's opening.
4. For each pair, try approach directions around the closing axis (and the human's approach
   projected onto the admissible plane) and finger depths; keep a pose when the Franka Hand box
   model (two fingers at full opening + palm) touches no point and the points between the pads
   still make antipodal contacts.
5. Rank by closeness to the contact point, agreement with the human's approach direction and
   antipodal quality; suppress near-duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from lvp_common.artifacts import GraspCandidate, PointCloud
from lvp_common.geometry import Pose, rotation_angle_between
from scipy.spatial import KDTree

from lvp_grasp.detector import GraspError, GraspRequest
from lvp_grasp.franka_hand import FrankaHandModel, points_in_box


@dataclass(frozen=True)
class AntipodalConfig:
    """Sampling and ranking parameters (metres, radians).

    friction_coefficient: mu; contacts must see the closing axis within atan(mu) of their normal.
    seed_radius: seeds are drawn within this distance of the contact point.
    voxel_size: downsampling grid. normal_neighbours: points in each PCA neighbourhood.
    num_seeds: seed points tried. min_width: narrowest object accepted between the pads.
    num_approaches: approach directions tried around each closing axis.
    depths: how far the fingertips reach past the grasp point.
    contact_sigma: length scale of the distance-to-contact score.
    distance_weight / approach_weight / quality_weight: ranking weights.
    min_closing_points: points that must lie between the pads.
    collision_margin: the gripper boxes are inflated by this for the collision check (covers
    the downsampling and some depth noise; it also narrows the usable opening by twice this).
    nms_distance / nms_angle: candidates closer than both to a better one are dropped.
    """

    friction_coefficient: float = 0.4
    seed_radius: float = 0.08
    voxel_size: float = 0.004
    normal_neighbours: int = 16
    num_seeds: int = 100
    min_width: float = 0.005
    num_approaches: int = 12
    depths: tuple[float, ...] = (0.015, 0.03)
    contact_sigma: float = 0.03
    distance_weight: float = 1.0
    approach_weight: float = 0.5
    quality_weight: float = 0.2
    min_closing_points: int = 4
    collision_margin: float = 0.003
    nms_distance: float = 0.01
    nms_angle: float = 0.35
    random_seed: int = 0
    gripper: FrankaHandModel = field(default_factory=FrankaHandModel)

    def __post_init__(self) -> None:
        if not np.isfinite(self.friction_coefficient) or self.friction_coefficient <= 0.0:
            raise GraspError(f'friction_coefficient must be positive, got '
                             f'{self.friction_coefficient}')
        if self.collision_margin < 0.0:
            raise GraspError(f'collision_margin must be >= 0 m, got {self.collision_margin}')
        if self.voxel_size <= 0.0 or self.seed_radius <= 0.0:
            raise GraspError(f'voxel_size and seed_radius must be positive, got '
                             f'{self.voxel_size} and {self.seed_radius}')
        if self.normal_neighbours < 3 or self.num_seeds < 1 or self.num_approaches < 1:
            raise GraspError('normal_neighbours >= 3, num_seeds >= 1 and num_approaches >= 1 '
                             f'needed, got {self.normal_neighbours}, {self.num_seeds}, '
                             f'{self.num_approaches}')
        if not self.depths or any(d <= 0.0 or d > self.gripper.finger_length
                                  for d in self.depths):
            raise GraspError(f'depths must lie in (0, {self.gripper.finger_length}] m, '
                             f'got {self.depths}')

    @property
    def cone_cosine(self) -> float:
        """Cosine of the friction cone's half-angle."""
        return float(np.cos(np.arctan(self.friction_coefficient)))


def voxel_downsample(points: np.ndarray, voxel_size: float) -> np.ndarray:
    """Return one point (the mean) per occupied voxel of `points` (N, 3)."""
    if len(points) == 0:
        return points
    keys = np.floor(points / voxel_size).astype(np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(counts), 3))
    np.add.at(sums, inverse, points)
    return sums / counts[:, None]


def estimate_normals(points: np.ndarray, tree: KDTree, neighbours: int) -> np.ndarray:
    """Return unit normals (N, 3) by PCA over each point's nearest neighbours (sign arbitrary)."""
    k = min(neighbours, len(points))
    _, idx = tree.query(points, k=k)
    patches = points[np.asarray(idx).reshape(len(points), k)]
    centred = patches - patches.mean(axis=1, keepdims=True)
    cov = np.einsum('nki,nkj->nij', centred, centred)
    _, vectors = np.linalg.eigh(cov)
    return vectors[:, :, 0]


def _perpendicular(axis: np.ndarray) -> np.ndarray:
    helper = np.array([1.0, 0.0, 0.0]) if abs(axis[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    u = np.cross(axis, helper)
    return u / np.linalg.norm(u)


_FLIP_ABOUT_Z = np.diag([-1.0, -1.0, 1.0])


def _axial_extent(boxes: np.ndarray) -> tuple[float, float]:
    """Return the half-length along y and the radius about y enclosing boxes (..., 2, 3)."""
    corners = np.abs(boxes).reshape(-1, 2, 3).max(axis=1)
    return float(corners[:, 1].max()), float(np.hypot(corners[:, 0], corners[:, 2]).max())


def _grasp_angle(a: Pose, b: Pose) -> float:
    """Return the rotation angle between two grasps, the two-finger symmetry factored out."""
    flipped = Pose.from_rotation_matrix(b.position, b.rotation @ _FLIP_ABOUT_Z)
    return float(min(rotation_angle_between(a.quaternion, b.quaternion)[0],
                     rotation_angle_between(a.quaternion, flipped.quaternion)[0]))


@dataclass(frozen=True)
class AntipodalGraspDetector:
    """The embedded grasp detector: geometric antipodal sampling with a box gripper model."""

    config: AntipodalConfig = field(default_factory=AntipodalConfig)

    def detect(self, cloud: PointCloud, request: GraspRequest) -> tuple[GraspCandidate, ...]:
        """Return ranked grasp candidates on `cloud` near request.contact_point."""
        cfg = self.config
        points = cloud.points
        reach = cfg.seed_radius + float(np.linalg.norm(cfg.gripper.palm_size)) + 0.05
        if request.contact_point is not None:
            points = points[np.linalg.norm(points - request.contact_point, axis=1) <= reach]
        points = voxel_downsample(points, cfg.voxel_size)
        if len(points) < cfg.normal_neighbours:
            return ()
        tree = KDTree(points)
        normals = estimate_normals(points, tree, cfg.normal_neighbours)
        found: list[tuple[float, np.ndarray, np.ndarray, float, float]] = []
        tried: set[tuple[int, ...]] = set()
        for seed in self._pick_seeds(points, request):
            pair = self._antipodal_partner(points, normals, tree, int(seed))
            if pair is None:
                continue
            centre, axis = pair
            # Seeds on one patch give near-identical grasps: evaluate each cell/axis once.
            axis_key = axis if axis[np.argmax(np.abs(axis))] > 0 else -axis
            key = tuple(np.floor(centre / (2 * cfg.voxel_size)).astype(int)) + tuple(
                np.round(axis_key * 6).astype(int))
            if key in tried:
                continue
            tried.add(key)
            found += self._poses_around_axis(points, normals, tree, centre, axis, request)
        return self._rank(found, request)

    def _pick_seeds(self, points: np.ndarray, request: GraspRequest) -> np.ndarray:
        cfg = self.config
        rng = np.random.default_rng(cfg.random_seed)
        if request.contact_point is None:
            pool = np.arange(len(points))
            weights = np.ones(len(points))
        else:
            dist = np.linalg.norm(points - request.contact_point, axis=1)
            pool = np.flatnonzero(dist <= cfg.seed_radius)
            weights = np.exp(-0.5 * (dist[pool] / cfg.contact_sigma) ** 2) + 0.05
        if len(pool) <= cfg.num_seeds:
            return pool
        return rng.choice(pool, size=cfg.num_seeds, replace=False, p=weights / weights.sum())

    def _antipodal_partner(self, points, normals, tree: KDTree,
                           seed: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Return (grasp centre, closing axis) for the seed's best antipodal partner, or None."""
        cfg, gripper = self.config, self.config.gripper
        p1, n1 = points[seed], normals[seed]
        near = np.asarray(tree.query_ball_point(p1, gripper.max_width), dtype=np.int64)
        offsets = points[near] - p1
        dist = np.linalg.norm(offsets, axis=1)
        ok = dist >= cfg.min_width
        near, offsets, dist = near[ok], offsets[ok], dist[ok]
        if len(near) == 0:
            return None
        d = offsets / dist[:, None]
        align = np.minimum(np.abs(d @ n1), np.abs(np.einsum('ij,ij->i', d, normals[near])))
        good = align >= cfg.cone_cosine
        if not np.any(good):
            return None
        # The best-aligned partner across the object defines the closing axis.
        best = int(np.argmax(np.where(good, align, -1.0)))
        return p1 + 0.5 * offsets[best], d[best]

    def _approach_directions(self, axis: np.ndarray, request: GraspRequest) -> np.ndarray:
        u = _perpendicular(axis)
        v = np.cross(axis, u)
        angles = np.arange(self.config.num_approaches) * (2 * np.pi / self.config.num_approaches)
        dirs = [np.cos(a) * u + np.sin(a) * v for a in angles]
        if request.approach is not None:
            human = request.approach - np.dot(request.approach, axis) * axis
            if np.linalg.norm(human) > 1e-6:
                dirs.insert(0, human / np.linalg.norm(human))
        return np.array(dirs)

    def _poses_around_axis(self, points, normals, tree: KDTree, centre: np.ndarray,
                           axis: np.ndarray, request: GraspRequest) -> list:
        cfg, gripper = self.config, self.config.gripper
        rots = np.array([np.stack([np.cross(axis, z), axis, z], axis=1)
                         for z in self._approach_directions(axis, request)])
        # Every approach turns the gripper about the closing axis: what the fingers can touch
        # lies in a cylinder around that axis, what the palm can touch in a wider one.
        margin = np.array([[-cfg.collision_margin], [cfg.collision_margin]])
        fingers = np.array([gripper.boxes(depth)[:2] for depth in cfg.depths]) + margin
        palms = np.array([gripper.boxes(depth)[2] for depth in cfg.depths]) + margin
        finger_half, finger_radius = _axial_extent(fingers)
        palm_half, palm_radius = _axial_extent(palms)
        ball = np.asarray(tree.query_ball_point(
            centre, float(np.hypot(palm_half, palm_radius))), dtype=np.int64)
        rel = points[ball] - centre
        along = rel @ axis
        radial = np.linalg.norm(rel - along[:, None] * axis, axis=1)
        near = ball[(np.abs(along) <= finger_half) & (radial <= finger_radius)]
        far = ball[(np.abs(along) <= palm_half) & (radial <= palm_radius)]
        # Stage 1, all approaches at once: fingers and the closing region.
        near_g = np.matmul((points[near] - centre)[None], rots)
        survivors = []
        for d, depth in enumerate(cfg.depths):
            left, right = fingers[d]
            hits = points_in_box(near_g, left).any(axis=1) | points_in_box(near_g, right).any(
                axis=1)
            between = points_in_box(near_g, gripper.closing_region(depth))
            for a in np.flatnonzero(~hits & (between.sum(axis=1) >= cfg.min_closing_points)):
                quality, width = self._contact_quality(near_g[a, between[a]],
                                                       normals[near[between[a]]] @ rots[a])
                if quality >= cfg.cone_cosine and width <= gripper.max_width:
                    survivors.append((quality, a, width, d))
        if not survivors:
            return []
        # Stage 2, survivors only, all at once: the palm.
        boxes = palms[[d for _, _, _, d in survivors]]
        far_g = np.matmul((points[far] - centre)[None], rots[[a for _, a, _, _ in survivors]])
        palm_hit = np.all((far_g >= boxes[:, None, 0]) & (far_g <= boxes[:, None, 1]),
                          axis=-1).any(axis=1)
        return [(quality, centre.copy(), rots[a], width, cfg.depths[d])
                for (quality, a, width, d), hit in zip(survivors, palm_hit) if not hit]

    def _contact_quality(self, pts: np.ndarray, nrm: np.ndarray) -> tuple[float, float]:
        """Return the worse pad's |normal . closing axis| at its contact, and the width (m)."""
        order = np.argsort(pts[:, 1])
        k = min(3, len(order))
        low, high = order[:k], order[-k:]
        quality = min(float(np.abs(nrm[low, 1]).mean()), float(np.abs(nrm[high, 1]).mean()))
        return quality, float(pts[order[-1], 1] - pts[order[0], 1])

    def _rank(self, found: list, request: GraspRequest) -> tuple[GraspCandidate, ...]:
        cfg = self.config
        if not found:
            return ()
        quality = np.array([f[0] for f in found])
        centres = np.array([f[1] for f in found])
        rotations = np.array([f[2] for f in found])
        if request.contact_point is None:
            closeness = np.ones(len(found))
        else:
            dist = np.linalg.norm(centres - request.contact_point, axis=1)
            closeness = np.exp(-0.5 * (dist / cfg.contact_sigma) ** 2)
        if request.approach is None:
            agreement = np.full(len(found), 0.5)
        else:
            agreement = 0.5 * (1.0 + rotations[:, :, 2] @ request.approach)
        scores = (cfg.distance_weight * closeness + cfg.approach_weight * agreement
                  + cfg.quality_weight * quality)
        kept: list[GraspCandidate] = []
        for i in np.argsort(-scores, kind='stable'):
            pose = Pose.from_rotation_matrix(centres[i], rotations[i])
            if any(np.linalg.norm(k.pose.position - pose.position) < cfg.nms_distance
                   and _grasp_angle(k.pose, pose) < cfg.nms_angle for k in kept):
                continue
            kept.append(GraspCandidate(pose=pose, width=found[i][3], score=float(scores[i]),
                                       depth=found[i][4]))
            if len(kept) >= request.max_candidates:
                break
        return tuple(kept)
