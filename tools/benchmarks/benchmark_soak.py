"""Soak plan_and_execute: N sequential plan_only goals; print its RSS after each and the growth.

Starts a demonstration_planner (serving lvp_sim's synthetic reach-grasp-lift demonstration,
written as a video) and plan_and_execute as their own processes over loopback, as the launch
files do, and sends plan_only goals carrying the demonstration's RGB-D observation (hand
tracking, reconstruction, grasp, IK, timing, safety, archive, publishing all run). RSS is read
from /proc after each result. Target (issue 23): growth after goal 10 < 1 MB/goal (least-squares
slope over goals 10..N).

    .venv/bin/python tools/benchmarks/benchmark_soak.py [--goals 100] [--frames 17]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'test'))


def rss_mb(pid: int) -> float:
    """Resident set size of process `pid`, MB."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f'no VmRSS for process {pid}')


def main(argv: list[str] | None = None) -> int:
    """Run the soak and print RSS per goal and the growth after goal 10."""
    parser = argparse.ArgumentParser(description='plan_and_execute RSS over sequential goals.')
    parser.add_argument('--goals', type=int, default=100)
    parser.add_argument('--frames', type=int, default=17, help='plan length, frames')
    parser.add_argument('--domain-id', type=int, default=91)
    args = parser.parse_args(argv)

    import rclpy
    from lvp_common.ros.conversions import (
        intrinsics_to_camera_info,
        make_header,
        metres_to_depth_image,
        rgb8_to_image,
    )
    from lvp_common.video_io import write_video
    from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration
    from rclpy.action import ActionClient
    from ros_helpers import RosContext, spin_until, start_node, stop_node

    from lvp_common import topics
    from lvp_interfaces.action import PlanAndExecute

    demo = render_demonstration(DemonstrationConfig(num_frames=args.frames))
    obs = demo.observation
    assert obs.depth is not None and obs.intrinsics is not None and obs.camera_to_base is not None
    header = make_header(obs.camera_frame)
    goal = PlanAndExecute.Goal(task='pick up the green cube', plan_only=True,
                               image=rgb8_to_image(obs.rgb, header),
                               depth=metres_to_depth_image(obs.depth, header),
                               camera_info=intrinsics_to_camera_info(obs.intrinsics, header))
    pose = obs.camera_to_base
    camera_to_base = '[' + ','.join(f'{v:.9f}' for v in (*pose.position, *pose.quaternion)) + ']'
    work = Path(tempfile.mkdtemp(prefix='lvp-soak-'))
    video = write_video(work / 'demo.mp4', demo.plan.frames, demo.plan.fps)
    planner = start_node('lvp_planner.demonstration_node', {'video_path': video},
                         args.domain_id, log=work / 'planner.log')
    server = start_node('lvp_bringup.plan_and_execute_node',
                        {'camera_to_base': camera_to_base, 'archive_dir': work / 'archives',
                         'archive_keep': 5, 'planner_wait_s': 60.0}, args.domain_id,
                        log=work / 'plan_and_execute.log')
    rss: list[float] = []
    codes: list[int] = []
    started = time.monotonic()
    try:
        with RosContext(args.domain_id) as context:
            node = rclpy.create_node('soak_client', context=context)
            client = ActionClient(node, PlanAndExecute, topics.PLAN_AND_EXECUTE_ACTION)
            if not spin_until(node, client.server_is_ready, 120.0):
                raise SystemExit('plan_and_execute did not start')
            for k in range(args.goals):
                sent = client.send_goal_async(goal)
                spin_until(node, sent.done, 60.0)
                handle = sent.result()
                if handle is None or not handle.accepted:
                    raise SystemExit(f'goal {k + 1} was not accepted')
                answer = handle.get_result_async()
                if not spin_until(node, answer.done, 600.0):
                    raise SystemExit(f'goal {k + 1}: no result')
                codes.append(answer.result().result.error_code)
                rss.append(rss_mb(server.pid))
                print(f'goal {k + 1:3d}: error_code {codes[-1]}, RSS {rss[-1]:7.1f} MB '
                      f'(planner {rss_mb(planner.pid):7.1f} MB), '
                      f'{time.monotonic() - started:6.0f} s', flush=True)
            node.destroy_node()
    finally:
        stop_node(server)
        stop_node(planner)
    print(f'{len(rss)} plan_only goals ({args.frames}-frame plans), '
          f'{sum(c == 0 for c in codes)} SUCCESS; node logs in {work}')
    tenth = min(10, len(rss))
    print(f'RSS: goal 1 {rss[0]:.1f} MB, goal {tenth} {rss[tenth - 1]:.1f} MB, '
          f'last {rss[-1]:.1f} MB')
    if len(rss) >= 12:
        goals = np.arange(10, len(rss) + 1)
        slope = float(np.polyfit(goals, np.array(rss[9:]), 1)[0])
        print(f'growth after goal 10: {slope:+.3f} MB/goal (least squares over goals '
              f'10..{len(rss)}; target < 1 MB/goal); total {rss[-1] - rss[9]:+.1f} MB')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
