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


def start_node(module: str, params: dict[str, object], domain_id: int,
               log: str | os.PathLike | None = None) -> subprocess.Popen:
    """Run `python -m module` with ROS parameters, in `domain_id`, limited to localhost.

    Its output goes to a pipe that stop_node reads, or, for long runs (a full pipe would block
    the node), to the file `log`.
    """
    args = [sys.executable, '-m', module, '--ros-args']
    for name, value in params.items():
        args += ['-p', f'{name}:={value}']
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               PYTHONUNBUFFERED='1')
    if log is None:
        return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
    with open(log, 'w') as out:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)
    process.log_path = log  # type: ignore[attr-defined]
    return process


def stop_node(process: subprocess.Popen) -> str:
    """Interrupt the node, wait for it, and return what it printed."""
    if process.poll() is None:
        process.send_signal(2)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
    out, _ = process.communicate()
    log = getattr(process, 'log_path', None)
    return open(log).read() if log is not None else out or ''


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
    if not getattr(client, 'lvp_settled', False):
        # server_is_ready() says this client found the server, not that the server's response
        # writers found this client yet: a goal sent at once can lose its response under load
        # (Fast DDS: "failed to send response ... client will not receive response")
        spin_until(spinner, lambda: False, 1.0)
        client.lvp_settled = True
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


# --- TF ---------------------------------------------------------------------------------------
# tf2_msgs is the test-only fixture of test/fixtures (a real ROS install has the real one).


def static_transform_publisher(node: Node, parent: str, child: str, pose):
    """Publish `child`'s pose (lvp_common Pose) in `parent` on /tf_static, latched as tf2's
    static_transform_publisher does (reliable, transient local, depth 1); return the publisher."""
    from geometry_msgs.msg import TransformStamped
    from lvp_common.ros.conversions import make_header, pose_to_transform_msg
    from lvp_common.ros.tf_listener import TF_STATIC_TOPIC, tf_message_type
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

    tf_message = tf_message_type()
    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    publisher = node.create_publisher(tf_message, TF_STATIC_TOPIC, qos)
    publisher.publish(tf_message(transforms=[TransformStamped(
        header=make_header(parent), child_frame_id=child,
        transform=pose_to_transform_msg(pose))]))
    return publisher


# --- fake ros2_control / franka_gripper servers --------------------------------------------------
# control_msgs / franka_msgs are the test-only fixtures of test/fixtures (a real ROS install has
# the real ones); they are imported when a fake is built.

FR3_JOINTS = tuple(f'fr3_joint{i}' for i in range(1, 8))


class FakeTrajectoryController:
    """A joint_trajectory_controller stand-in: interpolates the goal over its time_from_start.

    `fail`: None (succeed), 'path' (path tolerance violated halfway) or 'goal' (goal tolerance
    violated at the end). Goals naming other joints than `joints` end with INVALID_JOINTS.
    With `joint_states_topic`, publishes sensor_msgs/JointState of its position (`initial`
    until a goal moves it) at 50 Hz, like joint_state_broadcaster.
    """

    def __init__(self, node, action, joints=FR3_JOINTS, joint_states_topic: str | None = None,
                 initial=None):
        import threading

        import numpy as np
        from control_msgs.action import FollowJointTrajectory
        from rclpy.action import ActionServer, CancelResponse
        from rclpy.callback_groups import ReentrantCallbackGroup

        self._action = FollowJointTrajectory
        self.joints = tuple(joints)
        self.fail: str | None = None
        self.goals: list = []
        self.canceled = threading.Event()
        self.started = threading.Event()
        self.last_position = None
        self.start_time: float | None = None
        self.initial = np.zeros(len(self.joints)) if initial is None else np.asarray(initial)
        self._node = node
        self._server = ActionServer(node, FollowJointTrajectory, action, self._execute,
                                    callback_group=ReentrantCallbackGroup(),
                                    cancel_callback=lambda _goal: CancelResponse.ACCEPT)
        if joint_states_topic is not None:
            from sensor_msgs.msg import JointState

            publisher = node.create_publisher(JointState, joint_states_topic, 10)

            def publish() -> None:
                q = self.initial if self.last_position is None else self.last_position
                msg = JointState(name=list(self.joints), position=[float(v) for v in q])
                msg.header.stamp = node.get_clock().now().to_msg()
                publisher.publish(msg)

            self._timer = node.create_timer(0.02, publish)

    def _execute(self, goal_handle):
        import time

        import numpy as np
        from lvp_common.ros.conversions import duration_to_seconds

        goal = goal_handle.request
        self.goals.append(goal)
        action = self._action
        Result = action.Result
        traj = goal.trajectory
        if tuple(traj.joint_names) != self.joints:
            goal_handle.abort()
            return Result(error_code=Result.INVALID_JOINTS,
                          error_string=f'expected joints {list(self.joints)}')
        times = np.array([duration_to_seconds(p.time_from_start) for p in traj.points])
        positions = np.array([list(p.positions) for p in traj.points])
        start, duration = time.monotonic(), float(times[-1])
        self.start_time = start
        self.started.set()
        while True:
            t = min(time.monotonic() - start, duration)
            q = np.array([np.interp(t, times, positions[:, j]) for j in range(len(self.joints))])
            self.last_position = q
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                self.canceled.set()
                return Result(error_code=Result.SUCCESSFUL, error_string='stopped on cancel')
            if self.fail == 'path' and t >= 0.5 * duration:
                goal_handle.abort()
                return Result(error_code=Result.PATH_TOLERANCE_VIOLATED,
                              error_string=f'{self.joints[1]} off by 0.2 rad at t={t:.2f} s')
            feedback = action.Feedback(joint_names=list(self.joints))
            feedback.desired.positions = q.tolist()
            feedback.actual.positions = q.tolist()
            feedback.error.positions = [0.0] * len(q)
            feedback.desired.time_from_start.sec = int(t)
            feedback.desired.time_from_start.nanosec = int((t - int(t)) * 1e9)
            goal_handle.publish_feedback(feedback)
            if t >= duration:
                break
            time.sleep(0.02)
        if self.fail == 'goal':
            goal_handle.abort()
            return Result(error_code=Result.GOAL_TOLERANCE_VIOLATED,
                          error_string=f'{self.joints[6]} 0.05 rad from the goal')
        goal_handle.succeed()
        return Result(error_code=Result.SUCCESSFUL)


