"""Serve ExecuteMotion: move a robot's end effector along a path, and show what was planned.

A thin adapter around `lvp_exec.motion.execute_motion` (IK -> timing -> safety filter ->
execution). The goal carries the embodiment, the EE path in the robot base frame, and the gripper
events (Franka) or Inspire hand commands (G1) on the path's clock; the result always carries an
error code, the failed stage and the timed joint trajectory when there is one.

Execution backends (`execution_backend`, the same parameters as lvp_bringup's
`plan_and_execute`, see lvp_exec.backends): `sim` (MuJoCo), `ros2_control` (built on this node:
FollowJointTrajectory + franka_gripper, start state from sensor_msgs/JointState) and `unitree`
(rt/arm_sdk + rt/inspire/cmd over Cyclone DDS). plan_only goals need no backend and plan from
the robot's home.

One goal at a time (a second one is rejected). Cancel is honoured before every stage and while
the robot moves (the executor's `should_stop`: the sim holds the arm, the controller goal is
canceled, the arm_sdk weight is ramped out); the goal then ends CANCELED. Each goal's EE path
(nav_msgs/Path) and, once it passed the safety filter, its joint trajectory are published,
latched, on `topics.MOTION_EE_PATH` and `topics.MOTION_JOINT_TRAJECTORY`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

os.environ.setdefault('MUJOCO_GL', 'egl')  # before anything imports mujoco (the sim backend)

from lvp_common.artifacts import WristTrajectory  # noqa: E402
from lvp_common.ros.conversions import wrist_trajectory_to_path  # noqa: E402
from lvp_common.ros.node import LATCHED, describe, run_node  # noqa: E402
from nav_msgs.msg import Path  # noqa: E402
from rclpy.action import ActionServer, CancelResponse, GoalResponse  # noqa: E402
from rclpy.action.server import ServerGoalHandle  # noqa: E402
from rclpy.callback_groups import ReentrantCallbackGroup  # noqa: E402
from rclpy.node import Node  # noqa: E402
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg  # noqa: E402

from lvp_common import topics  # noqa: E402
from lvp_exec.backends import (  # noqa: E402
    EXECUTION_BACKENDS,
    ExecutionBackends,
    ExecutionSetupError,
    declare_backend_parameters,
)
from lvp_exec.embodiment_hardware import load_embodiment_robot  # noqa: E402
from lvp_exec.motion import MotionErrorCode  # noqa: E402
from lvp_exec.motion_goal import MotionGoal  # noqa: E402
from lvp_exec.robots import RobotModel  # noqa: E402
from lvp_exec.safety_parameters import declare_safety_parameters  # noqa: E402
from lvp_interfaces.action import ExecuteMotion  # noqa: E402


class ExecuteMotionNode(Node):
    """Answer ExecuteMotion goals with lvp_exec.motion on the configured backend."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('execute_motion', **kwargs)
        declare_backend_parameters(self)
        declare_safety_parameters(self)
        self.declare_parameter('g1_side', 'right',
                               describe("g1_inspire goals drive this G1 arm: 'right' or 'left'"))
        self.backends = ExecutionBackends(self)
        self._robots: dict[str, RobotModel] = {}
        self._robots_lock = threading.Lock()
        self._busy = False
        self._busy_lock = threading.Lock()
        self._path_publisher = self.create_publisher(Path, topics.MOTION_EE_PATH, LATCHED)
        self._trajectory_publisher = self.create_publisher(
            JointTrajectoryMsg, topics.MOTION_JOINT_TRAJECTORY, LATCHED)
        self._server = ActionServer(
            self, ExecuteMotion, topics.EXECUTE_MOTION_ACTION, execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=ReentrantCallbackGroup())
        backend = self.parameter('execution_backend')
        if backend not in EXECUTION_BACKENDS:
            self.get_logger().error(f'execution_backend {backend!r} is not one of '
                                    f'{EXECUTION_BACKENDS}: goals that execute are refused')
        elif backend != 'sim':
            try:  # a missing package or a bad parameter shows at start-up, not at a goal
                self.backends.executor(backend)
            except ExecutionSetupError as exc:
                self.get_logger().error(str(exc))
        self.get_logger().info(f'execute_motion ready on {topics.EXECUTE_MOTION_ACTION} '
                               f'(backend {backend})')

    def parameter(self, name: str) -> Any:
        return self.get_parameter(name).value

    def robot(self, embodiment: str, arm_model: str) -> RobotModel:
        """The arm model of an embodiment (loaded once): the Franka `arm_model`, the G1's
        `g1_side` arm."""
        key = f'{embodiment}/{arm_model}'
        with self._robots_lock:
            if key not in self._robots:
                self._robots[key] = load_embodiment_robot(
                    embodiment, str(self.parameter('g1_side')), arm_model)
            return self._robots[key]

    def publish_path(self, ee_path: WristTrajectory) -> None:
        self._path_publisher.publish(wrist_trajectory_to_path(
            ee_path, self.get_clock().now().nanoseconds * 1e-9))

    def publish_trajectory(self, msg: JointTrajectoryMsg) -> None:
        self._trajectory_publisher.publish(msg)

    def close(self) -> None:
        """Release the execution backends (action clients, the sim)."""
        self.backends.close()

    def _on_goal(self, _goal: ExecuteMotion.Goal) -> GoalResponse:
        # One goal at a time: a goal while another is accepted or running is rejected.
        with self._busy_lock:
            if self._busy:
                self.get_logger().warn('rejecting a goal: a goal is already running')
                return GoalResponse.REJECT
            self._busy = True
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> ExecuteMotion.Result:
        try:
            result = MotionGoal(self, goal_handle).run()
        finally:
            with self._busy_lock:
                self._busy = False
        if result.error_code == MotionErrorCode.SUCCESS:
            goal_handle.succeed()
        elif result.error_code == MotionErrorCode.CANCELED and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        code = MotionErrorCode(result.error_code).name
        if result.error_code == MotionErrorCode.SUCCESS:
            self.get_logger().info(f'goal done: {code}')
        else:
            self.get_logger().warn(f'goal done: {code} at {result.failed_stage}: '
                                   f'{result.error_message}')
        return result


def main(args: list[str] | None = None) -> None:
    # One thread runs the goal (it blocks while the robot moves); the others serve the cancel
    # and the clients and subscriptions.
    run_node(ExecuteMotionNode, args, multithreaded=True)

if __name__ == '__main__':
    main()
