"""plan_and_execute's plan court (num_candidates) in its own process, with the synthetic
demonstration planner making flawed plans at a known rate, over loopback, in sim.

With flaw_rate 0.5 (flaw_seed 0) the plans of seeds 18, 19, 20 are: a missed grasp (the hand
closes 15 cm beside the cube: every stage passes, the sim twin's lift fails), faithful, and the
wrong object (cube and cup swapped: its path breaks a check on the way to the cup).
The court must execute candidate 1 and report all three verdicts.
"""

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
SEED = 18


def test_num_candidates_executes_the_best_feasible_plan_and_reports_every_verdict(
        tmp_path, ros_domain_id):
    from lvp_sim.plan_flaws import FlawPolicy

    assert [FlawPolicy(0.5).flaw_for(SEED + k) for k in range(3)] == [
        'missed_grasp', None, 'wrong_object']
    planner = start_node('lvp_planner.demonstration_node',
                         {'num_frames': 49, 'flaw_rate': 0.5}, ros_domain_id)
    server = start_node('lvp_bringup.plan_and_execute_node',
                        {'archive_dir': tmp_path / 'archives', 'planner_wait_s': 60.0},
                        ros_domain_id)
    try:
        with RosContext(ros_domain_id) as context:
            import rclpy

            node = rclpy.create_node('court_test', context=context)
            client = ActionClient(node, PlanAndExecute, topics.PLAN_AND_EXECUTE_ACTION)
            assert spin_until(node, client.server_is_ready, 60.0), 'no plan_and_execute server'
            feedback: list = []
            handle = send_goal(client, node, PlanAndExecute.Goal(
                task='pick up the green cube', seed=SEED, num_candidates=3),
                lambda msg: feedback.append(msg.feedback))
            assert handle.accepted
            future = handle.get_result_async()
            assert spin_until(node, future.done, 600.0), 'no result'
            status, result = future.result().status, future.result().result
            assert status == GoalStatus.STATUS_SUCCEEDED, (result.failed_stage,
                                                           result.error_message)
            assert result.error_code == Result.SUCCESS
            assert (result.sample_index, result.seed) == (1, SEED + 1)
            verdicts = result.candidates
            assert [v.index for v in verdicts] == [0, 1, 2]
            assert [v.seed for v in verdicts] == [SEED, SEED + 1, SEED + 2]
            assert [v.feasible for v in verdicts] == [False, True, False]
            assert [v.executed for v in verdicts] == [False, True, False]
            missed, good, wrong = verdicts
            assert missed.failed_stage == 'sim_twin', missed.reasons
            assert 'task not done in the sim twin' in missed.reasons[-1], missed.reasons
            # the wrong object fails where its path first breaks a check: the IK stage's speed
            # limit, or the twin (the gripper closes on nothing or runs into the cup)
            assert wrong.failed_stage in ('ik', 'safety', 'sim_twin') and wrong.reasons
            assert good.reasons == [] and 0.0 < good.score <= 1.0
            assert 'twin_margin' in good.metric_names
            # every candidate archived with its verdict; the executed one marked
            for verdict in verdicts:
                record = read_plan_archive(verdict.archive_path)
                court = record.metadata['court']
                assert isinstance(court, dict), court
                assert (court['index'], court['feasible'], court['executed']) == (
                    verdict.index, verdict.feasible, verdict.executed)
            assert result.archive_path == good.archive_path
            assert len(result.joint_trajectory.points) > 1
            # feedback named the candidates as they were judged
            assert spin_until(node, lambda: any(len(f.verdicts) == 3 for f in feedback), 5.0)
            counts = [len(f.verdicts) for f in feedback]
            assert counts == sorted(counts) and 1 in counts and 2 in counts
            assert {f.num_candidates for f in feedback} == {3}
            judged_first = next(f for f in feedback if len(f.verdicts) == 1)
            assert judged_first.verdicts[0].index == 0 and not judged_first.verdicts[0].feasible
            assert any(f.candidate_index == 3 and f.stage == 'executing' for f in feedback)
            node.destroy_node()
    finally:
        log = stop_node(server)
        print(f'plan_and_execute log:\n{log}\nplanner log:\n{stop_node(planner)}')
    assert 'plan court: candidate 1' in log, log
