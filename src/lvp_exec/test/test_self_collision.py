"""The safety filter keeps the arm's links clear of the robot's own body (self_collision)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lvp_exec.robots import load_g1_arm, load_panda
from lvp_exec.safety import LinkCollisionError, SafetyFilter, default_safety_config
from lvp_exec.self_collision import self_collision_for
from lvp_exec.synthetic_paths import slow_joint_move

ROBOTS = {'panda': load_panda(), 'g1_right': load_g1_arm()}
_FRANKA_DEFAULT = default_safety_config(ROBOTS['panda']).self_clearance
assert _FRANKA_DEFAULT is not None
CLEARANCE: float = _FRANKA_DEFAULT


def config_for(robot):
    """The robot's defaults with only the self check left among the geometric ones (on at the
    Franka's default clearance, also for the G1, whose default leaves it off)."""
    return dataclasses.replace(default_safety_config(robot), obstacles=(), table_height=None,
                               workspace_min=(-9.0,) * 3, workspace_max=(9.0,) * 3,
                               self_clearance=CLEARANCE)


def test_defaults_on_for_the_franka_off_for_the_g1():
    assert default_safety_config(ROBOTS['panda']).self_clearance == 0.0
    assert default_safety_config(ROBOTS['g1_right']).self_clearance is None




def folded(robot, seed: int = 0):
    """The first random joint configuration (fixed seed, inside the limits) where a moving
    link's hull overlaps the robot's own body's (closer than the default self clearance)."""
    check = self_collision_for(robot, CLEARANCE)
    rng = np.random.default_rng(seed)
    margin = 0.05
    full = np.full(len(check.pairs), CLEARANCE)
    for _ in range(500):
        q = rng.uniform(robot.limits.lower + margin, robot.limits.upper - margin)
        if check.violations(q, full):
            return q
    raise AssertionError('no self-colliding configuration found')


@pytest.mark.parametrize('name', sorted(ROBOTS))
def test_home_is_clear_and_adjacent_links_are_not_pairs(name):
    robot = ROBOTS[name]
    check = self_collision_for(robot, CLEARANCE)
    assert check.pairs and not check.violations(robot.home,
                                                np.full(len(check.pairs), CLEARANCE))
    pairs = set(check.pairs)
    adjacent = {'panda': ('panda_link2', 'panda_link1'),
                'g1_right': ('right_elbow_link', 'right_shoulder_yaw_link')}[name]
    assert adjacent not in pairs and adjacent[::-1] not in pairs
    # the moving link is named first
    moving = {robot.model.frames[f].name for f in range(len(robot.model.frames))
              if robot.model.frames[f].parentJoint > 0}
    assert all(link in moving for link, _ in check.pairs)


@pytest.mark.parametrize('name', sorted(ROBOTS))
def test_a_move_into_the_robots_own_body_is_refused(name):
    robot = ROBOTS[name]
    goal = folded(robot)
    trajectory = slow_joint_move(robot, robot.home, goal)
    with pytest.raises(LinkCollisionError, match="robot's own") as error:
        SafetyFilter(robot, config_for(robot)).check(trajectory, robot.home)
    assert error.value.time is not None and 0.0 < error.value.time <= trajectory.times[-1]
    assert error.value.value is not None and error.value.value < CLEARANCE
    # the same move is passed with the self check off (nothing else refuses it)
    SafetyFilter(robot, dataclasses.replace(config_for(robot), self_clearance=None)).check(
        trajectory, robot.home)


def test_a_pair_closer_at_the_start_may_move_apart_not_closer():
    """Starting where a pair is already inside the clearance (the robot is there): moving back
    home passes; going deeper is refused."""
    robot = ROBOTS['g1_right']
    q = folded(robot)
    check = self_collision_for(robot, CLEARANCE)
    home = robot.home
    # a start just inside the clearance on the way from home to the fold
    path = slow_joint_move(robot, home, q)
    first = next(k for k, p in enumerate(path.positions)
                 if check.violations(p, np.full(len(check.pairs), CLEARANCE)))
    start = path.positions[first]
    SafetyFilter(robot, config_for(robot)).check(slow_joint_move(robot, start, home), start)
    deeper = slow_joint_move(robot, start, q)
    if np.max(np.abs(deeper.positions[-1] - start)) > 1e-3:
        with pytest.raises(LinkCollisionError, match="robot's own"):
            SafetyFilter(robot, config_for(robot)).check(deeper, start)
