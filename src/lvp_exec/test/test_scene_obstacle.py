"""The observed point cloud as an obstacle of the safety filter's link check (scene_obstacle)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]  (cmeel prefix)
import pytest
from lvp_common.artifacts import JointTrajectory
from lvp_exec.collision import LinkGeometry
from lvp_exec.robots import load_panda
from lvp_exec.safety import LinkCollisionError, SafetyFilter, default_safety_config
from lvp_exec.scene_obstacle import SCENE_OBSTACLE_NAME, scene_obstacle

RNG = np.random.default_rng(7)


@pytest.fixture(scope='module')
def panda():
    robot = load_panda()
    return robot, LinkGeometry(robot)


def sweep(robot, angle: float = 1.2, duration: float = 3.0) -> JointTrajectory:
    """Joint 1 from the home pose by `angle` (rad), at rest at both ends."""
    times = np.arange(0.0, duration + 1e-9, 0.02)
    s = 0.5 - 0.5 * np.cos(np.pi * times / duration)
    positions = np.tile(robot.home, (len(times), 1))
    positions[:, 0] += angle * s
    velocities = np.zeros_like(positions)
    velocities[:, 0] = angle * 0.5 * np.pi / duration * np.sin(np.pi * times / duration)
    return JointTrajectory(times, robot.joint_names, positions, velocities)


def tcp_path(robot, trajectory: JointTrajectory) -> np.ndarray:
    return robot.ee_positions(trajectory.positions)


def box_points(centre, size, n: int = 4000) -> np.ndarray:
    """Points on the faces of an axis-aligned box (what a depth camera sees of it and more)."""
    half = 0.5 * np.asarray(size)
    pts = RNG.uniform(-half, half, (n, 3))
    axis = RNG.integers(0, 3, n)
    pts[np.arange(n), axis] = np.where(RNG.random(n) < 0.5, -1.0, 1.0) * half[axis]
    return pts + np.asarray(centre)


def table_points(n: int = 4000) -> np.ndarray:
    return np.c_[RNG.uniform(-0.3, 0.9, (n, 2)), RNG.normal(0.0, 0.002, n)]


def robot_points(robot, geometry: LinkGeometry, q) -> np.ndarray:
    """Points on the robot's own collision hulls at `q` (the robot in its own picture)."""
    data = robot.model.createData()
    pin.forwardKinematics(robot.model, data, np.asarray(q))
    out = []
    for shape, offset, joint in zip(geometry._shapes, geometry._offsets,
                                    geometry.geometry_joints):
        vertices = np.asarray(shape.points()) if hasattr(shape, 'points') else np.zeros((0, 3))
        placement = data.oMi[joint] * offset
        out.append(vertices @ placement.rotation.T + placement.translation)
    return np.vstack(out)


def test_a_box_in_the_arms_way_is_refused_and_named(panda):
    robot, geometry = panda
    trajectory = sweep(robot)
    # a 10 cm box hanging where link 5 passes at joint 1 = 0.6 rad (a shelf's corner)
    cloud = np.vstack([box_points((0.29, 0.24, 0.64), (0.1, 0.1, 0.1)), table_points()])
    limits = default_safety_config(robot)
    SafetyFilter(robot, limits).check(trajectory, robot.home)  # the world alone: safe
    scene = scene_obstacle(cloud, robot, geometry, robot.home, tcp_path(robot, trajectory),
                           limits.table_height)
    assert scene is not None
    with pytest.raises(LinkCollisionError, match=SCENE_OBSTACLE_NAME) as error:
        SafetyFilter(robot, replace(limits, obstacles=limits.obstacles + (scene,))).check(
            trajectory, robot.home)
    assert error.value.frame in ('panda_link4', 'panda_link5', 'panda_link6')
    assert error.value.time is not None
    assert 0.3 < error.value.time < 2.0  # where the sweep reaches it, not at the start


def test_a_box_off_the_path_passes(panda):
    robot, geometry = panda
    trajectory = sweep(robot)
    cloud = np.vstack([box_points((0.3, -0.4, 0.1), (0.15, 0.15, 0.2)), table_points()])
    limits = default_safety_config(robot)
    scene = scene_obstacle(cloud, robot, geometry, robot.home, tcp_path(robot, trajectory),
                           limits.table_height)
    assert scene is not None and len(scene.centres) > 50
    SafetyFilter(robot, replace(limits, obstacles=limits.obstacles + (scene,))).check(
        trajectory, robot.home)


def test_the_table_the_robot_itself_and_the_task_object_are_not_obstacles(panda):
    robot, geometry = panda
    trajectory = sweep(robot)
    ee = tcp_path(robot, trajectory)
    # the object being grasped: a 5 cm cube right at the TCP's path
    cube = box_points(ee[len(ee) // 2], (0.05, 0.05, 0.05), 500)
    cloud = np.vstack([table_points(), robot_points(robot, geometry, robot.home), cube,
                       np.full((5, 3), np.nan)])
    assert scene_obstacle(cloud, robot, geometry, robot.home, ee, 0.0) is None
    # the same robot points seen with the arm elsewhere are in its way: not filtered
    elsewhere = robot.home.copy()
    elsewhere[0] -= 1.0
    scene = scene_obstacle(robot_points(robot, geometry, elsewhere), robot, geometry,
                           robot.home, ee, 0.0)
    assert scene is not None


def test_the_end_effector_is_not_checked_against_the_cloud(panda):
    robot, geometry = panda
    trajectory = sweep(robot)
    scene = scene_obstacle(box_points((0.3, 0.0, 0.3), (0.1, 0.1, 0.1)), robot, geometry,
                           robot.home, tcp_path(robot, trajectory)[:1], 0.0)
    assert scene is not None
    checked = dict(zip(geometry.links, scene.checked))
    assert not checked['panda_hand'] and not checked['panda_leftfinger']
    assert checked['panda_link1'] and checked['panda_link6']


def test_execute_motion_keeps_the_arm_clear_of_the_scene_points(panda):
    """MotionRequest.scene_points: the same EE path is refused at the safety stage with the box
    the camera saw in the arm's way, and planned without it (nothing executed: plan only)."""
    from lvp_exec.motion import MotionConfig, MotionError, MotionRequest, execute_motion
    from lvp_exec.synthetic_paths import wrist_path_from_joints

    robot, _ = panda
    joints = sweep(robot).positions[::8]
    path = wrist_path_from_joints(robot, joints, fps=50.0 / 8.0)
    cloud = np.vstack([box_points((0.29, 0.24, 0.64), (0.1, 0.1, 0.1)), table_points()])
    config = MotionConfig(plan_only=True)
    planned = execute_motion(MotionRequest(robot, path), None, config)
    assert planned.timed is not None and not planned.executed
    with pytest.raises(MotionError) as error:
        execute_motion(MotionRequest(robot, path, scene_points=cloud), None, config)
    assert error.value.stage == 'safety' and SCENE_OBSTACLE_NAME in error.value.message
    # the table and a far box only: planned
    far = np.vstack([box_points((0.3, -0.45, 0.1), (0.1, 0.1, 0.2)), table_points()])
    execute_motion(MotionRequest(robot, path, scene_points=far), None, config)
