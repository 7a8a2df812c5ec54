# coal's and pinocchio's bindings are compiled modules without stubs.
# pyright: reportAttributeAccessIssue=false
"""The observed scene as an obstacle: the depth camera's point cloud as an occupancy octree.

What the fixed obstacles (table, wall, floor) do not know about, the camera saw: a box next to
the cube, a shelf, a second robot. `scene_obstacle` turns the observation's point cloud (robot
base frame) into an `Obstacle` the safety filter's link check measures the arm against, the way
MoveIt's occupancy map does, after taking out what is not an obstacle:

- the table surface (the table plane is its own obstacle): points lower than `above_table`
  over the table plane;
- the robot itself as it stood when the picture was taken (MoveIt's self filter): points inside
  a link's collision box (the local bounding box of its hull, grown by `self_margin`) at the
  start joints, for every link, fixed ones (base, pelvis, torso) included;
- what the task touches: points within `task_radius` of the end-effector path (the object to
  grasp, the button to press, the drawer handle);

and, for which links are checked: the arm's links, not the end effector (everything the last
arm joint carries: the Franka hand and fingers, the Inspire hand). The hand goes where the task
is; it is checked against the table and the world's obstacles, not against the cloud.

The points left are voxelised (`resolution`) into a coal OcTree; exact link-to-octree distances
come from coal, cheap lower bounds from a k-d tree of the voxel centres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import coal  # pyright: ignore[reportMissingImports]  (cmeel prefix)
import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]  (cmeel prefix)
from scipy.spatial import cKDTree

from lvp_exec.collision import LinkGeometry, Obstacle, collision_geometry
from lvp_exec.robots import RobotModel

SCENE_OBSTACLE_NAME = 'scene cloud'


@dataclass(frozen=True)
class SceneObstacleConfig:
    """How the observed point cloud becomes an obstacle (m)."""

    resolution: float = 0.02
    """Voxel size of the occupancy octree."""
    above_table: float = 0.02
    """Points lower than this over the table plane are the table itself."""
    self_margin: float = 0.03
    """Points this close to a link's collision box at the start joints are the robot."""
    task_radius: float = 0.10
    """Points this close to the end-effector path are what the task touches."""
    min_points: int = 10
    """Fewer occupied voxels than this left: no obstacle (noise, not a thing)."""


@dataclass(frozen=True, eq=False)
class SceneObstacle(Obstacle):
    """The occupied voxels (`centres`, base frame) as a coal OcTree; only the geometries of
    `checked` (a mask in LinkGeometry order) are measured against it."""

    centres: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    checked: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    resolution: float = 0.02

    def __post_init__(self) -> None:
        object.__setattr__(self, '_tree', cKDTree(self.centres))

    def lower_bounds(self, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
        nearest, _ = self._tree.query(centres)  # pyright: ignore[reportAttributeAccessIssue]
        bounds = nearest - radii - 0.5 * math.sqrt(3.0) * self.resolution
        return np.where(self.checked, bounds, np.inf)


def _robot_boxes(robot: RobotModel, q: np.ndarray, margin: float) -> list[tuple[pin.SE3,
                                                                                 np.ndarray]]:
    """Every collision geometry of `robot` (fixed links too) at joints `q`: (placement in the
    base frame, half extents of its local bounding box + margin)."""
    geometry = collision_geometry(robot)
    data = robot.model.createData()
    pin.forwardKinematics(robot.model, data, np.asarray(q, dtype=np.float64))
    boxes = []
    for obj in geometry.geometryObjects:
        shape = obj.geometry
        shape.computeLocalAABB()
        lo, hi = np.asarray(shape.aabb_local.min_), np.asarray(shape.aabb_local.max_)
        centre = pin.SE3(np.eye(3), 0.5 * (lo + hi))
        placement = data.oMi[obj.parentJoint] * obj.placement * centre
        boxes.append((placement, 0.5 * (hi - lo) + margin))
    return boxes


def _voxel_centres(points: np.ndarray, resolution: float) -> np.ndarray:
    keys = np.unique(np.floor(points / resolution).astype(np.int64), axis=0)
    return (keys + 0.5) * resolution


def scene_obstacle(points: np.ndarray, robot: RobotModel, geometry: LinkGeometry,
                   start_joints: np.ndarray, ee_positions: np.ndarray,
                   table_height: float | None,
                   config: SceneObstacleConfig = SceneObstacleConfig()) -> SceneObstacle | None:
    """The observed cloud `points` (N, 3, robot base frame, m; NaN rows ignored) as an obstacle
    for `geometry`'s arm links, or None when nothing is left once the table, the robot at
    `start_joints` and the surroundings of the EE path `ee_positions` (T, 3) are taken out."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    if table_height is not None:
        pts = pts[pts[:, 2] >= table_height + config.above_table]
    if len(pts):
        pts = _voxel_centres(pts, config.resolution)
    for placement, half in _robot_boxes(robot, start_joints, config.self_margin):
        if not len(pts):
            break
        local = (pts - placement.translation) @ placement.rotation
        pts = pts[np.any(np.abs(local) > half, axis=1)]
    if len(pts) and len(ee_positions):
        near, _ = cKDTree(np.asarray(ee_positions, dtype=np.float64)).query(pts)
        pts = pts[near > config.task_radius]
    if len(pts) < config.min_points:
        return None
    last_joint = max(geometry.joint_ids)
    checked = np.array([j != last_joint for j in geometry.geometry_joints])
    tree = coal.makeOctree(np.ascontiguousarray(pts), config.resolution)
    return SceneObstacle(SCENE_OBSTACLE_NAME, tree, pin.SE3.Identity(), centres=pts,
                         checked=checked, resolution=config.resolution)
