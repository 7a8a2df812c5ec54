"""Serve PlanAndExecute: ask a GenerateVideoPlan server for a plan, then run the stages here.

Planning goes through the `generate_video_plan` action (the model-backed `video_planner` or the
`demonstration_planner`; this node does not care which); hand tracking -> reconstruction ->
retargeting/grasping -> IK -> timing -> safety -> execution run in-process with
`lvp_bringup.pipeline.run_pipeline` (plan_and_execute_goal.GoalRun). One goal at a time; cancel
is honoured while planning (the planner goal is cancelled too), before every stage and tracked
frame, and while the robot moves. A planner that leaves or stops sending feedback ends the goal
PLANNER_FAILED within `planner_feedback_timeout_s`.

Every plan is archived (`lvp_common.ros.plan_archive`) and its artifacts are published, latched, on
the live topics; the result is small (archive path, sample, trajectories). The trajectory being
executed (or planned) is played as sensor_msgs/JointState on `lvp/joint_states`.
"""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault('MUJOCO_GL', 'egl')

from lvp_common.ros.node import describe, run_node
from lvp_common.ros.tf_listener import TfListener, TfUnavailableError
from lvp_exec.backends import (
    ExecutionSetupError,
    backend_options_from_parameters,
    declare_backend_parameters,
    make_executor,
)
from lvp_exec.safety_parameters import declare_safety_parameters
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter

from lvp_bringup import embodiments
from lvp_bringup.joint_state_playback import JOINT_STATE_RATE, JointStatePlayback
from lvp_bringup.live_topics import ArtifactPublishers, ObservationTopics
from lvp_bringup.pipeline import ErrorCode, PipelineConfig, robot_for
from lvp_bringup.plan_and_execute_goal import GoalRun
from lvp_bringup.plan_and_execute_parameters import CAMERA_TO_BASE_DESCRIPTION, PARAMETERS
from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan, PlanAndExecute

RESULT_TIMEOUT_S = 10
"""How long a finished goal (its request with the image, and result) is kept for a late
get_result; clients ask for the result as they send the goal. rclpy's default is 900 s."""

class PlanAndExecuteNode(Node):
    """Answer PlanAndExecute goals: plan via GenerateVideoPlan, then run the pipeline."""

    def __init__(self) -> None:
        super().__init__('plan_and_execute')
        self.declare_parameter('camera_to_base', Parameter.Type.DOUBLE_ARRAY,
                               describe(CAMERA_TO_BASE_DESCRIPTION))
        for name, (default, text) in PARAMETERS.items():
            self.declare_parameter(name, default, describe(text))
        declare_backend_parameters(self)
        declare_safety_parameters(self)
        self._busy = threading.Lock()
        self._lock = threading.Lock()
        group = ReentrantCallbackGroup()
        self.planner = ActionClient(self, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION,
                                    callback_group=group)
        self._server = ActionServer(
            self, PlanAndExecute, topics.PLAN_AND_EXECUTE_ACTION, execute_callback=self._execute,
            goal_callback=self._on_goal, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=group, result_timeout=RESULT_TIMEOUT_S)
        self._executors: dict[Any, Any] = {}
        self.observations = ObservationTopics(self)
        self.artifacts = ArtifactPublishers(self)
        self._tf: TfListener | None = None
        if not self.camera_to_base_values():
            try:  # listen from the start: latched calibrations arrive before the first goal
                self.tf_listener()
            except TfUnavailableError as exc:
                self.get_logger().error(f'camera_to_base is empty and TF cannot be read: {exc}')
        self.playback = (JointStatePlayback(self, topics.JOINT_STATES, JOINT_STATE_RATE)
                         if self.param('publish_joint_states') else None)
        backend = self.param('execution_backend')
        try:  # a missing package or a bad parameter shows at start-up, not at a goal
            if backend != 'sim':
                self.executor_for(backend)
        except ExecutionSetupError as exc:
            self.get_logger().error(f'{exc}: goals that execute are refused')
        self._show_home(self.param('embodiment'))

    def param(self, name: str) -> Any:
        """The current value of parameter `name`."""
        return self.get_parameter(name).value

    def close(self) -> None:
        """Release the execution backends (action clients, sims)."""
        with self._lock:
            for executor in self._executors.values():
                close = getattr(executor, 'close', None)
                if close is not None:
                    close()
            self._executors.clear()

    def _show_home(self, embodiment: str) -> None:
        """Show the robot at home in RViz before the first goal."""
        if self.playback is None or not embodiments.is_embodiment(embodiment):
            return
        try:
            robot = robot_for(embodiment, PipelineConfig())
        except Exception as exc:  # RViz without a robot is no reason to stop the node
            self.get_logger().warn(f'no joint states until a goal runs: loading the '
                                   f'{embodiment} model failed: {exc}')
            return
        self.playback.show(robot, robot.home)

    def camera_to_base_values(self) -> list[float]:
        """The camera_to_base parameter; [] when unset or empty (then TF gives the pose)."""
        value = self.get_parameter_or('camera_to_base',
                                      Parameter('camera_to_base', value=[])).value
        return [] if value is None else [float(v) for v in value]

    def tf_listener(self) -> TfListener:
        """The node's /tf_static + /tf listener (made on first use)."""
        with self._lock:
            if self._tf is None:
                self._tf = TfListener(self)
            return self._tf

    def archive_dir(self) -> Path:
        """The archive folder, created and checked writable (PlanArchiveError if not)."""
        from lvp_common.plan_record import check_archive_dir

        return check_archive_dir(self.param('archive_dir'))

    def executor_for(self, backend: str, sim_world: Any = None) -> Any:
        """The execution backend (built once per backend and sim world, then reused)."""
        key = (backend, sim_world if backend == 'sim' else None)
        with self._lock:
            if key not in self._executors:
                if backend == 'sim':  # one sim at a time: a new world replaces the last one
                    for old in [k for k in self._executors if k[0] == 'sim']:
                        close = getattr(self._executors.pop(old), 'close', None)
                        if close is not None:
                            close()
                options = replace(backend_options_from_parameters(self), sim_world=key[1])
                self._executors[key] = make_executor(backend, None, options, node=self)
            return self._executors[key]

    def _on_goal(self, _goal: PlanAndExecute.Goal) -> GoalResponse:
        # One goal at a time: a second goal while one runs is rejected, not queued.
        if not self._busy.acquire(blocking=False):
            self.get_logger().warn('rejecting a goal: a goal is already running')
            return GoalResponse.REJECT
        self._busy.release()
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> PlanAndExecute.Result:
        with self._busy:
            result = GoalRun(self, goal_handle).run()
        code = ErrorCode(result.error_code)
        if code == ErrorCode.SUCCESS:
            goal_handle.succeed()
        elif code == ErrorCode.CANCELED and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        summary = (f'goal done: {code.name}' + (f' at {result.failed_stage}: '
                                                f'{result.error_message}' if code else '')
                   + (f'; archive {result.archive_path}' if result.archive_path else ''))
        if code == ErrorCode.SUCCESS:
            self.get_logger().info(summary)
        else:
            self.get_logger().warn(summary)
        return result


def main(args: list[str] | None = None) -> None:
    # One thread runs the goal (it blocks while the robot moves); the others serve the cancel
    # and the clients and subscriptions.
    run_node(PlanAndExecuteNode, args, multithreaded=True)


if __name__ == '__main__':
    main()
