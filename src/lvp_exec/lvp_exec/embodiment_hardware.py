"""The hardware of each embodiment, by name: its arm, its end effector, how the sim stands it in
the world, its safety defaults and the robot backend that drives it.

The one module where the embodiment names are written. The lower layers (lvp_exec's safety
filter, backends, node and CLI; lvp_sim's world layouts and MuJoCo executor; lvp_planner's
demonstrations) look a spec up by name (`hardware_named`) or by the robot model planned for
(`hardware_for_robot`) and branch on its fields, never on the name; lvp_bringup's `Embodiment`
references its spec and adds the motion mapping. Adding an embodiment: `register` an
`EmbodimentHardware` here (or at run time), then lvp_bringup's `Embodiment` (ARCHITECTURE.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lvp_exec.robots import RobotModel


class EndEffector(Enum):
    """What the arm carries, and so what commands it: GripperEvents or Inspire HandCommands."""

    PARALLEL_GRIPPER = 'parallel_gripper'
    """The Franka hand: two fingers, OPEN/CLOSE `GripperEvent`s (width, m)."""
    INSPIRE_HAND = 'inspire_hand'
    """The Inspire RH56 dexterous hand: 6 actuators, normalised `HandCommands`."""


class UnknownHardwareError(ValueError):
    """A name (or a robot model) no registered embodiment has."""


@dataclass(frozen=True)
class EmbodimentHardware:
    """One robot arm with its end effector, as the layers below lvp_bringup see it.

    robot_loader(arm_model, side) -> RobotModel loads the arm planned for (`load_robot`);
    robot_names are the `RobotModel.name`s of its arms (`hardware_for_robot`); sim_layout names
    the lvp_sim world layout it stands in (`lvp_sim.world.SIM_LAYOUTS`); safety_defaults are
    the `SafetyConfig` fields that differ from the defaults (lvp_exec.safety).
    """

    name: str
    end_effector: EndEffector
    robot_loader: Callable[[str, str], RobotModel]
    robot_names: tuple[str, ...]
    sim_layout: str
    sim_path_tolerance_rad: float
    """The sim's largest tracking error (rad, any arm joint) before it aborts (lvp_sim's
    MujocoExecutor when given none)."""
    safety_defaults: tuple[tuple[str, Any], ...] = ()
    robot_backend: str | None = None
    """The lvp_exec backend that drives the real robot (None: the sim only)."""
    side: str | None = None
    """The arm (and hand) side this embodiment is fixed to; None: chosen when loading
    (`g1_side`, default right)."""

    @property
    def takes_gripper_events(self) -> bool:
        """Whether the end effector is commanded by GripperEvents (else by HandCommands)."""
        return self.end_effector is EndEffector.PARALLEL_GRIPPER

    def load_robot(self, arm_model: str = 'panda', side: str = 'right') -> RobotModel:
        """Load the arm: `arm_model` picks the Franka model ('panda' | 'fr3'), `side` the G1
        arm unless the spec fixes one."""
        return self.robot_loader(arm_model, self.side or side)

    def safety_overrides(self) -> dict[str, Any]:
        """The SafetyConfig fields this embodiment sets (name -> value)."""
        return dict(self.safety_defaults)


def _load_franka(arm_model: str, side: str) -> RobotModel:
    from lvp_exec.robots import load_franka

    del side
    return load_franka(arm_model)


def _load_g1_arm(arm_model: str, side: str) -> RobotModel:
    from lvp_exec.robots import G1ArmConfig, load_g1_arm

    del arm_model
    return load_g1_arm(G1ArmConfig(side=side))


FRANKA_GRIPPER = EmbodimentHardware(
    name='franka_gripper', end_effector=EndEffector.PARALLEL_GRIPPER,
    robot_loader=_load_franka, robot_names=('panda', 'fr3'), sim_layout='table_top_mount',
    sim_path_tolerance_rad=0.4,
    safety_defaults=(('workspace_min', (-0.9, -0.9, -0.1)), ('workspace_max', (0.9, 0.9, 1.2)),
                     ('contact_links', ('panda_leftfinger', 'panda_rightfinger'))),
    robot_backend='ros2_control')
"""Franka arm (Panda or FR3) + Franka hand: base on the table top, driven by ros2_control."""

G1_INSPIRE = EmbodimentHardware(
    name='g1_inspire', end_effector=EndEffector.INSPIRE_HAND, robot_loader=_load_g1_arm,
    robot_names=('g1_right_arm', 'g1_left_arm'), sim_layout='standing_behind_table',
    sim_path_tolerance_rad=0.9,
    safety_defaults=(('workspace_min', (-0.1, -0.8, -0.6)), ('workspace_max', (0.8, 0.8, 0.6)),
                     ('self_clearance', None)),
    robot_backend='unitree')
"""One Unitree G1 arm + the Inspire hand on that side: standing behind the table, driven by
the Unitree SDK (arm_sdk + Inspire over DDS). Its self-collision check is off by default: the
mapped motions bring the upper arm's hull into the torso's (by up to 0.4 mm on seed 2's lift,
push, press and drawer; the meshes then touch or nearly do) and would all be refused."""
# The sim's path tolerances: free motion tracks within ~1e-3 rad, but contact the task means
# (a grasp, a press, a push) deflects the light wrists of the computed-torque arm: measured up to
# 0.25 rad on the Franka and 0.69 rad on the G1 in successful episodes (end-to-end benchmark:
# lift seeds 0-11, push and press seeds 0-3). Issue 23's jumping path left the Franka 1.1-1.3
# rad off.


def g1_inspire_hardware(name: str, side: str) -> EmbodimentHardware:
    """A G1 + Inspire embodiment fixed to one arm (`side`), simulated only: e.g. a left-arm G1
    registered beside `G1_INSPIRE` (its robot model is then still found as `G1_INSPIRE`'s,
    the first registered; the hardware is the same)."""
    if side not in ('left', 'right'):
        raise UnknownHardwareError(f"side must be 'left' or 'right', got {side!r}")
    return replace(G1_INSPIRE, name=name, robot_names=(f'g1_{side}_arm',), robot_backend=None,
                   side=side)


_REGISTRY: dict[str, EmbodimentHardware] = {}


def register(hardware: EmbodimentHardware) -> EmbodimentHardware:
    """Add `hardware` to the registry (a name registered twice is refused)."""
    if hardware.name in _REGISTRY:
        raise ValueError(f'embodiment hardware {hardware.name!r} is already registered')
    _REGISTRY[hardware.name] = hardware
    return hardware


def unregister(name: str) -> None:
    """Remove a registered embodiment's hardware (a test's toy one)."""
    _REGISTRY.pop(name, None)


def hardware_names() -> tuple[str, ...]:
    """The registered embodiment names, in registration order."""
    return tuple(_REGISTRY)


def is_hardware(name: str) -> bool:
    """Whether `name` is a registered embodiment."""
    return name in _REGISTRY


def hardware_named(name: str) -> EmbodimentHardware:
    """The hardware of embodiment `name` (UnknownHardwareError naming the choices if none)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownHardwareError(f'unknown embodiment {name!r}; expected one of '
                                   f'{hardware_names()}') from None


