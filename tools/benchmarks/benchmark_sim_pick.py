"""Benchmark the MuJoCo sim backend: scripted cube picks of both embodiments in the lvp_sim world.

For each robot (Panda + Franka hand, G1 right arm + Inspire hand) and each cube placement seed:
the lift with the gripper/hand closing and without (the control), tracking errors during the
pick and in free motion, and simulated-vs-wall time (physics only; rendering separately).
`--out DIR` writes the first pick's scene-camera and overview videos and a few PNG frames.

    python tools/benchmarks/benchmark_sim_pick.py --seeds 0 1 2 --out /tmp/sim_out
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from lvp_exec.embodiment_hardware import hardware_for_robot
from lvp_exec.execution import ExecutionRequest
from lvp_exec.ik import DampedLeastSquaresIk
from lvp_exec.robots import load_robot
from lvp_exec.synthetic_paths import smooth_joint_path, wrist_path_from_joints
from lvp_exec.timing import parameterize
from lvp_sim.mujoco_executor import MujocoExecutor, SimConfig, write_video
from lvp_sim.scripted_pick import scripted_pick
from lvp_sim.tasks import TaskKind, TaskSpec, evaluate_task
from lvp_sim.world import world_config_for

LIFT = TaskSpec('reach_grasp_lift', TaskKind.LIFT, 'cube')


def _layout(robot, seed: int):
    """The embodiment's layout with the cube moved by up to +-2 cm and turned by +-0.2 rad."""
    layout = world_config_for(hardware_for_robot(robot).name)
    if seed == 0:
        return layout
    rng = np.random.default_rng(seed)
    dx, dy = rng.uniform(-0.02, 0.02, 2)
    return dataclasses.replace(layout, cube_xy=(layout.cube_xy[0] + dx, layout.cube_xy[1] + dy),
                               cube_yaw=float(rng.uniform(-0.2, 0.2)))


def benchmark(robot_name: str, seeds: list[int], out: Path | None) -> list[dict]:
    robot = load_robot(robot_name)
    rows = []
    for seed in seeds:
        layout = _layout(robot, seed)
        executor = MujocoExecutor(layout)
        row: dict = {'robot': robot_name, 'seed': seed}
        for close in (True, False):
            pick = scripted_pick(robot, layout, close=close)
            start = time.perf_counter()
            result = executor.execute(pick.request)
            wall = time.perf_counter() - start
            outcome = evaluate_task(LIFT, result.initial_state, result.final_state)
            key = 'closed' if close else 'open'
            row[f'lift_cm_{key}'] = 100.0 * outcome.measured
            row[f'success_{key}'] = outcome.success
            if close:
                row['trajectory_s'] = result.executed.duration
                row['wall_s_per_traj_s'] = wall / result.executed.duration
                row['pick_joint_err_mrad'] = 1000.0 * result.max_tracking_error
                row['pick_ee_err_mm'] = 1000.0 * result.max_ee_error
        joints = smooth_joint_path(robot, np.random.default_rng(seed), amplitude=0.3)
        path = DampedLeastSquaresIk(robot).solve(wrist_path_from_joints(robot, joints),
                                                 robot.home)
        free = executor.execute(ExecutionRequest(robot, parameterize(path, robot.limits)
                                                 .trajectory))
        row['free_joint_err_mrad'] = 1000.0 * free.max_tracking_error
        row['free_ee_err_mm'] = 1000.0 * free.max_ee_error
        executor.close()
        rows.append(row)
    if out is not None:
        render(robot, out)
    return rows


def render(robot, out: Path, fps: float = 10.0) -> None:
    """Write the nominal pick's scene-camera and overview videos and five PNG frames each."""
    import imageio.v2 as imageio

    out.mkdir(parents=True, exist_ok=True)
    config = SimConfig(render_fps=fps, overview=True, overview_width=480, overview_height=360)
    executor = MujocoExecutor(config=config)
    pick = scripted_pick(robot, world_config_for(hardware_for_robot(robot).name))
    start = time.perf_counter()
    result = executor.execute(pick.request)
    seconds = time.perf_counter() - start
    executor.close()
    name = hardware_for_robot(robot).name
    write_video(result.frames, out / f'pick_{name}.mp4', fps)
    write_video(result.overview_frames, out / f'pick_{name}_overview.mp4', fps)
    picks = np.linspace(0, len(result.frames) - 1, 5).astype(int)
    for i in picks:
        imageio.imwrite(out / f'pick_{name}_{i:03d}.png', result.frames[i])
        imageio.imwrite(out / f'pick_{name}_overview_{i:03d}.png', result.overview_frames[i])
    print(f'{name}: {len(result.frames)} frames of {result.frames.shape[2]}x'
          f'{result.frames.shape[1]} + overview in {seconds:.1f} s (with physics) -> {out}')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description='Scripted cube picks in the MuJoCo sim backend.')
    parser.add_argument('--robots', nargs='+', default=['panda', 'g1_right_arm'])
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--out', type=Path, default=None, help='write videos/PNGs here')
    args = parser.parse_args(argv)
    columns = ('robot', 'seed', 'lift_cm_closed', 'lift_cm_open', 'trajectory_s',
               'wall_s_per_traj_s', 'pick_joint_err_mrad', 'pick_ee_err_mm',
               'free_joint_err_mrad', 'free_ee_err_mm')
    print(' '.join(f'{c:>14s}' for c in columns))
    for robot in args.robots:
        for row in benchmark(robot, args.seeds, args.out):
            print(' '.join(f'{row[c]:>14.3f}' if isinstance(row[c], float) else f'{row[c]!s:>14s}'
                           for c in columns))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
