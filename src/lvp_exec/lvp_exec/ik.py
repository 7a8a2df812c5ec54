"""Arm inverse kinematics along a wrist path: damped least squares, warm-started per waypoint.

Each waypoint of the `WristTrajectory` (EE poses in the robot base frame) is solved by
Levenberg-Marquardt on the SE(3) log error, weighted between position (m) and orientation (rad),
starting from the previous waypoint's solution (the first from the current joint state), so the
joint path stays on one IK branch. Joint limits (inset by `limit_margin`) are enforced by
projection after every step. A waypoint whose residual stays above the tolerances after
`max_iterations` (and a retry through interpolated intermediate targets, and one that reaches
the position first, which moves redundant joints off a limit the weighted solve is stuck
against) refuses the whole path with `UnreachablePathError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]  (cmeel prefix)
from lvp_common.artifacts import WristTrajectory
from lvp_common.geometry import Pose, interpolate_poses

from lvp_exec.robots import RobotModel


class UnreachablePathError(RuntimeError):
    """A waypoint of the wrist path cannot be reached within tolerance."""

    def __init__(self, index: int, time: float, position_error: float,
                 orientation_error: float, position_tolerance: float,
                 orientation_tolerance: float, robot: str) -> None:
        self.index = index
        self.time = time
        self.position_error = position_error
        self.orientation_error = orientation_error
        super().__init__(
            f'{robot}: wrist waypoint {index} (t = {time:.3f} s) is unreachable: residual '
            f'{position_error * 1000.0:.1f} mm / {np.degrees(orientation_error):.2f} deg, '
            f'tolerance {position_tolerance * 1000.0:.1f} mm / '
            f'{np.degrees(orientation_tolerance):.2f} deg')


class PathFrameError(ValueError):
    """The wrist path is not expressed in the robot's base frame."""


POSITION_FIRST = 0.03
"""Orientation weight factor of the position-first solve that a waypoint falls back to when the
warm-started solve is stuck (the orientation residual costs too much to leave a joint limit)."""


@dataclass(frozen=True)
class IkConfig:
    """Damped-least-squares IK parameters (units: m, rad)."""

    position_weight: float = 1.0
    """Weight of the position residual (per metre)."""
    orientation_weight: float = 0.3
    """Weight of the orientation residual (per radian); 0 solves position only."""
    damping: float = 1e-3
    """Initial Levenberg-Marquardt damping (adapted per iteration)."""
    max_iterations: int = 100
    max_step: float = 0.2
    """Largest joint change per iteration (rad)."""
    convergence_position: float = 1e-5
    convergence_orientation: float = 1e-4
    position_tolerance: float = 0.005
    """A waypoint whose residual stays above this (m) is unreachable."""
    orientation_tolerance: float = float(np.radians(3.0))
    """A waypoint whose residual stays above this (rad) is unreachable."""
    limit_margin: float = 0.02
    """Solutions stay this far (rad) inside the position limits (room for the safety margin)."""
    max_subdivisions: int = 8
    """Intermediate targets tried between two waypoints when a warm start fails."""

    def __post_init__(self) -> None:
        if self.position_weight <= 0.0 or self.orientation_weight < 0.0:
            raise ValueError(f'IkConfig: weights must be position > 0, orientation >= 0, got '
                             f'{self.position_weight}, {self.orientation_weight}')
        if self.max_iterations < 1 or self.damping <= 0.0 or self.max_step <= 0.0:
            raise ValueError('IkConfig: max_iterations, damping and max_step must be positive')


@dataclass(frozen=True)
class JointPath:
    """IK result: joint positions (T, J) per wrist waypoint, with the residual of each.

    times: the wrist path's timestamps (s). start: the joint state the path was solved from.
    position_errors (m) / orientation_errors (rad): residual EE error per waypoint.
    """

    times: np.ndarray
    joint_names: tuple[str, ...]
    positions: np.ndarray
    start: np.ndarray
    position_errors: np.ndarray
    orientation_errors: np.ndarray
    iterations: np.ndarray

    @property
    def max_position_error(self) -> float:
        return float(self.position_errors.max()) if len(self.position_errors) else 0.0

    @property
    def max_orientation_error(self) -> float:
        return float(self.orientation_errors.max()) if len(self.orientation_errors) else 0.0


