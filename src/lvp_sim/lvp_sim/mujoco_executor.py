# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""MuJoCo simulation backend: the robot executes inside the lvp_sim tabletop world.

World. `MujocoExecutor` builds lvp_sim's world (table, 5 cm cube, cup, button, target square,
scene camera) with the robot attached at `WorldConfig.robot_mount` (`world_config_for` of the
robot's embodiment by default): the Franka base on the table top, or a G1 pelvis standing behind
the table. Trajectories, EE errors and IK are in the robot base frame; object poses (`SceneState`)
in the table frame, as lvp_sim's task predicates expect.

The robot model (URDF, end effector, actuators) is built by `lvp_sim.mujoco_model`. lvp_exec
finds this executor as its `sim` backend through the `lvp_exec.backends` entry point
(`make_sim_executor`, declared in setup.py).

Arm control is computed-torque position control at each physics step: the 7 arm joints follow
the trajectory (positions, velocities, accelerations interpolated between samples), the joints
locked in the kinematic model (G1 legs, waist, other arm) hold their nominal values:
tau = M(q) (qdd_ref + kp e + kd de) + c(q, qd), applied to the robot's arm/locked dofs only.

Offscreen rendering needs an OpenGL backend without a display: `MUJOCO_GL=egl` (set here if
unset) or `osmesa`.

"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import mujoco  # noqa: E402  (MUJOCO_GL is read at import)
import numpy as np  # noqa: E402
from lvp_common.artifacts import JointTrajectory, Observation  # noqa: E402
from lvp_exec.backends import BackendOptions  # noqa: E402
from lvp_exec.embodiment_hardware import EMBODIMENTS, EndEffector, hardware_named  # noqa: E402
from lvp_exec.execution import ExecutionRequest, ExecutionStoppedError  # noqa: E402
from lvp_exec.robots import RobotModel  # noqa: E402

from lvp_sim.ee_targets import finger_targets, inspire_targets, interpolate  # noqa: E402
from lvp_sim.mujoco_model import (  # noqa: E402
    FRANKA_FINGER_RANGE,
    SimConfig,
    SimulationError,
    robot_spec,
    sim_hardware,
)
from lvp_sim.tasks import SceneState, read_scene_state  # noqa: E402
from lvp_sim.world import (  # noqa: E402
    ROBOT_PREFIX,
    SceneRenderer,
    World,
    WorldConfig,
    build_world,
    world_config_for,
)

PATH_TOLERANCE_RAD = {name: hardware_named(name).sim_path_tolerance_rad for name in EMBODIMENTS}
"""The sim's default largest tracking error (rad, any arm joint) of each built-in embodiment
before it aborts a trajectory: its hardware spec's `sim_path_tolerance_rad` (where the measured
deflections that set them are noted)."""


class TrackingError(SimulationError):
    """A joint left the planned trajectory by more than the path tolerance: aborted."""


@dataclass(frozen=True)
class ExecutionResult:
    """What the simulated robot did: samples at the trajectory's times, the scene before/after.

    tracking_errors: (T, J) executed minus planned joint positions (rad).
    ee_errors: (T,) distance (m) between executed and planned EE positions (robot base frame).
    end_effector_positions: (T, E) joint positions of the end effector's actuated joints
    (`end_effector_joints`: Franka fingers in m, Inspire joints in rad) at the trajectory times.
    frames: (F, H, W, 3) uint8 RGB from the scene camera (the demonstration's view), empty when
    not rendered; overview_frames likewise from the overview camera.
    initial_state / final_state: lvp_sim SceneState (table frame) at the start and after the
    settle time, the inputs of `lvp_sim.tasks.evaluate_task`.
    """

    executed: JointTrajectory
    tracking_errors: np.ndarray
    ee_errors: np.ndarray
    frames: np.ndarray
    frame_rate: float
    initial_state: SceneState
    final_state: SceneState
    end_effector_joints: tuple[str, ...] = ()
    end_effector_positions: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    overview_frames: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, 3),
                                                                         np.uint8))
    sim_seconds: float = 0.0
    """Simulated time (s) including the settle time."""
    wall_seconds: float = 0.0
    """Wall-clock time (s) the simulation (and rendering) took."""

    @property
    def max_tracking_error(self) -> float:
        return float(np.max(np.abs(self.tracking_errors)))

    @property
    def max_ee_error(self) -> float:
        return float(np.max(self.ee_errors))


