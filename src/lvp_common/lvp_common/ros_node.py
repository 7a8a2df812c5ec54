"""What every node of the workspace shares: QoS choices, parameter descriptions, main()."""

from __future__ import annotations

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
    """Init rclpy, spin the node until Ctrl-C or shutdown, then clean up."""
    rclpy.init(args=args)
    try:
        node = make_node()
    except BaseException:
        rclpy.try_shutdown()
        raise
    try:
        rclpy.spin(node, executor=MultiThreadedExecutor() if multithreaded else None)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
