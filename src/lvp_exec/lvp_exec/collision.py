# MuJoCo's and coal's bindings are compiled modules without stubs: pyright cannot see their
# attributes.
# pyright: reportAttributeAccessIssue=false
"""Clearance of the robot's link geometry to the world's fixed obstacles (table, wall, floor).

Links. The URDF's collision geometry (meshes, boxes, cylinders, spheres) of every link that a
planned joint moves, each replaced by its convex hull (coal): a hull contains its mesh, so a
clearance measured to the hull is a lower bound of the mesh's. Links that no planned joint moves
(the Panda's base, the G1's pelvis, legs and torso) are not checked: they are where they stand.

Obstacles. Boxes and half-spaces (`Obstacle`) in the robot base frame; the defaults are the
world's table, wall and floor (lvp_exec.workcell, read by lvp_sim.world_obstacles from the
compiled world description): the wall stands where the world puts it (x = -0.55 m of the Franka
base in the default layout), not at a constant of this module.

Distances are coal's exact convex-box / convex-halfspace distances (negative: penetration);
a pair whose bounding sphere is already farther than the caller's `up_to` is reported with that
cheaper lower bound instead (most links are far from most obstacles most of the time).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import coal  # pyright: ignore[reportMissingImports]  (cmeel prefix)
import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]  (cmeel prefix)

from lvp_exec.robots import RobotModel, robot_data_share_dir


class CollisionModelError(ValueError):
    """The robot's collision geometry or the world's obstacles cannot be built."""


@dataclass(frozen=True, eq=False)
class Obstacle:
    """A fixed obstacle: a coal Box or Halfspace at `placement` (pin.SE3) in the robot base
    frame."""

    name: str
    shape: Any
    placement: pin.SE3

    def lower_bounds(self, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
        """Return a lower bound (m) of the distance of each sphere (centres (N, 3) in the base
        frame, radii (N,)) to this obstacle."""
        local = (centres - self.placement.translation) @ self.placement.rotation
        if isinstance(self.shape, coal.Halfspace):
            return local @ np.asarray(self.shape.n) - self.shape.d - radii
        outside = np.maximum(np.abs(local) - np.asarray(self.shape.halfSide), 0.0)
        return np.linalg.norm(outside, axis=1) - radii


@dataclass(frozen=True)
class Clearance:
    """The least distance (m) of one link to one obstacle; negative = penetration."""

    link: str
    obstacle: str
    distance: float


def collision_geometry(robot: RobotModel) -> Any:
    """The pinocchio GeometryModel of `robot`'s URDF collision geometry (every link, fixed ones
    too); CollisionModelError when it cannot be loaded."""
    try:
        return pin.buildGeomFromUrdf(robot.model, str(robot.urdf_path),
                                     pin.GeometryType.COLLISION,
                                     package_dirs=[str(robot_data_share_dir())])
    except (RuntimeError, ValueError) as exc:
        raise CollisionModelError(f'{robot.name}: cannot load the URDF collision geometry of '
                                  f'{robot.urdf_path}: {exc}') from exc


def convex_shape(shape: Any) -> Any:
    """A coal shape as checked here: a mesh by its convex hull (which contains it), a primitive
    as it is."""
    if isinstance(shape, coal.BVHModelBase):
        shape.buildConvexHull(False, 'Qt')
        return shape.convex
    return shape


class LinkGeometry:
    """The moving links' convex collision hulls of `robot` and their clearance to obstacles."""

    def __init__(self, robot: RobotModel) -> None:
        self.robot = robot
        geometry = collision_geometry(robot)
        self.links: list[str] = []
        self._joints: list[int] = []
        self._shapes: list[Any] = []
        self._offsets: list[pin.SE3] = []
        for obj in geometry.geometryObjects:
            if obj.parentJoint == 0:
                continue  # no planned joint moves it
            shape = convex_shape(obj.geometry)
            self.links.append(robot.model.frames[obj.parentFrame].name)
            self._joints.append(int(obj.parentJoint))
            self._shapes.append(shape)
            self._offsets.append(obj.placement)  # in its parent joint's frame
        if not self.links:
            raise CollisionModelError(f'{robot.name}: no collision geometry on the moving links')
        # Bounding spheres in the parent joint's frame, for the cheap lower bounds.
        centres, radii = [], []
        for shape, offset in zip(self._shapes, self._offsets):
            shape.computeLocalAABB()
            centres.append(offset.act(np.asarray(shape.aabb_center, dtype=np.float64)))
            radii.append(float(shape.aabb_radius))
        self._centres_in_joint, self._radii = np.array(centres), np.array(radii)
        self._joint_ids = sorted(set(self._joints))
        self._joint_index = np.array([self._joint_ids.index(j) for j in self._joints])
        self._data = robot.model.createData()
        self._request = coal.DistanceRequest()
        self._result = coal.DistanceResult()

    @property
    def geometry_joints(self) -> tuple[int, ...]:
        """The pinocchio joint id moving each geometry (the order `Obstacle.lower_bounds`
        receives the geometries' bounding spheres in)."""
        return tuple(self._joints)

    @property
    def joint_ids(self) -> tuple[int, ...]:
        """The pinocchio ids of the joints that move some geometry, ascending."""
        return tuple(self._joint_ids)

    def clearances(self, q, obstacles: tuple[Obstacle, ...],
                   up_to: float = np.inf) -> list[Clearance]:
        """Return the distance (m) of each moving link geometry to each obstacle at joints `q`
        that may be `up_to` or less; the pairs left out are farther than `up_to`."""
        model, data = self.robot.model, self._data
        pin.forwardKinematics(model, data, np.asarray(q, dtype=np.float64))
        joints = [data.oMi[j] for j in self._joint_ids]
        rotations = np.array([m.rotation for m in joints])[self._joint_index]
        translations = np.array([m.translation for m in joints])[self._joint_index]
        centres = np.einsum('gij,gj->gi', rotations, self._centres_in_joint) + translations
        bounds = np.stack([o.lower_bounds(centres, self._radii) for o in obstacles], axis=1)
        out = []
        for g, k in np.argwhere(bounds <= up_to):
            placement = joints[self._joint_index[g]] * self._offsets[g]
            obstacle = obstacles[k]
            self._result.clear()
            distance = coal.distance(
                self._shapes[g], coal.Transform3s(placement.rotation, placement.translation),
                obstacle.shape,
                coal.Transform3s(obstacle.placement.rotation, obstacle.placement.translation),
                self._request, self._result)
            out.append(Clearance(self.links[g], obstacle.name, float(distance)))
        return out
