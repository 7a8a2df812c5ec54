"""TOPP-RA timing: every sampled limit holds, starts at the current state at rest, plan pace."""

from pathlib import Path

import numpy as np
import pytest
from lvp_exec.ik import DampedLeastSquaresIk
from lvp_exec.robots import load_g1_arm, load_panda
from lvp_exec.synthetic_paths import smooth_joint_path, wrist_path_from_joints
from lvp_exec.timing import TimingConfig, parameterize

ROBOTS = {'panda': load_panda, 'g1_right': load_g1_arm}


@pytest.fixture(scope='module', params=sorted(ROBOTS))
def robot(request):
    return ROBOTS[request.param]()


def _joint_path(robot, seed, amplitude=0.8, fps=16.0, start_offset=0.1):
    rng = np.random.default_rng(seed)
    joints = smooth_joint_path(robot, rng, amplitude=amplitude)
    wrist_path = wrist_path_from_joints(robot, joints, fps=fps)
    current = np.clip(joints[0] + rng.uniform(-start_offset, start_offset, robot.num_joints),
                      robot.limits.lower + 0.05, robot.limits.upper - 0.05)
    return DampedLeastSquaresIk(robot).solve(wrist_path, current)


def _assert_within_limits(robot, trajectory, config):
    dt = 1.0 / config.control_rate
    v_max = config.velocity_scale * robot.limits.velocity
    a_max = config.acceleration_scale * robot.limits.acceleration
    assert trajectory.velocities is not None and trajectory.accelerations is not None
    assert np.all(np.abs(trajectory.velocities) <= v_max + 1e-9)
    assert np.all(np.abs(trajectory.accelerations) <= a_max + 1e-9)
    # The sampled positions' derivatives agree: finite differences are averages of the motion.
    fd = np.diff(trajectory.positions, axis=0) / dt
    assert np.all(np.abs(fd) <= v_max * (1 + 1e-6))
    fdd = np.diff(fd, axis=0) / dt
    assert np.all(np.abs(fdd) <= a_max * (1 + 1e-6))
    assert np.all(trajectory.positions >= robot.limits.lower)
    assert np.all(trajectory.positions <= robot.limits.upper)


@pytest.mark.parametrize('seed', range(6))
@pytest.mark.parametrize('follow_plan_timing', [True, False])
def test_random_paths_respect_every_limit(robot, seed, follow_plan_timing):
    rng = np.random.default_rng(100 + seed)
    config = TimingConfig(velocity_scale=float(rng.uniform(0.2, 1.0)),
                          acceleration_scale=float(rng.uniform(0.2, 1.0)),
                          follow_plan_timing=follow_plan_timing)
    # Fast plans (up to 4x real time) so that the robot's limits, not the plan, bind.
    path = _joint_path(robot, seed, amplitude=1.2, fps=float(rng.uniform(16.0, 64.0)))
    timed = parameterize(path, robot.limits, config)
    _assert_within_limits(robot, timed.trajectory, config)


def test_starts_exactly_at_current_state_at_rest_and_ends_at_rest(robot):
    path = _joint_path(robot, 0)
    timed = parameterize(path, robot.limits)
    traj = timed.trajectory
    np.testing.assert_array_equal(traj.positions[0], path.start)
    assert traj.velocities is not None
    np.testing.assert_array_equal(traj.velocities[0], 0.0)
    np.testing.assert_allclose(traj.positions[-1], path.positions[-1], atol=1e-9)
    np.testing.assert_array_equal(traj.velocities[-1], 0.0)
    assert traj.times[0] == 0.0
    np.testing.assert_allclose(np.diff(traj.times), 0.01)


def test_passes_through_every_ik_waypoint_at_its_execution_time(robot):
    path = _joint_path(robot, 2)
    config = TimingConfig(control_rate=200.0)
    timed = parameterize(path, robot.limits, config)
    traj = timed.trajectory
    for k in range(path.positions.shape[0]):
        q = np.array([np.interp(timed.waypoint_times[k], traj.times, traj.positions[:, j])
                      for j in range(robot.num_joints)])
        # Linear interpolation between 5 ms samples of a smooth motion.
        np.testing.assert_allclose(q, path.positions[k], atol=5e-3)


def test_plan_timing_is_a_lower_bound(robot):
    path = _joint_path(robot, 4, amplitude=0.3)
    timed = parameterize(path, robot.limits)
    plan_steps = np.diff(path.times)
    assert np.all(np.diff(timed.waypoint_times) >= plan_steps - 1e-6)
    # A slow plan (small motion at 16 fps) is followed at its own pace, except where the robot
    # must brake to rest at the end although the plan's hand still moves.
    np.testing.assert_allclose(np.diff(timed.waypoint_times)[:-1], plan_steps[:-1], rtol=1e-3)
    fast = parameterize(path, robot.limits, TimingConfig(follow_plan_timing=False))
    assert fast.trajectory.duration < timed.trajectory.duration
    np.testing.assert_allclose(timed.execution_time(path.times), timed.waypoint_times)


def test_approach_from_a_distant_start_takes_time(robot):
    path = _joint_path(robot, 6, start_offset=0.5)
    timed = parameterize(path, robot.limits)
    assert timed.waypoint_times[0] >= 0.5
    _assert_within_limits(robot, timed.trajectory, TimingConfig())


def test_a_path_that_leaves_a_joint_limit_sharply_does_not_overshoot_it(robot):
    """IK holds a joint at its (inset) limit, then the path turns away fast: a cubic spline
    through those waypoints overshoots the limit; the timed trajectory must not."""
    from lvp_exec.ik import JointPath

    j = robot.num_joints - 1
    upper = robot.limits.upper[j] - 0.02  # the IK's inset
    times = np.arange(12) / 16.0
    start = robot.home.copy()
    positions = np.tile(start, (12, 1))
    positions[:, j] = np.concatenate([np.linspace(upper - 0.6, upper, 5), [upper] * 3,
                                      np.linspace(upper - 0.3, upper - 1.2, 4)])
    path = JointPath(times, robot.joint_names, positions, start,
                     np.zeros(12), np.zeros(12), np.ones(12, dtype=np.int64))
    timed = parameterize(path, robot.limits)
    assert timed.trajectory.positions[:, j].max() <= robot.limits.upper[j] - 0.01 + 1e-9
    _assert_within_limits(robot, timed.trajectory, TimingConfig())


def test_a_grid_that_degenerates_is_replaced_by_another(monkeypatch):
    """A G1 wipe's joint path (recorded from the end-to-end pipeline, dev seed 4; PCHIP
    wrist joints whose second derivative jumps at knots): TOPP-RA's backward pass on the
    default grid collapses to a zero-width controllable set although every feasible set is
    non-empty; another grid density times the same path within the limits."""
    import lvp_exec.timing as timing
    from lvp_exec.ik import JointPath

    robot = load_g1_arm()
    data = np.load(Path(__file__).parent / 'data' / 'g1_wipe_joint_path.npz')
    n = len(data['times'])
    path = JointPath(data['times'], robot.joint_names, data['positions'], data['start'],
                     np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64))
    config = TimingConfig()
    with monkeypatch.context() as patch:
        patch.setattr(timing, 'GRID_DENSITIES', (1.0,))
        with pytest.raises(timing.TimingError, match='FailUncontrollable'):
            parameterize(path, robot.limits, config)
    timed = parameterize(path, robot.limits, config)
    _assert_within_limits(robot, timed.trajectory, config)
    np.testing.assert_allclose(timed.trajectory.positions[-1], path.positions[-1], atol=1e-6)
