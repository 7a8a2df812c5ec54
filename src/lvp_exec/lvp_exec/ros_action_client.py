"""What the ROS action clients of the backends share: an rclpy node of their own
(`StandaloneRosNode`), waiting on futures, connecting to servers, goal statuses, and importing
an interface package only when a client is built (with an install hint when it is missing).

Threading: the clients block the calling thread while a goal runs and need the node they are
built on to be spun by an executor on *another* thread. Two ways to have that:
- from plain code: `with StandaloneRosNode(...) as ros:` gives a node in an rclpy context of
  its own, spun on a background thread; build the clients on `ros.node`;
- from a node of your own: spin it with a `MultiThreadedExecutor` and call the blocking methods
  from a thread or a callback group other than the clients' (each client uses its own
  reentrant group); with a `SingleThreadedExecutor`, calling them from a callback deadlocks.
"""

from __future__ import annotations

import enum
import importlib
import threading
from typing import Any

import rclpy
from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.context import Context
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)
from rclpy.task import Future

_INSTALL_HINT = {
    'control_msgs': 'install ros-$ROS_DISTRO-control-msgs (part of ros2_control) and source it',
    'franka_msgs': 'build franka_ros2 (it provides franka_msgs) and source its workspace',
}


class MissingInterfaceError(ImportError):
    """A ROS interface package the backend needs is not installed or not sourced."""


class ActionServerTimeoutError(TimeoutError):
    """No action server answered under the configured name in time."""


def import_interface(package: str, kind: str) -> Any:
    """Import `package.kind` (e.g. control_msgs.action), naming the package if it is missing."""
    try:
        return importlib.import_module(f'{package}.{kind}')
    except ImportError as exc:
        hint = _INSTALL_HINT.get(package, f'install and source {package}')
        raise MissingInterfaceError(
            f'the ros2_control backend needs the ROS package {package!r} ({package}.{kind} '
            f'could not be imported: {exc}); {hint}') from exc


class StandaloneRosNode:
    """An rclpy node in a context of its own, spun by an executor on a background thread.

    For using the clients from plain code: `with StandaloneRosNode('lvp_exec') as ros:
    FollowJointTrajectoryClient(ros.node).execute(trajectory)`. `threads` > 1 uses a
    MultiThreadedExecutor (action servers whose execute callbacks block need it).
    """

    def __init__(self, name: str = 'lvp_exec_backend', domain_id: int | None = None,
                 args: list[str] | None = None, threads: int = 1) -> None:
        self.context = Context()
        rclpy.init(args=args, context=self.context, domain_id=domain_id)
        try:
            self.node = rclpy.create_node(name, context=self.context)
        except BaseException:
            self.context.try_shutdown()
            raise
        self._executor = (MultiThreadedExecutor(num_threads=threads, context=self.context)
                          if threads > 1 else SingleThreadedExecutor(context=self.context))
        self._executor.add_node(self.node)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=f'{name}_spin', daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while not self._stop.is_set() and self.context.ok():
            try:
                self._executor.spin_once(timeout_sec=0.05)
            except ExternalShutdownException:
                break
            except Exception as exc:  # one failing callback must not stop the spinning
                self.node.get_logger().error(f'callback raised {exc!r}')

    def close(self) -> None:
        """Stop spinning, destroy the node and shut the context down."""
        self._stop.set()
        self._thread.join(timeout=5.0)
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        self.context.try_shutdown()

    def __enter__(self) -> StandaloneRosNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for(future: Future, timeout: float | None, what: str) -> Any:
    """Block until `future` is done (another thread spins its node) and return its result."""
    done = threading.Event()
    if not future.done():
        future.add_done_callback(lambda _future: done.set())
        if not future.done() and not done.wait(timeout):
            raise TimeoutError(
                f'{what}: no answer after {timeout:.1f} s (is the node spun by an executor on '
                'another thread? see lvp_exec.ros2_control_backend)')
    return future.result()


def connect_action(client: ActionClient, name: str, type_name: str, timeout: float) -> None:
    """Wait up to `timeout` s for the action server; ActionServerTimeoutError names it."""
    if not client.wait_for_server(timeout_sec=timeout):
        raise ActionServerTimeoutError(
            f'no {type_name} action server at {name!r} after {timeout:.1f} s; is the '
            'controller / gripper node running (and in this ROS_DOMAIN_ID)?')


class ExecutionStatus(str, enum.Enum):
    SUCCEEDED = 'succeeded'
    ABORTED = 'aborted'
    CANCELED = 'canceled'
    REJECTED = 'rejected'


_STATUS = {GoalStatus.STATUS_SUCCEEDED: ExecutionStatus.SUCCEEDED,
           GoalStatus.STATUS_CANCELED: ExecutionStatus.CANCELED,
           GoalStatus.STATUS_ABORTED: ExecutionStatus.ABORTED}


def execution_status(goal_status: int) -> ExecutionStatus:
    """The ExecutionStatus of an action_msgs GoalStatus value (unknown: ABORTED)."""
    return _STATUS.get(goal_status, ExecutionStatus.ABORTED)
