"""A scripted reach-grasp-lift of the world's cube from known poses: a physics check of
the MuJoCo executor (tests, tools/benchmarks/benchmark_sim_pick.py), no perception involved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from lvp_common.artifacts import (
    GripperAction,
    GripperEvent,
    HandCommands,
    JointTrajectory,
    WristTrajectory,
)
from lvp_common.geometry import Pose, continuous_quaternions
from lvp_exec.embodiment_hardware import EndEffector
from lvp_exec.execution import ExecutionRequest
from lvp_exec.ik import DampedLeastSquaresIk
from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT, RobotModel
from lvp_exec.timing import TimingConfig, parameterize
from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS, INSPIRE_NATIVE_MAX
from scipy.spatial.transform import Rotation, Slerp

from lvp_sim.mujoco_model import sim_hardware
from lvp_sim.world import WorldConfig


@dataclass(frozen=True)
class ScriptedPick:
    """A reach-grasp-lift of the world's cube built from known poses (a physics check).

    request: the trajectory with the gripper CLOSE event / Inspire close commands at
    `close_time` (s); grasp_pose / lift_pose: the EE (Franka TCP, G1 hand mount) targets in the
    robot base frame; lift_height: how far (m) the EE rises after the grasp.
    """

    request: ExecutionRequest
    close_time: float
    grasp_pose: Pose
    lift_pose: Pose
    lift_height: float


FRANKA_TCP_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
"""Franka TCP pointing straight down (z = -z of the base), closing axis (y) along -y of the base
(as at the Panda's home, so the wrist turns least)."""


INSPIRE_PINCH_THUMB = np.array([0.090, 0.019, 0.142])


INSPIRE_PINCH_INDEX = np.array([0.051, 0.028, 0.193])
"""Thumb and index fingertips (Inspire `base` frame, m) at 30 % closure with the thumb opposed:
5 cm apart, where they touch a 5 cm cube. The scripted G1 grasp puts the cube centre midway and
pitches the hand so the thumb -> index line is horizontal."""


INSPIRE_PALM_DOWN = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [-1.0, 0.0, 0.0]])
"""Inspire `base` frame in the robot base frame for a palm-down hand with the fingers forward
(+x) and the thumb to the left (+y): base z (fingers) = +x, base x (palm normal) = -z."""


def _segment(robot: RobotModel, ik: DampedLeastSquaresIk, start_q: np.ndarray,
             poses: list[Pose], timing: TimingConfig) -> JointTrajectory:
    """Solve straight-line EE segments through `poses` and time them from rest to rest."""
    current = robot.ee_pose(start_q)
    points = [current, *poses]
    positions, quats = [], []
    for a, b in zip(points, points[1:]):
        for s in np.linspace(0.0, 1.0, 6)[1:]:
            rot = Slerp([0.0, 1.0], Rotation.from_quat([a.quaternion, b.quaternion]))(s)
            positions.append((1.0 - s) * a.position + s * b.position)
            quats.append(rot.as_quat())
    path = WristTrajectory(np.arange(1, len(positions) + 1) * 0.25, np.array(positions),
                           continuous_quaternions(np.array(quats)), robot.base_frame)
    return parameterize(ik.solve(path, start_q), robot.limits, timing).trajectory


def _concatenate(parts: list[JointTrajectory]) -> JointTrajectory:
    """Join trajectories that each start where the previous one ended (at rest)."""
    times, q, v, a = [parts[0].times], [parts[0].positions], [], []
    for part in parts[1:]:
        times.append(part.times[1:] + times[-1][-1])
        q.append(part.positions[1:])
    for part in parts:
        n = len(part.times) if part is parts[0] else len(part.times) - 1
        zeros = np.zeros((n, part.positions.shape[1]))
        vel = part.velocities if part.velocities is not None else zeros
        acc = part.accelerations if part.accelerations is not None else zeros
        v.append(vel[-n:])
        a.append(acc[-n:])
    return JointTrajectory(np.concatenate(times), parts[0].joint_names, np.concatenate(q),
                           np.concatenate(v), np.concatenate(a))


def _hold(q: np.ndarray, names: tuple[str, ...], duration: float, rate: float) -> JointTrajectory:
    n = int(round(duration * rate)) + 1
    return JointTrajectory(np.arange(n) / rate, names, np.repeat(q[None], n, axis=0),
                           np.zeros((n, len(q))), np.zeros((n, len(q))))


