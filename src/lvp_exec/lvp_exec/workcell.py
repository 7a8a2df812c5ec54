"""The robot's surroundings as the safety filter sees them: the table plane and the fixed
obstacles (table, wall, floor), in the robot base frame.

lvp_exec does not describe worlds itself: the default surroundings of an embodiment, and those of
a given world description (an lvp_sim WorldConfig), come from the `lvp_exec.workcells` plugin
(lvp_exec.plugins), which lvp_sim provides from its world layouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lvp_exec.collision import Obstacle
from lvp_exec.plugins import WORKCELL_PLUGINS, load_plugin


@dataclass(frozen=True)
class Workcell:
    """table_height: the table-top plane's z (m) in the robot base frame (None: no table);
    obstacles: what the moving links' collision hulls keep clear of (base frame)."""

    table_height: float | None
    obstacles: tuple[Obstacle, ...]


def workcell_for(embodiment: str, world: Any = None) -> Workcell:
    """The surroundings of `embodiment` in `world` (a world description the plugin knows, e.g.
    an lvp_sim WorldConfig; None: the embodiment's own layout)."""
    return load_plugin(WORKCELL_PLUGINS, 'default')(embodiment, world)
