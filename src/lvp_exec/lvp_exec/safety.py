"""Safety filter run on every joint trajectory before any backend executes it.

Checks, in this order (the first failure aborts; nothing is executed unless all pass):
1. format: joint names/order match the robot, samples no more than `max_sample_interval` apart;
2. start state: the first sample equals the current joint state within `start_tolerance`, at
   rest;
3. joint position limits, inset by `position_margin`;
4. joint speed: given velocities and finite differences of positions, against the limits times
   `velocity_scale`;
5. joint acceleration: given accelerations and second differences, against the limits times
   `acceleration_scale`;
6. workspace: the EE origin (FK) inside an axis-aligned box in the base frame;
7. table: the EE and the robot's `collision_frames` origins above the table plane
   z = `table_height` + `table_clearance` in the base frame, and so are the hand's own points
   when given (lvp_exec.hand_points: the Inspire fingertips at the commanded closure, which
   reach ~20 cm past the G1's hand mount, `hand_clearance`; its palm corners,
   `table_clearance`);
8. links: every moving link's collision hull (lvp_exec.collision) at least `link_clearance`
   from the world's obstacles (`obstacles`: the world's table, wall and floor by default,
   lvp_exec.workcell; the observed scene cloud when the caller adds it,
   lvp_exec.scene_obstacle), the end effector's contact links (`contact_links`: the Franka
   fingers) at least `contact_clearance`;
9. self: every moving link's hull at least `self_clearance` from the robot's own other bodies
   (lvp_exec.self_collision; adjacent bodies and contacts of the home pose excepted).

Before timing, on the IK stage (`check_ee_path`, `check_joint_steps`; MoveIt's Cartesian-path
jump threshold in spirit): the EE path's own timestamps must not imply a speed above
`max_ee_speed`, and consecutive IK solutions must be close in joint space (`max_joint_step`,
and `joint_step_per_metre` times the Cartesian step plus `joint_step_slack`): a jump is refused
with the waypoint and its numbers, never bridged by a detour.

Finite differences of a trajectory that respects a bound respect it too (they are averages),
so checking them catches trajectories whose velocity/acceleration fields understate the motion.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import JointTrajectory, WristTrajectory

from lvp_exec.collision import LinkGeometry, Obstacle
from lvp_exec.embodiment_hardware import (
    EmbodimentHardware,
    hardware_for_robot,
)
from lvp_exec.hand_points import HandPoints
from lvp_exec.robots import RobotModel
from lvp_exec.self_collision import self_collision_for
from lvp_exec.workcell import workcell_for


class SafetyViolationError(RuntimeError):
    """A trajectory fails a safety check; nothing of it may be executed."""

    def __init__(self, message: str, joint: str | None = None, time: float | None = None,
                 value: float | None = None, limit: float | None = None,
                 frame: str | None = None) -> None:
        self.joint = joint
        self.frame = frame
        self.time = time
        self.value = value
        self.limit = limit
        super().__init__(message)


class TrajectoryFormatError(SafetyViolationError):
    """Joint names differ from the robot's or samples are too sparse to check."""


class StartStateError(SafetyViolationError):
    """The trajectory does not start at the current joint state, at rest."""


class JointLimitError(SafetyViolationError):
    """A joint position leaves its limits (with margin)."""


class VelocityLimitError(SafetyViolationError):
    """A joint moves faster than allowed."""


class AccelerationLimitError(SafetyViolationError):
    """A joint accelerates harder than allowed."""


class WorkspaceError(SafetyViolationError):
    """The end effector leaves the workspace box."""


class TableCollisionError(SafetyViolationError):
    """The end effector or a checked link goes below the table plane (plus clearance)."""


class LinkCollisionError(SafetyViolationError):
    """A link's collision geometry comes closer to an obstacle than its clearance."""


class PathDiscontinuityError(SafetyViolationError):
    """The EE path jumps (speed implied by its timestamps) or its IK solutions jump in joint
    space; `index` is the waypoint reached by the jump."""

    def __init__(self, message: str, index: int, **kwargs: Any) -> None:
        self.index = index
        super().__init__(message, **kwargs)


