"""lvp_exec.motion: EE path -> IK -> timing -> safety -> execution; failures name their stage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from lvp_common.artifacts import GripperAction, GripperEvent, HandCommands, WristTrajectory
from lvp_exec.execution import ExecutionError, ExecutionRequest
from lvp_exec.ik import UnreachablePathError
from lvp_exec.motion import (
    MotionConfig,
    MotionError,
    MotionErrorCode,
    MotionRequest,
    MotionResult,
    error_code_for,
    execute_motion,
)
from lvp_exec.robots import load_g1_arm, load_panda
from lvp_exec.safety import (
    LinkCollisionError,
    PathDiscontinuityError,
    TableCollisionError,
    VelocityLimitError,
    default_safety_config,
)
from lvp_exec.synthetic_paths import jump_sideways, smooth_joint_path, wrist_path_from_joints
from lvp_sim.mujoco_executor import MujocoExecutor, TrackingError

EE_TOLERANCE = 0.002
"""m, as test_sim.py: free-motion EE tracking in the sim (measured ~0.1 mm)."""


class RecordingExecutor:
    """An Executor that records what it is asked to do; `start` None = starts where told."""

    name = 'recording'

    def __init__(self, start=None, fail_start: bool = False) -> None:
        self.start = start
        self.fail_start = fail_start
        self.requests: list[ExecutionRequest] = []

    def start_positions(self, robot):
        if self.fail_start:
            raise ExecutionError('no sensor_msgs/JointState on /joint_states within 5 s')
        return self.start

    def execute(self, request: ExecutionRequest):
        self.requests.append(request)
        return 'ran'


@pytest.fixture(scope='module')
def panda():
    return load_panda()


@pytest.fixture(scope='module')
def sim():
    executor = MujocoExecutor()
    yield executor
    executor.close()


def reachable_path(robot, seed: int = 0, amplitude: float = 0.3, frames: int = 33,
                   start=None):
    joints = smooth_joint_path(robot, np.random.default_rng(seed), num_frames=frames,
                               amplitude=amplitude, start=start)
    return wrist_path_from_joints(robot, joints)


def test_reachable_path_executes_in_sim_and_tracks(panda, sim):
    # The path starts away from home: the trajectory approaches its first target first.
    ee_path = reachable_path(panda, start=panda.home + np.array([0.2, 0.1, 0, 0, 0, 0, 0]))
    close = GripperEvent(1.0, GripperAction.CLOSE, 0.0)
    stages: list[str] = []

    def run_stage(stage, work):
        stages.append(stage)
        return work()

    result = execute_motion(MotionRequest(panda, ee_path, (close,)), sim, run_stage=run_stage)
    assert stages == ['ik', 'timing', 'safety', 'executing']
    assert set(result.timings) == set(stages) and result.passed == stages
    assert result.executed and not result.start_measured  # the sim starts at home
    trajectory = result.trajectory
    assert trajectory is not None
    np.testing.assert_array_equal(trajectory.positions[0], panda.home)
    # The trajectory ends at the last IK waypoint, which puts the TCP on the last target.
    assert result.joint_path is not None
    np.testing.assert_allclose(trajectory.positions[-1], result.joint_path.positions[-1],
                               atol=1e-6)
    end = panda.ee_pose(trajectory.positions[-1])
    assert np.linalg.norm(end.position - ee_path.positions[-1]) < 0.001
    execution = result.execution
    np.testing.assert_array_equal(execution.executed.times, trajectory.times)
    assert execution.max_ee_error < EE_TOLERANCE
    # The close event moved onto the trajectory's clock, where the plan's t = 1 s is reached.
    assert result.timed is not None
    (moved,) = result.gripper_events
    assert moved.time == pytest.approx(float(result.timed.execution_time(1.0)))
    assert moved.time > 1.4  # after the approach (>= 0.5 s)
    assert moved.action is GripperAction.CLOSE
    # ... and the sim's fingers closed after it (each finger 0.04 m open at the start).
    fingers = execution.end_effector_positions
    before = trajectory.times < moved.time
    assert np.all(fingers[before][0] > 0.035)
    assert np.all(fingers[-1] < 0.01)


def test_plan_only_moves_nothing_and_retimes_hand_commands():
    robot = load_g1_arm()
    ee_path = reachable_path(robot, seed=1)
    commands = HandCommands(np.array([0.0, 1.0, 2.0]), ('index_proximal_joint',),
                            np.array([[0.0], [0.735], [1.47]]), ('index',),
                            np.array([[1.0], [0.5], [0.0]]), np.array([[1000], [500], [0]]))
    recorder = RecordingExecutor(start=robot.home + 0.05)
    # A random reachable path ignores the table; this test is about the commands' clock.
    from dataclasses import replace

    from lvp_exec.safety import default_safety_config

    no_table = replace(default_safety_config(robot), table_height=None)
    result = execute_motion(MotionRequest(robot, ee_path, hand_commands=commands), recorder,
                            MotionConfig(plan_only=True, safety=no_table))
    assert not result.executed and recorder.requests == []
    assert 'executing' not in result.timings
    # An executor given for plan_only still says where the robot is: the plan starts there.
    assert result.start_measured
    trajectory = result.trajectory
    assert trajectory is not None and result.timed is not None
    np.testing.assert_allclose(trajectory.positions[0], robot.home + 0.05)
    moved = result.hand_commands
    assert moved is not None
    np.testing.assert_allclose(moved.times, result.timed.execution_time(commands.times))
    np.testing.assert_array_equal(moved.normalized, commands.normalized)


def test_hand_commands_of_another_hand_are_refused_at_safety():
    robot = load_g1_arm()
    commands = HandCommands(np.array([0.0, 1.0]), ('j',), np.zeros((2, 1)), ('a',),
                            np.array([[1.0], [0.0]]), np.array([[1000], [0]]))
    with pytest.raises(MotionError, match=r"actuators \['a'\] the Inspire hand") as info:
        execute_motion(MotionRequest(robot, reachable_path(robot, seed=1),
                                     hand_commands=commands),
                       config=MotionConfig(plan_only=True))
    assert info.value.stage == 'safety'


def test_no_executor_is_refused_unless_plan_only(panda):
    with pytest.raises(ValueError, match='plan_only'):
        execute_motion(MotionRequest(panda, reachable_path(panda)))
    result = execute_motion(MotionRequest(panda, reachable_path(panda)),
                            config=MotionConfig(plan_only=True))
    assert result.trajectory is not None and not result.start_measured
    np.testing.assert_array_equal(result.start_joints, panda.home)


def test_unreachable_path_fails_at_ik_and_executes_nothing(panda):
    far = reachable_path(panda)
    far = dataclasses.replace(far, positions=far.positions + np.array([2.0, 0.0, 0.0]))
    recorder = RecordingExecutor()
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, far), recorder)
    error = info.value
    assert error.stage == 'ik'
    assert error_code_for(error) is MotionErrorCode.UNREACHABLE
    assert isinstance(error.__cause__, UnreachablePathError)
    assert 'waypoint 0' in error.message and 'unreachable' in error.message
    assert error.result is not None and error.result.joint_path is None
    assert error.result.passed == []
    assert recorder.requests == []


def test_too_fast_for_the_safety_limits_fails_at_safety_naming_joint_and_time(panda):
    # A 1 rad swing in 1 s: timing uses half the speed limits, this safety filter allows 0.2.
    fast = reachable_path(panda, seed=2, amplitude=1.0, frames=17)
    strict = dataclasses.replace(default_safety_config(panda), velocity_scale=0.2)
    recorder = RecordingExecutor()
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, fast), recorder, MotionConfig(safety=strict))
    error = info.value
    assert error.stage == 'safety'
    assert error_code_for(error) is MotionErrorCode.SAFETY_VIOLATION
    cause = error.__cause__
    assert isinstance(cause, VelocityLimitError)
    assert cause.joint is not None and cause.value is not None
    assert cause.joint in panda.joint_names
    assert abs(cause.value) > 0.2 * panda.limits.velocity[panda.joint_names.index(cause.joint)]
    assert cause.joint in error.message and f't = {cause.time:.3f} s' in error.message
    # The timed trajectory that failed is kept for inspection; nothing was executed.
    assert error.result is not None and error.result.trajectory is not None
    assert error.result.passed == ['ik', 'timing']
    assert recorder.requests == []


def test_path_through_the_table_fails_at_safety(panda):
    start = panda.ee_pose(panda.home)
    times = np.linspace(0.0, 2.0, 21)
    positions = np.linspace(start.position, [0.5, 0.0, -0.05], len(times))
    down = WristTrajectory(times, positions, np.tile(start.quaternion, (len(times), 1)),
                           panda.base_frame)
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, down), config=MotionConfig(plan_only=True))
    assert info.value.stage == 'safety'
    assert isinstance(info.value.__cause__, TableCollisionError)
    assert 'table' in info.value.message


def test_a_path_that_does_not_move_fails_at_timing(panda):
    here = panda.ee_pose(panda.home)
    still = WristTrajectory(np.zeros(1), here.position[None], here.quaternion[None],
                            panda.base_frame)
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, still), config=MotionConfig(plan_only=True))
    assert info.value.stage == 'timing'
    assert error_code_for(info.value) is MotionErrorCode.UNREACHABLE


def test_an_empty_path_fails_at_ik(panda):
    empty = WristTrajectory(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 4)), panda.base_frame)
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, empty), config=MotionConfig(plan_only=True))
    assert info.value.stage == 'ik' and 'no poses' in info.value.message


def test_unreadable_start_state_fails_at_executing_before_ik(panda):
    result = MotionResult(panda, reachable_path(panda))
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, result.ee_path), RecordingExecutor(fail_start=True),
                       result=result)
    assert info.value.stage == 'executing' and not info.value.stopped
    assert error_code_for(info.value) is MotionErrorCode.EXECUTION_FAILED
    assert 'current joint state' in info.value.message and '/joint_states' in info.value.message
    assert result.joint_path is None


def test_executor_start_state_is_where_the_trajectory_starts(panda):
    start = panda.home + np.array([0.1, 0.0, -0.1, 0.1, 0.0, -0.1, 0.1])
    recorder = RecordingExecutor(start=start)

    def stop() -> bool:
        return False

    result = execute_motion(MotionRequest(panda, reachable_path(panda), should_stop=stop),
                            recorder)
    (sent,) = recorder.requests
    assert result.start_measured and result.execution == 'ran'
    np.testing.assert_array_equal(sent.trajectory.positions[0], start)
    assert sent.should_stop is stop and sent.robot is panda


def test_stop_request_ends_canceled_at_executing(panda, sim):
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, reachable_path(panda), should_stop=lambda: True),
                       sim)
    error = info.value
    assert error.stage == 'executing' and error.stopped
    assert error.stopped_at == pytest.approx(0.0, abs=0.01)
    assert error_code_for(error) is MotionErrorCode.CANCELED
    assert error.result is not None and not error.result.executed


def test_run_stage_errors_pass_through_and_keep_the_partial_result(panda):
    class CanceledError(Exception):
        pass

    def run_stage(stage, work):
        if stage == 'safety':
            raise CanceledError(stage)
        return work()

    result = MotionResult(panda, reachable_path(panda))
    with pytest.raises(CanceledError):
        execute_motion(MotionRequest(panda, result.ee_path), RecordingExecutor(),
                       run_stage=run_stage, result=result)
    assert result.joint_path is not None and result.timed is not None
    assert not result.executed


def _issue_23_path(robot):
    """The reachable 49-frame path of seed 2 whose second half jumps 0.4 m sideways in 1 ms:
    before the continuity checks IK bridged it, TOPP-RA and the safety filter passed it, the sim
    tracked it 1.1 rad off, and it was reported SUCCESS."""
    joints = smooth_joint_path(robot, np.random.default_rng(2))
    return jump_sideways(wrist_path_from_joints(robot, joints))


def test_a_path_that_jumps_is_refused_at_ik_naming_the_waypoint(panda):
    recorder = RecordingExecutor()
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, _issue_23_path(panda)), recorder)
    error = info.value
    assert error.stage == 'ik' and error_code_for(error) is MotionErrorCode.UNREACHABLE
    cause = error.__cause__
    assert isinstance(cause, PathDiscontinuityError)
    assert cause.index == 24 and cause.time == pytest.approx(1.438, abs=1e-3)
    assert cause.value is not None and cause.value > 300.0  # m/s
    assert 'waypoint 23 to 24 (t = 1.438 s)' in error.message
    assert 'max_ee_speed 2.00 m/s' in error.message
    assert error.result is not None and error.result.joint_path is None
    assert recorder.requests == []


def test_ik_solutions_that_jump_are_refused_even_at_a_plausible_speed(panda):
    """The same jump with the path-speed check off: IK reaches it, but only by turning a joint
    further than the Cartesian step allows (no detour is accepted)."""
    lenient = dataclasses.replace(default_safety_config(panda), max_ee_speed=float('inf'))
    recorder = RecordingExecutor()
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, _issue_23_path(panda)), recorder,
                       MotionConfig(safety=lenient))
    error = info.value
    assert error.stage == 'ik' and error_code_for(error) is MotionErrorCode.UNREACHABLE
    cause = error.__cause__
    assert isinstance(cause, PathDiscontinuityError) and cause.index == 24
    assert cause.joint in panda.joint_names
    assert cause.value is not None and cause.limit is not None and cause.value > cause.limit
    assert f'{cause.joint} moves' in error.message and 'from waypoint 23 to 24' in error.message
    assert recorder.requests == []


def test_consecutive_ik_solutions_of_good_paths_pass_the_continuity_checks(panda):
    for seed in range(4):
        ee_path = reachable_path(panda, seed=seed, amplitude=0.8, frames=49)
        result = execute_motion(MotionRequest(panda, ee_path), config=MotionConfig(
            plan_only=True))
        assert result.passed == ['ik', 'timing', 'safety']


def test_links_near_the_worlds_wall_are_refused_though_the_ee_origin_is_inside(panda):
    """Turning the Panda round to face the wall: the TCP stays inside the workspace box and
    above the table, but the hand's collision hull reaches the lvp_sim wall (x = -0.53 m)."""
    behind = panda.home.copy()
    behind[0], behind[1] = 2.8, 0.0
    joints = panda.home + np.linspace(0.0, 1.0, 33)[:, None] * (behind - panda.home)
    ee_path = wrist_path_from_joints(panda, joints)
    config = default_safety_config(panda)
    assert np.all(ee_path.positions[:, 0] > config.workspace_min[0])
    recorder = RecordingExecutor()
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, ee_path), recorder)
    error = info.value
    assert error.stage == 'safety'
    assert error_code_for(error) is MotionErrorCode.SAFETY_VIOLATION
    cause = error.__cause__
    assert isinstance(cause, LinkCollisionError)
    assert cause.frame is not None and 'wall' in error.message and cause.frame in error.message
    assert cause.value is not None and cause.value < config.link_clearance
    assert recorder.requests == []


