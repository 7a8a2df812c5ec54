# coal's and pinocchio's bindings are compiled modules without stubs.
# pyright: reportAttributeAccessIssue=false
"""Clearance of the robot's moving links to the robot's own body (self-collision).

Pairs, as MoveIt's allowed-collision matrix builds them from the URDF: every pair of collision
geometries on different bodies of which at least one moves with a planned joint, except
- adjacent bodies (a joint's link and its parent's; the first arm link and the fixed body it is
  mounted on: they touch by construction);
- pairs already closer than the clearance at the robot's home configuration (the "default"
  contacts of its model: convex hulls of neighbouring links overlap).

The fixed body is everything no planned joint moves: the Panda's base, the G1's pelvis, legs,
torso, head and other arm (at the model's nominal joint values). Geometry is each URDF
collision geometry's convex hull (a hull contains its mesh: a clearance measured to hulls is a
lower bound of the meshes'). A pair closer than the clearance at the trajectory's start may not
come closer than it already is (the robot is there; moving away is allowed).
"""

from __future__ import annotations

from dataclasses import dataclass

import coal  # pyright: ignore[reportMissingImports]  (cmeel prefix)
import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]  (cmeel prefix)

from lvp_exec.collision import collision_geometry, convex_shape
from lvp_exec.robots import RobotModel


@dataclass(frozen=True)
class SelfClearance:
    """The distance (m) between two of the robot's bodies; negative = penetration."""

    link: str
    other: str
    distance: float


class SelfCollision:
    """The robot's self-collision pairs and their distances at given joints."""

    def __init__(self, robot: RobotModel, clearance: float) -> None:
        self.robot = robot
        geometry = collision_geometry(robot)
        self._links: list[str] = []
        self._joints: list[int] = []
        self._shapes: list[object] = []
        self._offsets: list[pin.SE3] = []
        centres, radii = [], []
        for obj in geometry.geometryObjects:
            shape = convex_shape(obj.geometry)
            shape.computeLocalAABB()
            self._links.append(robot.model.frames[obj.parentFrame].name)
            self._joints.append(int(obj.parentJoint))
            self._shapes.append(shape)
            self._offsets.append(obj.placement)
            centres.append(obj.placement.act(np.asarray(shape.aabb_center, dtype=np.float64)))
            radii.append(float(shape.aabb_radius))
        self._centres, self._radii = np.array(centres), np.array(radii)
        parents = robot.model.parents
        pairs = []
        for a in range(len(self._joints)):
            for b in range(a + 1, len(self._joints)):
                ja, jb = self._joints[a], self._joints[b]
                if ja == jb or (ja == 0 and jb == 0):
                    continue
                if parents[ja] == jb or parents[jb] == ja:
                    continue  # adjacent bodies
                if self._links[a] == self._links[b]:
                    continue
                pairs.append((a, b) if ja >= jb else (b, a))  # the one further out first
        self._data = robot.model.createData()
        self._request = coal.DistanceRequest()
        self._result = coal.DistanceResult()
        self._pairs = np.array(pairs, dtype=int).reshape(-1, 2)
        home = self._distances(robot.home, np.inf)
        self._pairs = self._pairs[home >= clearance]
        self.clearance = clearance

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The (link, other link) pairs checked."""
        return [(self._links[a], self._links[b]) for a, b in self._pairs]

    def _distances(self, q, up_to: float) -> np.ndarray:
        """Distance of each pair at `q`; pairs whose bounding spheres are farther than `up_to`
        get that sphere bound instead."""
        model, data = self.robot.model, self._data
        pin.forwardKinematics(model, data, np.asarray(q, dtype=np.float64))
        joints = [data.oMi[j] for j in self._joints]
        placements = [m * offset for m, offset in zip(joints, self._offsets)]
        centres = np.array([m.act(c) for m, c in zip(joints, self._centres)])
        a, b = self._pairs[:, 0], self._pairs[:, 1]
        bounds = (np.linalg.norm(centres[a] - centres[b], axis=1)
                  - self._radii[a] - self._radii[b])
        out = bounds.copy()
        for k in np.flatnonzero(bounds <= up_to):
            i, j = self._pairs[k]
            self._result.clear()
            out[k] = coal.distance(
                self._shapes[i], coal.Transform3s(placements[i].rotation,
                                                  placements[i].translation),
                self._shapes[j], coal.Transform3s(placements[j].rotation,
                                                  placements[j].translation),
                self._request, self._result)
        return out

    def limits_from(self, start) -> np.ndarray:
        """The least distance each pair may reach in a motion from joints `start`: the
        clearance, or the pair's distance at `start` when it is already closer."""
        return np.minimum(self.clearance, self._distances(start, self.clearance) - 1e-4)

    def violations(self, q, limits: np.ndarray) -> list[tuple[SelfClearance, float]]:
        """The pairs closer than their `limits` (limits_from) at joints `q`, with the limit."""
        distances = self._distances(q, float(np.max(limits, initial=0.0)))
        return [(SelfClearance(self._links[a], self._links[b], float(distances[k])),
                 float(limits[k]))
                for k, (a, b) in enumerate(self._pairs) if distances[k] < limits[k]]


_CACHE: dict[tuple, SelfCollision] = {}


def self_collision_for(robot: RobotModel, clearance: float) -> SelfCollision:
    """The SelfCollision of `robot` at `clearance`, built once per robot model (the G1's hulls
    take ~1 s to build)."""
    key = (robot.name, str(robot.urdf_path), tuple(robot.joint_names),
           tuple(np.round(robot.home, 9)), float(clearance))
    if key not in _CACHE:
        _CACHE[key] = SelfCollision(robot, clearance)
    return _CACHE[key]

