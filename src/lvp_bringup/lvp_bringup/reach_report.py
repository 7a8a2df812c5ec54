"""Where an unreachable waypoint lies relative to the arm's reach, in words and millimetres.

The reachable workspace (positions only) is probed by position-only IK (lvp_exec's damped
least squares with the orientation weight 0) from the start state, the home pose and a few
fixed spread-out configurations; the closest point the EE reaches is the workspace's nearest
point to the waypoint. Its distance is how far out of reach the waypoint is; its direction
(robot base frame: +x forward, +y left, +z up) says which way to move the path, e.g. with a
corrected camera pose. When the position is reachable and only the orientation is not, it
says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_AXES = (('forward', 'back'), ('left', 'right'), ('up', 'down'))
REACHED_M = 0.005
"""A waypoint whose position the arm gets within this (m) of is within reach."""


@dataclass(frozen=True)
class ReachGap:
    """An EE target's position relative to the arm's reach (base frame, metres)."""

    target: np.ndarray
    nearest: np.ndarray
    """The reachable EE position nearest the target."""

    @property
    def distance(self) -> float:
        return float(np.linalg.norm(self.target - self.nearest))

    @property
    def within_reach(self) -> bool:
        return self.distance <= REACHED_M

    def direction_words(self) -> str:
        """Where the target is from the nearest reachable point, e.g. '250 mm forward, 140 mm
        up' (components over 10 % of the distance, largest first)."""
        delta = self.target - self.nearest
        order = np.argsort(-np.abs(delta))
        parts = [f'{abs(delta[k]) * 1000:.0f} mm {_AXES[k][0 if delta[k] > 0 else 1]}'
                 for k in order if abs(delta[k]) >= 0.1 * self.distance]
        return ', '.join(parts)


def reach_gap(robot, target: np.ndarray, start_joints: np.ndarray | None,
              probes: int = 6) -> ReachGap:
    """Return the target position's gap to the reachable workspace of `robot` (lvp_exec
    RobotModel; start_joints: rad, None = its home)."""
    import pinocchio as pin  # pyright: ignore[reportMissingImports]
    from lvp_exec.ik import DampedLeastSquaresIk, IkConfig

    ik = DampedLeastSquaresIk(robot, IkConfig(orientation_weight=0.0, max_iterations=300))
    goal = pin.SE3(np.eye(3), np.asarray(target, dtype=np.float64))
    lower, upper = robot.limits.lower, robot.limits.upper
    starts = [q for q in (start_joints, robot.home) if q is not None and len(q)]
    rng = np.random.default_rng(0)  # fixed probes: the same message for the same plan
    starts += [lower + (upper - lower) * rng.uniform(0.2, 0.8, len(lower))
               for _ in range(probes)]
    best = None
    for q0 in starts:
        q, _pos_err, _rot_err, _ = ik.solve_pose(goal, np.asarray(q0, dtype=np.float64))
        reached = robot.ee_placement(q).translation.copy()
        if best is None or np.linalg.norm(reached - target) < np.linalg.norm(best - target):
            best = reached
        if np.linalg.norm(best - target) <= REACHED_M / 5:
            break
    assert best is not None
    return ReachGap(np.asarray(target, dtype=np.float64), best)


def describe_unreachable(robot, ee_path, index: int, start_joints: np.ndarray | None,
                         plan_start: float, orientation_error: float = 0.0) -> str:
    """One message on why EE waypoint `index` of `ee_path` is out of reach, where it lies and
    which way it would have to move. plan_start: the plan's first frame time (s): waypoints
    before it are the robot's own approach."""
    target = np.asarray(ee_path.positions[index], dtype=np.float64)
    time = float(ee_path.times[index])
    if time < plan_start - 1e-9:
        when = (f'the robot\'s approach waypoint, {plan_start - time:.2f} s before the plan\'s '
                'first frame')
    else:
        when = f'plan time {time - plan_start:.2f} s'
    where = ', '.join(f'{v:.3f}' for v in target)
    gap = reach_gap(robot, target, start_joints)
    head = f'{robot.name}: EE waypoint {index} ({when}) at ({where}) m in the robot base frame'
    if gap.within_reach:
        return (f'{head} is within the arm\'s reach, but not in the demonstrated orientation '
                f'(IK residual {np.degrees(orientation_error):.1f} deg)')
    return (f'{head} is {gap.distance * 1000:.0f} mm outside the arm\'s reachable workspace: '
            f'it lies {gap.direction_words()} of the nearest point the EE reaches ('
            f'{", ".join(f"{v:.3f}" for v in gap.nearest)} m). The camera pose decides where '
            'the demonstrated path lands: check --camera-to-base (and --hfov), or move the '
            'scene closer to the robot')


def unreachable_cause(error: BaseException) -> Any:
    """The lvp_exec UnreachablePathError (index, position_error, orientation_error) behind a
    StageError, or None."""
    seen: BaseException | None = error
    while seen is not None:
        if hasattr(seen, 'index') and hasattr(seen, 'position_error'):
            return seen
        seen = seen.__cause__
    return None
