"""plan_and_execute in its own process, with a planner process, over loopback.

The plan is lvp_sim's synthetic reach-grasp-lift demonstration written as a video and served by
the demonstration planner (so MediaPipe finds a hand), the goal carries the demonstration's own
RGB-D observation, and camera_to_base is the demonstration camera's pose. The ros2_control run
puts the fake joint_trajectory_controller (+ its JointState) and franka_gripper of ros_helpers in
this test process, and plan_and_execute talks to them over loopback.
"""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import pytest
from action_msgs.msg import GoalStatus, GoalStatusArray
from lvp_common.ros.conversions import (
    intrinsics_to_camera_info,
    joint_trajectory_from_msg,
    make_header,
    metres_to_depth_image,
    rgb8_to_image,
)
from lvp_common.ros.node import LATCHED
from lvp_common.ros.plan_archive import read_plan_archive
from rclpy.action.client import ActionClient
from rclpy.serialization import serialize_message
from ros_helpers import (
    FR3_JOINTS,
    FakeFrankaGripper,
    FakeTrajectoryController,
    RosContext,
    spin_until,
    start_node,
    stop_node,
)
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory as JointTrajectoryMsg

from lvp_common import topics
from lvp_interfaces.action import PlanAndExecute

pytestmark = pytest.mark.ros
Result = PlanAndExecute.Result
NUM_FRAMES = 17


@pytest.fixture(scope='module')
def demonstration():
    from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration

    return render_demonstration(DemonstrationConfig(num_frames=NUM_FRAMES))


def pose_param(pose) -> str:
    values = [*pose.position.tolist(), *pose.quaternion.tolist()]
    return '[' + ','.join(f'{v:.9f}' for v in values) + ']'


def goal_for(demo, task: str = 'pick up the green cube', **fields) -> PlanAndExecute.Goal:
    obs = demo.observation
    header = make_header(obs.camera_frame)
    goal = PlanAndExecute.Goal(task=task, embodiment='franka_gripper', **fields)
    goal.image = rgb8_to_image(obs.rgb, header)
    goal.depth = metres_to_depth_image(obs.depth, header)
    goal.camera_info = intrinsics_to_camera_info(obs.intrinsics, header)
    return goal


class Client:
    """A PlanAndExecute action client on a test node."""

    def __init__(self, node) -> None:
        self.node = node
        self.action = ActionClient(node, PlanAndExecute, topics.PLAN_AND_EXECUTE_ACTION)
        assert spin_until(node, self.action.server_is_ready, 60.0), 'no plan_and_execute server'
        # let the server's response writers find this client too (see ros_helpers.send_goal)
        spin_until(node, lambda: False, 1.0)

    def send(self, goal, feedback: list | None = None):
        future = self.action.send_goal_async(
            goal, feedback_callback=None if feedback is None
            else lambda msg: feedback.append(msg.feedback))
        assert spin_until(self.node, future.done, 20.0), 'no goal response'
        handle = future.result()
        assert handle is not None
        return handle

    def result(self, handle, timeout_s: float = 120.0):
        return self.outcome(handle, timeout_s)[1]

    def outcome(self, handle, timeout_s: float = 120.0):
        """(the goal's final status, action_msgs GoalStatus.STATUS_*; its result)."""
        future = handle.get_result_async()
        assert spin_until(self.node, future.done, timeout_s), 'no result'
        return future.result().status, future.result().result


def start_plan_and_execute(demo, tmp_path, domain_id: int, **params):
    return start_node('lvp_bringup.plan_and_execute_node',
                      {'camera_to_base': pose_param(demo.observation.camera_to_base),
                       'archive_dir': tmp_path / 'archives', 'planner_wait_s': 60.0, **params},
                      domain_id)