@dataclass(frozen=True)
class SafetyConfig:
    """Safety limits; positions in the robot base frame (m), angles rad.

    Per-embodiment defaults: `default_safety_config`; as ROS parameters
    (`safety.<embodiment>.<name>`): lvp_exec.safety_parameters.
    """

    position_margin: float = 0.01
    """Joints must stay this far (rad) inside their position limits."""
    velocity_scale: float = 1.0
    """Allowed fraction of the velocity limits (timing uses less, by default 0.5)."""
    acceleration_scale: float = 1.0
    """Allowed fraction of the acceleration limits (timing uses less, by default 0.5)."""
    finite_difference_tolerance: float = 1.05
    """Slack factor on limits for finite-difference estimates (sampling round-off)."""
    start_tolerance: float = 0.01
    """Largest difference (rad) between the first sample and the current joint state."""
    start_velocity_tolerance: float = 1e-3
    """Largest joint speed (rad/s) at the first sample."""
    workspace_min: tuple[float, float, float] = (-1.0, -1.0, -0.5)
    """Lower corner (m) of the box the EE origin must stay in."""
    workspace_max: tuple[float, float, float] = (1.0, 1.0, 1.5)
    """Upper corner (m) of the box the EE origin must stay in."""
    table_height: float | None = 0.0
    """Table plane z (m) in the base frame; None disables the table check."""
    table_clearance: float = 0.01
    """Least height (m) of the EE and `collision_frames` origins above the table plane."""
    hand_clearance: float = -0.02
    """Least height (m) of the hand's own points (`HandPoints`) above the table plane. A hand
    grasping an object that rests on the table brings its fingertips to it, and the Inspire's
    force-limited fingertips commanded past contact (lvp_retarget's GRASP_SQUEEZE) stop at the
    object and the table: they may be planned up to 2 cm into the plane (the fingers' distal
    segments are ~4 cm long); deeper means the hand itself is being driven into the table."""
    obstacles: tuple[Obstacle, ...] = ()
    """Fixed obstacles (base frame) the links' collision hulls keep clear of; () disables the
    link check. Default: the world's table, wall and floor (lvp_exec.workcell)."""
    link_clearance: float = 0.02
    """Least distance (m) of a moving link's collision hull to an obstacle."""
    contact_links: tuple[str, ...] = ()
    """Links that touch what the robot grasps on the table (the Franka fingers)."""
    contact_clearance: float = 0.0
    """Least distance (m) of a contact link to an obstacle: touching, never penetrating."""
    self_clearance: float | None = 0.0
    """Least distance (m) of a moving link's collision hull to the robot's own body
    (lvp_exec.self_collision; 0: the hulls, which contain the meshes, do not overlap); None:
    not checked. (The G1's upper arm passes 9 mm from its torso's hull in good episodes.)"""
    max_ee_speed: float = 2.0
    """Fastest EE speed (m/s) the EE path's own timestamps may imply between two waypoints (the
    end-to-end benchmark's demonstrations: <= 0.9 m/s; faster than a hand moves is a jump)."""
    max_joint_step: float = 0.5
    """Largest change (rad) of any joint between two consecutive IK solutions."""
    joint_step_per_metre: float = 10.0
    """Consecutive IK solutions may differ by at most this (rad/m) times the Cartesian step
    (EE translation, m + `joint_step_per_rad` x rotation, rad) plus `joint_step_slack`."""
    joint_step_per_rad: float = 0.25
    """Metres of Cartesian step counted per radian of EE rotation."""
    joint_step_slack: float = 0.2
    """Joint step (rad) always allowed between consecutive IK solutions (a wrist near a
    singularity turns without the EE moving much)."""
    max_sample_interval: float = 0.05
    """Samples further apart (s) than this cannot be checked in between."""


def embodiment_of(robot: RobotModel) -> str:
    """Return the embodiment of an arm model (lvp_exec.embodiment_hardware.hardware_for_robot)."""
    return hardware_for_robot(robot).name


def default_safety_config(robot: RobotModel, world=None) -> SafetyConfig:
    """Return the default limits for `robot` in `world` (an lvp_sim WorldConfig; default: the
    embodiment's layout; both through the `lvp_exec.workcells` plugin, lvp_exec.workcell).

    Table plane and obstacles come from the world description: Panda (base on the table top):
    table plane z = 0, the wall 0.53 m behind the base; G1 (base = pelvis, standing): the table
    top 9.3 cm below the pelvis, hand mount kept in front of the hips.
    """
    hardware = hardware_for_robot(robot)
    workcell = workcell_for(hardware.name, world)
    return replace(embodiment_safety_defaults(hardware), table_height=workcell.table_height,
                   obstacles=workcell.obstacles)


