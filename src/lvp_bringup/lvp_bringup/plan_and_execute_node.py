"""Serve PlanAndExecute: ask a GenerateVideoPlan server for a plan, then run the stages here.

Planning goes through the `generate_video_plan` action (the model-backed `video_planner` or the
`demonstration_planner`; this node does not care which); hand tracking -> reconstruction ->
retargeting/grasping -> IK -> timing -> safety -> execution run in-process with
`lvp_bringup.pipeline.run_pipeline`. One goal at a time; cancel is honoured while planning (the
planner goal is cancelled too), before every stage and tracked frame, and while the robot moves
(the executor's `should_stop`: the controller goal is canceled / the arm_sdk weight ramped out).

Execution backends (`execution_backend`): `sim` (lvp_exec.sim.MujocoExecutor), `ros2_control`
(lvp_exec.ros2_control_backend.Ros2ControlExecutor on this node: FollowJointTrajectory +
franka_gripper, start state from sensor_msgs/JointState) and `unitree` (lvp_exec.unitree_backend.
UnitreeExecutor: rt/lowstate, rt/arm_sdk, rt/inspire/cmd over Cyclone DDS).

Every plan is archived (`lvp_common.plan_archive`) and its artifacts are published, latched, on
the live topics; the trajectory being executed (or, for plan_only goals, the planned one) is
played in real time as sensor_msgs/JointState on `lvp/joint_states` for robot_state_publisher.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np
from lvp_common.artifacts import (
    ROBOT_BASE_FRAME,
    ArtifactError,
    CameraIntrinsics,
    GripperEvent,
    HandCommands,
    JointTrajectory,
    Observation,
    VideoPlan,
)
from lvp_common.geometry import GeometryError, Pose
from lvp_common.image_encoding import ImageEncodingError
from lvp_common.ros_conversions import (
    camera_info_to_intrinsics,
    depth_image_to_metres,
    hand_commands_to_msg,
    hand_track_to_msg,
    image_to_rgb8,
    joint_trajectory_to_msg,
    make_header,
    video_plan_from_msg,
    wrist_trajectory_to_msg,
)
from lvp_common.ros_node import LATCHED, describe, run_node
from lvp_common.tf_buffer import TransformLookupError
from lvp_common.tf_listener import TfListener, TfUnavailableError
from lvp_exec.backends import (
    EXECUTION_BACKENDS,
    ExecutionSetupError,
    backend_options_from_parameters,
    check_backend_fits,
    make_executor,
)
from lvp_exec.execution import ExecutionRequest, ExecutionStoppedError
from lvp_exec.ros2_control_backend import (
    DEFAULT_ARM_ACTION,
    DEFAULT_GRIPPER_NAMESPACE,
    DEFAULT_JOINT_STATES_TOPIC,
    FR3_ARM_JOINTS,
)
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.action.server import ServerGoalHandle
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from sensor_msgs.msg import JointState

from lvp_bringup.pipeline import (
    EMBODIMENTS,
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    StageError,
    plan_record,
    robot_for,
    run_pipeline,
)
from lvp_common import topics
from lvp_interfaces.action import GenerateVideoPlan, PlanAndExecute

JOINT_STATE_RATE = 30.0
"""Hz of the sensor_msgs/JointState playback on topics.JOINT_STATES."""

PLANNING_SHARE, ARCHIVE_SHARE = 0.4, 0.05
"""Parts of overall_progress spent planning and archiving; the stages share the rest."""

_LIVE_TOPICS_OF_OTHERS = (topics.OBSERVATION_IMAGE, topics.OBSERVATION_DEPTH,
                          topics.OBSERVATION_CAMERA_INFO, topics.VIDEO_PLAN)
"""Published by the camera driver and the planner, not by this node."""

_STAGE_NODE_TOPICS = (topics.HAND_TRACK, topics.HAND_MARKERS, topics.WRIST_TRAJECTORY_CAMERA,
                      topics.WRIST_TRAJECTORY_BASE, topics.WRIST_PATH_RAW,
                      topics.WRIST_PATH_SMOOTHED, topics.SCENE_CLOUD, topics.GRASP_CANDIDATES,
                      topics.GRASP_MARKERS, topics.HAND_COMMANDS)
"""Published by the stage nodes (hand_tracking, reconstruction, grasp, retarget) when they run
(`stage_nodes_publish`); this node then leaves these topics to them."""

_STAGE_CODES = {
    'validation': ErrorCode.INVALID_GOAL, 'planning': ErrorCode.PLANNER_FAILED,
    'hand_tracking': ErrorCode.NO_HAND_FOUND, 'reconstruction': ErrorCode.RECONSTRUCTION_FAILED,
    'retargeting': ErrorCode.RETARGET_FAILED, 'grasping': ErrorCode.GRASP_FAILED,
    'ik': ErrorCode.UNREACHABLE, 'timing': ErrorCode.UNREACHABLE,
    'safety': ErrorCode.SAFETY_VIOLATION, 'archive': ErrorCode.ARCHIVE_FAILED,
}
"""The error code of an unexpected exception, by the stage it escaped from."""

_PLANNER_CODES = {
    GenerateVideoPlan.Result.INVALID_GOAL: ErrorCode.INVALID_GOAL,
    GenerateVideoPlan.Result.CANCELED: ErrorCode.CANCELED,
}


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


class PlanAndExecuteNode(Node):
    """Answer PlanAndExecute goals: plan via GenerateVideoPlan, then run the pipeline."""

    def __init__(self) -> None:
        super().__init__('plan_and_execute')
        declare = self.declare_parameter
        declare('embodiment', 'franka_gripper',
                describe(f'robot used when a goal names none: one of {EMBODIMENTS}'))
        declare('camera_to_base', Parameter.Type.DOUBLE_ARRAY,
                describe('camera optical frame in the robot base: x, y, z (m), qx, qy, qz, qw; '
                         'empty = looked up in TF at each goal (the goal image\'s frame_id in '
                         'base_frame)'))
        declare('base_frame', ROBOT_BASE_FRAME,
                describe('camera_to_base empty: the TF frame of the robot base (the arm '
                         'model\'s base) the camera frame is looked up in'))
        declare('tf_timeout_s', 1.0,
                describe('camera_to_base empty: wait up to this long (s) at each goal for the '
                         'camera frame in base_frame on /tf_static and /tf'))
        declare('execution_backend', 'sim',
                describe(f'how the motion is executed: one of {EXECUTION_BACKENDS} (sim = '
                         'MuJoCo; ros2_control = Franka arm controller + franka_gripper; '
                         'unitree = G1 arm_sdk + Inspire hands over DDS)'))
        declare('controller_action', DEFAULT_ARM_ACTION,
                describe('ros2_control: FollowJointTrajectory action of the arm\'s '
                         'joint_trajectory_controller'))
        declare('controller_joint_names', list(FR3_ARM_JOINTS),
                describe('ros2_control: the controller\'s names of the 7 arm joints, in the '
                         'model\'s order (panda_joint1..7); also looked up in joint_states'))
        declare('gripper_action_namespace', DEFAULT_GRIPPER_NAMESPACE,
                describe('ros2_control: namespace of franka_gripper\'s homing/move/grasp '
                         'actions; empty = no gripper (plans with gripper events then fail '
                         'before the arm moves)'))
        declare('joint_states_topic', DEFAULT_JOINT_STATES_TOPIC,
                describe('ros2_control: sensor_msgs/JointState topic of the robot (start state)'))
        declare('robot_wait_s', 5.0,
                describe('ros2_control/unitree: wait for the action servers, the first joint '
                         'state or rt/lowstate, and the command readers, s'))
        declare('network_interface', '',
                describe('unitree: network interface to the G1 (e.g. eth0, on 192.168.123.x); '
                         'empty = Cyclone DDS\'s default'))
        declare('dds_domain_id', 0, describe('unitree: DDS domain of the G1 (0)'))
        declare('arm_takeover_s', 1.0,
                describe('unitree: arm_sdk weight ramp 0 -> 1 before the motion, s'))
        declare('arm_release_s', 1.0,
                describe('unitree: arm_sdk weight ramp 1 -> 0 after the motion or a stop, s'))
        declare('archive_dir', '~/.ros/lvp/plan_archives',
                describe('folder for the plan archives (one rosbag2 folder per plan)'))
        declare('default_horizontal_fov_deg', 60.0,
                describe('field of view assumed when a goal has no CameraInfo, deg'))
        declare('planner_wait_s', 10.0,
                describe('how long to wait for the generate_video_plan server, s'))
        declare('planner_timeout_s', 1800.0, describe('longest a plan may take, s'))
        declare('handedness', '', describe("'left'/'right' overrides the acting hand; "
                                           'empty = plan metadata, else the detector vote'))
        declare('min_tcp_height', 0.02,
                describe('lowest Franka TCP height above the table (base plane), m'))
        declare('require_grasp_candidate', False,
                describe('fail with GRASP_FAILED when no antipodal grasp is found'))
        declare('publish_artifacts', True,
                describe('publish every plan\'s artifacts, latched, on the lvp/ topics'))
        declare('stage_nodes_publish', False,
                describe('the stage nodes (hand_tracking, reconstruction, grasp, retarget) run '
                         'and publish the stage artifacts: leave those topics to them and '
                         'publish only the task, plan frames, joint trajectory and metadata'))
        declare('publish_joint_states', True,
                describe(f'play the executed (or planned) trajectory as sensor_msgs/JointState '
                         f'on {topics.JOINT_STATES} ({JOINT_STATE_RATE:g} Hz) for '
                         'robot_state_publisher / RViz'))
        self._busy = threading.Lock()
        self._group = ReentrantCallbackGroup()
        self._planner = ActionClient(self, GenerateVideoPlan, topics.GENERATE_VIDEO_PLAN_ACTION,
                                     callback_group=self._group)
        self._artifact_publishers: dict[str, Any] = {}
        self._server = ActionServer(
            self, PlanAndExecute, topics.PLAN_AND_EXECUTE_ACTION,
            execute_callback=self._execute, goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT, callback_group=self._group)
        self._executor_lock = threading.Lock()
        self._executors: dict[str, Any] = {}
        self._tf_lock = threading.Lock()
        self._tf: TfListener | None = None
        if not self.camera_to_base_values():
            try:  # listen from the start: latched calibrations arrive before the first goal
                self.tf_listener()
            except TfUnavailableError as exc:
                self.get_logger().error(f'camera_to_base is empty and TF cannot be read: {exc}')
        self.playback = (JointStatePlayback(self, topics.JOINT_STATES, JOINT_STATE_RATE)
                         if self._bool('publish_joint_states') else None)
        backend = self._str('execution_backend')
        if backend not in EXECUTION_BACKENDS:
            self.get_logger().error(f'execution_backend {backend!r} is not one of '
                                    f'{EXECUTION_BACKENDS}: goals that execute are refused')
        elif backend != 'sim':
            try:  # a missing package or a bad parameter shows at start-up, not at a goal
                self.executor_for(backend)
            except ExecutionSetupError as exc:
                self.get_logger().error(str(exc))
        if self.playback is not None:
            self._show_home(self._str('embodiment'))

    def _str(self, name: str) -> str:
        return self.get_parameter(name).get_parameter_value().string_value

    def _float(self, name: str) -> float:
        return self.get_parameter(name).get_parameter_value().double_value

    def _bool(self, name: str) -> bool:
        return self.get_parameter(name).get_parameter_value().bool_value

    def _int(self, name: str) -> int:
        return self.get_parameter(name).get_parameter_value().integer_value

    def close(self) -> None:
        """Release the execution backends (action clients)."""
        with self._executor_lock:
            for executor in self._executors.values():
                close = getattr(executor, 'close', None)
                if close is not None:
                    close()
            self._executors.clear()

    def _show_home(self, embodiment: str) -> None:
        """Show the robot at home in RViz before the first goal."""
        if self.playback is None or embodiment not in EMBODIMENTS:
            return
        try:
            robot = robot_for(embodiment, PipelineConfig())
        except Exception as exc:  # RViz without a robot is no reason to stop the node
            self.get_logger().warn(f'no joint states published until a goal runs: loading '
                                   f'the {embodiment} model failed: {exc}')
            return
        self.playback.show(robot, robot.home)

    def camera_to_base_values(self) -> list[float]:
        """The camera_to_base parameter; [] when unset or empty (then TF gives the pose)."""
        value = self.get_parameter_or('camera_to_base',
                                      Parameter('camera_to_base', value=[])).value
        return [] if value is None else [float(v) for v in value]

    def tf_listener(self) -> TfListener:
        """The node's /tf_static + /tf listener (made on first use); TfUnavailableError without
        tf2_msgs."""
        with self._tf_lock:
            if self._tf is None:
                self._tf = TfListener(self)
            return self._tf

    def executor_for(self, backend: str) -> Any:
        """The execution backend (built once, then reused), wrapped for the playback."""
        with self._executor_lock:
            if backend not in self._executors:
                self._executors[backend] = self._build_executor(backend)
            return self._executors[backend]

    def _build_executor(self, backend: str) -> Any:
        return make_executor(backend, None, backend_options_from_parameters(self), node=self)

    def _on_goal(self, _goal: PlanAndExecute.Goal) -> GoalResponse:
        # One goal at a time: a second goal while one runs is rejected, not queued.
        if not self._busy.acquire(blocking=False):
            self.get_logger().warn('rejecting a goal: a goal is already running')
            return GoalResponse.REJECT
        self._busy.release()
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: ServerGoalHandle) -> PlanAndExecute.Result:
        with self._busy:
            run = _GoalRun(self, goal_handle)
            result = run.run()
        if result.error_code == ErrorCode.SUCCESS:
            goal_handle.succeed()
        elif result.error_code == ErrorCode.CANCELED and goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        summary = (f'goal done: {ErrorCode(result.error_code).name}'
                   + (f' at {result.failed_stage}: {result.error_message}'
                      if result.error_code else '')
                   + (f'; archive {result.archive_path}' if result.archive_path else ''))
        if result.error_code == ErrorCode.SUCCESS:
            self.get_logger().info(summary)
        else:
            self.get_logger().warn(summary)
        return result

    def publish_record(self, record) -> None:
        """Publish a plan record's artifacts (as the archive holds them) plus RViz markers."""
        if not self._bool('publish_artifacts'):
            return
        from lvp_common.plan_archive import record_messages

        stamp = self.get_clock().now()
        t0 = stamp.nanoseconds * 1e-9
        skipped = _LIVE_TOPICS_OF_OTHERS + (
            _STAGE_NODE_TOPICS if self._bool('stage_nodes_publish') else ())
        messages = [(topic, msg) for topic, _t, msg in record_messages(record, t0)
                    if topic not in skipped]
        if record.hand_track is not None and topics.HAND_MARKERS not in skipped:
            from lvp_hand_tracking.tracking_node import skeleton_markers

            frame = record.observation.camera_frame if record.observation else ''
            messages.append((topics.HAND_MARKERS,
                             skeleton_markers(record.hand_track, frame, stamp.to_msg())))
        if record.grasps is not None and topics.GRASP_MARKERS not in skipped:
            from lvp_grasp.grasp_node import grasp_markers

            messages.append((topics.GRASP_MARKERS,
                             grasp_markers(record.grasps, 5, stamp.to_msg())))
        for topic, msg in messages:
            if topic not in self._artifact_publishers:
                self._artifact_publishers[topic] = self.create_publisher(type(msg), topic, LATCHED)
            self._artifact_publishers[topic].publish(msg)