def hardware_for_robot(robot: RobotModel) -> EmbodimentHardware:
    """The hardware whose arms include `robot` (by `RobotModel.name`; the first registered when
    several do)."""
    for hardware in _REGISTRY.values():
        if robot.name in hardware.robot_names:
            return hardware
    known = sorted({n for h in _REGISTRY.values() for n in h.robot_names})
    raise UnknownHardwareError(f'no registered embodiment has the robot {robot.name!r}; '
                               f'the registered arms are {known}')


def load_embodiment_robot(embodiment: str, g1_side: str = 'right',
                          arm_model: str = 'panda') -> RobotModel:
    """Load the arm of a registered embodiment: the Franka `arm_model` ('panda' or 'fr3'), the
    G1's `g1_side` arm (RobotModelError for an unknown name)."""
    from lvp_exec.robots import RobotModelError

    try:
        hardware = hardware_named(embodiment)
    except UnknownHardwareError as exc:
        raise RobotModelError(str(exc)) from None
    return hardware.load_robot(arm_model, g1_side)


def robot_backend_embodiments(backend: str) -> tuple[str, ...]:
    """The registered embodiments the robot backend `backend` drives."""
    return tuple(h.name for h in _REGISTRY.values() if h.robot_backend == backend)


register(FRANKA_GRIPPER)
register(G1_INSPIRE)

EMBODIMENTS = hardware_names()
"""The built-in embodiments (CLI choices, parameter descriptions)."""

DEFAULT_EMBODIMENT = FRANKA_GRIPPER.name
"""The embodiment a node or tool uses when told none."""
