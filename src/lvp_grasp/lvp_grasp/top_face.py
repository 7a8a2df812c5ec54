"""Top-down grasps from an object's visible top face (single-view clouds).

A camera looking down at a table sees an object's top face whole but rarely both of its side
faces, so antipodal sampling (which needs both contacts in the cloud) often finds nothing on a
single view. The top face alone gives what a top-down parallel grasp needs: where the object is
in the table plane, its extent and its yaw.

1. The cloud's frame must have z up (REP 103 base frames). Around the contact point (within
   `search_radius` in x-y), the table height is the densest 2 mm slab of point heights.
2. Points more than `min_object_height` above it form the candidate objects; they are split into
   connected clusters (`cluster_distance`), and the cluster nearest the contact point is taken.
3. Its top face (points within `top_band` of its highest point) is fitted with the smallest
   enclosing rectangle in x-y. The gripper closes across the rectangle's short side (the long
   side too when it also fits), pointing straight down. The fingertips go as deep as the
   fingers allow with the hand's palm `palm_clearance` above the top face, but no lower than
   `tip_clearance` above the table; the grasp point (pad centre) is half a finger length above
   the tips and at least `top_margin` below the top face.
4. Each pose is checked against the cloud with the Franka Hand box model (fingers at full
   opening + palm, inflated by `collision_margin`, table points included); colliding poses are
   dropped. Candidates are ranked by the short side first.

The candidate's position is the centre between the finger pads (where the Franka's
`panda_hand_tcp` goes); `depth` is how far the fingertips reach below it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from lvp_common.artifacts import GraspCandidate, PointCloud
from lvp_common.geometry import Pose
from scipy.sparse.csgraph import connected_components
from scipy.spatial import KDTree

from lvp_grasp.detector import GraspError, GraspRequest
from lvp_grasp.franka_hand import FrankaHandModel, points_in_box


@dataclass(frozen=True)
class TopFaceConfig:
    """Parameters (metres).

    search_radius: x-y distance from the contact point within which the table and the object
    are looked for. min_object_height: points this far above the table belong to objects.
    cluster_distance: neighbouring object points closer than this are one object.
    min_cluster_points: smaller clusters are noise. top_band: thickness of the top face.
    collision_margin: inflation of the gripper boxes for the collision check. width_margin: the
    object must be this much narrower than the gripper's opening. tip_clearance: least height of
    the fingertips above the table. palm_clearance: least height of the palm above the top
    face. top_margin: least depth of the grasp point below the top face.
    """

    search_radius: float = 0.12
    min_object_height: float = 0.008
    cluster_distance: float = 0.012
    min_cluster_points: int = 30
    top_band: float = 0.008
    collision_margin: float = 0.002
    width_margin: float = 0.01
    tip_clearance: float = 0.005
    palm_clearance: float = 0.008
    top_margin: float = 0.01
    gripper: FrankaHandModel = field(default_factory=FrankaHandModel)

    def __post_init__(self) -> None:
        values = (self.search_radius, self.min_object_height, self.cluster_distance,
                  self.top_band, self.tip_clearance, self.palm_clearance, self.top_margin)
        if any(not np.isfinite(v) or v <= 0.0 for v in values):
            raise GraspError(f'TopFaceConfig distances must be positive, got {values}')
        if self.collision_margin < 0.0 or self.width_margin < 0.0:
            raise GraspError('TopFaceConfig margins must be >= 0 m')


@dataclass(frozen=True)
class TopFace:
    """The chosen object's top face: centre (3,), rectangle side lengths (m) with unit x-y axes
    along them, the table height and the object's height above it (m)."""

    centre: np.ndarray
    sides: tuple[float, float]
    axes: np.ndarray
    table_height: float
    height: float