class _SimWorld:
    """One compiled world with a robot: index maps, actuators, renderers."""

    def __init__(self, robot: RobotModel, world_config: WorldConfig, config: SimConfig) -> None:
        self.robot = robot
        self.config = config
        self.hardware = sim_hardware(robot)
        spec, ee_joints = robot_spec(robot, config)
        self.world: World = build_world(world_config, robot_mjcf=spec)
        m = self.world.model
        m.opt.timestep = config.timestep
        for name in ('cube', 'cup'):
            gid = mujoco.mj_name2id(m, mujoco.mjtObj.mjOBJ_GEOM, name)
            m.geom_friction[gid, 0] = config.object_friction
        self.ee_joints = ee_joints
        self.arm_dofs = np.array([self._dof(n) for n in robot.joint_names])
        self.arm_qpos = np.array([self._qpos(n) for n in robot.joint_names])
        self.hold = {self._qpos(n): (self._dof(n), v)
                     for n, v in robot.nominal_full_configuration.items()
                     if n not in ee_joints}
        self.hold_qpos = np.array(list(self.hold), dtype=int)
        self.hold_dofs = np.array([d for d, _ in self.hold.values()], dtype=int)
        self.hold_values = np.array([v for _, v in self.hold.values()])
        self.controlled_dofs = np.concatenate([self.arm_dofs, self.hold_dofs])
        self.ee_qpos = np.array([self._qpos(n) for n in ee_joints])
        self.ee_actuators = np.array([self._actuator(n) for n in ee_joints])
        self.ee_initial = np.array([robot.nominal_full_configuration.get(n, 0.0)
                                    for n in ee_joints])
        if self.hardware.end_effector is EndEffector.PARALLEL_GRIPPER:
            self.ee_initial = np.full(len(ee_joints), FRANKA_FINGER_RANGE[1])
        self._scene: SceneRenderer | None = None
        self._overview: mujoco.Renderer | None = None

    def _joint_id(self, name: str) -> int:
        jid = mujoco.mj_name2id(self.world.model, mujoco.mjtObj.mjOBJ_JOINT, ROBOT_PREFIX + name)
        if jid < 0:
            raise SimulationError(f'{self.robot.name}: joint {name!r} missing in the MuJoCo '
                                  'model')
        return jid

    def _dof(self, name: str) -> int:
        return int(self.world.model.jnt_dofadr[self._joint_id(name)])

    def _qpos(self, name: str) -> int:
        return int(self.world.model.jnt_qposadr[self._joint_id(name)])

    def _actuator(self, joint: str) -> int:
        aid = mujoco.mj_name2id(self.world.model, mujoco.mjtObj.mjOBJ_ACTUATOR,
                                f'{ROBOT_PREFIX}{joint}_position')
        if aid < 0:
            raise SimulationError(f'{self.robot.name}: no actuator for {joint!r}')
        return aid

    def reset(self, arm_positions: np.ndarray, ee_positions: np.ndarray) -> None:
        """Reset objects to the layout, the arm to `arm_positions`, the EE joints to targets."""
        m, d = self.world.model, self.world.data
        mujoco.mj_resetData(m, d)
        d.qpos[self.hold_qpos] = self.hold_values
        d.qpos[self.arm_qpos] = arm_positions
        d.qpos[self.ee_qpos] = ee_positions
        d.ctrl[self.ee_actuators] = ee_positions
        if self.hardware.end_effector is EndEffector.INSPIRE_HAND:
            # Mimic joints start on their couplings (the equalities then hold them there).
            for i in range(m.neq):
                if m.eq_type[i] != mujoco.mjtEq.mjEQ_JOINT:
                    continue
                j1, j2 = m.eq_obj1id[i], m.eq_obj2id[i]
                c = m.eq_data[i]
                d.qpos[m.jnt_qposadr[j1]] = c[0] + c[1] * d.qpos[m.jnt_qposadr[j2]]
        mujoco.mj_forward(m, d)

    def scene_renderer(self) -> SceneRenderer:
        if self._scene is None:
            self._scene = SceneRenderer(self.world, scale=self.config.render_scale)
        return self._scene

    def overview_frame(self) -> np.ndarray:
        c = self.config
        if self._overview is None:
            self._overview = mujoco.Renderer(self.world.model, c.overview_height,
                                             c.overview_width)
        camera = mujoco.MjvCamera()
        camera.lookat[:] = c.camera_lookat
        camera.distance = c.camera_distance
        camera.azimuth = c.camera_azimuth
        camera.elevation = c.camera_elevation
        self._overview.update_scene(self.world.data, camera=camera)
        return self._overview.render().copy()

    def close(self) -> None:
        if self._scene is not None:
            self._scene.close()
            self._scene = None
        if self._overview is not None:
            self._overview.close()
            self._overview = None


