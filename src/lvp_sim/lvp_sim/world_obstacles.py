# MuJoCo's and coal's bindings are compiled modules without stubs: pyright cannot see their
# attributes.
# pyright: reportAttributeAccessIssue=false
"""The world's table, wall and floor as the safety filter's obstacles (lvp_exec.workcell).

The geoms are read from the compiled world description (`world_mjcf`) of a `WorldConfig` and
expressed in the robot base frame (`WorldConfig.robot_mount`). `world_workcell` is the
`lvp_exec.workcells` entry point (setup.py): lvp_exec's safety defaults come from here without
lvp_exec importing lvp_sim.
"""

from __future__ import annotations

import functools

import coal  # pyright: ignore[reportMissingImports]  (cmeel prefix)
import mujoco
import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]  (cmeel prefix)
from lvp_exec.collision import CollisionModelError, Obstacle
from lvp_exec.workcell import Workcell

from lvp_sim.world import WorldConfig, world_config_for, world_mjcf

WORLD_OBSTACLE_GEOMS = ('table_top', 'table_base', 'wall', 'floor')
"""The world's geoms a robot link must keep clear of (objects and the button are what the robot
is meant to touch)."""


def world_obstacles(world: WorldConfig) -> tuple[Obstacle, ...]:
    """Return the world's table, wall and floor (`WORLD_OBSTACLE_GEOMS`) in the robot base
    frame, from the compiled world description of `world`."""
    model = mujoco.MjModel.from_xml_string(world_mjcf(world))
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    mount = world.robot_mount
    base_from_world = pin.SE3(mount.rotation, mount.position).inverse()
    obstacles = []
    for name in WORLD_OBSTACLE_GEOMS:
        gid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, name)
        if gid < 0:
            raise CollisionModelError(f'the lvp_sim world has no geom {name!r}')
        placement = base_from_world * pin.SE3(data.geom_xmat[gid].reshape(3, 3).copy(),
                                              data.geom_xpos[gid].copy())
        kind = int(model.geom_type[gid])
        if kind == mujoco.mjtGeom.mjGEOM_BOX:
            shape = coal.Box(*(2.0 * model.geom_size[gid]))
        elif kind == mujoco.mjtGeom.mjGEOM_PLANE:
            # The floor: the half-space below the plane (z <= 0 in the geom's frame).
            shape = coal.Halfspace(np.array([0.0, 0.0, 1.0]), 0.0)  # {x: n.x <= d}
        else:
            raise CollisionModelError(f'world geom {name!r} has type {kind}: only boxes and '
                                      'planes are obstacles')
        obstacles.append(Obstacle(name, shape, placement))
    return tuple(obstacles)


@functools.lru_cache(maxsize=8)
def _cached_obstacles(world: WorldConfig) -> tuple[Obstacle, ...]:
    return world_obstacles(world)


def world_workcell(embodiment: str, world: WorldConfig | None = None) -> Workcell:
    """The table plane and obstacles of `world` (None: the embodiment's layout,
    `world_config_for`) in the robot base frame; the `lvp_exec.workcells` plugin."""
    world = world if world is not None else world_config_for(embodiment)
    return Workcell(world.table_top_in_robot_base(), _cached_obstacles(world))
