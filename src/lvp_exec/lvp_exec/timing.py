"""Time parameterization of a joint path with TOPP-RA under joint velocity/acceleration limits.

The joint path (current state, then one IK solution per wrist waypoint) is interpolated by a
clamped cubic spline whose parameter s is the plan's clock (a joint whose cubic would leave its
position limits, inset by `limit_margin`, between waypoints is interpolated by a shape-preserving
PCHIP instead, which never leaves the range of its neighbouring waypoints): the current state
sits at s = 0, the first waypoint at s = `approach_time` (long enough to get there slowly),
waypoint i at approach_time + (t_i - t_0). TOPP-RA then finds the fastest s(t) under the
scaled joint limits.

Plan timing as a lower bound (`follow_plan_timing`, default on): the demonstration's own pace
is the intended one (and gripper/hand events are timed on it), so the robot never runs ahead of
it. This is done by adding the plan clock itself as a virtual joint with speed limit 1
(ds/dt <= 1): where the robot's limits allow, execution follows the plan in real time; where
they do not, it slows down locally. `TimedPath.execution_time` maps plan times to execution times.

The output is sampled at `control_rate` on a uniform grid from t = 0 (exactly the current state,
zero velocity) to the first sample at or after the end (holding the final state, zero velocity).
Samples are checked against the scaled limits and the parameterization is redone with tighter
internal limits if TOP-RA's discretization overshoots between its gridpoints.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import toppra
import toppra.algorithm
import toppra.constraint
from lvp_common.artifacts import JointTrajectory
from scipy.interpolate import CubicSpline, PchipInterpolator
from toppra.interpolator import AbstractGeometricPath

from lvp_exec.ik import JointPath
from lvp_exec.robots import JointLimits


class TimingError(RuntimeError):
    """The joint path cannot be time-parameterized under the limits."""


@dataclass(frozen=True)
class TimingConfig:
    """Time-parameterization parameters."""

    control_rate: float = 100.0
    """Output sample rate (Hz)."""
    velocity_scale: float = 0.5
    """Fraction of each joint's velocity limit the trajectory may use."""
    acceleration_scale: float = 0.5
    """Fraction of each joint's acceleration limit the trajectory may use."""
    follow_plan_timing: bool = True
    """Never run ahead of the plan's own timing (see the module docstring)."""
    approach_speed_scale: float = 0.25
    """The approach from the current state to the first waypoint is given plan time for moving
    at this fraction of the velocity limits (only a lower bound on its duration)."""
    min_approach_time: float = 0.5
    """Least plan time (s) for the approach when the current state is not at the first waypoint."""
    gridpoints_per_second: float = 100.0
    """TOPP-RA gridpoints per second of plan time (at least 100 in all, plus every knot)."""
    max_retries: int = 6
    limit_margin: float = 0.01
    """Interpolation must stay this far (rad) inside the position limits (the safety filter's
    margin); a joint whose cubic spline would not is interpolated by PCHIP."""

    def __post_init__(self) -> None:
        if self.control_rate <= 0.0:
            raise ValueError(f'TimingConfig.control_rate must be > 0 Hz, got {self.control_rate}')
        for name in ('velocity_scale', 'acceleration_scale', 'approach_speed_scale'):
            value = getattr(self, name)
            if not 0.0 < value <= 1.0:
                raise ValueError(f'TimingConfig.{name} must be in (0, 1], got {value}')


@dataclass(frozen=True)
class TimedPath:
    """A time-parameterized joint path.

    trajectory: samples at the control rate, t = 0 at the current state.
    waypoint_times: execution time (s) at which each IK waypoint is reached.
    plan_times: the wrist path's timestamps of those waypoints (s, plan clock).
    """

    trajectory: JointTrajectory
    waypoint_times: np.ndarray
    plan_times: np.ndarray

    def execution_time(self, plan_time) -> np.ndarray:
        """Map plan-clock times (s) to execution times (s); clamps outside the plan."""
        return np.interp(plan_time, self.plan_times, self.waypoint_times)


class _JointSplinePath(AbstractGeometricPath):
    """Per-joint interpolants of the path parameter s (scipy CubicSpline or PchipInterpolator)."""

    def __init__(self, knots: np.ndarray, interpolants: list) -> None:
        self._knots = knots
        self._interpolants = interpolants

    @property
    def dof(self) -> int:
        return len(self._interpolants)

    @property
    def path_interval(self):
        return np.array([self._knots[0], self._knots[-1]])

    def __call__(self, path_positions, order: int = 0) -> np.ndarray:
        ss = np.atleast_1d(np.asarray(path_positions, dtype=np.float64))
        out = np.stack([f(ss, order) for f in self._interpolants], axis=1)
        return out[0] if np.ndim(path_positions) == 0 else out


