"""What every node of the workspace shares: QoS choices, parameter descriptions, main()."""

from __future__ import annotations

import os
from collections.abc import Callable

import rclpy
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
"""Pipeline artifacts: reliable, and kept for late subscribers (RViz, `ros2 topic echo`)."""


def describe(text: str) -> ParameterDescriptor:
    """Return a parameter descriptor carrying `text` (shown by `ros2 param describe`)."""
    return ParameterDescriptor(description=text)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None,
             multithreaded: bool = False) -> None:
    """Init rclpy, spin the node until Ctrl-C or shutdown, then clean up (the node's `close()`
    first, when it has one).

    multithreaded: at least 4 threads, so that a callback blocked on a long goal (a plan, a
    moving robot) leaves others to serve cancels, action clients and subscriptions.
    """
    rclpy.init(args=args)
    try:
        node = make_node()
    except BaseException:
        rclpy.try_shutdown()
        raise
    executor = MultiThreadedExecutor(num_threads=max(4, os.cpu_count() or 1)) \
        if multithreaded else None
    try:
        rclpy.spin(node, executor=executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        close = getattr(node, 'close', None)
        if callable(close):
            close()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
