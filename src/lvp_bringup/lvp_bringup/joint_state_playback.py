"""Show the robot moving in RViz: the executed (or planned) trajectory as sensor_msgs/JointState.

robot_state_publisher turns `lvp/joint_states` into TF; plan_and_execute plays each goal's
trajectory there in real time, and holds the last state between goals.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
from lvp_common.artifacts import GripperEvent, HandCommands, JointTrajectory
from lvp_exec.execution import ExecutionRequest, ExecutionStoppedError
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState

JOINT_STATE_RATE = 30.0
"""Hz of the sensor_msgs/JointState playback on topics.JOINT_STATES."""


class JointStatePlayback:
    """Publish the robot's whole joint state (sensor_msgs/JointState, rad) at `rate` Hz.

    `play` runs a trajectory on the wall clock from now: the arm joints interpolated, the
    Franka fingers at half the width of the last gripper event, the Inspire joints following
    the hand commands; joints the arm model locks (the other arm, the legs) at their nominal
    values, so that robot_state_publisher has every joint of the URDF. `freeze` holds the
    state at a trajectory time; between goals the last state is held and republished.
    """

    def __init__(self, node: Node, topic: str, rate: float) -> None:
        self._node = node
        self._publisher = node.create_publisher(JointState, topic, 10)
        self._lock = threading.Lock()
        self._fixed: dict[str, float] = {}
        self._trajectory: JointTrajectory | None = None
        self._events: tuple[GripperEvent, ...] = ()
        self._commands: HandCommands | None = None
        self._start = 0.0
        self._frozen: float | None = None
        self._timer = node.create_timer(1.0 / rate, self._tick,
                                        callback_group=MutuallyExclusiveCallbackGroup())

    def play(self, robot: Any, trajectory: JointTrajectory, events=(),
             commands: HandCommands | None = None) -> None:
        """Start playing `trajectory` (the arm of `robot`, an lvp_exec RobotModel) now."""
        with self._lock:
            self._fixed = {name: float(value)
                           for name, value in robot.nominal_full_configuration.items()}
            self._trajectory = trajectory
            self._events = tuple(sorted(events, key=lambda e: e.time))
            self._commands = commands if commands is not None and len(
                commands.joint_names) and len(commands.times) else None
            self._start = time.monotonic()
            self._frozen = None

    def show(self, robot: Any, positions: np.ndarray) -> None:
        """Hold the arm at `positions` (rad, robot.joint_names order)."""
        self.play(robot, JointTrajectory(np.zeros(1), tuple(robot.joint_names),
                                         np.asarray(positions, dtype=np.float64)[None, :]))
        self.freeze(0.0)

    def freeze(self, at: float | None = None) -> None:
        """Stop the playback at trajectory time `at` s (None: where it is now)."""
        with self._lock:
            if self._trajectory is not None and self._frozen is None:
                self._frozen = time.monotonic() - self._start if at is None else at

    def state(self) -> tuple[list[str], list[float]]:
        """The joint names and positions (rad, m for the Franka fingers) to publish now."""
        with self._lock:
            trajectory = self._trajectory
            if trajectory is None:
                return [], []
            t = time.monotonic() - self._start if self._frozen is None else self._frozen
            t = float(np.clip(t, trajectory.times[0], trajectory.times[-1]))
            joints = dict(self._fixed)
            for j, name in enumerate(trajectory.joint_names):
                joints[name] = float(np.interp(t, trajectory.times, trajectory.positions[:, j]))
            done = [e for e in self._events if e.time <= t]
            if done:
                for name in joints:
                    if 'finger_joint' in name:
                        joints[name] = 0.5 * float(done[-1].width)
            commands = self._commands
            if commands is not None:
                for j, name in enumerate(commands.joint_names):
                    joints[name] = float(np.interp(t, commands.times,
                                                   commands.joint_positions[:, j]))
        return list(joints), list(joints.values())

    def _tick(self) -> None:
        names, positions = self.state()
        if names:
            msg = JointState(name=names, position=positions)
            msg.header.stamp = self._node.get_clock().now().to_msg()
            self._publisher.publish(msg)


class PlaybackExecutor:
    """An lvp_exec Executor that plays the trajectory on a JointStatePlayback while `inner`
    executes it (and freezes the playback where a stop or a failure left the robot)."""

    def __init__(self, inner: Any, playback: JointStatePlayback | None) -> None:
        self.inner = inner
        self.playback = playback
        self.name = inner.name
        self.arm_model = getattr(inner, 'arm_model', '')

    def start_positions(self, robot: Any) -> np.ndarray | None:
        return self.inner.start_positions(robot)

    def execute(self, request: ExecutionRequest) -> Any:
        if self.playback is None:
            return self.inner.execute(request)
        self.playback.play(request.robot, request.trajectory, request.gripper_events,
                           request.hand_commands)
        try:
            return self.inner.execute(request)
        except ExecutionStoppedError as exc:
            self.playback.freeze(exc.stopped_at)
            raise
        except BaseException:
            self.playback.freeze()
            raise
