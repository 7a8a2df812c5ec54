"""Benchmark lvp_exec: IK ms per waypoint, TOPP-RA and safety-filter ms per path (the latter with
and without the link-hull check), Panda and G1 arm (CPU)."""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
from lvp_exec.ik import DampedLeastSquaresIk
from lvp_exec.robots import load_robot
from lvp_exec.safety import SafetyFilter, SafetyViolationError, default_safety_config
from lvp_exec.synthetic_paths import smooth_joint_path, wrist_path_from_joints
from lvp_exec.timing import parameterize


def benchmark(robot_name: str, num_paths: int, num_frames: int, seed: int) -> dict[str, float]:
    """Return mean/max IK ms per waypoint, TOPP-RA and safety ms per path, the worst IK
    residuals."""
    robot = load_robot(robot_name)
    solver = DampedLeastSquaresIk(robot)
    config = default_safety_config(robot)
    with_links = SafetyFilter(robot, config)
    origins_only = SafetyFilter(robot, replace(config, obstacles=()))
    rng = np.random.default_rng(seed)
    ik_ms, topp_ms, pos_err, rot_err, safety_ms, origins_ms = [], [], [], [], [], []
    samples: list[int] = []
    refused = [0, 0]  # without, with the link hulls
    for _ in range(num_paths):
        joints = smooth_joint_path(robot, rng, num_frames=num_frames, amplitude=0.8)
        wrist_path = wrist_path_from_joints(robot, joints)
        current = joints[0] + rng.normal(0.0, 0.05, robot.num_joints)
        start = time.perf_counter()
        path = solver.solve(wrist_path, current)
        ik_ms.append(1000.0 * (time.perf_counter() - start) / num_frames)
        start = time.perf_counter()
        trajectory = parameterize(path, robot.limits).trajectory
        samples.append(len(trajectory.times))
        topp_ms.append(1000.0 * (time.perf_counter() - start))
        for safety, times in ((with_links, safety_ms), (origins_only, origins_ms)):
            start = time.perf_counter()
            try:
                safety.check(trajectory, current)
            except SafetyViolationError:  # random paths may come near the table: still timed
                refused[safety is with_links] += 1
            times.append(1000.0 * (time.perf_counter() - start))
        pos_err.append(path.max_position_error)
        rot_err.append(path.max_orientation_error)
    return {'ik_ms_per_waypoint_mean': float(np.mean(ik_ms)),
            'ik_ms_per_waypoint_max': float(np.max(ik_ms)),
            'toppra_ms_per_path_mean': float(np.mean(topp_ms)),
            'toppra_ms_per_path_max': float(np.max(topp_ms)),
            'safety_ms_per_path_mean': float(np.mean(safety_ms)),
            'safety_without_link_hulls_ms_per_path_mean': float(np.mean(origins_ms)),
            'trajectory_samples_mean': float(np.mean(samples)),
            'paths_refused_with_link_hulls': float(refused[1]),
            'paths_refused_without': float(refused[0]),
            'ik_position_error_mm_max': 1000.0 * float(np.max(pos_err)),
            'ik_orientation_error_deg_max': float(np.degrees(np.max(rot_err)))}


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--robots', nargs='+', default=['panda', 'g1_right_arm'])
    parser.add_argument('--paths', type=int, default=20, help='random paths per robot')
    parser.add_argument('--frames', type=int, default=49, help='waypoints per path')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for name in args.robots:
        stats = benchmark(name, args.paths, args.frames, args.seed)
        print(f'{name}: ' + ', '.join(f'{k} = {v:.3f}' for k, v in stats.items()))


if __name__ == '__main__':
    main()