def test_plan_and_execute_with_the_demonstration_planner(demonstration, tmp_path,
                                                         ros_domain_id):
    from lvp_common.video_io import write_video

    video = write_video(tmp_path / 'demo.mp4', demonstration.plan.frames,
                        demonstration.plan.fps)
    planner = start_node('lvp_planner.demonstration_node',
                         {'video_path': video, 'width': 416, 'height': 240}, ros_domain_id)
    server = start_plan_and_execute(demonstration, tmp_path, ros_domain_id)
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('plan_and_execute_test', context=context)
            published: list[JointTrajectoryMsg] = []
            node.create_subscription(JointTrajectoryMsg, topics.JOINT_TRAJECTORY,
                                     published.append, LATCHED)
            client = Client(node)

            # a full goal; a second one meanwhile is rejected
            feedback: list = []
            handle = client.send(goal_for(demonstration, seed=1), feedback)
            assert handle.accepted
            assert not client.send(goal_for(demonstration)).accepted, 'a second goal ran'
            result = client.result(handle)
            assert result.error_code == Result.SUCCESS, (result.failed_stage,
                                                         result.error_message)
            assert result.failed_stage == ''
            # a compact result: the frames are in the archive and on the topics, not here
            assert result.plan_source == 'recorded_demonstration'
            assert (result.sample_index, result.seed) == (0, 1)
            assert len(result.wrist_trajectory.poses) > 0
            # stamped in the robot's real root frame (the URDF's, in TF), not base_link
            assert result.wrist_trajectory.header.frame_id == 'panda_link0'
            assert len(serialize_message(result)) < 300_000
            traj = joint_trajectory_from_msg(result.joint_trajectory)
            assert len(traj.times) > 1 and len(traj.joint_names) == 7
            assert spin_until(node, lambda: any(f.stage == 'executing' for f in feedback), 5.0)
            stages = [f.stage for f in feedback]
            for stage in ('planning', 'hand_tracking', 'reconstruction', 'retargeting',
                          'grasping', 'ik', 'timing', 'safety', 'executing'):
                assert stage in stages, stages
            overall = [f.overall_progress for f in feedback]
            assert overall == sorted(overall) and overall[-1] <= 1.0
            record = read_plan_archive(result.archive_path)
            assert record.plan is not None and record.plan.num_frames == NUM_FRAMES
            assert record.hand_track is not None and record.hand_track.num_frames > 0
            assert record.prompts == ('pick up the green cube',)
            assert record.joint_trajectory is not None and record.wrist_base is not None
            assert record.metadata['tool'] == 'plan_and_execute'
            assert spin_until(node, lambda: bool(published), 10.0), 'no latched joint trajectory'

            # plan only: everything but the execution
            feedback.clear()
            result = client.result(client.send(goal_for(demonstration, plan_only=True),
                                               feedback))
            assert result.error_code == Result.SUCCESS, result.error_message
            assert len(result.joint_trajectory.points) > 1
            assert read_plan_archive(result.archive_path).metadata['plan_only'] is True
            spin_until(node, lambda: False, 0.5)
            assert 'executing' not in {f.stage for f in feedback}

            # cancel mid-way: as soon as hand tracking starts; the goal ends CANCELED (not
            # aborted) in the stage it was reporting when the cancel arrived
            feedback.clear()
            handle = client.send(goal_for(demonstration), feedback)
            assert spin_until(node, lambda: any(f.stage == 'hand_tracking' for f in feedback),
                              60.0), [f.stage for f in feedback]
            cancel = handle.cancel_goal_async()
            assert spin_until(node, cancel.done, 10.0)
            status, result = client.outcome(handle)
            assert status == GoalStatus.STATUS_CANCELED, status
            assert result.error_code == Result.CANCELED, result.error_message
            spin_until(node, lambda: False, 0.3)  # the last feedback messages
            assert result.failed_stage == feedback[-1].stage != 'planning', (
                result.failed_stage, [f.stage for f in feedback])
            assert f'during {result.failed_stage}' in result.error_message

            # an invalid goal: no task sentence
            result = client.result(client.send(goal_for(demonstration, task='  ')))
            assert result.error_code == Result.INVALID_GOAL
            assert result.failed_stage == 'validation' and 'task' in result.error_message
            bad_image = goal_for(demonstration)
            bad_image.image.encoding = 'no-such-encoding'
            result = client.result(client.send(bad_image))
            assert result.error_code == Result.INVALID_GOAL, result.error_message
            node.destroy_node()
    finally:
        log = stop_node(server)
        print(f'plan_and_execute log:\n{log}\nplanner log:\n{stop_node(planner)}')
    assert 'goal done: SUCCESS' in log, log