def test_tracking_beyond_the_path_tolerance_aborts_execution_failed(panda, sim):
    """With the Cartesian checks off, a path into the table reaches the sim: the table stops
    the arm, the tracking error passes path_tolerance_rad and the run ends EXECUTION_FAILED."""
    start = panda.ee_pose(panda.home)
    times = np.linspace(0.0, 2.0, 21)
    positions = np.linspace(start.position, [0.5, 0.0, -0.05], len(times))
    down = WristTrajectory(times, positions, np.tile(start.quaternion, (len(times), 1)),
                           panda.base_frame)
    unchecked = dataclasses.replace(default_safety_config(panda), table_height=None,
                                    obstacles=())
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, down), sim, MotionConfig(safety=unchecked))
    error = info.value
    assert error.stage == 'executing'
    assert error_code_for(error) is MotionErrorCode.EXECUTION_FAILED
    assert isinstance(error.__cause__, TrackingError)
    assert 'beyond path_tolerance_rad 0.400 rad' in error.message
    assert error.result is not None and not error.result.executed


def test_the_sim_checks_against_the_world_it_simulates(panda):
    """A half turn towards the back: clear of the default layout's wall, refused in a world
    whose wall stands 0.2 m behind the table (the executor's `world_config`)."""
    from lvp_sim.world import WorldConfig

    turned = panda.home.copy()
    turned[0] = 2.0
    joints = panda.home + np.linspace(0.0, 1.0, 33)[:, None] * (turned - panda.home)
    ee_path = wrist_path_from_joints(panda, joints)
    plan_only = MotionConfig(plan_only=True)
    execute_motion(MotionRequest(panda, ee_path), MujocoExecutor(), plan_only)
    with pytest.raises(MotionError) as info:
        execute_motion(MotionRequest(panda, ee_path),
                       MujocoExecutor(world_config=WorldConfig(wall_distance=0.2)), plan_only)
    assert info.value.stage == 'safety' and isinstance(info.value.__cause__, LinkCollisionError)
    assert 'wall' in info.value.message
