# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""MuJoCo simulation backend: execute a joint trajectory on the robot at a table, render it.

The robot is the same URDF as the kinematic model, loaded by MuJoCo directly after rewriting
`package://` mesh paths to files. MuJoCo cannot read .dae meshes, so every `<visual>` block is
dropped and the URDF's collision meshes (STL) are what is simulated and rendered. The robot's
root link is welded to the world (the Panda's base, the G1's pelvis), so the simulator's world
frame is the robot base frame. Robot geoms collide with the table but not with each other.

Control is computed-torque position control of every joint at each physics step: the arm joints
follow the trajectory (positions, velocities, accelerations interpolated between samples), the
joints locked in the kinematic model (fingers, legs, waist, other arm) hold their nominal
values: tau = M(q) (qdd_ref + kp e + kd de) + c(q, qd).

Offscreen rendering needs an OpenGL backend without a display: `MUJOCO_GL=egl` (set here if
unset) or `osmesa`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import mujoco  # noqa: E402  (MUJOCO_GL is read at import)
import numpy as np  # noqa: E402
from lvp_common.artifacts import JointTrajectory  # noqa: E402

from lvp_exec.robots import RobotModel, robot_data_share_dir  # noqa: E402


class SimulationError(RuntimeError):
    """The simulated robot cannot be built or diverged from its trajectory."""


@dataclass(frozen=True)
class TableScene:
    """A table top (box) in the robot base frame: top surface at `height` (m)."""

    height: float
    center_xy: tuple[float, float] = (0.55, 0.0)
    size_xy: tuple[float, float] = (0.6, 1.0)
    thickness: float = 0.04
    floor_height: float | None = None
    """Floor plane z (m) in the base frame; None: no floor."""


def default_table(robot: RobotModel) -> TableScene:
    """Return the default scene: the table of `default_safety_config` for this robot."""
    if robot.name.startswith('g1'):
        return TableScene(height=-0.3, center_xy=(0.5, 0.0), size_xy=(0.5, 0.9),
                          floor_height=-0.79)
    # The Panda's base stands on the table top.
    return TableScene(height=0.0, center_xy=(0.3, 0.0), size_xy=(1.2, 1.2), floor_height=-0.75)


@dataclass(frozen=True)
class SimConfig:
    """Simulation parameters."""

    timestep: float = 0.002
    """Physics step (s)."""
    kp: float = 900.0
    """Position gain (1/s^2) of the computed-torque controller."""
    kd: float = 60.0
    """Velocity gain (1/s), critically damped for kp."""
    settle_time: float = 0.3
    """Simulated time (s) after the trajectory ends, holding the last sample."""
    render_fps: float = 0.0
    """Video frame rate (Hz); 0 renders nothing."""
    render_width: int = 320
    render_height: int = 240
    camera_distance: float = 1.8
    camera_azimuth: float = 150.0
    camera_elevation: float = -25.0
    camera_lookat: tuple[float, float, float] | None = None
    """Camera target in the base frame; default: above the table centre."""


@dataclass(frozen=True)
class ExecutionResult:
    """What the simulated arm did: samples at the trajectory's times.

    tracking_errors: (T, J) executed minus planned joint positions (rad).
    ee_errors: (T,) distance (m) between executed and planned EE positions.
    frames: (F, H, W, 3) uint8 RGB video frames, empty when not rendered.
    """

    executed: JointTrajectory
    tracking_errors: np.ndarray
    ee_errors: np.ndarray
    frames: np.ndarray
    frame_rate: float

    @property
    def max_tracking_error(self) -> float:
        return float(np.max(np.abs(self.tracking_errors)))

    @property
    def max_ee_error(self) -> float:
        return float(np.max(self.ee_errors))


def mujoco_urdf(robot: RobotModel) -> str:
    """Return the robot's URDF rewritten for MuJoCo: absolute mesh paths, no .dae visuals."""
    share = robot_data_share_dir()
    xml = robot.urdf_path.read_text()
    xml = xml.replace('package://', str(share) + os.sep)
    xml = re.sub(r'<visual>.*?</visual>', '', xml, flags=re.S)
    compiler = ('<mujoco><compiler strippath="false" discardvisual="false" '
                'fusestatic="false" balanceinertia="true"/></mujoco>')
    return xml.replace('</robot>', compiler + '</robot>')


