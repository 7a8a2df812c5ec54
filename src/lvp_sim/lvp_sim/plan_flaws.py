"""Flawed synthetic demonstrations at a known rate: bad plans for testing a plan court.

A video model sometimes imagines the hand acting on the wrong object, at a place the robot cannot
reach, or closing beside the object. This module makes such plans on purpose with lvp_sim's
demonstrator: the demonstration is rendered in a copy of the layout in which the task's object is
moved (the plan's frames show it there) while the real scene keeps it where it is, so the hand in
the plan acts somewhere wrong. Which seeds get a flaw, and which flaw, follows from the seed, the
rate and `flaw_seed` alone (reproducible), and the plan's metadata names the flaw.

Flaws (FLAWS):
  wrong_object  the hand takes the object standing where the cup is (cube and cup swapped);
  out_of_reach  the hand acts at the robot's own base (a few cm in front of the mount: inside
                the arm's inner workspace: the Franka's IK finds no solution there, the
                G1's path ends far from the object);
  missed_grasp  the hand closes 15 cm beside the object (further than the pipeline's grasp
                registration reaches), on nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lvp_sim.demonstrations import (
    DemonstrationConfig,
    SyntheticDemonstration,
    render_demonstration,
)
from lvp_sim.world import WorldConfig

FLAWS = ('wrong_object', 'out_of_reach', 'missed_grasp')
MISS_OFFSET = 0.15
"""How far (m) beside the object a missed grasp closes."""
REACH_RADIUS = 0.04
"""How far (m) from the robot mount, on the table, an out-of-reach plan acts (kept 5 cm inside
the table's robot-side edge)."""


class FlawError(ValueError):
    """A flaw or flaw rate is not one this module knows."""


@dataclass(frozen=True)
class FlawPolicy:
    """Which plans are flawed: each seed independently with probability `rate`, the flaw drawn
    uniformly from `flaws`; `flaw_seed` picks another reproducible draw."""

    rate: float = 0.0
    flaws: tuple[str, ...] = FLAWS
    flaw_seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise FlawError(f'flaw rate must lie in [0, 1], got {self.rate}')
        unknown = [f for f in self.flaws if f not in FLAWS]
        if unknown or not self.flaws:
            raise FlawError(f'unknown flaw(s) {unknown or "(none given)"}; known: {FLAWS}')

    def flaw_for(self, seed: int) -> str | None:
        """The flaw of the plan for `seed`, or None for a faithful plan."""
        rng = np.random.default_rng([int(self.flaw_seed) & 0xFFFFFFFF, int(seed) & 0xFFFFFFFF,
                                     0x5EED])
        draw, pick = rng.random(), rng.integers(len(self.flaws))
        return self.flaws[int(pick)] if draw < self.rate else None


def flawed_layout(world: WorldConfig, flaw: str) -> WorldConfig:
    """The layout a flawed plan is rendered in: the task's object moved as the flaw says."""
    cube = np.asarray(world.cube_xy, dtype=float)
    if flaw == 'wrong_object':
        return replace(world, cube_xy=tuple(world.cup_xy), cup_xy=tuple(world.cube_xy))
    mount = np.asarray(world.robot_mount.position[:2], dtype=float)
    toward = mount - cube
    toward /= max(float(np.linalg.norm(toward)), 1e-9)
    if flaw == 'out_of_reach':
        moved = mount - REACH_RADIUS * toward
        moved[0] = max(moved[0], 0.05 - world.robot_mount_inset)
    elif flaw == 'missed_grasp':
        moved = cube + MISS_OFFSET * np.array([-toward[1], toward[0]])
    else:
        raise FlawError(f'unknown flaw {flaw!r}; known: {FLAWS}')
    # the target region keeps its offset from the object (as a seed's variation does)
    target = np.asarray(world.target_region_xy) + (moved - cube)
    return replace(world, cube_xy=(float(moved[0]), float(moved[1])),
                   target_region_xy=(float(target[0]), float(target[1])))


def render_with_flaw(config: DemonstrationConfig, flaw: str | None) -> SyntheticDemonstration:
    """Render `config`'s demonstration, flawed as `flaw` says (None: faithful). The plan's
    metadata carries 'flaw' (empty for a faithful plan)."""
    if flaw is not None:
        config = replace(config, world=flawed_layout(config.world, flaw))
    demo = render_demonstration(config)
    demo.plan.metadata['flaw'] = flaw or ''
    return demo
