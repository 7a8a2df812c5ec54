"""The ROS-free decisions of a PlanAndExecute goal: task, samples, frames, names, liveness."""

import pytest
from lvp_bringup.goal_session import (
    PlannerLiveness,
    archive_name,
    base_frame_for,
    camera_to_base_pose,
    candidate_count,
    goal_prompts,
)
from lvp_bringup.pipeline import ErrorCode, StageError


def test_task_samples_and_frames():
    assert goal_prompts('  pick up the cube ', []) == ('pick up the cube',)
    assert goal_prompts('ignored', ['grasp', ' lift ']) == ('grasp', 'lift')
    with pytest.raises(StageError, match='no task') as err:
        goal_prompts('  ', ['ok', ' '])
    assert err.value.code == ErrorCode.INVALID_GOAL and err.value.stage == 'validation'
    assert candidate_count(0, 0, 8) == 1 and candidate_count(8, 0, 8) == 8
    assert candidate_count(0, 3, 8) == 3 and candidate_count(3, 3, 8) == 3  # the deprecated name
    assert candidate_count(3, 1, 8) == 3
    with pytest.raises(StageError, match=r'num_samples 9 is above the max_samples parameter'):
        candidate_count(0, 9, 8)
    with pytest.raises(StageError, match=r'num_candidates 9 is above the max_samples'):
        candidate_count(9, 0, 8)
    with pytest.raises(StageError, match=r'num_candidates 3 and num_samples 4 disagree'):
        candidate_count(3, 4, 8)
    assert base_frame_for('franka_gripper', '') == 'panda_link0'
    assert base_frame_for('g1_inspire', '') == 'pelvis'
    assert base_frame_for('g1_inspire', 'torso_link') == 'torso_link'


def test_camera_to_base_parameter():
    assert camera_to_base_pose([]) is None
    pose = camera_to_base_pose([0.5, 0.0, 0.7, 0.0, 0.0, 0.0, 1.0])
    assert pose.position.tolist() == [0.5, 0.0, 0.7]
    for bad in ([0.5, 0.0, 0.7], [0.5, 0.0, float('nan'), 0.0, 0.0, 0.0, 1.0]):
        with pytest.raises(StageError, match='camera_to_base must be empty'):
            camera_to_base_pose(bad)


def test_archive_names_are_unique_per_goal_and_sample():
    goal = bytes(range(16))
    first = archive_name(goal, 0, now=0.0)
    assert first.endswith('-00010203') and archive_name(goal, 2, now=0.0) == first + '-candidate2'


def test_planner_liveness_by_feedback_age_and_graph():
    now = [100.0]
    liveness = PlannerLiveness(5.0, clock=lambda: now[0])
    now[0] = 104.9
    liveness.check(server_ready=True)  # silent 4.9 s: still alive
    liveness.heard()
    now[0] = 109.0
    liveness.check(server_ready=True)
    now[0] = 110.0
    with pytest.raises(StageError, match=r'no feedback from the planner for 5\.1 s') as err:
        liveness.check(server_ready=True)
    assert err.value.code == ErrorCode.PLANNER_FAILED and err.value.stage == 'planning'
    with pytest.raises(StageError, match='server went away'):
        PlannerLiveness(5.0, clock=lambda: now[0]).check(server_ready=False)
    PlannerLiveness(0.0, clock=lambda: now[0]).check(server_ready=True)  # 0 = no limit