def build_model(robot: RobotModel, scene: TableScene | None = None) -> mujoco.MjModel:
    """Compile the MuJoCo model: robot welded at the origin, table, floor, lights."""
    scene = scene or default_table(robot)
    spec = mujoco.MjSpec.from_string(mujoco_urdf(robot))
    for joint in list(spec.joints):
        if joint.type == mujoco.mjtJoint.mjJNT_FREE:
            spec.delete(joint)
    # Robot geoms: contype 2 / conaffinity 1; scene: 1 / 2, so only robot-scene pairs collide.
    for geom in spec.geoms:
        geom.contype, geom.conaffinity = 2, 1
        geom.rgba = [0.85, 0.85, 0.88, 1.0]
    world = spec.worldbody
    cx, cy = scene.center_xy
    sx, sy = scene.size_xy
    world.add_geom(name='table', type=mujoco.mjtGeom.mjGEOM_BOX,
                   size=[sx / 2.0, sy / 2.0, scene.thickness / 2.0],
                   pos=[cx, cy, scene.height - scene.thickness / 2.0],
                   rgba=[0.55, 0.38, 0.25, 1.0], contype=1, conaffinity=2)
    if scene.floor_height is not None:
        world.add_geom(name='floor', type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3.0, 3.0, 0.1],
                       pos=[0.0, 0.0, scene.floor_height], rgba=[0.3, 0.35, 0.4, 1.0],
                       contype=1, conaffinity=2)
    world.add_light(pos=[0.5, -0.5, 2.5], dir=[-0.2, 0.2, -1.0], diffuse=[0.8, 0.8, 0.8])
    world.add_light(pos=[-0.5, 0.8, 2.0], dir=[0.3, -0.4, -1.0], diffuse=[0.4, 0.4, 0.4])
    try:
        return spec.compile()
    except ValueError as exc:
        raise SimulationError(f'{robot.name}: MuJoCo cannot compile the URDF: {exc}') from exc


