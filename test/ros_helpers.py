"""Start workspace nodes as real processes and talk to them over loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node


def start_node(module: str, params: dict[str, object], domain_id: int) -> subprocess.Popen:
    """Run `python -m module` with ROS parameters, in `domain_id`, limited to localhost."""
    args = [sys.executable, '-m', module, '--ros-args']
    for name, value in params.items():
        args += ['-p', f'{name}:={value}']
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               PYTHONUNBUFFERED='1')
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def stop_node(process: subprocess.Popen) -> str:
    """Interrupt the node, wait for it, and return what it printed."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    out, _ = process.communicate()
    return out or ''


def spin_until(node: Node, done: Callable[[], bool], timeout_s: float) -> bool:
    """Spin `node` until done() is true or the timeout passes; return done()."""
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    deadline = time.monotonic() + timeout_s
    try:
        while not done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        executor.remove_node(node)
    return done()


class RosContext:
    """An rclpy context of its own for a test, shut down on exit."""

    def __init__(self, domain_id: int) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)

    def __enter__(self) -> Context:
        return self.context

    def __exit__(self, *exc) -> None:
        self.context.try_shutdown()