def embodiment_safety_defaults(hardware: EmbodimentHardware) -> SafetyConfig:
    """The limits of an embodiment that depend on neither its model nor its world (its
    hardware spec's `safety_defaults`)."""
    return SafetyConfig(**hardware.safety_overrides())


class SafetyFilter:
    """Check joint trajectories for one robot against a safety configuration."""

    def __init__(self, robot: RobotModel, config: SafetyConfig | None = None,
                 geometry: LinkGeometry | None = None) -> None:
        """`geometry`: the robot's LinkGeometry when the caller has built it already."""
        self.robot = robot
        self.config = config or default_safety_config(robot)
        self._links = (geometry or LinkGeometry(robot)) if self.config.obstacles else None
        clearance = self.config.self_clearance
        self._self = None if clearance is None else self_collision_for(robot, clearance)

    def check(self, trajectory: JointTrajectory, current_joints,
              hand: HandPoints | None = None) -> None:
        """Raise the first violation found in `trajectory`; return if it is safe to execute.

        `hand`: points of the hand (EE frame, one set per sample) checked against the table.
        """
        self._check_format(trajectory)
        self._check_start(trajectory, np.asarray(current_joints, dtype=np.float64))
        self._check_positions(trajectory)
        self._check_velocities(trajectory)
        self._check_accelerations(trajectory)
        if hand is not None and hand.points.shape[:1] != trajectory.times.shape:
            raise TrajectoryFormatError(
                f'hand points for {hand.points.shape[0]} samples, trajectory has '
                f'{len(trajectory.times)}')
        self._check_cartesian(trajectory, hand)
        self._check_links(trajectory)
        self._check_self(trajectory)

    def _check_format(self, traj: JointTrajectory) -> None:
        if traj.joint_names != self.robot.joint_names:
            raise TrajectoryFormatError(
                f'{self.robot.name}: trajectory joints {traj.joint_names} differ from the '
                f'robot joints {self.robot.joint_names}')
        if len(traj.times) < 2:
            raise TrajectoryFormatError(
                f'{self.robot.name}: trajectory needs at least 2 samples, got {len(traj.times)}')
        gaps = np.diff(traj.times)
        k = int(np.argmax(gaps))
        if gaps[k] > self.config.max_sample_interval:
            raise TrajectoryFormatError(
                f'samples {gaps[k]:.3f} s apart at t = {traj.times[k]:.3f} s, more than '
                f'{self.config.max_sample_interval} s', time=float(traj.times[k]),
                value=float(gaps[k]), limit=self.config.max_sample_interval)

    def _check_start(self, traj: JointTrajectory, current: np.ndarray) -> None:
        if current.shape != (self.robot.num_joints,):
            raise TrajectoryFormatError(
                f'current joint state must have {self.robot.num_joints} values, got shape '
                f'{current.shape}')
        diff = np.abs(traj.positions[0] - current)
        j = int(np.argmax(diff))
        if diff[j] > self.config.start_tolerance:
            name = self.robot.joint_names[j]
            raise StartStateError(
                f'trajectory starts {name} at {traj.positions[0, j]:.4f} rad but the robot is '
                f'at {current[j]:.4f} rad (tolerance {self.config.start_tolerance} rad)',
                joint=name, time=float(traj.times[0]), value=float(traj.positions[0, j]),
                limit=float(current[j]))
        if traj.velocities is not None:
            v0 = np.abs(traj.velocities[0])
            j = int(np.argmax(v0))
            if v0[j] > self.config.start_velocity_tolerance:
                name = self.robot.joint_names[j]
                raise StartStateError(
                    f'trajectory starts {name} moving at {traj.velocities[0, j]:.4f} rad/s; it '
                    'must start at rest', joint=name, time=float(traj.times[0]),
                    value=float(traj.velocities[0, j]),
                    limit=self.config.start_velocity_tolerance)

    def _raise_first(self, exc: type[SafetyViolationError], traj: JointTrajectory,
                     excess: np.ndarray, values: np.ndarray, limits: np.ndarray, what: str,
                     unit: str, times: np.ndarray | None = None) -> None:
        """Raise `exc` for the earliest sample where `excess` (T, J) is positive."""
        bad = np.argwhere(excess > 0.0)
        if not len(bad):
            return
        k, j = (int(i) for i in bad[0])
        t = float((traj.times if times is None else times)[k])
        name = self.robot.joint_names[j]
        value, limit = float(values[k, j]), float(limits[k, j] if limits.ndim == 2 else limits[j])
        raise exc(f'{name} {what} {value:.4f} {unit} at t = {t:.3f} s exceeds the limit '
                  f'{limit:.4f} {unit}', joint=name, time=t, value=value, limit=limit)

    def _check_positions(self, traj: JointTrajectory) -> None:
        lim = self.robot.limits
        m = self.config.position_margin
        q = traj.positions
        lower, upper = lim.lower + m, lim.upper - m
        below, above = lower - q, q - upper
        nearest = np.where(below > above, lower, upper)
        self._raise_first(JointLimitError, traj, np.maximum(below, above), q,
                          np.broadcast_to(nearest, q.shape), 'position', 'rad')

    def _check_velocities(self, traj: JointTrajectory) -> None:
        c = self.config
        v_max = c.velocity_scale * self.robot.limits.velocity
        if traj.velocities is not None:
            v = traj.velocities
            self._raise_first(VelocityLimitError, traj, np.abs(v) - v_max, v, v_max,
                              'speed', 'rad/s')
        fd = np.diff(traj.positions, axis=0) / np.diff(traj.times)[:, None]
        self._raise_first(VelocityLimitError, traj,
                          np.abs(fd) - v_max * c.finite_difference_tolerance, fd,
                          v_max * c.finite_difference_tolerance, 'speed (finite difference)',
                          'rad/s', times=traj.times[:-1])

    def _check_accelerations(self, traj: JointTrajectory) -> None:
        c = self.config
        a_max = c.acceleration_scale * self.robot.limits.acceleration
        if traj.accelerations is not None:
            a = traj.accelerations
            self._raise_first(AccelerationLimitError, traj, np.abs(a) - a_max, a, a_max,
                              'acceleration', 'rad/s^2')
        t = traj.times
        if len(t) < 3:
            return
        fd = np.diff(traj.positions, axis=0) / np.diff(t)[:, None]
        mid = 0.5 * (t[1:] + t[:-1])
        fdd = np.diff(fd, axis=0) / np.diff(mid)[:, None]
        self._raise_first(AccelerationLimitError, traj,
                          np.abs(fdd) - a_max * c.finite_difference_tolerance, fdd,
                          a_max * c.finite_difference_tolerance,
                          'acceleration (finite difference)', 'rad/s^2', times=t[1:-1])

    def _check_cartesian(self, traj: JointTrajectory, hand: HandPoints | None = None) -> None:
        c = self.config
        lo, hi = np.array(c.workspace_min), np.array(c.workspace_max)
        frame_ids = (self.robot.ee_frame_id, *self.robot.collision_frame_ids)
        frame_names = (self.robot.ee_frame, *self.robot.collision_frames,
                       *(() if hand is None else hand.names))
        floor = None if c.table_height is None else c.table_height + c.table_clearance
        axes = 'xyz'
        for k, q in enumerate(traj.positions):
            points = self.robot.frame_positions(q, frame_ids)
            ee = points[0]
            if hand is not None:
                pose = self.robot.ee_pose(q)
                points = np.vstack([points, pose.position + hand.points[k] @ pose.rotation.T])
            t = float(traj.times[k])
            outside = np.maximum(lo - ee, ee - hi)
            if np.any(outside > 0.0):
                a = int(np.argmax(outside))
                limit = float(lo[a] if ee[a] < lo[a] else hi[a])
                raise WorkspaceError(
                    f'{self.robot.ee_frame} {axes[a]} = {ee[a]:.3f} m at t = {t:.3f} s leaves '
                    f'the workspace box [{lo[a]:.3f}, {hi[a]:.3f}] m', frame=self.robot.ee_frame,
                    time=t, value=float(ee[a]), limit=limit)
            if floor is not None:
                floors = np.full(len(points), floor)
                if hand is not None:
                    hand_floors = c.table_height + hand.table_clearances(c)  # type: ignore
                    floors[len(frame_ids):] = hand_floors
                i = int(np.argmin(points[:, 2] - floors))
                if points[i, 2] < floors[i]:
                    raise TableCollisionError(
                        f'{frame_names[i]} z = {points[i, 2]:.3f} m at t = {t:.3f} s is below '
                        f'the table plane + clearance {floors[i]:.3f} m', frame=frame_names[i],
                        time=t, value=float(points[i, 2]), limit=float(floors[i]))

    def _check_links(self, traj: JointTrajectory) -> None:
        if self._links is None:
            return
        c = self.config
        up_to = max(c.link_clearance, c.contact_clearance)
        for k, q in enumerate(traj.positions):
            # at the first sample with a violation, the deepest one (by how far it is short)
            short = [(limit - clearance.distance, clearance, limit)
                     for clearance in self._links.clearances(q, c.obstacles, up_to)
                     for limit in [c.contact_clearance if clearance.link in c.contact_links
                                   else c.link_clearance]
                     if clearance.distance < limit]
            if short:
                _, clearance, limit = max(short, key=lambda item: item[0])
                t = float(traj.times[k])
                raise LinkCollisionError(
                    f'{clearance.link} comes {clearance.distance * 1000.0:.1f} mm from the '
                    f'{clearance.obstacle} at t = {t:.3f} s, closer than its clearance '
                    f'{limit * 1000.0:.1f} mm', frame=clearance.link, time=t,
                    value=clearance.distance, limit=limit)

    def _check_self(self, traj: JointTrajectory) -> None:
        if self._self is None:
            return
        limits = self._self.limits_from(traj.positions[0])
        for k, q in enumerate(traj.positions):
            short = self._self.violations(q, limits)
            if short:
                pair, limit = max(short, key=lambda item: item[1] - item[0].distance)
                t = float(traj.times[k])
                raise LinkCollisionError(
                    f'{pair.link} comes {pair.distance * 1000.0:.1f} mm from the robot\'s own '
                    f'{pair.other} at t = {t:.3f} s, closer than the self clearance '
                    f'{limit * 1000.0:.1f} mm', frame=pair.link, time=t, value=pair.distance,
                    limit=limit)


