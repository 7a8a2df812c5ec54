"""What every node of the workspace shares: QoS choices, parameter descriptions, main()."""

from __future__ import annotations

import os
import signal
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
    """Init rclpy, spin the node until Ctrl-C or shutdown, then clean up quietly (the node's
    `close()` first, when it has one).

    multithreaded: at least 4 threads, so that a callback blocked on a long goal (a plan, a
    moving robot) leaves others to serve cancels, action clients and subscriptions.
    """
    rclpy.init(args=args)
    node: Node | None = None
    try:
        node = make_node()
        executor = MultiThreadedExecutor(num_threads=max(4, os.cpu_count() or 1)) \
            if multithreaded else None
        rclpy.spin(node, executor=executor)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass  # Ctrl-C, or `ros2 launch` stopping the node: how a node is meant to end
    finally:
        # a second Ctrl-C (launch sends SIGINT to every node) must not cut close() short: it
        # stops the robot
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if node is not None:
            close = getattr(node, 'close', None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()