class FakeFrankaGripper:
    """franka_gripper stand-in: Homing, Move, Grasp; a grasp fails when no object of the
    commanded width (within epsilon) is between the fingers (`object_width`). `calls` holds
    (action, width, time.monotonic() at the goal); `canceled` is set by a canceled goal."""

    def __init__(self, node, namespace, travel_time: float = 0.04):
        import threading

        from franka_msgs import action
        from rclpy.action import ActionServer, CancelResponse
        from rclpy.callback_groups import ReentrantCallbackGroup

        self._types = action
        self.calls: list[tuple[str, float | None]] = []
        self.call_times: list[float] = []
        self.object_width: float | None = 0.03
        self.travel_time = travel_time
        self.canceled = threading.Event()
        group = ReentrantCallbackGroup()
        self.width = 0.0

        def accept(_goal):
            return CancelResponse.ACCEPT

        self._servers = [
            ActionServer(node, action.Homing, f'{namespace}/homing', self._homing,
                         callback_group=group, cancel_callback=accept),
            ActionServer(node, action.Move, f'{namespace}/move', self._move,
                         callback_group=group, cancel_callback=accept),
            ActionServer(node, action.Grasp, f'{namespace}/grasp', self._grasp,
                         callback_group=group, cancel_callback=accept)]

    def _record(self, name, width):
        import time

        self.calls.append((name, width))
        self.call_times.append(time.monotonic())

    def _travel(self, goal_handle, feedback_type, target) -> bool:
        """Move the fingers to `target`; False when canceled on the way."""
        import time

        import numpy as np

        for width in np.linspace(self.width, target, 4):
            if goal_handle.is_cancel_requested:
                goal_handle.canceled()
                self.canceled.set()
                return False
            self.width = float(width)
            goal_handle.publish_feedback(feedback_type(current_width=self.width))
            time.sleep(self.travel_time / 4)
        return True

    def _homing(self, goal_handle):
        Homing = self._types.Homing
        self._record('homing', None)
        if not self._travel(goal_handle, Homing.Feedback, 0.08):
            return Homing.Result(success=False, error='canceled')
        goal_handle.succeed()
        return Homing.Result(success=True)

    def _move(self, goal_handle):
        Move = self._types.Move
        goal = goal_handle.request
        self._record('move', goal.width)
        if not self._travel(goal_handle, Move.Feedback, goal.width):
            return Move.Result(success=False, error='canceled')
        goal_handle.succeed()
        return Move.Result(success=True)

    def _grasp(self, goal_handle):
        Grasp = self._types.Grasp
        goal = goal_handle.request
        self._record('grasp', goal.width)
        stop = self.object_width if self.object_width is not None else 0.0
        if not self._travel(goal_handle, Grasp.Feedback, stop):
            return Grasp.Result(success=False, error='canceled')
        if not goal.width - goal.epsilon.inner <= stop <= goal.width + goal.epsilon.outer:
            goal_handle.abort()
            return Grasp.Result(success=False, error=f'fingers stopped at {stop:.3f} m, outside '
                                                     'the grasp epsilon')
        goal_handle.succeed()
        return Grasp.Result(success=True)