def check_ee_path(path: WristTrajectory, config: SafetyConfig) -> None:
    """Raise PathDiscontinuityError where the EE path's timestamps imply a speed above
    `config.max_ee_speed` (a jump of the path, not a motion)."""
    if path.num_frames < 2:
        return
    step = np.linalg.norm(np.diff(path.positions, axis=0), axis=1)
    dt = np.diff(path.times)
    speed = step / np.maximum(dt, 1e-12)
    k = int(np.argmax(speed))
    if speed[k] > config.max_ee_speed:
        raise PathDiscontinuityError(
            f'the EE path jumps {step[k] * 1000.0:.0f} mm in {dt[k] * 1000.0:.1f} ms from '
            f'waypoint {k} to {k + 1} (t = {path.times[k + 1]:.3f} s): {speed[k]:.2f} m/s, more '
            f'than max_ee_speed {config.max_ee_speed:.2f} m/s', index=k + 1,
            time=float(path.times[k + 1]), value=float(speed[k]), limit=config.max_ee_speed)


def check_joint_steps(robot: RobotModel, path: WristTrajectory, positions: np.ndarray,
                      config: SafetyConfig) -> None:
    """Raise PathDiscontinuityError where consecutive IK solutions `positions` (T, J) of
    `path` differ by more than `max_joint_step` or than the Cartesian step allows (see
    SafetyConfig.joint_step_per_metre): the IK jumped branches or detoured."""
    from scipy.spatial.transform import Rotation

    if len(positions) < 2:
        return
    c = config
    dq = np.abs(np.diff(positions, axis=0))
    translation = np.linalg.norm(np.diff(path.positions, axis=0), axis=1)
    rotations = Rotation.from_quat(path.quaternions)
    rotation = (rotations[1:] * rotations[:-1].inv()).magnitude()
    cartesian = translation + c.joint_step_per_rad * rotation
    allowed = np.minimum(c.max_joint_step, c.joint_step_slack + c.joint_step_per_metre * cartesian)
    excess = dq - allowed[:, None]
    k, j = np.unravel_index(int(np.argmax(excess)), excess.shape)
    if excess[k, j] > 0.0:
        name = robot.joint_names[j]
        raise PathDiscontinuityError(
            f'IK solutions jump: {name} moves {dq[k, j]:.3f} rad from waypoint {k} to {k + 1} '
            f'(t = {path.times[k + 1]:.3f} s) for an EE step of {translation[k] * 1000.0:.0f} '
            f'mm / {np.degrees(rotation[k]):.1f} deg; at most {allowed[k]:.3f} rad is allowed '
            f'(max_joint_step {c.max_joint_step} rad, joint_step_per_metre '
            f'{c.joint_step_per_metre} rad/m): the path is discontinuous', index=int(k + 1),
            joint=name, time=float(path.times[k + 1]), value=float(dq[k, j]),
            limit=float(allowed[k]))