def _joint_spline(s_knots: np.ndarray, waypoints: np.ndarray, limits: JointLimits,
                  margin: float) -> tuple[_JointSplinePath, tuple[int, ...]]:
    """Clamped cubic per joint; PCHIP for a joint whose cubic leaves its inset limits (the
    cubic overshoots where the path turns sharply, e.g. leaving a joint limit the IK held).
    Returns the path and the indices of the PCHIP joints."""
    dense = np.linspace(s_knots[0], s_knots[-1], max(2000, 20 * len(s_knots)))
    interpolants, pchip = [], []
    for j in range(waypoints.shape[1]):
        cubic = CubicSpline(s_knots, waypoints[:, j], bc_type='clamped')
        values = cubic(dense)
        low = min(limits.lower[j] + margin, float(waypoints[:, j].min()))
        high = max(limits.upper[j] - margin, float(waypoints[:, j].max()))
        if values.min() < low or values.max() > high:
            interpolants.append(PchipInterpolator(s_knots, waypoints[:, j]))
            pchip.append(j)
        else:
            interpolants.append(cubic)
    return _JointSplinePath(s_knots, interpolants), tuple(pchip)


class _PlanClockPath(AbstractGeometricPath):
    """A joint path with the path parameter appended as a last, virtual joint."""

    def __init__(self, spline: AbstractGeometricPath) -> None:
        self._spline = spline

    @property
    def dof(self) -> int:
        return self._spline.dof + 1

    @property
    def path_interval(self):
        return self._spline.path_interval

    def __call__(self, path_positions, order: int = 0) -> np.ndarray:
        ss = np.atleast_1d(np.asarray(path_positions, dtype=np.float64))
        joints = np.asarray(self._spline(ss, order)).reshape(len(ss), -1)
        clock = ss if order == 0 else np.full(len(ss), 1.0 if order == 1 else 0.0)
        out = np.concatenate([joints, clock[:, None]], axis=1)
        return out[0] if np.ndim(path_positions) == 0 else out


def _knots(path: JointPath, limits: JointLimits, config: TimingConfig) -> tuple[
        np.ndarray, np.ndarray, int]:
    """Return spline knots s, waypoints (K, J) and the knot index of the first IK waypoint."""
    start = np.asarray(path.start, dtype=np.float64)
    first = path.positions[0]
    if np.max(np.abs(first - start)) < 1e-6:
        waypoints = np.vstack([start, path.positions[1:]])
        offset, first_index = 0.0, 0
        s_prefix = np.zeros(0)
    else:
        speed = config.approach_speed_scale * config.velocity_scale * limits.velocity
        offset = max(config.min_approach_time, float(np.max(np.abs(first - start) / speed)))
        waypoints = np.vstack([start, path.positions])
        first_index = 1
        s_prefix = np.zeros(1)
    s = np.concatenate([s_prefix, offset + (path.times - path.times[0])])
    if not config.follow_plan_timing:
        # Chord length in joint space: the plan's pace is ignored, only the geometry is kept.
        steps = np.maximum(np.max(np.abs(np.diff(waypoints, axis=0)), axis=1), 1e-6)
        s = np.concatenate([[0.0], np.cumsum(steps)])
    return s, waypoints, first_index


def _evaluate(path: AbstractGeometricPath, grid: np.ndarray, sd: np.ndarray,
              times: np.ndarray, num_joints: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                           np.ndarray]:
    """Evaluate q, qd, qdd at `times` for a constant-path-acceleration parameterization."""
    dt_grid = 2.0 * np.diff(grid) / np.maximum(sd[:-1] + sd[1:], 1e-12)
    t_grid = np.concatenate([[0.0], np.cumsum(dt_grid)])
    sdd = (sd[1:] ** 2 - sd[:-1] ** 2) / (2.0 * np.diff(grid))
    t = np.clip(times, 0.0, t_grid[-1])
    seg = np.clip(np.searchsorted(t_grid, t, side='right') - 1, 0, len(grid) - 2)
    tau = t - t_grid[seg]
    s = np.minimum(grid[seg] + sd[seg] * tau + 0.5 * sdd[seg] * tau ** 2, grid[-1])
    s_dot = np.maximum(sd[seg] + sdd[seg] * tau, 0.0)
    s_ddot = sdd[seg]
    q = path(s, 0)[:, :num_joints]
    dq = path(s, 1)[:, :num_joints]
    ddq = path(s, 2)[:, :num_joints]
    qd = dq * s_dot[:, None]
    qdd = ddq * s_dot[:, None] ** 2 + dq * s_ddot[:, None]
    # At and after the end the arm is at rest.
    done = times >= t_grid[-1]
    qd[done] = 0.0
    qdd[done] = 0.0
    return q, qd, qdd, t_grid


GRID_DENSITIES = (1.0, 0.7, 1.3, 0.5, 1.6)
"""TOPP-RA gridpoint densities tried, in order, as factors of `gridpoints_per_second`: where
a spline's second derivative jumps at a knot (PCHIP joints), a grid can make TOPP-RA's
backward pass degenerate (a controllable set of zero width, then NaN) although every
feasible set is non-empty; another grid over the same path does not."""


