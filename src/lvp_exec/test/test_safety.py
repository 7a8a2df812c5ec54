"""Safety filter: each violation class is rejected (fuzzed), valid trajectories pass."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lvp_common.artifacts import JointTrajectory
from lvp_exec.ik import DampedLeastSquaresIk
from lvp_exec.robots import load_g1_arm, load_panda
from lvp_exec.safety import (
    AccelerationLimitError,
    JointLimitError,
    SafetyConfig,
    SafetyFilter,
    StartStateError,
    TableCollisionError,
    TrajectoryFormatError,
    VelocityLimitError,
    WorkspaceError,
    default_safety_config,
)
from lvp_exec.synthetic_paths import slow_joint_move, smooth_joint_path, wrist_path_from_joints
from lvp_exec.timing import parameterize

ROBOTS = {'panda': load_panda(), 'g1_right': load_g1_arm()}
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _valid_trajectory(robot, seed=0):
    joints = smooth_joint_path(robot, np.random.default_rng(seed), amplitude=0.3)
    path = DampedLeastSquaresIk(robot).solve(wrist_path_from_joints(robot, joints), joints[0])
    return parameterize(path, robot.limits).trajectory


VALID = {name: _valid_trajectory(robot) for name, robot in ROBOTS.items()}


def _replace(traj, **fields):
    return dataclasses.replace(traj, **fields)


def _velocities(traj) -> np.ndarray:
    assert traj.velocities is not None
    return traj.velocities


def _accelerations(traj) -> np.ndarray:
    assert traj.accelerations is not None
    return traj.accelerations


robot_names = st.sampled_from(sorted(ROBOTS))


@pytest.mark.parametrize('name', sorted(ROBOTS))
@pytest.mark.parametrize('seed', range(4))
def test_valid_trajectories_pass(name, seed):
    robot = ROBOTS[name]
    traj = _valid_trajectory(robot, seed)
    SafetyFilter(robot).check(traj, traj.positions[0])


@given(name=robot_names, joint=st.integers(0, 6), delta=st.floats(0.015, 0.5),
       sign=st.sampled_from([-1.0, 1.0]))
@FUZZ
def test_fuzz_start_state_mismatch(name, joint, delta, sign):
    robot, traj = ROBOTS[name], VALID[name]
    current = traj.positions[0].copy()
    current[joint] += sign * delta
    with pytest.raises(StartStateError) as info:
        SafetyFilter(robot).check(traj, current)
    assert info.value.joint == robot.joint_names[joint]
    assert robot.joint_names[joint] in str(info.value)


@given(name=robot_names, joint=st.integers(0, 6), speed=st.floats(0.01, 1.0))
@FUZZ
def test_fuzz_start_moving(name, joint, speed):
    robot, traj = ROBOTS[name], VALID[name]
    velocities = _velocities(traj).copy()
    velocities[0, joint] = speed
    with pytest.raises(StartStateError, match='at rest'):
        SafetyFilter(robot).check(_replace(traj, velocities=velocities), traj.positions[0])


@given(name=robot_names, joint=st.integers(0, 6), at=st.floats(0.05, 1.0),
       excess=st.floats(0.001, 0.3), upper=st.booleans(), width=st.integers(1, 80))
@FUZZ
def test_fuzz_joint_limit(name, joint, at, excess, upper, width):
    robot, traj = ROBOTS[name], VALID[name]
    margin = SafetyConfig().position_margin
    q = traj.positions.copy()
    k = max(1, int(at * (len(q) - 1)))
    target = (robot.limits.upper[joint] - margin + excess if upper
              else robot.limits.lower[joint] + margin - excess)
    # A raised-cosine excursion of the joint that peaks beyond the limit at sample k.
    idx = np.arange(len(q))
    window = np.clip(1.0 - np.abs(idx - k) / width, 0.0, 1.0)
    bump = 0.5 - 0.5 * np.cos(np.pi * window)
    q[:, joint] += bump * (target - q[k, joint])
    with pytest.raises(JointLimitError) as info:
        SafetyFilter(robot).check(_replace(traj, positions=q), q[0])
    err = info.value
    assert err.joint == robot.joint_names[joint]
    assert err.time is not None and err.time <= traj.times[k] + 1e-9
    assert err.limit == pytest.approx(robot.limits.upper[joint] - margin if upper
                                      else robot.limits.lower[joint] + margin)


@given(name=robot_names, factor=st.floats(1.01, 3.0))
@FUZZ
def test_fuzz_too_fast_motion(name, factor):
    robot, traj = ROBOTS[name], VALID[name]
    peak = np.max(np.abs(_velocities(traj)) / robot.limits.velocity)
    speedup = factor / peak
    fast = _replace(traj, times=traj.times / speedup, velocities=_velocities(traj) * speedup,
                    accelerations=_accelerations(traj) * speedup ** 2)
    with pytest.raises(VelocityLimitError) as info:
        SafetyFilter(robot).check(fast, traj.positions[0])
    err = info.value
    assert err.joint in robot.joint_names
    assert err.value is not None and err.limit is not None
    assert abs(err.value) > err.limit


@given(name=robot_names, joint=st.integers(0, 6), at=st.floats(0.05, 0.95),
       factor=st.floats(1.01, 5.0))
@FUZZ
def test_fuzz_understated_velocity_field(name, joint, at, factor):
    robot, traj = ROBOTS[name], VALID[name]
    v = _velocities(traj).copy()
    k = int(at * (len(v) - 1))
    v[k, joint] = factor * robot.limits.velocity[joint]
    with pytest.raises(VelocityLimitError) as info:
        SafetyFilter(robot).check(_replace(traj, velocities=v), traj.positions[0])
    assert info.value.joint == robot.joint_names[joint]
    assert info.value.time == pytest.approx(traj.times[k])


@given(name=robot_names, joint=st.integers(0, 6), at=st.floats(0.1, 0.9),
       strength=st.floats(1.2, 3.0), ramp=st.integers(1, 5), sign=st.sampled_from([-1, 1]))
@FUZZ
def test_fuzz_velocity_kink_is_an_acceleration_violation(name, joint, at, strength, ramp, sign):
    robot, traj = ROBOTS[name], VALID[name]
    dt = traj.times[1] - traj.times[0]
    a_max = robot.limits.acceleration[joint]
    # A velocity step of `jump` within one sample: acceleration jump/dt, speed still in limits.
    jump = strength * a_max * dt * 1.05
    assume(jump <= 0.45 * robot.limits.velocity[joint])
    q = traj.positions.copy()
    k = int(at * (len(q) - 1))
    steps = np.clip(np.arange(len(q)) - k, 0, ramp)
    q[:, joint] += sign * jump * dt * steps
    with pytest.raises(AccelerationLimitError) as info:
        SafetyFilter(robot).check(_replace(traj, positions=q), traj.positions[0])
    assert info.value.joint == robot.joint_names[joint]


@given(name=robot_names, joint=st.integers(0, 6), at=st.floats(0.0, 1.0),
       factor=st.floats(1.01, 5.0))
@FUZZ
def test_fuzz_acceleration_field(name, joint, at, factor):
    robot, traj = ROBOTS[name], VALID[name]
    a = _accelerations(traj).copy()
    k = int(at * (len(a) - 1))
    a[k, joint] = -factor * robot.limits.acceleration[joint]
    with pytest.raises(AccelerationLimitError, match=robot.joint_names[joint]):
        SafetyFilter(robot).check(_replace(traj, accelerations=a), traj.positions[0])


@given(name=robot_names, data=st.data())
@settings(max_examples=40, deadline=None)
def test_fuzz_cartesian_checks_match_an_fk_oracle(name, data):
    """Random slow moves anywhere in joint space: the filter's origin checks (link hulls off)
    agree with FK sample by sample."""
    robot = ROBOTS[name]
    config = dataclasses.replace(default_safety_config(robot), obstacles=(),
                                 self_clearance=None)
    margin = config.position_margin + 1e-3
    goal = np.array([data.draw(st.floats(lo + margin, hi - margin))
                     for lo, hi in zip(robot.limits.lower, robot.limits.upper)])
    traj = slow_joint_move(robot, robot.home, goal)
    expected = None
    lo, hi = np.array(config.workspace_min), np.array(config.workspace_max)
    assert config.table_height is not None
    floor = config.table_height + config.table_clearance
    for k, q in enumerate(traj.positions):
        pts = robot.frame_positions(q, (robot.ee_frame_id, *robot.collision_frame_ids))
        if np.any(pts[0] < lo) or np.any(pts[0] > hi):
            expected = (WorkspaceError, traj.times[k])
            break
        if np.any(pts[:, 2] < floor):
            expected = (TableCollisionError, traj.times[k])
            break
    safety = SafetyFilter(robot, config)
    if expected is None:
        safety.check(traj, robot.home)
        return
    with pytest.raises(expected[0]) as info:
        safety.check(traj, robot.home)
    assert info.value.time == pytest.approx(expected[1])
    assert info.value.frame is not None


_MESHES: dict = {}


def _mesh_clearance(robot, q, obstacles, link: str | None = None) -> float:
    """The least distance (m) of the URDF's own collision meshes (not their hulls) of the
    moving links (or of `link` only) to the box obstacles at `q`: coal on the triangle meshes,
    via pinocchio."""
    import coal  # pyright: ignore[reportMissingImports]  (cmeel prefix)
    import pinocchio as pin  # pyright: ignore[reportMissingImports]
    from lvp_exec.robots import robot_data_share_dir

    if robot.name not in _MESHES:
        _MESHES[robot.name] = pin.buildGeomFromUrdf(
            robot.model, str(robot.urdf_path), pin.GeometryType.COLLISION,
            package_dirs=[str(robot_data_share_dir())])
    geometry = _MESHES[robot.name]
    data = robot.model.createData()
    pin.forwardKinematics(robot.model, data, q)
    least = np.inf
    for obj in geometry.geometryObjects:
        if obj.parentJoint == 0 or (
                link is not None and robot.model.frames[obj.parentFrame].name != link):
            continue
        placement = data.oMi[obj.parentJoint] * obj.placement
        for obstacle in obstacles:
            if not isinstance(obstacle.shape, coal.Box):
                continue
            result = coal.DistanceResult()
            least = min(least, coal.distance(
                obj.geometry, coal.Transform3s(placement.rotation, placement.translation),
                obstacle.shape, coal.Transform3s(obstacle.placement.rotation,
                                                 obstacle.placement.translation),
                coal.DistanceRequest(), result))
    return float(least)


@given(name=robot_names, data=st.data())
@settings(max_examples=10, deadline=None)
def test_fuzz_link_hulls_are_conservative_against_the_meshes(name, data):
    """Random slow moves: where the filter passes, the links' own meshes keep the clearance
    from the table and the wall (sampled); where it refuses, the meshes are no farther than
    it says (hulls contain their meshes)."""
    from lvp_exec.safety import LinkCollisionError

    robot = ROBOTS[name]
    config = dataclasses.replace(default_safety_config(robot), table_height=None,
                                 workspace_min=(-9.0,) * 3, workspace_max=(9.0,) * 3,
                                 contact_links=(), self_clearance=None)
    margin = config.position_margin + 1e-3
    goal = np.array([data.draw(st.floats(lo + margin, hi - margin))
                     for lo, hi in zip(robot.limits.lower, robot.limits.upper)])
    traj = slow_joint_move(robot, robot.home, goal)
    try:
        SafetyFilter(robot, config).check(traj, robot.home)
    except LinkCollisionError as exc:
        assert exc.time is not None and exc.value is not None and exc.frame is not None
        assert exc.value < config.link_clearance
        k = int(np.argmin(np.abs(traj.times - exc.time)))
        # the link it names: its hull is no farther than its meshes (another link may be closer)
        assert exc.value <= _mesh_clearance(robot, traj.positions[k], config.obstacles,
                                            exc.frame) + 1e-9
        return
    for q in traj.positions[::50]:
        assert _mesh_clearance(robot, q, config.obstacles) >= config.link_clearance - 1e-9


def test_the_wall_and_table_come_from_the_world_description():
    """The obstacles are lvp_sim's: moving the world's wall moves the link check's wall."""
    from lvp_sim.world import WorldConfig

    robot = ROBOTS['panda']
    default = {o.name: o for o in default_safety_config(robot).obstacles}
    assert set(default) == {'table_top', 'table_base', 'wall', 'floor'}
    # lvp_sim's Franka layout: wall box centred 0.45 m behind the table's back edge (x = -0.1)
    assert default['wall'].placement.translation[0] == pytest.approx(-0.55)
    nearer = {o.name: o for o in default_safety_config(
        robot, WorldConfig(wall_distance=0.2)).obstacles}
    assert nearer['wall'].placement.translation[0] == pytest.approx(-0.3)
    assert default_safety_config(ROBOTS['g1_right']).table_height == pytest.approx(-0.093)