class MujocoExecutor:
    """Execute joint trajectories with gripper events / hand commands in the lvp_sim world.

    The lvp_exec `Executor` backend 'sim'. Each `execute` resets the world to its layout and the
    arm to the trajectory's first sample, runs the trajectory plus `settle_time`, and returns an
    `ExecutionResult` whose initial/final `SceneState`s feed `lvp_sim.tasks.evaluate_task`.
    Like a FollowJointTrajectory controller's path tolerance: when any arm joint is more than
    `path_tolerance_rad` from the trajectory, the arm holds where it is (`stop_hold_time`) and
    `TrackingError` is raised; nothing is reported as done. 0 (or None) = the embodiment's
    default, its hardware spec's `sim_path_tolerance_rad`.

    keep_state: continue from the live state instead (for closed-loop execution in segments):
    the first `execute` of a robot resets its world; every later one starts where the last one
    left the world (arm, end effector, objects, even after a stop), `start_positions` is the
    arm's current state (so a re-plan starts there) and the trajectory must start within the
    path tolerance of it. `forget_state` makes the next `execute` reset again. `step_hooks` are
    called as hook(world, trajectory time) before every physics step (disturbances in tests and
    benchmarks).
    """

    name = 'sim'

    def __init__(self, world_config: WorldConfig | None = None,
                 config: SimConfig | None = None,
                 path_tolerance_rad: float | None = None, keep_state: bool = False) -> None:
        if path_tolerance_rad is not None and not path_tolerance_rad >= 0.0:
            raise SimulationError(f'path_tolerance_rad must be >= 0 rad (0: the embodiment\'s '
                                  f'default {PATH_TOLERANCE_RAD}), got {path_tolerance_rad}')
        self.world_config = world_config
        self.config = config or SimConfig()
        self.path_tolerance_rad = path_tolerance_rad or None
        self._worlds: dict[str, _SimWorld] = {}
        self._current: _SimWorld | None = None
        self.keep_state = keep_state
        self._live: set[str] = set()
        self.step_hooks: list[Callable[[World, float], None]] = []

    def tolerance_for(self, robot: RobotModel) -> float:
        """The path tolerance (rad) this executor applies to `robot`."""
        return self.path_tolerance_rad or sim_hardware(robot).sim_path_tolerance_rad

    def world_for(self, robot: RobotModel) -> _SimWorld:
        """Return (building once) the world with this robot in it."""
        if robot.name not in self._worlds:
            layout = self.world_config or world_config_for(sim_hardware(robot).name)
            self._worlds[robot.name] = _SimWorld(robot, layout, self.config)
        return self._worlds[robot.name]

    @property
    def world(self) -> World:
        """The lvp_sim world of the last execution (its state is the end of that execution)."""
        if self._current is None:
            raise SimulationError('nothing executed yet: no world')
        return self._current.world

    @property
    def sim_time(self) -> float:
        """Simulated time (s) of the current execution (trajectory time 0 = start)."""
        return 0.0 if self._current is None else float(self._current.world.data.time)

    def arm_positions(self) -> np.ndarray:
        """Return the arm's current joint positions (rad, robot.joint_names order)."""
        if self._current is None:
            raise SimulationError('nothing executed yet: no arm state')
        return self._current.world.data.qpos[self._current.arm_qpos].copy()

    def end_effector_positions(self) -> np.ndarray:
        """The end effector's actuated joints now (Franka fingers in m, Inspire joints in rad)."""
        if self._current is None:
            raise SimulationError('nothing executed yet: no end effector state')
        return self._current.world.data.qpos[self._current.ee_qpos].copy()

    def observe(self, self_filter: bool = True) -> Observation:
        """The scene camera's RGB-D observation of the current state (the demonstrator's hand
        hidden), camera pose in the robot base frame. self_filter: no depth on the robot's own
        pixels (as a robot self-filter does from the arm's model and joint state)."""
        if self._current is None:
            raise SimulationError('nothing executed yet: no world to observe')
        renderer = self._current.scene_renderer()
        observation = renderer.observation(stamp=self.sim_time)
        if self_filter and observation.depth is not None:
            from scipy.ndimage import binary_dilation

            m = self._current.world.model
            names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_BODY, b) or ''
                     for b in m.geom_bodyid]
            robot = np.flatnonzero([n.startswith(ROBOT_PREFIX) for n in names])
            mask = np.isin(renderer.geom_ids(show_hand=False), robot)
            # padded by 2 px, as a self-filter pads the arm's model (edge pixels mix depths)
            observation.depth[np.asarray(binary_dilation(mask, iterations=2), bool)] = np.nan
        return observation

    def start_positions(self, robot: RobotModel) -> np.ndarray | None:
        """The arm's current joint positions when keep_state and the robot's world is live;
        else None: the sim starts the execution at the trajectory's first sample."""
        if self.keep_state and robot.name in self._live:
            return self._worlds[robot.name].world.data.qpos[
                self._worlds[robot.name].arm_qpos].copy()
        return None

    def forget_state(self) -> None:
        """Make the next execution of every robot reset its world (keep_state)."""
        self._live.clear()

    def close(self) -> None:
        """Free the renderers' OpenGL contexts."""
        for sim in self._worlds.values():
            sim.close()

    def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Run the request to the end in the world; raise SimulationError or
        ExecutionStoppedError (after holding the arm where it was when `should_stop` said so)."""
        robot: RobotModel = request.robot
        trajectory = request.trajectory
        if trajectory.joint_names != robot.joint_names:
            raise SimulationError(f'trajectory joints {trajectory.joint_names} differ from '
                                  f'{robot.joint_names}')
        sim = self.world_for(robot)
        self._current = sim
        c = self.config
        tolerance = self.tolerance_for(robot)
        m, d = sim.world.model, sim.world.data
        dt = c.timestep
        t_ref = trajectory.times
        q_ref = trajectory.positions
        v_ref = (trajectory.velocities if trajectory.velocities is not None
                 else np.gradient(q_ref, t_ref, axis=0))
        a_ref = (trajectory.accelerations if trajectory.accelerations is not None
                 else np.gradient(v_ref, t_ref, axis=0))
        end = float(t_ref[-1])
        num_steps = int(np.ceil((end + c.settle_time) / dt))
        step_times = np.arange(num_steps + 1) * dt
        moving = (step_times <= end)[:, None]
        q_steps = interpolate(t_ref, q_ref, step_times)
        v_steps = np.where(moving, interpolate(t_ref, v_ref, step_times), 0.0)
        a_steps = np.where(moving, interpolate(t_ref, a_ref, step_times), 0.0)
        live = self.keep_state and robot.name in self._live
        if live:
            off = float(np.max(np.abs(d.qpos[sim.arm_qpos] - q_ref[0])))
            if off > tolerance:
                raise SimulationError(f'{robot.name}: the trajectory starts {off:.3f} rad from '
                                      f'the arm\'s current state (path tolerance '
                                      f'{tolerance:.3f} rad)')
        width = 2.0 * float(d.ctrl[sim.ee_actuators[0]] if live else sim.ee_initial[0])
        ee_steps = self._ee_targets(sim, request, step_times, width)

        started = time.perf_counter()
        if not live:
            sim.reset(q_ref[0], ee_steps[0])
        if self.keep_state:
            self._live.add(robot.name)
        initial_state = read_scene_state(sim.world)
        n_arm = len(sim.arm_dofs)
        target_q = np.concatenate([q_ref[0], sim.hold_values])
        target_v = np.zeros(len(sim.controlled_dofs))
        target_a = np.zeros(len(sim.controlled_dofs))
        desired_acc = np.zeros(m.nv)
        inertial = np.zeros(m.nv)
        executed = np.zeros_like(q_ref)
        executed_v = np.zeros_like(q_ref)
        executed_ee = np.zeros((len(t_ref), len(sim.ee_qpos)))
        frames: list[np.ndarray] = []
        overview: list[np.ndarray] = []
        next_sample = 0
        next_frame = 0.0
        stopped_at: float | None = None
        deviation: tuple[int, float, float] | None = None  # joint, error (rad), time (s)
        hold_until = np.inf
        ctrl_dofs = sim.controlled_dofs
        ctrl_qpos = np.concatenate([sim.arm_qpos, sim.hold_qpos])
        for step in range(num_steps + 1):
            now = step * dt
            d.time = now
            for hook in self.step_hooks:
                hook(sim.world, now)
            while next_sample < len(t_ref) and t_ref[next_sample] <= now + 1e-9:
                executed[next_sample] = d.qpos[sim.arm_qpos]
                executed_v[next_sample] = d.qvel[sim.arm_dofs]
                executed_ee[next_sample] = d.qpos[sim.ee_qpos]
                next_sample += 1
            if c.render_fps > 0.0 and now >= next_frame - 1e-9:
                frames.append(sim.scene_renderer().rgb(show_hand=False))
                if c.overview:
                    overview.append(sim.overview_frame())
                next_frame += 1.0 / c.render_fps
            if stopped_at is None:
                error = np.abs(d.qpos[sim.arm_qpos] - q_steps[step])
                j = int(np.argmax(error))
                if error[j] > tolerance:
                    deviation = (j, float(error[j]), now)
            if stopped_at is None and (deviation is not None or request.should_stop()):
                stopped_at = now
                hold_until = now + c.stop_hold_time
                target_q[:n_arm] = d.qpos[sim.arm_qpos]
                target_v[:] = 0.0
                target_a[:] = 0.0
            if stopped_at is None:
                target_q[:n_arm] = q_steps[step]
                target_v[:n_arm] = v_steps[step]
                target_a[:n_arm] = a_steps[step]
                d.ctrl[sim.ee_actuators] = ee_steps[step]
            elif now >= hold_until:
                break
            mujoco.mj_step1(m, d)
            feedback = (c.kp * (target_q - d.qpos[ctrl_qpos])
                        + c.kd * (target_v - d.qvel[ctrl_dofs]))
            desired_acc[:] = 0.0
            desired_acc[ctrl_dofs] = target_a + feedback
            # mj_mulM has the same signature in MuJoCo 3 and 4 (mj_fullM does not).
            mujoco.mj_mulM(m, d, inertial, desired_acc)
            d.qfrc_applied[:] = 0.0
            d.qfrc_applied[ctrl_dofs] = inertial[ctrl_dofs] + d.qfrc_bias[ctrl_dofs]
            mujoco.mj_step2(m, d)
            if not np.all(np.isfinite(d.qpos)):
                self._live.discard(robot.name)
                raise SimulationError(f'{robot.name}: simulation diverged at t = {now:.3f} s')
        if deviation is not None:
            j, error, at = deviation
            raise TrackingError(
                f'{robot.name}: {robot.joint_names[j]} is {error:.3f} rad off the trajectory at '
                f't = {at:.3f} s of {end:.3f} s, beyond path_tolerance_rad {tolerance:.3f} '
                f'rad: aborted, the arm held its position for '
                f'{c.stop_hold_time:.2f} s')
        if stopped_at is not None:
            raise ExecutionStoppedError(
                f'{robot.name}: stopped on request at t = {stopped_at:.3f} s of '
                f'{end:.3f} s; the arm held its position for {c.stop_hold_time:.2f} s',
                stopped_at=stopped_at)
        if next_sample < len(t_ref):
            raise SimulationError(f'recorded {next_sample} of {len(t_ref)} samples')
        final_state = read_scene_state(sim.world)
        result = JointTrajectory(t_ref.copy(), robot.joint_names, executed, executed_v)
        ee_plan = robot.ee_positions(q_ref)
        ee_exec = robot.ee_positions(executed)
        video = (np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8))
        over = (np.stack(overview) if overview else np.zeros((0, 0, 0, 3), np.uint8))
        return ExecutionResult(
            result, executed - q_ref, np.linalg.norm(ee_exec - ee_plan, axis=1), video,
            c.render_fps, initial_state, final_state, sim.ee_joints, executed_ee, over,
            sim_seconds=num_steps * dt, wall_seconds=time.perf_counter() - started)

    def _ee_targets(self, sim: _SimWorld, request: ExecutionRequest,
                    step_times: np.ndarray, width: float) -> np.ndarray:
        """Return the EE actuators' targets (S, E) at each physics step."""
        if sim.hardware.end_effector is EndEffector.PARALLEL_GRIPPER:
            if request.hand_commands is not None:
                raise SimulationError('the Franka gripper takes GripperEvents, not HandCommands')
            # a plan's events change the gripper from open (its hand starts open): continuing
            # from a closed gripper, it opens first
            return finger_targets(request.gripper_events, step_times, width,
                                  self.config.gripper_speed, 2.0 * sim.ee_initial[0])
        if request.gripper_events:
            raise SimulationError('the Inspire hand takes HandCommands, not GripperEvents')
        return inspire_targets(request.hand_commands, step_times)


