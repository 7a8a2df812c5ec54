"""The hand's own points the safety filter's table check measures (lvp_exec.safety).

A parallel gripper is covered by the robot model's frames; a dexterous hand's fingers move
with its commands: `inspire_fingertips` (the Inspire's five fingertips at the commanded closure)
and `inspire_hand_points` (those and the 8 corners of its palm's collision box, rigid).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lvp_exec.robots import RobotModel

if TYPE_CHECKING:
    from lvp_exec.safety import SafetyConfig


@dataclass(frozen=True)
class HandPoints:
    """Points of the hand in the EE frame per trajectory sample: names (N,), points (T, N, 3).

    The last `rigid` points are on the hand's rigid body (the palm): they keep the EE's
    `table_clearance` above the table; the others (force-limited fingertips) `hand_clearance`.
    """

    names: tuple[str, ...]
    points: np.ndarray
    rigid: int = 0

    def table_clearances(self, config: SafetyConfig) -> np.ndarray:
        """The least height (m) above the table plane of each point under `config`."""
        out = np.full(len(self.names), config.hand_clearance)
        out[len(self.names) - self.rigid:] = config.table_clearance
        return out


def _hand_side(robot: RobotModel) -> str:
    """The side of the G1 arm model `robot` (its name: g1_left_arm / g1_right_arm)."""
    return 'left' if robot.name.startswith('g1_left') else 'right'


def inspire_fingertips(robot: RobotModel, commands, times: np.ndarray) -> HandPoints:
    """The Inspire hand's five fingertips in the G1 hand-mount frame at `times` (s, the
    trajectory's clock), for HandCommands `commands` on that clock (normalised commands
    interpolated in time, held before the first and after the last)."""
    from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS, TIP_LINKS, InspireKinematics

    from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT

    side = _hand_side(robot)
    kinematics = InspireKinematics(side)
    by_name = {a.name: a for a in INSPIRE_ACTUATORS}
    unknown = [name for name in commands.actuator_names if name not in by_name]
    if unknown:
        from lvp_exec.safety import TrajectoryFormatError

        raise TrajectoryFormatError(
            f'hand commands name actuators {unknown} the Inspire hand does not have (it has '
            f'{list(by_name)}): its fingertips cannot be checked against the table')
    actuators = [by_name[name] for name in commands.actuator_names]
    joints = [a.joint for a in actuators]
    normalized = np.stack([np.interp(times, commands.times, commands.normalized[:, i])
                           for i in range(len(actuators))], axis=1)
    closed = np.array([a.closed_position for a in actuators])
    opened = np.array([a.open_position for a in actuators])
    q = closed + normalized * (opened - closed)
    tips = np.stack([kinematics.tip_positions(joints, row) for row in q])
    return HandPoints(tuple(f'inspire {link}' for link in TIP_LINKS),
                      tips @ INSPIRE_BASE_IN_MOUNT.T)


def inspire_hand_points(robot: RobotModel, commands, times: np.ndarray) -> HandPoints:
    """The Inspire fingertips (`inspire_fingertips`) and the 8 corners of its palm's collision
    box (rigid), in the G1 hand-mount frame at `times`: what the table check measures of the
    hand."""
    from lvp_retarget.inspire_hand import InspireKinematics

    from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT

    tips = inspire_fingertips(robot, commands, times)
    side = _hand_side(robot)
    palm = InspireKinematics(side).palm_corners() @ INSPIRE_BASE_IN_MOUNT.T
    points = np.concatenate([tips.points, np.broadcast_to(palm, (len(times), *palm.shape))],
                            axis=1)
    return HandPoints((*tips.names, *(f'inspire palm corner {k}' for k in range(len(palm)))),
                      points, rigid=len(palm))