def scripted_pick(robot: RobotModel, layout: WorldConfig, close: bool = True,
                  lift_height: float = 0.12, grasp_dwell: float = 0.8) -> ScriptedPick:
    """Return a top-down reach-grasp-lift of the cube for `robot` in the world `layout`.

    The cube's initial pose comes from the layout (table frame) and is mapped into the robot
    base frame (`layout.robot_mount`).
    Franka: TCP straight down at the cube centre, closing across the cube, CLOSE (width 0) on
    arrival, OPEN never. G1: palm down, fingers forward, the Inspire pinch point on the cube
    centre, thumb pre-rotated into opposition, all fingers closing on arrival. `close=False`
    keeps the gripper/hand open (the lift must then fail). Paths by DampedLeastSquaresIk, timing
    by `parameterize` (half the velocity/acceleration limits), `grasp_dwell` s at the grasp.
    """
    gripper = sim_hardware(robot).end_effector is EndEffector.PARALLEL_GRIPPER
    cube_in_table = Pose.from_rotation_matrix(
        np.array([*layout.cube_xy, layout.table_top_z + layout.cube_half_size]),
        Rotation.from_euler('z', layout.cube_yaw).as_matrix())
    cube = layout.robot_mount.inverse() @ cube_in_table
    yaw = float(Rotation.from_quat(cube.quaternion).as_euler('xyz')[2])
    # A cube is symmetric under quarter turns: grasp across the face nearest the default yaw.
    yaw = (yaw + np.pi / 4.0) % (np.pi / 2.0) - np.pi / 4.0
    turn = Rotation.from_euler('z', yaw).as_matrix()
    if gripper:
        rotation = turn @ FRANKA_TCP_DOWN
        # A parallel gripper is symmetric about its approach axis: turn least from home.
        if float(rotation[:, 1] @ robot.ee_pose(robot.home).rotation[:, 1]) < 0.0:
            rotation = rotation @ np.diag([-1.0, -1.0, 1.0])
        grasp = Pose.from_rotation_matrix(cube.position, rotation)
    else:
        # The left Inspire hand is the right one mirrored through its base x-z plane.
        mirror = np.array([1.0, -1.0 if robot.name.startswith('g1_left') else 1.0, 1.0])
        thumb, index = INSPIRE_PINCH_THUMB * mirror, INSPIRE_PINCH_INDEX * mirror
        chord = index - thumb
        pitch = float(np.arctan2(-chord[0], chord[2]))  # fingers this far (rad) below level
        hand_rot = turn @ Rotation.from_euler('y', pitch).as_matrix() @ INSPIRE_PALM_DOWN
        centre = 0.5 * (thumb + index)
        grasp = Pose.from_rotation_matrix(cube.position - hand_rot @ centre,
                                          hand_rot @ INSPIRE_BASE_IN_MOUNT.T)
    above = Pose(grasp.position + np.array([0.0, 0.0, 0.08]), grasp.quaternion)
    lifted = Pose(grasp.position + np.array([0.0, 0.0, lift_height]), grasp.quaternion)
    ik = DampedLeastSquaresIk(robot)
    timing = TimingConfig()
    reach = _segment(robot, ik, robot.home, [above, grasp], timing)
    dwell = _hold(reach.positions[-1], robot.joint_names, grasp_dwell, timing.control_rate)
    lift = _segment(robot, ik, reach.positions[-1], [lifted], timing)
    trajectory = _concatenate([reach, dwell, lift])
    close_time = float(reach.times[-1])
    if gripper:
        events = (GripperEvent(close_time, GripperAction.CLOSE, 0.0),) if close else ()
        request = ExecutionRequest(robot, trajectory, gripper_events=events)
    else:
        names = tuple(a.name for a in INSPIRE_ACTUATORS)
        opened = np.ones(len(names))
        opened[names.index('thumb_rotation')] = 0.0  # thumb opposed before the approach
        closed = np.zeros(len(names)) if close else opened
        times = np.array([0.0, close_time, close_time + 0.5 * grasp_dwell])
        normalized = np.stack([opened, opened, closed])
        joints = tuple(a.joint for a in INSPIRE_ACTUATORS)
        positions = np.array([[a.closed_position + n * (a.open_position - a.closed_position)
                               for a, n in zip(INSPIRE_ACTUATORS, row)] for row in normalized])
        commands = HandCommands(times, joints, positions, names, normalized,
                                np.round(normalized * INSPIRE_NATIVE_MAX))
        request = ExecutionRequest(robot, trajectory, hand_commands=commands)
    return ScriptedPick(request, close_time, grasp, lifted, lift_height)