def make_sim_executor(options: BackendOptions) -> MujocoExecutor:
    """The `sim` execution backend (the `lvp_exec.backends` entry point of setup.py): a
    MujocoExecutor in `options.sim_world`, rendering at `options.sim_render_fps`, aborting
    beyond `options.path_tolerance_rad` (0: the embodiment's default)."""
    return MujocoExecutor(world_config=options.sim_world,
                          config=SimConfig(render_fps=options.sim_render_fps),
                          path_tolerance_rad=options.path_tolerance_rad)


class MujocoArmSim:
    """The former one-call interface: `MujocoArmSim(robot, config).execute(trajectory)`.

    Executes in the lvp_sim world of the robot's embodiment with the end effector left open;
    new code uses `MujocoExecutor` with an `ExecutionRequest`.
    """

    def __init__(self, robot: RobotModel, config: SimConfig | None = None,
                 world_config: WorldConfig | None = None) -> None:
        self.robot = robot
        self.executor = MujocoExecutor(world_config, config)

    def execute(self, trajectory: JointTrajectory) -> ExecutionResult:
        """Run `trajectory` from its first sample; return what the robot did."""
        return self.executor.execute(ExecutionRequest(self.robot, trajectory))


def write_video(frames: np.ndarray, path: str | Path, fps: float) -> Path:
    """Write RGB frames (F, H, W, 3) to an MP4 (H.264 via imageio-ffmpeg) at `fps`."""
    import imageio.v2 as imageio

    path = Path(path)
    if len(frames) == 0:
        raise SimulationError('no frames to write (set SimConfig.render_fps > 0)')
    imageio.mimwrite(str(path), list(frames), fps=fps, macro_block_size=8)
    return path
