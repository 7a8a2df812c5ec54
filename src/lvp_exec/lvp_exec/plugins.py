"""Parts of lvp_exec that other packages provide, found through Python entry points.

lvp_exec sits below the simulator: it never imports lvp_sim. What it needs from a package above
it is declared there as an entry point and loaded here by name:

- `lvp_exec.backends`: execution backends beyond the built-in robot ones; `sim` (the MuJoCo
  executor) comes from lvp_sim. The entry point is a factory `(BackendOptions) -> Executor`.
- `lvp_exec.workcells`: the surroundings the safety filter keeps the robot clear of by default
  (lvp_exec.workcell); lvp_sim's world layouts. The entry point is a function
  `(embodiment, world) -> Workcell`.

A package declares one in its setup.py (`entry_points={'lvp_exec.backends': ['sim =
lvp_sim.mujoco_executor:make_sim_executor']}`); pip and colcon write it into the installed
metadata, which `importlib.metadata` reads.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

BACKEND_PLUGINS = 'lvp_exec.backends'
WORKCELL_PLUGINS = 'lvp_exec.workcells'

PROVIDERS = {(BACKEND_PLUGINS, 'sim'): 'lvp_sim', (WORKCELL_PLUGINS, 'default'): 'lvp_sim'}
"""The workspace package that provides each plugin lvp_exec knows of (for the error message)."""


class PluginNotFoundError(RuntimeError):
    """No installed package provides the entry point asked for."""


def plugin_names(group: str) -> tuple[str, ...]:
    """The names of the installed entry points of `group`, sorted."""
    return tuple(sorted({ep.name for ep in entry_points(group=group)}))


def load_plugin(group: str, name: str) -> Any:
    """Load the entry point `name` of `group`; PluginNotFoundError names the package to install
    when none provides it (ImportError of the provider's own imports passes through)."""
    found = [ep for ep in entry_points(group=group) if ep.name == name]
    if not found:
        provider = PROVIDERS.get((group, name))
        hint = (f'install {provider} (pip install -e src/{provider}, or build it with colcon)'
                if provider else 'install the package that provides it')
        raise PluginNotFoundError(
            f'no installed package provides {name!r} in the entry point group {group!r} '
            f'(installed: {plugin_names(group) or "none"}): {hint}')
    return found[0].load()
