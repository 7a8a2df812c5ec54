# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""Disturbances injected into a running MuJoCo execution (closed-loop tests and benchmarks):
step hooks for `MujocoExecutor.step_hooks`, called as hook(world, trajectory time) before every
physics step."""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from lvp_common.geometry import Pose

from lvp_sim.world import World


def knock_out_offset(seed: int, low: float = 0.04, high: float = 0.08) -> tuple[float, float]:
    """A table-plane offset (m) of length uniform in [low, high], direction uniform, drawn
    from `seed` (the same for open and closed loop)."""
    rng = np.random.default_rng([int(seed), 0x0B0C])
    distance, angle = rng.uniform(low, high), rng.uniform(0.0, 2.0 * np.pi)
    return float(distance * np.cos(angle)), float(distance * np.sin(angle))


@dataclass
class KnockOutOfGrasp:
    """Once `body` has risen `rise_m` above its height at the first call (mid-lift), put it
    back on the table at rest, `offset` (table x, y, m) from where it was lifted, its yaw kept:
    the object slipped out of the grasp. `fired_at`: the trajectory time it happened (None:
    not yet)."""

    offset: tuple[float, float]
    rise_m: float = 0.05
    body: str = 'cube'
    rest_z: float | None = None
    fired_at: float | None = None

    def __call__(self, world: World, now: float) -> None:
        if self.fired_at is not None:
            return
        pose = world.body_pose(self.body)
        if self.rest_z is None:
            self.rest_z = float(pose.position[2])
            return
        if pose.position[2] < self.rest_z + self.rise_m:
            return
        # yaw of the held body, kept; tilt dropped (it lands flat)
        x, y, z, w = pose.quaternion
        yaw = np.arctan2(2.0 * (w * z + x * y), 1.0 - 2.0 * (y * y + z * z))
        place = np.array([pose.position[0] + self.offset[0], pose.position[1] + self.offset[1],
                          self.rest_z])
        world.set_free_body_pose(self.body, Pose(place, np.array(
            [0.0, 0.0, np.sin(yaw / 2.0), np.cos(yaw / 2.0)])))
        jid = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_JOINT, f'{self.body}_free')
        adr = int(world.model.jnt_dofadr[jid])
        world.data.qvel[adr:adr + 6] = 0.0
        mujoco.mj_forward(world.model, world.data)
        self.fired_at = now


@dataclass
class DisplaceAt:
    """At trajectory time `at_s` of the first execution it sees, move `body` by `offset` (table
    x, y, m) on the table, pose otherwise kept, at rest: the object pushed while the arm moves.
    `fired_at`: when it happened (None: not yet)."""

    offset: tuple[float, float]
    at_s: float = 0.6
    body: str = 'cube'
    fired_at: float | None = None

    def __call__(self, world: World, now: float) -> None:
        if self.fired_at is not None or now < self.at_s:
            return
        pose = world.body_pose(self.body)
        place = pose.position + np.array([self.offset[0], self.offset[1], 0.0])
        world.set_free_body_pose(self.body, Pose(place, pose.quaternion))
        jid = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_JOINT, f'{self.body}_free')
        adr = int(world.model.jnt_dofadr[jid])
        world.data.qvel[adr:adr + 6] = 0.0
        mujoco.mj_forward(world.model, world.data)
        self.fired_at = now