def _grid(s_knots: np.ndarray, config: TimingConfig, density: float) -> np.ndarray:
    """TOPP-RA gridpoints over [0, s_knots[-1]]: uniform, every knot included."""
    n_grid = max(100, int(np.ceil(s_knots[-1] * config.gridpoints_per_second * density)))
    if not config.follow_plan_timing:
        n_grid = max(100, int(4 * len(s_knots) * density))
    uniform = np.linspace(0.0, s_knots[-1], n_grid + 1)
    # Every knot is a gridpoint; uniform points within a third of the spacing of a knot are
    # dropped (a sliver interval next to a knot where the path's curvature jumps makes TOP-RA's
    # controllable sets numerically degenerate).
    gap = np.min(np.abs(uniform[:, None] - s_knots[None, :]), axis=1)
    return np.union1d(uniform[gap > s_knots[-1] / n_grid / 3.0], s_knots)


def _solve(constraints: list, geometric: AbstractGeometricPath, s_knots: np.ndarray,
           config: TimingConfig) -> Any:
    """TOPP-RA's problem data on the first grid of GRID_DENSITIES that gives a solution (the
    last try's when none does)."""
    data: Any = None
    for density in GRID_DENSITIES:
        instance = toppra.algorithm.TOPPRA(constraints, geometric,
                                           gridpoints=_grid(s_knots, config, density),
                                           parametrizer='ParametrizeConstAccel')
        instance.compute_parameterization(0.0, 0.0)
        data = instance.problem_data
        if data.return_code == toppra.algorithm.ParameterizationReturnCode.Ok:
            break
    return data


def parameterize(path: JointPath, limits: JointLimits,
                 config: TimingConfig | None = None) -> TimedPath:
    """Time-parameterize `path` from its start state at rest to its last waypoint at rest."""
    config = config or TimingConfig()
    num_joints = len(path.joint_names)
    if path.positions.shape[1] != num_joints or len(limits.velocity) != num_joints:
        raise TimingError(f'joint path has {path.positions.shape[1]} joints, limits have '
                          f'{len(limits.velocity)}, names {num_joints}')
    s_knots, waypoints, first_index = _knots(path, limits, config)
    if len(waypoints) < 2:
        raise TimingError('joint path has a single configuration: nothing to move')
    spline, _ = _joint_spline(s_knots, waypoints, limits, config.limit_margin)
    geometric: AbstractGeometricPath = spline
    v_max = config.velocity_scale * limits.velocity
    a_max = config.acceleration_scale * limits.acceleration
    if config.follow_plan_timing:
        geometric = _PlanClockPath(spline)
    shrink = 1.0
    dt = 1.0 / config.control_rate
    for _attempt in range(config.max_retries):
        v_lim, a_lim = shrink * v_max, shrink * a_max
        if config.follow_plan_timing:
            v_lim = np.append(v_lim, 1.0)
            a_lim = np.append(a_lim, 1e9)  # the plan clock itself may change pace abruptly
        constraints = [
            toppra.constraint.JointVelocityConstraint(np.stack([-v_lim, v_lim], axis=1)),
            toppra.constraint.JointAccelerationConstraint(
                np.stack([-a_lim, a_lim], axis=1),
                discretization_scheme=toppra.constraint.DiscretizationType.Interpolation),
        ]
        data = _solve(constraints, geometric, s_knots, config)
        if data.return_code != toppra.algorithm.ParameterizationReturnCode.Ok:
            raise TimingError(f'TOPP-RA failed ({data.return_code}) on a path of '
                              f'{len(waypoints)} waypoints, on each of the grids '
                              f'{GRID_DENSITIES} x {config.gridpoints_per_second:g} per s')
        sd = np.maximum(np.asarray(data.sd_vec, dtype=np.float64), 0.0)
        grid_used = np.asarray(data.gridpoints, dtype=np.float64)
        _, _, _, t_grid = _evaluate(geometric, grid_used, sd, np.zeros(1), num_joints)
        duration = float(t_grid[-1])
        times = np.arange(int(np.ceil(duration / dt - 1e-9)) + 1) * dt
        q, qd, qdd, _ = _evaluate(geometric, grid_used, sd, times, num_joints)
        ratio = max(float(np.max(np.abs(qd) / v_max)), float(np.max(np.abs(qdd) / a_max)))
        if ratio <= 1.0:
            q[0] = path.start  # bit-exact start state
            knot_times = np.interp(s_knots, grid_used, t_grid)
            trajectory = JointTrajectory(times, path.joint_names, q, qd, qdd)
            return TimedPath(trajectory, knot_times[first_index:], path.times.copy())
        shrink /= ratio * 1.02
    raise TimingError(f'sampled trajectory still exceeds the scaled limits after '
                      f'{config.max_retries} attempts (last ratio {ratio:.3f})')