class WristPathSolver(Protocol):
    """Turns a wrist path into a joint path; DLS here, cuRobo/MoveIt planners could plug in."""

    def solve(self, wrist_path: WristTrajectory, current_joints: np.ndarray) -> JointPath:
        """Return joint positions for every waypoint, starting from `current_joints` (rad)."""
        ...


def _pose_to_se3(position: np.ndarray, quaternion: np.ndarray) -> pin.SE3:
    pose = Pose(position, quaternion)
    return pin.SE3(pose.rotation, pose.position)


class DampedLeastSquaresIk:
    """Solve the wrist path waypoint by waypoint with weighted, damped least squares."""

    def __init__(self, robot: RobotModel, config: IkConfig | None = None) -> None:
        self.robot = robot
        self.config = config or IkConfig()
        c = self.config
        self._lower = robot.limits.lower + c.limit_margin
        self._upper = robot.limits.upper - c.limit_margin
        self._sqrt_w = np.sqrt(np.array([c.position_weight] * 3 + [c.orientation_weight] * 3))
        self._sqrt_w_position_first = np.sqrt(np.array(
            [c.position_weight] * 3 + [c.orientation_weight * POSITION_FIRST] * 3))
        self._data = robot.model.createData()

    def _errors(self, q: np.ndarray, target: pin.SE3) -> tuple[pin.SE3, float, float]:
        pin.framesForwardKinematics(self.robot.model, self._data, q)
        current = self._data.oMf[self.robot.ee_frame_id]
        local = current.actInv(target)
        pos_err = float(np.linalg.norm(target.translation - current.translation))
        rot_err = float(np.linalg.norm(pin.log3(local.rotation)))
        return local, pos_err, rot_err

    def solve_pose(self, target: pin.SE3, q_start: np.ndarray,
                   position_first: bool = False) -> tuple[np.ndarray, float, float, int]:
        """Return (q, position error m, orientation error rad, iterations) for one EE target.
        position_first: the orientation weighted down by POSITION_FIRST."""
        c = self.config
        sqrt_w = self._sqrt_w_position_first if position_first else self._sqrt_w
        model, data, fid = self.robot.model, self._data, self.robot.ee_frame_id
        q = np.clip(np.asarray(q_start, dtype=np.float64), self._lower, self._upper)
        local, pos_err, rot_err = self._errors(q, target)
        damping = c.damping
        for iteration in range(c.max_iterations):
            if pos_err < c.convergence_position and (
                    c.orientation_weight == 0.0 or rot_err < c.convergence_orientation):
                return q, pos_err, rot_err, iteration
            err = pin.log6(local).vector
            jac = pin.computeFrameJacobian(model, data, q, fid, pin.ReferenceFrame.LOCAL)
            # d log6(current^-1 * target) / dq = -Jlog6(target^-1 * current) @ J_local
            jac = pin.Jlog6(local.inverse()) @ jac
            jw = sqrt_w[:, None] * jac
            ew = sqrt_w * err
            cost = float(ew @ ew)
            hess = jw.T @ jw
            grad = jw.T @ ew
            while True:
                step = np.linalg.solve(hess + damping * np.eye(len(q)), grad)
                scale = np.max(np.abs(step)) / c.max_step
                if scale > 1.0:
                    step /= scale
                q_new = np.clip(q + step, self._lower, self._upper)
                local_new, pos_new, rot_new = self._errors(q_new, target)
                ew_new = sqrt_w * pin.log6(local_new).vector
                if float(ew_new @ ew_new) < cost or damping > 1e6:
                    break
                damping *= 10.0
            if float(ew_new @ ew_new) >= cost:
                break  # no descent even with heavy damping: a local minimum or the limits
            q, local, pos_err, rot_err = q_new, local_new, pos_new, rot_new
            damping = max(damping * 0.3, 1e-6)
        return q, pos_err, rot_err, c.max_iterations

    def acceptable(self, pos_err: float, rot_err: float) -> bool:
        """Whether residuals (m, rad) are within the tolerances."""
        c = self.config
        return pos_err <= c.position_tolerance and (
            c.orientation_weight == 0.0 or rot_err <= c.orientation_tolerance)

    def _solve_through(self, q_prev: np.ndarray, start: pin.SE3, goal: pin.SE3) -> tuple[
            np.ndarray, float, float, int]:
        """Reach `goal` via intermediate poses from `start` (the pose at `q_prev`)."""
        n = self.config.max_subdivisions
        times = np.array([0.0, 1.0])
        positions = np.stack([start.translation, goal.translation])
        quats = np.stack([pin.Quaternion(start.rotation).coeffs(),
                          pin.Quaternion(goal.rotation).coeffs()])
        pos, rot = interpolate_poses(times, positions, quats, np.linspace(0.0, 1.0, n + 1)[1:])
        q = q_prev
        total = 0
        pos_err = rot_err = float('inf')
        for p, r in zip(pos, rot):
            q, pos_err, rot_err, it = self.solve_pose(_pose_to_se3(p, r), q)
            total += it
        return q, pos_err, rot_err, total

    def solve_waypoint(self, target: pin.SE3, q_prev: np.ndarray, prev_pose: pin.SE3) -> tuple[
            np.ndarray, float, float, int]:
        """One waypoint of a path, warm-started from the previous one's solution `q_prev` (its
        pose `prev_pose`): directly; else through interpolated intermediate poses; else, stuck
        against a joint limit, the position first (the redundant joints move off the limit),
        then the full pose from there. Returns (q, position error m, orientation error rad,
        iterations) of the last try."""
        q, pos_err, rot_err, it = self.solve_pose(target, q_prev)
        if not self.acceptable(pos_err, rot_err):
            q, pos_err, rot_err, it2 = self._solve_through(q_prev, prev_pose, target)
            it += it2
        if not self.acceptable(pos_err, rot_err) and self.config.orientation_weight > 0.0:
            q_pos, _, _, it2 = self.solve_pose(target, q_prev, position_first=True)
            q, pos_err, rot_err, it3 = self.solve_pose(target, q_pos)
            it += it2 + it3
        return q, pos_err, rot_err, it

    def check_frame(self, wrist_path: WristTrajectory) -> None:
        """Raise PathFrameError unless the path is in the robot's base frame."""
        if wrist_path.frame_id not in self.robot.base_frame_names:
            raise PathFrameError(
                f'{self.robot.name}: wrist path is in frame {wrist_path.frame_id!r}, expected '
                f'the robot base frame ({" or ".join(self.robot.base_frame_names)})')

    def solve(self, wrist_path: WristTrajectory, current_joints: np.ndarray) -> JointPath:
        """Return joint positions for every waypoint, warm-started from `current_joints` (rad)."""
        self.check_frame(wrist_path)
        q_prev = np.asarray(current_joints, dtype=np.float64)
        if q_prev.shape != (self.robot.num_joints,):
            raise ValueError(f'{self.robot.name}: current joint state must have '
                             f'{self.robot.num_joints} values, got shape {q_prev.shape}')
        prev_pose = self.robot.ee_placement(q_prev)
        n = wrist_path.num_frames
        qs = np.zeros((n, self.robot.num_joints))
        pos_errs, rot_errs = np.zeros(n), np.zeros(n)
        iters = np.zeros(n, dtype=np.int64)
        for i in range(n):
            target = _pose_to_se3(wrist_path.positions[i], wrist_path.quaternions[i])
            q, pos_err, rot_err, it = self.solve_waypoint(target, q_prev, prev_pose)
            if not self.acceptable(pos_err, rot_err):
                c = self.config
                raise UnreachablePathError(i, float(wrist_path.times[i]), pos_err, rot_err,
                                           c.position_tolerance, c.orientation_tolerance,
                                           self.robot.name)
            qs[i], pos_errs[i], rot_errs[i], iters[i] = q, pos_err, rot_err, it
            q_prev, prev_pose = q, target
        return JointPath(wrist_path.times.copy(), self.robot.joint_names, qs,
                         np.asarray(current_joints, dtype=np.float64).copy(), pos_errs,
                         rot_errs, iters)