def test_workspace_box_violation_names_axis_time_and_limit():
    robot = ROBOTS['panda']
    traj = VALID['panda']
    x = robot.ee_positions(traj.positions)[:, 0]
    config = SafetyConfig(workspace_max=(float(x.max()) - 0.01, 1.0, 1.5))
    with pytest.raises(WorkspaceError, match=r'panda_hand_tcp x = .* leaves') as info:
        SafetyFilter(robot, config).check(traj, traj.positions[0])
    assert info.value.limit == pytest.approx(x.max() - 0.01)


@pytest.mark.parametrize('name', sorted(ROBOTS))
def test_table_plane_violation(name):
    robot, traj = ROBOTS[name], VALID[name]
    z = robot.ee_positions(traj.positions)[:, 2]
    config = dataclasses.replace(default_safety_config(robot), table_height=float(z.min()))
    with pytest.raises(TableCollisionError, match='below the table plane') as info:
        SafetyFilter(robot, config).check(traj, traj.positions[0])
    assert info.value.frame is not None


def test_format_violations():
    robot, traj = ROBOTS['panda'], VALID['panda']
    renamed = _replace(traj, joint_names=tuple(reversed(traj.joint_names)))
    with pytest.raises(TrajectoryFormatError, match='differ'):
        SafetyFilter(robot).check(renamed, traj.positions[0])
    sparse = _replace(traj, times=traj.times * 10.0)
    with pytest.raises(TrajectoryFormatError, match='apart'):
        SafetyFilter(robot).check(sparse, traj.positions[0])