def test_plan_and_execute_with_the_model_planner(demonstration, tmp_path, ros_domain_id):
    from lvp_planner.tiny_models import build_tiny_models, save_wan_dir

    wan_dir = save_wan_dir(build_tiny_models(seed=0), tmp_path / 'wan')
    planner = start_node('lvp_planner.planner_node',
                         {'wan_dir': wan_dir, 'device': 'cpu', 'num_frames': 9, 'height': 32,
                          'width': 48, 'num_inference_steps': 2, 'max_text_tokens': 8},
                         ros_domain_id)
    server = start_plan_and_execute(demonstration, tmp_path, ros_domain_id)
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('plan_and_execute_test', context=context)
            client = Client(node)
            feedback: list = []
            goal = goal_for(demonstration)
            goal.camera_info.width = 0  # absent: a default field of view is assumed
            result = client.result(client.send(goal, feedback))
            # the tiny model draws no hand: the orchestration reports where and why it stopped
            assert result.error_code == Result.NO_HAND_FOUND, (result.error_code,
                                                               result.error_message)
            assert result.failed_stage == 'hand_tracking'
            assert result.plan_source == 'generated'
            assert spin_until(node, lambda: any(f.stage == 'hand_tracking' for f in feedback),
                              5.0)
            steps = [(f.denoising_step, f.denoising_steps) for f in feedback
                     if f.stage == 'planning' and f.denoising_steps]
            assert steps and steps[-1] == (2, 2), steps
            meta: dict = read_plan_archive(result.archive_path).metadata
            assert meta['error']['code'] == 'NO_HAND_FOUND'
            assert any('field of view' in note for note in meta['notes'])
            node.destroy_node()
    finally:
        log = stop_node(server)
        print(f'plan_and_execute log:\n{log}\nplanner log:\n{stop_node(planner)}')
    assert 'NO_HAND_FOUND' in log, log


def test_plan_and_execute_on_ros2_control(demonstration, tmp_path, ros_domain_id):
    """execution_backend ros2_control against a fake FR3 controller, joint states and gripper."""
    from lvp_common.video_io import write_video
    from lvp_exec.robots import load_panda
    from lvp_exec.ros_action_client import StandaloneRosNode

    home = load_panda().home
    video = write_video(tmp_path / 'demo.mp4', demonstration.plan.frames,
                        demonstration.plan.fps)
    with StandaloneRosNode('fake_franka', domain_id=ros_domain_id, threads=4) as robot:
        controller = FakeTrajectoryController(
            robot.node, '/fake_fr3/arm_controller/follow_joint_trajectory',
            joint_states_topic='/fake_fr3/joint_states', initial=home)
        gripper = FakeFrankaGripper(robot.node, '/fake_fr3/gripper')
        planner = start_node('lvp_planner.demonstration_node',
                             {'video_path': video, 'width': 416, 'height': 240}, ros_domain_id)
        server = start_plan_and_execute(
            demonstration, tmp_path, ros_domain_id, execution_backend='ros2_control',
            controller_action='/fake_fr3/arm_controller/follow_joint_trajectory',
            gripper_action_namespace='/fake_fr3/gripper',
            joint_states_topic='/fake_fr3/joint_states')
        try:
            with RosContext(ros_domain_id) as context:
                import rclpy

                node = rclpy.create_node('plan_and_execute_test', context=context)
                states: list[JointState] = []
                node.create_subscription(JointState, topics.JOINT_STATES, states.append, 10)
                client = Client(node)

                # a full run: the controller gets the trajectory under its own joint names
                result = client.result(client.send(goal_for(demonstration, seed=1)))
                assert result.error_code == Result.SUCCESS, (result.failed_stage,
                                                             result.error_message)
                assert len(controller.goals) == 1
                sent = controller.goals[0].trajectory
                assert tuple(sent.joint_names) == FR3_JOINTS
                planned = joint_trajectory_from_msg(result.joint_trajectory)
                assert planned.joint_names[0] == 'panda_joint1'
                # the plan started where the (fake) robot's joint states said the arm was
                assert max(abs(a - b) for a, b in zip(sent.points[0].positions, home)) < 1e-6
                assert [c[0] for c in gripper.calls].count('grasp') == 1, gripper.calls
                # the executed trajectory was played as JointState (all Panda joints, fingers)
                assert spin_until(node, lambda: len(states) > 5, 10.0)
                assert 'panda_joint1' in states[-1].name
                assert 'panda_finger_joint1' in states[-1].name

                # cancel while the arm moves: the controller goal is canceled too
                controller.started.clear()
                feedback: list = []
                handle = client.send(goal_for(demonstration, seed=2), feedback)
                assert spin_until(node, controller.started.is_set, 90.0), 'never executed'
                cancel = handle.cancel_goal_async()
                assert spin_until(node, cancel.done, 10.0)
                result = client.result(handle)
                assert result.error_code == Result.CANCELED, (result.failed_stage,
                                                              result.error_message)
                assert result.failed_stage == 'executing', result.failed_stage
                assert 'stopped on request' in result.error_message, result.error_message
                assert controller.canceled.wait(5.0), 'the controller goal was not canceled'

                # a G1 goal on the Franka's backend is refused before anything is planned
                controller.goals.clear()
                goal = goal_for(demonstration)
                goal.embodiment = 'g1_inspire'
                result = client.result(client.send(goal))
                assert result.error_code == Result.INVALID_GOAL, result.error_message
                assert ("ros2_control backend drives the franka_gripper embodiment, not "
                        "'g1_inspire'") in result.error_message, result.error_message
                assert controller.goals == []
                node.destroy_node()
        finally:
            log = stop_node(server)
            print(f'plan_and_execute log:\n{log}\nplanner log:\n{stop_node(planner)}')
    assert 'goal done: SUCCESS' in log and 'goal done: CANCELED' in log, log


