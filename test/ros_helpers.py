"""Start workspace nodes as real processes and talk to them over loopback.

Imported as `ros_helpers` by every test (pytest.ini puts test/ on the path)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import Executor, SingleThreadedExecutor
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


def spin_until(spinner: Node | Executor, done: Callable[[], bool], timeout_s: float) -> bool:
    """Spin a node (in a temporary executor) or an executor until done() or the timeout."""
    executor = spinner if isinstance(spinner, Executor) else SingleThreadedExecutor(
        context=spinner.context)
    if isinstance(spinner, Node):
        executor.add_node(spinner)
    deadline = time.monotonic() + timeout_s  # a hang guard, not a performance check
    try:
        while not done() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
    finally:
        if isinstance(spinner, Node):
            executor.remove_node(spinner)
    return done()


def send_goal(client, spinner: Node | Executor, goal, feedback=None, timeout_s: float = 20.0):
    """Send an action goal and return its (accepted or rejected) goal handle."""
    future = client.send_goal_async(goal, feedback_callback=feedback)
    assert spin_until(spinner, future.done, timeout_s), 'goal response never came'
    handle = future.result()
    assert handle is not None
    return handle


def goal_result(handle, spinner: Node | Executor, timeout_s: float = 120.0):
    """Wait for a goal's result message."""
    future = handle.get_result_async()
    assert spin_until(spinner, future.done, timeout_s), 'no result'
    return future.result().result


class RosContext:
    """An rclpy context of its own for a test, shut down on exit."""

    def __init__(self, domain_id: int) -> None:
        self.context = Context()
        rclpy.init(context=self.context, domain_id=domain_id)

    def __enter__(self) -> Context:
        return self.context

    def __exit__(self, *exc) -> None:
        self.context.try_shutdown()