class MujocoArmSim:
    """Execute joint trajectories of one arm in MuJoCo with computed-torque control."""

    def __init__(self, robot: RobotModel, config: SimConfig | None = None,
                 scene: TableScene | None = None) -> None:
        self.robot = robot
        self.config = config or SimConfig()
        self.scene = scene or default_table(robot)
        self.model = build_model(robot, self.scene)
        self.model.opt.timestep = self.config.timestep
        self.data = mujoco.MjData(self.model)
        m = self.model
        if m.nq != m.nv:
            raise SimulationError(f'{robot.name}: expected only hinge/slide joints, got '
                                  f'nq={m.nq}, nv={m.nv}')
        self._arm_dofs = np.array([self._dof(name) for name in robot.joint_names])
        self._hold = {self._dof(name): value
                      for name, value in robot.nominal_full_configuration.items()}

    def _dof(self, joint_name: str) -> int:
        try:
            return int(self.model.joint(joint_name).qposadr[0])
        except KeyError as exc:
            raise SimulationError(f'{self.robot.name}: joint {joint_name!r} missing in the '
                                  'MuJoCo model') from exc

    def reset(self, arm_positions) -> None:
        """Put the arm at rest at `arm_positions` (rad), locked joints at their nominal values."""
        mujoco.mj_resetData(self.model, self.data)
        for dof, value in self._hold.items():
            self.data.qpos[dof] = value
        self.data.qpos[self._arm_dofs] = np.asarray(arm_positions, dtype=np.float64)
        mujoco.mj_forward(self.model, self.data)

    def arm_positions(self) -> np.ndarray:
        """Return the arm's current joint positions (rad)."""
        return self.data.qpos[self._arm_dofs].copy()

    def _camera(self) -> mujoco.MjvCamera:
        c = self.config
        camera = mujoco.MjvCamera()
        lookat = c.camera_lookat or (self.scene.center_xy[0], self.scene.center_xy[1],
                                     self.scene.height + 0.25)
        camera.lookat[:] = lookat
        camera.distance = c.camera_distance
        camera.azimuth = c.camera_azimuth
        camera.elevation = c.camera_elevation
        return camera

    def _renderer(self) -> mujoco.Renderer:
        # Software GL on few cores: no multisampling, shadows or reflections (~10x faster).
        self.model.vis.quality.offsamples = 0
        renderer = mujoco.Renderer(self.model, self.config.render_height,
                                   self.config.render_width)
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW, mujoco.mjtRndFlag.mjRND_REFLECTION,
                     mujoco.mjtRndFlag.mjRND_SKYBOX):
            renderer.scene.flags[flag] = False
        return renderer

    def render(self, renderer: mujoco.Renderer | None = None) -> np.ndarray:
        """Render the current state (H, W, 3) uint8 from the configured camera."""
        own = renderer is None
        renderer = renderer or self._renderer()
        try:
            renderer.update_scene(self.data, camera=self._camera())
            return renderer.render().copy()
        finally:
            if own:
                renderer.close()

    def execute(self, trajectory: JointTrajectory) -> ExecutionResult:
        """Run `trajectory` from its first sample; return what the arm did."""
        if trajectory.joint_names != self.robot.joint_names:
            raise SimulationError(f'trajectory joints {trajectory.joint_names} differ from '
                                  f'{self.robot.joint_names}')
        c, m, d = self.config, self.model, self.data
        self.reset(trajectory.positions[0])
        t_ref = trajectory.times
        q_ref = trajectory.positions
        v_ref = (trajectory.velocities if trajectory.velocities is not None
                 else np.gradient(q_ref, t_ref, axis=0))
        a_ref = (trajectory.accelerations if trajectory.accelerations is not None
                 else np.gradient(v_ref, t_ref, axis=0))
        num_steps = int(np.ceil((trajectory.duration + c.settle_time) / c.timestep))
        target_q = np.zeros(m.nq)
        target_v = np.zeros(m.nv)
        target_a = np.zeros(m.nv)
        for dof, value in self._hold.items():
            target_q[dof] = value
        inertial = np.zeros(m.nv)
        executed = np.zeros_like(q_ref)
        executed_v = np.zeros_like(q_ref)
        next_sample = 0
        renderer = None
        frames: list[np.ndarray] = []
        next_frame = 0.0
        if c.render_fps > 0.0:
            renderer = self._renderer()
        try:
            for _ in range(num_steps + 1):
                now = d.time
                while next_sample < len(t_ref) and t_ref[next_sample] <= now + 1e-9:
                    executed[next_sample] = d.qpos[self._arm_dofs]
                    executed_v[next_sample] = d.qvel[self._arm_dofs]
                    next_sample += 1
                if renderer is not None and now >= next_frame - 1e-9:
                    frames.append(self.render(renderer))
                    next_frame += 1.0 / c.render_fps
                tq = np.clip(now, t_ref[0], t_ref[-1])
                for j, dof in enumerate(self._arm_dofs):
                    target_q[dof] = np.interp(tq, t_ref, q_ref[:, j])
                    moving = now <= t_ref[-1]
                    target_v[dof] = np.interp(tq, t_ref, v_ref[:, j]) if moving else 0.0
                    target_a[dof] = np.interp(tq, t_ref, a_ref[:, j]) if moving else 0.0
                mujoco.mj_step1(m, d)
                feedback = c.kp * (target_q - d.qpos) + c.kd * (target_v - d.qvel)
                # mj_mulM has the same signature in MuJoCo 3 and 4 (mj_fullM does not).
                mujoco.mj_mulM(m, d, inertial, target_a + feedback)
                d.qfrc_applied[:] = inertial + d.qfrc_bias
                mujoco.mj_step2(m, d)
                if not np.all(np.isfinite(d.qpos)):
                    raise SimulationError(f'{self.robot.name}: simulation diverged at '
                                          f't = {now:.3f} s')
        finally:
            if renderer is not None:
                renderer.close()
        if next_sample < len(t_ref):
            raise SimulationError(f'recorded {next_sample} of {len(t_ref)} samples')
        result = JointTrajectory(t_ref.copy(), self.robot.joint_names, executed, executed_v)
        ee_plan = self.robot.ee_positions(q_ref)
        ee_exec = self.robot.ee_positions(executed)
        video = (np.stack(frames) if frames
                 else np.zeros((0, c.render_height, c.render_width, 3), np.uint8))
        return ExecutionResult(result, executed - q_ref, np.linalg.norm(ee_exec - ee_plan, axis=1),
                               video, c.render_fps)


def write_video(frames: np.ndarray, path: str | Path, fps: float) -> Path:
    """Write RGB frames (F, H, W, 3) to an MP4 (H.264 via imageio-ffmpeg) at `fps`."""
    import imageio.v2 as imageio

    path = Path(path)
    if len(frames) == 0:
        raise SimulationError('no frames to write (set SimConfig.render_fps > 0)')
    imageio.mimwrite(str(path), list(frames), fps=fps, macro_block_size=8)
    return path