def planner_statuses(node) -> dict[bytes, int]:
    """Follow the planner's goal statuses (its action status topic): goal id -> latest status."""
    from rclpy.qos import qos_profile_action_status_default

    statuses: dict[bytes, int] = {}

    def keep(msg: GoalStatusArray) -> None:
        for status in msg.status_list:
            statuses[bytes(status.goal_info.goal_id.uuid)] = status.status

    node.create_subscription(GoalStatusArray,
                             f'{topics.GENERATE_VIDEO_PLAN_ACTION}/_action/status', keep,
                             qos_profile_action_status_default)
    return statuses


def planner_is_working(feedback: list) -> bool:
    """The planner's own feedback was forwarded (not only plan_and_execute's first message)."""
    return any(f.stage == 'planning' and f.denoising_steps for f in feedback)


def test_first_goal_with_the_launch_defaults(tmp_path, ros_domain_id):
    """No weights, no video, no camera, no camera_to_base: the synthetic demonstration planner
    and a goal with only a task (as `ros2 action send_goal` sends it) succeed in sim; the sim's
    camera pose is on /tf_static; a cancel while planning cancels the planner's goal too."""
    from lvp_common.ros.tf_listener import TF_STATIC_QOS, TF_STATIC_TOPIC, tf_message_type

    planner = start_node('lvp_planner.demonstration_node', {'num_frames': 17}, ros_domain_id)
    server = start_node('lvp_bringup.plan_and_execute_node',
                        {'archive_dir': tmp_path / 'archives', 'planner_wait_s': 60.0,
                         'archive_keep': 2}, ros_domain_id)
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('first_goal_test', context=context)
            static: list = []
            node.create_subscription(tf_message_type(), TF_STATIC_TOPIC, static.append,
                                     TF_STATIC_QOS)
            statuses = planner_statuses(node)
            client = Client(node)

            goal = PlanAndExecute.Goal(task='pick up the green cube', seed=3)
            result = client.result(client.send(goal), 300.0)
            assert result.error_code == Result.SUCCESS, (result.failed_stage,
                                                         result.error_message)
            assert result.plan_source == 'synthetic_demonstration'
            assert any('rendered the sim world' in n for n in result.notes), result.notes
            assert result.wrist_trajectory.header.frame_id == 'panda_link0'
            assert len(result.joint_trajectory.points) > 1
            record = read_plan_archive(result.archive_path)
            assert record.plan is not None and record.plan.source.value == \
                'synthetic_demonstration'
            assert spin_until(node, lambda: any(
                t.header.frame_id == 'panda_link0'
                and t.child_frame_id == 'camera_color_optical_frame'
                for m in static for t in m.transforms), 10.0), 'no camera pose on /tf_static'

            # too many samples: refused before anything is planned
            result = client.result(client.send(PlanAndExecute.Goal(task='press the red button',
                                                                   num_samples=100)))
            assert result.error_code == Result.INVALID_GOAL
            assert 'num_samples 100' in result.error_message and 'max_samples' in \
                result.error_message

            # cancel while the planner renders: CANCELED at planning, the planner goal canceled
            # (a plan finished before the cancel lands is canceled at a later stage: not the
            # case under test, so that attempt is repeated, up to 3 times)
            for _attempt in range(3):
                feedback: list = []
                planned_before = set(statuses)
                handle = client.send(PlanAndExecute.Goal(task='press the red button', seed=4,
                                                         plan_only=True), feedback)
                assert spin_until(node, lambda f=feedback: planner_is_working(f), 120.0), \
                    feedback
                handle.cancel_goal_async()
                status, result = client.outcome(handle, 60.0)
                if result.failed_stage == 'planning':
                    break
            assert status == GoalStatus.STATUS_CANCELED, status
            assert (result.error_code, result.failed_stage) == (Result.CANCELED, 'planning'), (
                result.error_code, result.failed_stage, result.error_message)
            new = lambda: [statuses[g] for g in statuses if g not in planned_before]  # noqa: E731
            assert spin_until(node, lambda: GoalStatus.STATUS_CANCELED in new(), 60.0), new()
            node.destroy_node()
    finally:
        log = stop_node(server)
        print(f'plan_and_execute log:\n{log}\nplanner log:\n{stop_node(planner)}')
    assert 'goal done: SUCCESS' in log, log


