# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""MuJoCo backend in the lvp_sim world: tracking, real grasps, stop, camera, safety agreement."""

import dataclasses

import numpy as np
import pytest
from lvp_common.artifacts import GripperAction, GripperEvent, JointTrajectory
from lvp_exec.execution import ExecutionError, ExecutionRequest, ExecutionStoppedError
from lvp_exec.ik import DampedLeastSquaresIk
from lvp_exec.robots import G1ArmConfig, load_g1_arm, load_panda
from lvp_exec.safety import SafetyFilter, default_safety_config
from lvp_exec.synthetic_paths import smooth_joint_path, wrist_path_from_joints
from lvp_exec.timing import parameterize
from lvp_sim.mujoco_executor import (
    MujocoArmSim,
    MujocoExecutor,
    SimConfig,
    SimulationError,
    write_video,
)
from lvp_sim.mujoco_model import mujoco_urdf
from lvp_sim.scripted_pick import scripted_pick
from lvp_sim.tasks import TaskKind, TaskSpec, evaluate_task
from lvp_sim.world import SceneRenderer, world_config_for

ROBOTS = {'panda': load_panda, 'g1_right': load_g1_arm}
EMBODIMENTS = {'panda': 'franka_gripper', 'g1_right': 'g1_inspire'}
JOINT_TOLERANCE = 0.005
"""rad; measured 1.2 mrad (Panda) and 0.4 mrad (G1) in free motion with the default gains."""
EE_TOLERANCE = 0.002
"""m; measured 0.1 mm (Panda) and 0.1 mm (G1) in free motion."""
LIFT = TaskSpec('reach_grasp_lift', TaskKind.LIFT, 'cube')


@pytest.fixture(scope='module', params=sorted(ROBOTS))
def name(request):
    return request.param


@pytest.fixture(scope='module')
def robot(name):
    return ROBOTS[name]()


@pytest.fixture(scope='module')
def executor():
    sim = MujocoExecutor()
    yield sim
    sim.close()


def test_urdf_for_mujoco_has_no_dae_or_package_paths(robot, executor):
    xml = mujoco_urdf(robot)
    assert 'package://' not in xml
    assert '.dae' not in xml
    world = executor.world_for(robot).world
    for joint in robot.joint_names:
        assert world.model.joint(f'robot/{joint}').qposadr.shape == (1,)
    # The world's objects are there too: the robot executes in the lvp_sim world.
    for body in ('cube', 'cup', 'button', 'table'):
        assert world.body_pose(body) is not None


def test_planned_trajectory_is_tracked(robot, executor):
    joints = smooth_joint_path(robot, np.random.default_rng(0), amplitude=0.3)
    path = DampedLeastSquaresIk(robot).solve(wrist_path_from_joints(robot, joints), robot.home)
    trajectory = parameterize(path, robot.limits).trajectory
    SafetyFilter(robot).check(trajectory, robot.home)
    result = executor.execute(ExecutionRequest(robot, trajectory))
    np.testing.assert_array_equal(result.executed.times, trajectory.times)
    assert result.max_tracking_error < JOINT_TOLERANCE
    assert result.max_ee_error < EE_TOLERANCE
    assert result.frames.shape[0] == 0


def test_scripted_pick_lifts_the_cube(name, robot, executor):
    pick = scripted_pick(robot, executor.world_for(robot).world.config)
    SafetyFilter(robot).check(pick.request.trajectory, robot.home)
    result = executor.execute(pick.request)
    outcome = evaluate_task(LIFT, result.initial_state, result.final_state)
    assert outcome.success, outcome.message
    # The cube rode up with the end effector: it slipped less than 2.5 cm of the lift.
    assert outcome.measured > pick.lift_height - 0.025
    # Contact forces disturb the arm a little while it squeezes (G1: ~0.09 rad at the wrist).
    assert result.max_ee_error < 0.01
    assert result.end_effector_positions.shape == (len(result.executed.times),
                                                   len(result.end_effector_joints))