def _g1_hand_pointing_down():
    """The G1 at rest with its hand mount 18 cm over the table, the mount's x (the Inspire's
    fingers) pointing down and its palm (mount -y) facing the robot: (robot, its default
    SafetyConfig, the joints, a 20-sample trajectory holding them)."""
    from lvp_common.artifacts import WristTrajectory
    from scipy.spatial.transform import Rotation

    robot = ROBOTS['g1_right']
    config = default_safety_config(robot)
    assert config.table_height is not None
    rotation = Rotation.from_matrix(np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0],
                                              [-1.0, 0.0, 0.0]]))
    target = WristTrajectory(np.array([0.0]), np.array([[0.25, -0.2,
                                                         config.table_height + 0.18]]),
                             rotation.as_quat()[None], robot.base_frame)
    q = DampedLeastSquaresIk(robot).solve(target, robot.home).positions[0]
    traj = JointTrajectory(np.arange(20) * 0.01, robot.joint_names, np.tile(q, (20, 1)),
                           np.zeros((20, 7)), np.zeros((20, 7)))
    return robot, config, q, traj


def test_inspire_fingertips_below_the_table_are_a_violation():
    """The G1 hand mount 18 cm above the table with the fingers pointing down: the mount is
    clear, the open Inspire's fingertips (~21 cm out) are not; closed (~15 cm), they are."""
    from lvp_common.artifacts import HandCommands
    from lvp_exec.hand_points import inspire_fingertips
    from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS

    robot, config, q, traj = _g1_hand_pointing_down()
    assert config.table_height is not None
    times = traj.times
    safety = SafetyFilter(robot, config)
    safety.check(traj, q)  # the mount and arm links alone are clear

    def commands(level: float) -> HandCommands:
        names = tuple(a.name for a in INSPIRE_ACTUATORS)
        normalized = np.full((2, 6), level)
        joints = np.array([[a.closed_position + level * (a.open_position - a.closed_position)
                            for a in INSPIRE_ACTUATORS]] * 2)
        return HandCommands(np.array([0.0, 1.0]), tuple(a.joint for a in INSPIRE_ACTUATORS),
                            joints, names, normalized, np.rint(normalized * 1000))

    with pytest.raises(TableCollisionError, match='inspire') as info:
        safety.check(traj, q, inspire_fingertips(robot, commands(1.0), times))
    assert info.value.frame is not None and info.value.frame.endswith('_tip')
    assert info.value.value is not None and info.value.value < config.table_height
    safety.check(traj, q, inspire_fingertips(robot, commands(0.0), times))


