"""plan_and_execute with `closed_loop: true` and checks between segments (closed_loop_segment_s)
in sim, over loopback: the cube leaves the grasp mid-lift (the node's sim_knock_out_m); the goal
stops the arm, re-plans from its current joint state and lifts the cube; a cancel while it
re-plans ends CANCELED (the arm was stopped by the check; a cancel landing once the re-plan
moves stops it there)."""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import pytest  # noqa: E402
from action_msgs.msg import GoalStatus  # noqa: E402
from lvp_common.ros.plan_archive import read_plan_archive  # noqa: E402
from rclpy.action.client import ActionClient  # noqa: E402
from ros_helpers import RosContext, send_goal, spin_until, start_node, stop_node  # noqa: E402

from lvp_common import topics  # noqa: E402
from lvp_interfaces.action import PlanAndExecute  # noqa: E402

pytestmark = pytest.mark.ros
Result = PlanAndExecute.Result
SEED = 2


def test_midmotion_closed_loop_replans_a_dropped_cube_and_a_cancel_during_the_replan(
        tmp_path, ros_domain_id):
    planner = start_node('lvp_planner.demonstration_node', {'num_frames': 49}, ros_domain_id)
    server = start_node('lvp_bringup.plan_and_execute_node',
                        {'archive_dir': tmp_path / 'archives', 'planner_wait_s': 60.0,
                         'closed_loop_segment_s': 0.5, 'sim_knock_out_m': 0.06},
                        ros_domain_id)
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('closed_loop_segments_test', context=context)
            client = ActionClient(node, PlanAndExecute, topics.PLAN_AND_EXECUTE_ACTION)
            assert spin_until(node, client.server_is_ready, 60.0), 'no plan_and_execute server'
            feedback: list = []
            handle = send_goal(client, node, PlanAndExecute.Goal(
                task='pick up the green cube', seed=SEED, closed_loop=True),
                lambda msg: feedback.append(msg.feedback))
            future = handle.get_result_async()
            assert spin_until(node, future.done, 600.0), 'no result'
            status, result = future.result().status, future.result().result
            assert status == GoalStatus.STATUS_SUCCEEDED, (result.failed_stage,
                                                           result.error_message, result.notes)
            assert result.replans >= 1 and len(result.replan_reasons) == result.replans
            assert 'left the grasp' in result.replan_reasons[0], result.replan_reasons
            stages = [f.stage for f in feedback]
            assert 'executing' in stages[:stages.index('replanning')]  # stopped mid-motion
            assert any(n.endswith('every check on plan') for n in result.notes), result.notes
            record = read_plan_archive(result.archive_path)
            replan = record.metadata['replan']
            assert isinstance(replan, dict) and replan['parent'] == 0, replan

            # a cancel while it re-plans (the arm stopped by the check): CANCELED
            feedback.clear()
            handle = send_goal(client, node, PlanAndExecute.Goal(
                task='pick up the green cube', seed=SEED, closed_loop=True),
                lambda msg: feedback.append(msg.feedback))
            assert spin_until(node, lambda: any(f.stage == 'replanning' for f in feedback),
                              300.0), [f.stage for f in feedback]
            handle.cancel_goal_async()
            future = handle.get_result_async()
            assert spin_until(node, future.done, 300.0), 'no result'
            status, result = future.result().status, future.result().result
            assert status == GoalStatus.STATUS_CANCELED, (status, result.error_message)
            assert result.error_code == Result.CANCELED
            node.destroy_node()
    finally:
        log = stop_node(server)
        print(f'plan_and_execute log:\n{log}\nplanner log:\n{stop_node(planner)}')
    assert 'closed loop: re-plan 1' in log, log
