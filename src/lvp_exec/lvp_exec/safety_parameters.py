"""The safety filter's limits as ROS parameters: `safety.<embodiment>.<name>` for each registered
embodiment and each of `SAFETY_PARAMETERS`, declared with the embodiment's defaults
(lvp_exec.safety) and read back into a `SafetyConfig` (exec_node, lvp_bringup's
plan_and_execute)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import numpy as np

from lvp_exec.embodiment_hardware import hardware_named, hardware_names
from lvp_exec.robots import RobotModel
from lvp_exec.safety import (
    SafetyConfig,
    default_safety_config,
    embodiment_of,
    embodiment_safety_defaults,
)

SAFETY_PARAMETERS = {
    'workspace_min': 'lower corner (m, base frame) of the box the EE origin stays in',
    'workspace_max': 'upper corner (m, base frame) of the box the EE origin stays in',
    'table_clearance': 'least height (m) of the EE and collision-frame origins above the table',
    'hand_clearance': 'least height (m) of the hand points (Inspire fingertips) above the table',
    'link_clearance': 'least distance (m) of a moving link hull to the table, walls and floor',
    'contact_clearance': 'least distance (m) of a contact link (Franka finger) to an obstacle',
    'max_ee_speed': 'fastest EE speed (m/s) the path timestamps may imply between waypoints',
    'max_joint_step': 'largest joint change (rad) between consecutive IK solutions',
    'joint_step_per_metre': 'joint step allowed (rad) per metre of Cartesian step',
    'joint_step_slack': 'joint step (rad) always allowed between consecutive IK solutions',
    'position_margin': 'joints stay this far (rad) inside their position limits',
    'velocity_scale': 'allowed fraction of the joint velocity limits',
    'acceleration_scale': 'allowed fraction of the joint acceleration limits',
}
"""The SafetyConfig fields a node exposes as parameters `safety.<embodiment>.<name>`."""


def _parameter_name(embodiment: str, name: str) -> str:
    return f'safety.{embodiment}.{name}'


def declare_safety_parameters(node: Any) -> None:
    """Declare `safety.<embodiment>.<name>` (SAFETY_PARAMETERS) with each embodiment's
    default on an rclpy node."""
    from lvp_common.ros.node import describe

    for embodiment in hardware_names():
        defaults = embodiment_safety_defaults(hardware_named(embodiment))
        for name, text in SAFETY_PARAMETERS.items():
            value = getattr(defaults, name)
            node.declare_parameter(_parameter_name(embodiment, name),
                                   [float(v) for v in value] if isinstance(value, tuple)
                                   else float(value), describe(f'{embodiment}: {text}'))


def safety_config_from_parameters(node: Any, robot: RobotModel, world=None) -> SafetyConfig:
    """Return `robot`'s default SafetyConfig in `world` (see default_safety_config) with the
    node's `safety.<embodiment>.*` values; raise ValueError naming a parameter that is not
    finite (or not 3 numbers)."""
    embodiment = embodiment_of(robot)
    defaults = default_safety_config(robot, world)
    values: dict[str, Any] = {}
    for name in SAFETY_PARAMETERS:
        parameter = _parameter_name(embodiment, name)
        value = node.get_parameter(parameter).value
        if isinstance(getattr(defaults, name), tuple):
            value = tuple(float(v) for v in value)
            if len(value) != 3:
                raise ValueError(f'parameter {parameter} must be 3 numbers (x, y, z in m), '
                                 f'got {list(value)}')
        else:
            value = float(value)
        if not all(map(math.isfinite, np.atleast_1d(value))):
            raise ValueError(f'parameter {parameter} must be finite, got {value}')
        values[name] = value
    return replace(defaults, **values)
