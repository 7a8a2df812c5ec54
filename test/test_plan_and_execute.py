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
from lvp_common.plan_archive import read_plan_archive
from lvp_common.ros_conversions import (
    intrinsics_to_camera_info,
    joint_trajectory_from_msg,
    make_header,
    metres_to_depth_image,
    rgb8_to_image,
    video_plan_from_msg,
)
from lvp_common.ros_node import LATCHED
from rclpy.action.client import ActionClient
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

    def send(self, goal, feedback: list | None = None):
        future = self.action.send_goal_async(
            goal, feedback_callback=None if feedback is None
            else lambda msg: feedback.append(msg.feedback))
        assert spin_until(self.node, future.done, 20.0), 'no goal response'
        handle = future.result()
        assert handle is not None
        return handle

    def result(self, handle, timeout_s: float = 120.0):
        future = handle.get_result_async()
        assert spin_until(self.node, future.done, timeout_s), 'no result'
        return future.result().result


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
            plan = video_plan_from_msg(result.plan)
            assert plan.num_frames == NUM_FRAMES and plan.source.value == 'recorded_demonstration'
            assert len(result.hand_track.frames) > 0 and result.hand_track.handedness
            assert len(result.wrist_trajectory.poses) > 0
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

            # cancel mid-way: as soon as hand tracking starts
            feedback.clear()
            handle = client.send(goal_for(demonstration), feedback)
            assert spin_until(node, lambda: any(f.stage == 'hand_tracking' for f in feedback),
                              60.0), [f.stage for f in feedback]
            cancel = handle.cancel_goal_async()
            assert spin_until(node, cancel.done, 10.0)
            result = client.result(handle)
            assert result.error_code == Result.CANCELED, result.error_message
            assert result.failed_stage in ('hand_tracking', 'reconstruction', 'retargeting',
                                           'grasping', 'ik', 'timing', 'safety', 'executing')

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
            assert video_plan_from_msg(result.plan).source.value == 'generated'
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
    from lvp_exec.ros2_control_backend import StandaloneRosNode

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