class _GoalRun:
    """One PlanAndExecute goal: validate, plan (per sample), run the stages, archive, report."""

    def __init__(self, node: PlanAndExecuteNode, goal_handle: ServerGoalHandle) -> None:
        self.node = node
        self.handle = goal_handle
        self.goal: PlanAndExecute.Goal = goal_handle.request
        self.result = PlanAndExecute.Result()
        self.notes: list[str] = []
        self._sample = 0
        self._sample_share = 1.0
        self._stage = 'validation'
        self.executor: Any = None
        """The node's execution backend for this goal (None for plan_only goals)."""

    def run(self) -> PlanAndExecute.Result:
        try:
            observation, prompts, embodiment = self._validate()
            samples = max(1, int(self.goal.num_samples))
            self._sample_share = 1.0 / samples
            for k in range(samples):
                self._sample = k
                try:
                    return self._plan_and_run(observation, prompts, embodiment,
                                              int(self.goal.seed) + k)
                except StageError as exc:
                    last = k == samples - 1
                    if last or exc.code in (ErrorCode.INVALID_GOAL, ErrorCode.CANCELED,
                                            ErrorCode.PLANNER_FAILED):
                        raise
                    self.node.get_logger().warn(f'sample {k + 1}/{samples}: {exc}; trying the '
                                                'next sample')
        except StageError as exc:
            self.result.error_code = int(exc.code)
            self.result.error_message = exc.message
            self.result.failed_stage = exc.stage
        except Exception as exc:  # a bug must still end the goal with a code, not a bare abort
            self.node.get_logger().error(f'unexpected error during {self._stage}: '
                                         f'{traceback.format_exc()}')
            self.result.error_code = int(_STAGE_CODES.get(self._stage,
                                                          ErrorCode.EXECUTION_FAILED))
            self.result.error_message = f'internal error: {type(exc).__name__}: {exc}'
            self.result.failed_stage = self._stage
        return self.result

    # -- goal validation ------------------------------------------------------------------

    def _validate(self) -> tuple[Observation, tuple[str, ...], str]:
        goal, node = self.goal, self.node

        def invalid(message: str) -> StageError:
            return StageError('validation', ErrorCode.INVALID_GOAL, message)

        prompts = tuple(p.strip() for p in goal.subtasks) if len(goal.subtasks) else (
            (goal.task.strip(),) if goal.task.strip() else ())
        if not prompts or not all(prompts):
            raise invalid('the goal has no task: set `task` or non-empty `subtasks`')
        embodiment = goal.embodiment or node._str('embodiment')
        if embodiment not in EMBODIMENTS:
            raise invalid(f'unknown embodiment {embodiment!r}; expected one of {EMBODIMENTS}')
        backend = node._str('execution_backend')
        if not goal.plan_only:
            try:
                check_backend_fits(backend, embodiment)
            except ExecutionSetupError as exc:
                raise invalid(f'parameter execution_backend: {exc} (plan_only goals run '
                              f'without a backend)') from exc
            try:
                self.executor = node.executor_for(backend)
            except ExecutionSetupError as exc:
                raise StageError('validation', ErrorCode.EXECUTION_FAILED, str(exc)) from exc
        camera_to_base = node.camera_to_base_values()
        if len(camera_to_base) not in (0, 7):
            raise invalid(f'parameter camera_to_base must be empty (TF) or 7 floats (x, y, z, '
                          f'qx, qy, qz, qw of the camera optical frame in the robot base), got '
                          f'{camera_to_base}')
        camera_frame = goal.image.header.frame_id or goal.camera_info.header.frame_id
        try:
            rgb = image_to_rgb8(goal.image)
            if camera_to_base:
                values = np.asarray(camera_to_base, dtype=np.float64)
                pose = Pose(values[:3], values[3:])
            else:
                pose = self._camera_to_base_from_tf(camera_frame)
            h, w = rgb.shape[:2]
            depth = None
            if goal.depth.width and goal.depth.height:
                depth = depth_image_to_metres(goal.depth)
            if goal.camera_info.width:
                intrinsics = camera_info_to_intrinsics(goal.camera_info)
            else:
                fov = node._float('default_horizontal_fov_deg')
                intrinsics = CameraIntrinsics.from_fov(w, h, fov)
                self._note(f'the goal has no CameraInfo: ASSUMED a {fov:g} deg horizontal field '
                           f'of view')
            if depth is None:
                self._note('the goal has no depth image: the wrist path scale comes from the '
                           'hand model alone')
            observation = Observation(rgb=rgb, depth=depth, intrinsics=intrinsics,
                                      camera_to_base=pose)
            if goal.image.header.frame_id or not camera_to_base:
                observation = replace(observation, camera_frame=camera_frame)
        except (ImageEncodingError, ArtifactError, GeometryError, ValueError) as exc:
            raise invalid(str(exc)) from exc
        return observation, prompts, embodiment

    def _camera_to_base_from_tf(self, camera_frame: str) -> Pose:
        """The camera frame's pose in the base_frame parameter's frame, from TF; an INVALID_GOAL
        StageError naming the transform when TF does not have it."""
        node = self.node
        if not camera_frame:
            raise StageError('validation', ErrorCode.INVALID_GOAL,
                             'camera_to_base is empty and the goal image (and CameraInfo) has no '
                             'header.frame_id to look the camera up in TF: set one of them')
        base_frame = node._str('base_frame')
        target = f'{base_frame} <- {camera_frame}'
        try:
            pose = node.tf_listener().wait_for_transform(base_frame, camera_frame,
                                                         node._float('tf_timeout_s'))
        except TfUnavailableError as exc:
            raise StageError('validation', ErrorCode.INVALID_GOAL, str(exc)) from exc
        except TransformLookupError as exc:
            raise StageError('validation', ErrorCode.INVALID_GOAL,
                             f'camera_to_base is empty and TF has no camera pose: {exc}; publish '
                             f'{target} on /tf_static or set the camera_to_base parameter'
                             ) from exc
        values = ', '.join(f'{v:.4f}' for v in (*pose.position, *pose.quaternion))
        self.notes.append(f'camera_to_base from TF ({target}): [{values}]')
        node.get_logger().info(self.notes[-1])
        return pose

    def _note(self, text: str) -> None:
        self.notes.append(text)
        self.node.get_logger().warn(text)

    # -- feedback and cancel --------------------------------------------------------------

    def _feedback(self, stage: str, stage_progress: float, overall: float,
                  step: int = 0, steps: int = 0) -> None:
        self._stage = stage
        overall = (self._sample + overall) * self._sample_share
        self.handle.publish_feedback(PlanAndExecute.Feedback(
            stage=stage, stage_progress=float(stage_progress), overall_progress=float(overall),
            denoising_step=step, denoising_steps=steps))

    def _check_cancel(self, stage: str) -> None:
        if self.handle.is_cancel_requested:
            raise StageError(stage, ErrorCode.CANCELED, f'canceled by the client during {stage}')

    def _stage_progress(self, stage: str, stage_progress: float, overall: float) -> None:
        """run_pipeline's progress callback: forward as feedback, stop here on cancel."""
        self._check_cancel(stage)
        self._feedback(stage, stage_progress,
                       PLANNING_SHARE + (1.0 - PLANNING_SHARE - ARCHIVE_SHARE) * overall)

    def _wait(self, future: Future, timeout_s: float, stage: str) -> None:
        """Block until `future` is done (other executor threads complete it); cancel-aware."""
        done = threading.Event()
        future.add_done_callback(lambda _f: done.set())
        deadline = time.monotonic() + timeout_s
        while not done.wait(0.05):
            self._check_cancel(stage)
            if time.monotonic() > deadline:
                raise StageError(stage, ErrorCode.PLANNER_FAILED,
                                 f'no answer from the planner within {timeout_s:g} s')

    # -- planning ---------------------------------------------------------------------------

    def _plan(self, observation: Observation, prompts: tuple[str, ...], seed: int) -> VideoPlan:
        node = self.node
        self._feedback('planning', 0.0, 0.0)
        wait_s = node._float('planner_wait_s')
        if not node._planner.wait_for_server(timeout_sec=wait_s):
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             f'no {topics.GENERATE_VIDEO_PLAN_ACTION} action server after '
                             f'{wait_s:g} s: start video_planner or demonstration_planner')
        goal = GenerateVideoPlan.Goal(image=self.goal.image, prompts=list(prompts), seed=seed)

        def forward(msg) -> None:
            f = msg.feedback
            steps = int(f.num_chunks) * int(f.num_steps)
            step = int(f.chunk) * int(f.num_steps) + int(f.step)
            self._feedback('planning', float(f.progress), PLANNING_SHARE * float(f.progress),
                           step, steps)

        sent = node._planner.send_goal_async(goal, feedback_callback=forward)
        self._wait(sent, wait_s, 'planning')
        planner_goal = sent.result()
        if planner_goal is None or not planner_goal.accepted:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             'the planner rejected the goal (busy with another plan?)')
        answer = planner_goal.get_result_async()
        try:
            self._wait(answer, node._float('planner_timeout_s'), 'planning')
        except StageError:
            cancel = planner_goal.cancel_goal_async()
            # best effort: give the planner a moment to stop before the goal ends
            ended = threading.Event()
            answer.add_done_callback(lambda _f: ended.set())
            cancel.add_done_callback(lambda _f: None)
            ended.wait(5.0)
            raise
        result = answer.result().result  # type: ignore[union-attr]
        if result.error_code != GenerateVideoPlan.Result.SUCCESS:
            code = _PLANNER_CODES.get(result.error_code, ErrorCode.PLANNER_FAILED)
            raise StageError('planning', code, f'planner: {result.error_message}')
        try:
            plan = video_plan_from_msg(result.plan)
        except ArtifactError as exc:
            raise StageError('planning', ErrorCode.PLANNER_FAILED,
                             f'the planner returned a malformed plan: {exc}') from exc
        self.result.plan = result.plan
        return plan

    # -- the stages and the archive ----------------------------------------------------------

    def _plan_and_run(self, observation: Observation, prompts: tuple[str, ...],
                      embodiment: str, seed: int) -> PlanAndExecute.Result:
        node = self.node
        plan = self._plan(observation, prompts, seed)
        self._check_cancel('planning')
        handedness = node._str('handedness') or None
        executor = None if self.executor is None else PlaybackExecutor(self.executor,
                                                                       node.playback)
        config = PipelineConfig(plan_only=bool(self.goal.plan_only), handedness=handedness,
                                executor=executor,
                                should_stop=lambda: bool(self.handle.is_cancel_requested),
                                min_tcp_height=node._float('min_tcp_height'),
                                require_grasp_candidate=node._bool('require_grasp_candidate'))
        error: StageError | None = None
        try:
            outcome = run_pipeline(observation, plan, embodiment, config, self._stage_progress)
        except StageError as exc:
            error = exc
            outcome = exc.result or PipelineResult(embodiment=embodiment, plan=plan)
        if self.goal.plan_only and node.playback is not None and outcome.trajectory is not None:
            node.playback.play(outcome.robot, outcome.trajectory, outcome.gripper_events,
                               outcome.hand_commands)
        if error is None and self.handle.is_cancel_requested:
            error = StageError('executing' if outcome.executed else 'archive',
                               ErrorCode.CANCELED, 'canceled by the client as the motion '
                               'ended: it had run to its end' if outcome.executed else
                               'canceled by the client before archiving')
        self._fill_result(outcome)
        archive_error = self._archive(outcome, plan, observation, prompts, seed, error)
        if error is not None:
            raise error
        if archive_error is not None:
            raise archive_error
        self._feedback('archive', 1.0, 1.0)
        self.result.error_code = int(ErrorCode.SUCCESS)
        return self.result

    def _fill_result(self, outcome: PipelineResult) -> None:
        r, frame = self.result, outcome.observation.camera_frame if outcome.observation else ''
        stamp = self.node.get_clock().now().to_msg()
        if outcome.hand_track is not None:
            r.hand_track = hand_track_to_msg(outcome.hand_track, make_header(frame, stamp))
        if outcome.wrist_base is not None:
            r.wrist_trajectory = wrist_trajectory_to_msg(outcome.wrist_base, stamp)
        if outcome.hand_commands is not None or outcome.gripper_events:
            r.hand_commands = hand_commands_to_msg(outcome.hand_commands, outcome.gripper_events,
                                                   make_header('', stamp))
        if outcome.trajectory is not None:
            r.joint_trajectory = joint_trajectory_to_msg(outcome.trajectory,
                                                         make_header('', stamp))

    def _archive(self, outcome: PipelineResult, plan: VideoPlan, observation: Observation,
                 prompts: tuple[str, ...], seed: int,
                 error: StageError | None) -> StageError | None:
        """Archive the plan (failed ones too) and publish it; return an ARCHIVE_FAILED error."""
        from lvp_common.plan_archive import write_plan_archive

        node = self.node
        if error is None:
            self._feedback('archive', 0.0, 1.0 - ARCHIVE_SHARE)
        record = plan_record(outcome, prompts, plan, observation, {
            'plan_source': plan.source.value, 'tool': 'plan_and_execute', 'seed': seed,
            'notes': self.notes, 'messages': outcome.messages,
            'error': None if error is None else {'code': error.code.name, 'stage': error.stage,
                                                 'message': error.message}})
        node.publish_record(record)
        folder = Path(node._str('archive_dir')).expanduser()
        name = time.strftime('%Y%m%d-%H%M%S') + f'-{bytes(self.handle.goal_id.uuid).hex()[:8]}'
        if seed != int(self.goal.seed):
            name += f'-sample{seed - int(self.goal.seed)}'
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = write_plan_archive(folder / name, record)
        except (OSError, ValueError) as exc:
            message = f'could not write the plan archive in {folder}: {exc}'
            node.get_logger().error(message)
            return StageError('archive', ErrorCode.ARCHIVE_FAILED, message)
        self.result.archive_path = str(path)
        return None


def main(args: list[str] | None = None) -> None:
    # One thread runs the goal (it blocks while the robot moves); the others serve the cancel
    # and the clients and subscriptions.
    run_node(PlanAndExecuteNode, args, multithreaded=True)

if __name__ == '__main__':
    main()