def test_pick_without_closing_fails_the_lift(robot, executor):
    pick = scripted_pick(robot, executor.world_for(robot).world.config, close=False)
    result = executor.execute(pick.request)
    outcome = evaluate_task(LIFT, result.initial_state, result.final_state)
    assert not outcome.success
    assert abs(outcome.measured) < 0.01


def test_should_stop_holds_the_arm_where_it_was(robot, executor):
    pick = scripted_pick(robot, executor.world_for(robot).world.config)
    stop_after = 0.5 * pick.close_time
    at_stop = {}

    def should_stop() -> bool:
        if executor.sim_time >= stop_after:
            at_stop['q'] = executor.arm_positions()
            return True
        return False

    with pytest.raises(ExecutionStoppedError) as info:
        executor.execute(dataclasses.replace(pick.request, should_stop=should_stop))
    assert isinstance(info.value, ExecutionError)
    assert info.value.stopped_at == pytest.approx(stop_after, abs=0.003)
    # The arm was moving at the stop; it holds there (within 2 mrad) instead of going on.
    held = executor.arm_positions()
    np.testing.assert_allclose(held, at_stop['q'], atol=2e-3)
    # ... short of the grasp it was heading for.
    gap = np.linalg.norm(robot.ee_pose(held).position - pick.grasp_pose.position)
    assert gap > 0.03


def test_observation_extrinsic_projects_the_cube_onto_its_pixels(robot, executor):
    sim = executor.world_for(robot)
    sim.reset(robot.home, sim.ee_initial)
    world = sim.world
    with SceneRenderer(world) as renderer:
        obs = renderer.observation()
        ids = renderer.geom_ids(show_hand=False)
    assert obs.camera_to_base is not None and obs.intrinsics is not None
    cube_world = world.body_pose('cube').position
    cube_base = world.world_to_robot_base().transform_points(cube_world)
    # The extrinsic is in the robot's base frame (the G1's pelvis), not the table frame.
    expected = world.config.robot_mount.inverse() @ world.camera_to_world()
    np.testing.assert_allclose(obs.camera_to_base.as_matrix(), expected.as_matrix(), atol=1e-9)
    in_camera = obs.camera_to_base.inverse().transform_points(cube_base)
    u, v = obs.intrinsics.project(in_camera)[0]
    cube_geom = world.model.geom('cube').id
    assert ids[int(round(v)), int(round(u))] == cube_geom
    rows, cols = np.nonzero(ids == cube_geom)
    assert np.hypot(cols.mean() - u, rows.mean() - v) < 6.0


def test_safety_table_plane_matches_the_world(name, robot):
    layout = world_config_for(EMBODIMENTS[name])
    table = default_safety_config(robot).table_height
    assert table is not None
    assert table == pytest.approx(layout.table_top_in_robot_base(), abs=1e-6)
    # The home pose is clear of the table: hand mount/TCP above it in the robot base frame.
    assert robot.ee_pose(robot.home).position[2] > table + 0.05


def test_execution_video_is_rendered_from_the_scene_camera(tmp_path):
    robot = load_panda()
    joints = smooth_joint_path(robot, np.random.default_rng(1), num_frames=9, amplitude=0.2)
    path = DampedLeastSquaresIk(robot).solve(wrist_path_from_joints(robot, joints), robot.home)
    trajectory = parameterize(path, robot.limits).trajectory
    config = SimConfig(render_fps=5.0, render_scale=0.25, overview=True, overview_width=96,
                       overview_height=72)
    result = MujocoArmSim(robot, config).execute(trajectory)
    assert result.frames.shape[1:] == (120, 208, 3)
    assert result.overview_frames.shape[1:] == (72, 96, 3)
    assert len(result.frames) >= int(trajectory.duration * 5.0)
    video = write_video(result.frames, tmp_path / 'execution.mp4', result.frame_rate)
    assert video.stat().st_size > 1000