def test_a_planner_killed_mid_goal_ends_the_goal_within_10_s(tmp_path, ros_domain_id):
    """Fault injection: the planner process dies while it plans (SIGKILL); the goal ends
    PLANNER_FAILED within 10 s (DDS alone notices the dead process only after ~20 s). On an idle
    machine the plan can be finished before the kill lands (the goal then succeeds: not the
    case under test): that attempt is repeated with a new planner, up to 3 times."""
    import signal
    import time

    server = start_node('lvp_bringup.plan_and_execute_node',
                        {'archive_dir': tmp_path / 'archives', 'planner_wait_s': 60.0,
                         'publish_joint_states': False}, ros_domain_id)
    logs: list[str] = []
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('planner_kill_test', context=context)
            client = Client(node)
            for _attempt in range(3):
                # a long synthetic plan, so that the planner is still rendering when killed
                planner = start_node('lvp_planner.demonstration_node', {'num_frames': 97},
                                     ros_domain_id)
                try:
                    feedback: list = []
                    handle = client.send(PlanAndExecute.Goal(task='pick up the green cube',
                                                             plan_only=True), feedback)
                    assert spin_until(node, lambda f=feedback: planner_is_working(f), 120.0), \
                        feedback
                    planner.send_signal(signal.SIGKILL)
                    killed = time.monotonic()
                    status, result = client.outcome(handle, 30.0)
                    elapsed = time.monotonic() - killed
                finally:
                    logs.append(stop_node(planner))
                if status != GoalStatus.STATUS_SUCCEEDED:
                    break  # the kill came while the planner planned
            assert status == GoalStatus.STATUS_ABORTED, status
            assert (result.error_code, result.failed_stage) == (Result.PLANNER_FAILED,
                                                                'planning'), result.error_message
            assert 'no feedback from the planner' in result.error_message, result.error_message
            assert elapsed < 10.0, elapsed
            node.destroy_node()
    finally:
        log = stop_node(server)
        print(f'plan_and_execute log:\n{log}\nplanner logs:\n' + '\n'.join(logs))


def test_safety_parameters_reach_the_pipeline(tmp_path, ros_domain_id):
    """The node's `safety.<embodiment>.*` parameters are the limits its pipeline checks: a joint
    step bound no real path meets refuses the plan at ik; a non-finite limit refuses the goal."""
    planner = start_node('lvp_planner.demonstration_node', {'num_frames': 17}, ros_domain_id)
    server = start_node('lvp_bringup.plan_and_execute_node',
                        {'archive_dir': tmp_path / 'archives', 'planner_wait_s': 60.0,
                         'safety.franka_gripper.max_joint_step': 0.0001}, ros_domain_id)
    bad = start_node('lvp_bringup.plan_and_execute_node',
                     {'archive_dir': tmp_path / 'archives_bad', 'planner_wait_s': 60.0,
                      'safety.franka_gripper.table_clearance': '.nan'}, ros_domain_id + 100)
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('safety_parameters_test', context=context)
            client = Client(node)
            result = client.result(client.send(PlanAndExecute.Goal(
                task='pick up the green cube', seed=3, plan_only=True)), 300.0)
            assert (result.error_code, result.failed_stage) == (Result.UNREACHABLE, 'ik'), (
                result.error_code, result.failed_stage, result.error_message)
            assert 'max_joint_step 0.0001 rad' in result.error_message, result.error_message
            node.destroy_node()
        with RosContext(ros_domain_id + 100) as context:
            import rclpy

            node = rclpy.create_node('safety_parameters_test', context=context)
            client = Client(node)
            result = client.result(client.send(PlanAndExecute.Goal(
                task='pick up the green cube', seed=3, plan_only=True)), 60.0)
            assert result.error_code == Result.INVALID_GOAL, result.error_message
            assert 'safety.franka_gripper.table_clearance' in result.error_message
            assert 'finite' in result.error_message
            node.destroy_node()
    finally:
        print(f'plan_and_execute log:\n{stop_node(server)}\n{stop_node(bad)}')
        stop_node(planner)
