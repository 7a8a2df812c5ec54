"""Reachable synthetic wrist paths (FK of smooth random joint paths), for tests and benchmarks."""

from __future__ import annotations

import dataclasses

import numpy as np
from lvp_common.artifacts import ROBOT_BASE_FRAME, JointTrajectory, WristTrajectory

from lvp_exec.robots import RobotModel


def smooth_joint_path(robot: RobotModel, rng: np.random.Generator, num_frames: int = 49,
                      amplitude: float = 0.5, limit_margin: float = 0.15,
                      start=None) -> np.ndarray:
    """Return a smooth random joint path (num_frames, J) inside the limits (inset, rad).

    It starts at `start` (default: the robot's home) and drifts to a random configuration
    within `amplitude` rad per joint, with a small sinusoidal wobble.
    """
    lo = robot.limits.lower + limit_margin
    hi = robot.limits.upper - limit_margin
    q0 = np.clip(robot.home if start is None else np.asarray(start, float), lo, hi)
    q1 = np.clip(q0 + rng.uniform(-amplitude, amplitude, robot.num_joints), lo, hi)
    s = np.linspace(0.0, 1.0, num_frames)[:, None]
    ease = 3.0 * s ** 2 - 2.0 * s ** 3
    wobble = 0.2 * amplitude * np.sin(np.pi * s) * rng.uniform(-1.0, 1.0, robot.num_joints)
    return np.clip(q0 + (q1 - q0) * ease + wobble, lo, hi)


def wrist_path_from_joints(robot: RobotModel, joint_path: np.ndarray, fps: float = 16.0,
                           frame_id: str = ROBOT_BASE_FRAME) -> WristTrajectory:
    """Return the EE poses of `joint_path` as a wrist path sampled at `fps`."""
    poses = [robot.ee_pose(q) for q in joint_path]
    return WristTrajectory(np.arange(len(poses)) / fps, np.array([p.position for p in poses]),
                           np.array([p.quaternion for p in poses]), frame_id, smoothed=True)


def jump_sideways(path: WristTrajectory, jump: float = 0.4, at: int | None = None,
                  dt: float = 0.001) -> WristTrajectory:
    """Return `path` with its waypoints from `at` (default: the middle) on moved `jump` m along
    y, the first of them `dt` s after the one before: a discontinuous path no robot follows."""
    at = path.num_frames // 2 if at is None else at
    positions = path.positions.copy()
    positions[at:, 1] += jump
    times = path.times.copy()
    times[at:] += times[at - 1] + dt - times[at]
    return dataclasses.replace(path, times=times, positions=positions)


def slow_joint_move(robot: RobotModel, start: np.ndarray, goal: np.ndarray,
                    dt: float = 0.01) -> JointTrajectory:
    """A quintic joint move start -> goal at rest at both ends, at most 30 % of the robot's
    speed and acceleration limits, sampled every `dt` s."""
    delta = np.asarray(goal, dtype=np.float64) - np.asarray(start, dtype=np.float64)
    duration = max(1.0, float(np.max(np.abs(delta) / (0.3 * robot.limits.velocity))),
                   float(np.sqrt(np.max(6.0 * np.abs(delta) /
                                        (0.3 * robot.limits.acceleration)))))
    t = np.arange(int(np.ceil(duration / dt)) + 1) * dt
    s = np.clip(t / duration, 0.0, 1.0)[:, None]
    blend = 10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5
    dblend = (30 * s ** 2 - 60 * s ** 3 + 30 * s ** 4) / duration
    ddblend = (60 * s - 180 * s ** 2 + 120 * s ** 3) / duration ** 2
    return JointTrajectory(t, robot.joint_names, start + blend * delta, dblend * delta,
                           ddblend * delta)