def test_wrong_end_effector_commands_are_rejected(executor):
    robot = load_g1_arm()
    pick = scripted_pick(robot, executor.world_for(robot).world.config)
    events = (GripperEvent(0.5, GripperAction.CLOSE, 0.0),)
    with pytest.raises(SimulationError, match='HandCommands, not GripperEvents'):
        executor.execute(dataclasses.replace(pick.request, gripper_events=events))


def test_left_g1_arm_lifts_a_cube_on_its_side():
    robot = load_g1_arm(G1ArmConfig(side='left'))
    layout = world_config_for('g1_inspire')
    mirrored = dataclasses.replace(layout, cube_xy=(layout.cube_xy[0], -layout.cube_xy[1]))
    executor = MujocoExecutor(mirrored)
    try:
        result = executor.execute(scripted_pick(robot, mirrored).request)
    finally:
        executor.close()
    outcome = evaluate_task(LIFT, result.initial_state, result.final_state)
    assert outcome.success, outcome.message


def test_path_tolerance_defaults_per_embodiment_and_bad_values_are_refused():
    from lvp_exec.robots import load_g1_arm
    from lvp_sim.mujoco_executor import PATH_TOLERANCE_RAD, MujocoExecutor, SimulationError

    panda, g1 = load_panda(), load_g1_arm()
    assert MujocoExecutor().tolerance_for(panda) == PATH_TOLERANCE_RAD['franka_gripper']
    assert MujocoExecutor(path_tolerance_rad=0.0).tolerance_for(g1) == (
        PATH_TOLERANCE_RAD['g1_inspire'])
    assert MujocoExecutor(path_tolerance_rad=0.05).tolerance_for(g1) == 0.05
    for bad in (-0.1, float('nan')):
        with pytest.raises(SimulationError, match='path_tolerance_rad must be >= 0'):
            MujocoExecutor(path_tolerance_rad=bad)


def test_keep_state_continues_from_where_the_last_execution_left_the_world():
    robot = load_panda()
    sim = MujocoExecutor(keep_state=True)
    try:
        assert sim.start_positions(robot) is None  # nothing run yet: the first one resets
        pick = scripted_pick(robot, sim.world_for(robot).world.config)
        stop_at = 0.5 * (pick.close_time + float(pick.request.trajectory.times[-1])) + 0.4
        with pytest.raises(ExecutionStoppedError):
            sim.execute(dataclasses.replace(pick.request,
                                            should_stop=lambda: sim.sim_time >= stop_at))
        held, fingers = sim.arm_positions(), sim.end_effector_positions()
        cube = sim.world.body_pose('cube').position
        rest = sim.world.config.table_top_z + sim.world.config.cube_half_size
        assert cube[2] > rest + 0.02, cube  # stopped mid-lift, the cube in the hand
        np.testing.assert_array_equal(sim.start_positions(robot), held)
        # From there: hold still 0.5 s, the gripper kept closed.
        still = JointTrajectory(np.array([0.0, 0.5]), robot.joint_names, np.stack([held, held]))
        result = sim.execute(ExecutionRequest(robot, still, (
            GripperEvent(0.0, GripperAction.CLOSE, 0.0),)))
        start_cube = result.initial_state.object_poses['cube'].position
        np.testing.assert_allclose(start_cube, cube, atol=2e-3)  # no reset: still lifted
        np.testing.assert_allclose(result.executed.positions[0], held, atol=1e-9)
        np.testing.assert_allclose(result.end_effector_positions[0], fingers, atol=1e-3)
        assert result.final_state.object_poses['cube'].position[2] > rest + 0.02
        shifted = still.positions.copy()
        shifted[:, 0] += 2.0 * sim.tolerance_for(robot)
        off = JointTrajectory(still.times, robot.joint_names, shifted)
        with pytest.raises(SimulationError, match="from the arm's current state"):
            sim.execute(ExecutionRequest(robot, off))
        sim.forget_state()
        assert sim.start_positions(robot) is None
        result = sim.execute(ExecutionRequest(robot, off))  # reset: the cube back at rest
        assert result.initial_state.object_poses['cube'].position[2] == pytest.approx(rest,
                                                                                     abs=1e-3)
    finally:
        sim.close()
