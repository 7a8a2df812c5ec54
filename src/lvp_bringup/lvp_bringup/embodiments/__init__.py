"""The embodiment registry: every robot + end effector the pipeline drives, by name.

One module per embodiment (franka_gripper, g1_inspire) exports an `Embodiment`: its hand stages
(retargeting, grasping), EE mapping, robot loader and sim layout. Each references its hardware
spec in lvp_exec.embodiment_hardware, where the name is written (once); adding an embodiment =
a hardware spec registered there + one module here + one `register` call (ARCHITECTURE.md).
"""

from __future__ import annotations

from lvp_bringup.embodiments import franka_gripper, g1_inspire
from lvp_bringup.embodiments.embodiment import Embodiment

_REGISTRY: dict[str, Embodiment] = {}


class UnknownEmbodimentError(ValueError):
    """A name no registered embodiment has."""


def register(embodiment: Embodiment) -> Embodiment:
    """Add `embodiment` to the registry (a name registered twice is refused)."""
    if embodiment.name in _REGISTRY:
        raise ValueError(f'embodiment {embodiment.name!r} is already registered')
    _REGISTRY[embodiment.name] = embodiment
    return embodiment


def unregister(name: str) -> None:
    """Remove a registered embodiment (a test's toy one)."""
    _REGISTRY.pop(name, None)


def embodiment_names() -> tuple[str, ...]:
    """The registered embodiment names, in registration order."""
    return tuple(_REGISTRY)


def base_frames() -> dict[str, str]:
    """The base frame (URDF root) of each registered embodiment, by name."""
    return {name: embodiment.base_frame for name, embodiment in _REGISTRY.items()}


def is_embodiment(name: str) -> bool:
    """Whether `name` is a registered embodiment."""
    return name in _REGISTRY


def embodiment_named(name: str) -> Embodiment:
    """The registered embodiment `name` (UnknownEmbodimentError naming the choices if none)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownEmbodimentError(f'unknown embodiment {name!r}; expected one of '
                                     f'{embodiment_names()}') from None


register(franka_gripper.EMBODIMENT)
register(g1_inspire.EMBODIMENT)

EMBODIMENTS = embodiment_names()
"""The built-in embodiments (CLI choices, parameter descriptions)."""

DEFAULT_EMBODIMENT = franka_gripper.NAME
"""The embodiment a node or tool uses when told none."""

__all__ = ['DEFAULT_EMBODIMENT', 'EMBODIMENTS', 'Embodiment', 'UnknownEmbodimentError',
           'base_frames', 'embodiment_named', 'embodiment_names', 'is_embodiment', 'register',
           'unregister']