def test_the_inspire_palm_keeps_the_table_clearance_the_fingertips_may_press_past():
    """A rigid hand point (the palm) 5 mm over the table is refused (table_clearance 1 cm); the
    same point as a fingertip (hand_clearance -2 cm: force-limited, it stops at the table)
    passes. The Inspire's hand points are its 5 fingertips and its palm box's 8 corners."""
    from lvp_common.artifacts import HandCommands
    from lvp_exec.hand_points import HandPoints, inspire_hand_points
    from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT
    from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS, InspireKinematics

    robot, config, q, traj = _g1_hand_pointing_down()
    assert config.table_height is not None
    times = traj.times
    mount_z = robot.ee_pose(q).position[2]
    low = np.tile([[mount_z - config.table_height - 0.005, 0.0, 0.0]], (20, 1, 1))
    safety = SafetyFilter(robot, config)
    with pytest.raises(TableCollisionError, match='palm'):
        safety.check(traj, q, HandPoints(('palm',), low, rigid=1))
    safety.check(traj, q, HandPoints(('tip',), low))

    names = tuple(a.name for a in INSPIRE_ACTUATORS)
    commands = HandCommands(np.array([0.0, 1.0]), tuple(a.joint for a in INSPIRE_ACTUATORS),
                            np.array([[a.open_position for a in INSPIRE_ACTUATORS]] * 2), names,
                            np.ones((2, 6)), np.full((2, 6), 1000.0))
    hand = inspire_hand_points(robot, commands, times)
    assert hand.rigid == 8 and hand.points.shape == (20, 13, 3)
    assert all(n.startswith('inspire palm corner') for n in hand.names[5:])
    palm = InspireKinematics('right').palm_corners() @ INSPIRE_BASE_IN_MOUNT.T
    np.testing.assert_allclose(hand.points[7, 5:], palm, atol=1e-12)
    np.testing.assert_allclose(hand.table_clearances(config),
                               [config.hand_clearance] * 5 + [config.table_clearance] * 8)