def table_height(z: np.ndarray, slab: float = 0.002) -> float:
    """Return the height of the densest `slab`-thick layer of points (the table top)."""
    if z.size == 0:
        raise GraspError('no points near the contact point: cannot find the table')
    bins = np.arange(z.min(), z.max() + 2 * slab, slab)
    counts, edges = np.histogram(z, bins=bins)
    k = int(np.argmax(counts))
    layer = z[(z >= edges[k]) & (z <= edges[k + 1])]
    return float(np.median(layer))


class TopFaceGraspDetector:
    """Top-down Franka Hand grasps on the object nearest the human's contact point."""

    def __init__(self, config: TopFaceConfig | None = None) -> None:
        self.config = config or TopFaceConfig()

    def find_top_face(self, cloud: PointCloud, contact_point: np.ndarray) -> TopFace | None:
        """Return the top face of the object nearest `contact_point`, or None if none is seen."""
        c = self.config
        pts = cloud.points[np.all(np.isfinite(cloud.points), axis=1)]
        near = pts[np.linalg.norm(pts[:, :2] - contact_point[:2], axis=1) <= c.search_radius]
        if len(near) < c.min_cluster_points:
            return None
        table = table_height(near[:, 2])
        above = near[near[:, 2] > table + c.min_object_height]
        if len(above) < c.min_cluster_points:
            return None
        pairs = KDTree(above).query_pairs(c.cluster_distance, output_type='ndarray')
        from scipy.sparse import coo_matrix

        graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])),
                           shape=(len(above), len(above)))
        _n, labels = connected_components(graph, directed=False)
        best, best_distance = None, np.inf
        for label in np.unique(labels):
            member = above[labels == label]
            if len(member) < c.min_cluster_points:
                continue
            distance = float(np.min(np.linalg.norm(member - contact_point, axis=1)))
            if distance < best_distance:
                best, best_distance = member, distance
        if best is None:
            return None
        top_z = float(np.percentile(best[:, 2], 98))
        face = best[best[:, 2] >= top_z - c.top_band]
        (cx, cy), (w, h), angle = cv2.minAreaRect(face[:, :2].astype(np.float32))
        a = np.radians(angle)
        axes = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        return TopFace(np.array([cx, cy, top_z]), (float(w), float(h)), axes, table,
                       top_z - table)

    def detect(self, cloud: PointCloud, request: GraspRequest) -> tuple[GraspCandidate, ...]:
        """Return collision-free top-down grasps on the object nearest the contact point."""
        if request.contact_point is None:
            raise GraspError('TopFaceGraspDetector needs the human contact point')
        face = self.find_top_face(cloud, request.contact_point)
        if face is None:
            return ()
        c = self.config
        length = c.gripper.finger_length
        top = float(face.centre[2])
        tip_z = max(face.table_height + c.tip_clearance, top - length + c.palm_clearance)
        grasp_z = min(top - c.top_margin, tip_z + 0.5 * length)
        tips = grasp_z - tip_z
        if tips <= 0.0:  # too flat to grasp from above
            return ()
        usable = c.gripper.max_width - c.width_margin
        found = []
        for side, across in sorted(zip(face.sides, face.axes, strict=True)):
            if side > usable:
                continue
            y = np.array([across[0], across[1], 0.0])
            z = np.array([0.0, 0.0, -1.0])
            x = np.cross(y, z)
            centre = np.array([face.centre[0], face.centre[1], grasp_z])
            pose = Pose.from_rotation_matrix(centre, np.stack([x, y, z], axis=1))
            if self._collides(cloud.points, pose, tips):
                continue
            score = 1.0 - side / c.gripper.max_width
            found.append(GraspCandidate(pose, side, score, depth=tips))
        return tuple(found[:request.max_candidates])

    def _collides(self, points: np.ndarray, pose: Pose, tips: float) -> bool:
        c = self.config
        local = pose.inverse().transform_points(points)
        boxes = c.gripper.boxes(depth=tips)
        for lo, hi in boxes:
            box = np.stack([lo - c.collision_margin, hi + c.collision_margin])
            if np.any(points_in_box(local, box)):
                return True
        return False
