# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""MuJoCo simulation backend: the robot executes inside the lvp_sim tabletop world.

World. `MujocoExecutor` builds lvp_sim's world (table, 5 cm cube, cup, button, target square,
scene camera) with the robot attached at `WorldConfig.robot_mount` (`world_config_for` of the
robot's embodiment by default): the Franka base on the table top, or a G1 pelvis standing behind
the table. Trajectories, EE errors and IK are in the robot base frame; object poses (`SceneState`)
in the table frame, as lvp_sim's task predicates expect.

Robot. The same URDF as the kinematic model, loaded by MuJoCo after rewriting `package://` mesh
paths to files. MuJoCo cannot read .dae meshes, so every `<visual>` block is dropped and the
URDF's collision geometry is what is simulated and rendered. The robot's root link is welded at
the mount. Robot geoms collide with the world (table, objects, button) but not with each other.

End effectors. Franka hand: both finger joints (`panda_finger_joint1/2`, 0-0.04 m each, coupled
by the URDF's mimic as a MuJoCo equality) carry position actuators limited to
`SimConfig.gripper_force` (70 N, the Franka hand's continuous grasp force); `GripperEvent`s set
the width target at their times (width 0 = close until contact) and the target moves at
`gripper_speed`. G1: the URDF's rubber hand is replaced by the project's Inspire RH56 hand
(lvp_retarget.inspire_hand) attached at the `<side>_hand_mount` frame; its 6 actuated joints
carry position actuators limited to `hand_torque`, driven by `HandCommands.normalized`
(1 = open) interpolated in time; the 6 mimic joints follow by MuJoCo equality constraints (the
URDF's couplings). The Inspire hand is mounted so that the pipeline's `G1_HAND_IN_MOUNT` holds:
its fingers point along the mount's x, its palm faces the mount's -y, its thumb side is -z.

Arm control is computed-torque position control at each physics step: the 7 arm joints follow
the trajectory (positions, velocities, accelerations interpolated between samples), the joints
locked in the kinematic model (G1 legs, waist, other arm) hold their nominal values:
tau = M(q) (qdd_ref + kp e + kd de) + c(q, qd), applied to the robot's arm/locked dofs only.

Offscreen rendering needs an OpenGL backend without a display: `MUJOCO_GL=egl` (set here if
unset) or `osmesa`.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import mujoco  # noqa: E402  (MUJOCO_GL is read at import)
import numpy as np  # noqa: E402
import pinocchio as pin  # noqa: E402  # pyright: ignore[reportMissingImports]
from lvp_common.artifacts import (  # noqa: E402
    GripperAction,
    GripperEvent,
    HandCommands,
    JointTrajectory,
    WristTrajectory,
)
from lvp_common.geometry import Pose, continuous_quaternions  # noqa: E402
from lvp_retarget.inspire_hand import (  # noqa: E402
    INSPIRE_ACTUATORS,
    INSPIRE_NATIVE_MAX,
    inspire_joints,
    inspire_urdf_xml,
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
from scipy.spatial.transform import Rotation, Slerp  # noqa: E402

from lvp_exec.execution import ExecutionError, ExecutionRequest, ExecutionStoppedError  # noqa: E402
from lvp_exec.ik import DampedLeastSquaresIk  # noqa: E402
from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT, RobotModel, robot_data_share_dir  # noqa: E402
from lvp_exec.timing import TimingConfig, parameterize  # noqa: E402

FRANKA_FINGER_JOINTS = ('panda_finger_joint1', 'panda_finger_joint2')
FRANKA_FINGER_RANGE = (0.0, 0.04)
"""Travel of each Franka finger (m): 0-0.08 m opening width."""
INSPIRE_PREFIX = 'inspire_'
"""Name prefix of the Inspire hand's bodies/joints inside the G1 (before the world's `robot/`)."""
_ROBOT_CONTYPE, _ROBOT_CONAFFINITY = 2, 1
"""Robot geoms: contype 2 / conaffinity 1; the world's geoms are 1 / 1, so robot-world pairs
collide and robot-robot pairs do not."""


PATH_TOLERANCE_RAD = {'franka_gripper': 0.4, 'g1_inspire': 0.9}
"""The sim's default largest tracking error (rad, any arm joint) per embodiment before it
aborts a trajectory. Free motion tracks within ~1e-3 rad, but contact the task means (a grasp,
a press, a push) deflects the light wrists of this computed-torque arm: measured up to 0.25 rad
on the Franka and 0.69 rad on the G1 in successful episodes (end-to-end benchmark: lift seeds
0-11, push and press seeds 0-3). Issue 23's jumping path left the Franka 1.1-1.3 rad off."""


class SimulationError(ExecutionError):
    """The simulated robot cannot be built or diverged from its trajectory."""


class TrackingError(SimulationError):
    """A joint left the planned trajectory by more than the path tolerance: aborted."""


def embodiment_for_robot(robot: RobotModel) -> str:
    """Return the embodiment of a robot model: 'franka_gripper' (panda) or 'g1_inspire'."""
    if robot.name == 'panda':
        return 'franka_gripper'
    if robot.name.startswith('g1_'):
        return 'g1_inspire'
    raise SimulationError(f'no simulated embodiment for robot {robot.name!r}; '
                          "expected 'panda' or 'g1_<side>_arm'")


@dataclass(frozen=True)
class SimConfig:
    """Simulation parameters (SI units)."""

    timestep: float = 0.002
    """Physics step (s)."""
    kp: float = 900.0
    """Position gain (1/s^2) of the computed-torque controller."""
    kd: float = 60.0
    """Velocity gain (1/s), critically damped for kp."""
    settle_time: float = 0.5
    """Simulated time (s) after the trajectory ends, holding the last sample."""
    stop_hold_time: float = 0.3
    """Simulated time (s) the arm holds its position after a stop request, before raising."""
    render_fps: float = 0.0
    """Video frame rate (Hz) of the scene-camera frames; 0 renders nothing."""
    render_scale: float = 0.5
    """Scene-camera frame size as a fraction of the world camera's image (832x480 -> 416x240);
    the aspect ratio, so the view, is the camera's."""
    overview: bool = False
    """Also render an overview (free camera, `camera_*` below) at render_fps."""
    overview_width: int = 320
    overview_height: int = 240
    camera_distance: float = 1.9
    camera_azimuth: float = 135.0
    camera_elevation: float = -25.0
    camera_lookat: tuple[float, float, float] = (0.2, 0.0, 0.15)
    """Overview camera target in the table frame (m)."""
    gripper_force: float = 70.0
    """Force limit (N) of each Franka finger's actuator (the hand's continuous grasp force)."""
    gripper_kp: float = 4000.0
    """Franka finger position gain (N/m): saturates at the force limit ~1.8 cm from target."""
    gripper_speed: float = 0.1
    """Largest rate (m/s) of the commanded Franka opening width."""
    hand_torque: float = 0.6
    """Torque limit (N m) of each Inspire actuated joint (~8 N at a fingertip 7 cm out)."""
    hand_kp: float = 4.0
    """Inspire actuated-joint position gain (N m/rad)."""
    object_friction: float = 1.0
    """Sliding friction of the cube/cup and of the fingers' contact surfaces."""

    def __post_init__(self) -> None:
        if not 1e-4 <= self.timestep <= 0.01:
            raise SimulationError(f'SimConfig.timestep must lie in [1e-4, 0.01] s, '
                                  f'got {self.timestep}')
        if self.render_fps < 0.0 or not 0.05 <= self.render_scale <= 1.0:
            raise SimulationError(f'SimConfig: render_fps {self.render_fps} must be >= 0 and '
                                  f'render_scale {self.render_scale} in [0.05, 1]')
        for name in ('gripper_force', 'gripper_kp', 'gripper_speed', 'hand_torque', 'hand_kp',
                     'object_friction'):
            if getattr(self, name) <= 0.0:
                raise SimulationError(f'SimConfig.{name} must be positive, '
                                      f'got {getattr(self, name)}')


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


def mujoco_urdf(robot: RobotModel) -> str:
    """Return the robot's URDF rewritten for MuJoCo: absolute mesh paths, no .dae visuals."""
    share = robot_data_share_dir()
    xml = robot.urdf_path.read_text()
    xml = xml.replace('package://', str(share) + os.sep)
    xml = re.sub(r'<visual>.*?</visual>', '', xml, flags=re.S)
    compiler = ('<mujoco><compiler strippath="false" discardvisual="false" '
                'fusestatic="false" balanceinertia="true"/></mujoco>')
    return xml.replace('</robot>', compiler + '</robot>')


def _urdf_spec(xml: str, what: str) -> mujoco.MjSpec:
    try:
        spec = mujoco.MjSpec.from_string(xml)
    except ValueError as exc:
        raise SimulationError(f'{what}: MuJoCo cannot load the URDF: {exc}') from exc
    for joint in list(spec.joints):
        if joint.type == mujoco.mjtJoint.mjJNT_FREE:
            spec.delete(joint)
    return spec


def _position_actuator(spec: mujoco.MjSpec, joint: str, kp: float, limit: float,
                       ctrlrange: tuple[float, float]) -> None:
    spec.add_actuator(name=f'{joint}_position', target=joint,
                      trntype=mujoco.mjtTrn.mjTRN_JOINT,
                      gainprm=[kp] + [0.0] * 9, biasprm=[0.0, -kp, 0.0] + [0.0] * 7,
                      biastype=mujoco.mjtBias.mjBIAS_AFFINE, gaintype=mujoco.mjtGain.mjGAIN_FIXED,
                      forcelimited=True, forcerange=[-limit, limit],
                      ctrllimited=True, ctrlrange=list(ctrlrange))


def _set_damping(joint, value: float) -> None:
    """Set a joint's linear damping (N s/m or N m s/rad) in MuJoCo 3 (a float) and 4 (a
    3-vector whose first entry is the linear term)."""
    try:
        joint.damping = value
    except TypeError:
        joint.damping = [value, 0.0, 0.0]


def _set_collision(spec: mujoco.MjSpec, rgba, friction: float) -> None:
    """Robot geoms: collide with the world only, torsional friction, the objects' stiff
    contact (lvp_sim.world.GRASP_CONTACT)."""
    for geom in spec.geoms:
        geom.contype, geom.conaffinity = _ROBOT_CONTYPE, _ROBOT_CONAFFINITY
        geom.rgba = rgba
        geom.condim = 4
        geom.friction = [friction, 0.005, 0.0001]
        geom.solref = [0.005, 1.0]
        geom.solimp = [0.95, 0.99, 0.001, 0.5, 2.0]


def _franka_spec(robot: RobotModel, config: SimConfig) -> tuple[mujoco.MjSpec, tuple[str, ...]]:
    spec = _urdf_spec(mujoco_urdf(robot), robot.name)
    _set_collision(spec, [0.88, 0.88, 0.9, 1.0], config.object_friction)
    for name in FRANKA_FINGER_JOINTS:
        joint = spec.joint(name)
        if joint is None:
            raise SimulationError(f'{robot.name}: no finger joint {name!r} in the URDF')
        # The 15 g fingers alone would ring at kp = 4000 N/m with a 2 ms step: the armature
        # (reflected motor inertia) and damping make the actuator slow and stable, as the
        # Franka hand is (<= 0.1 m/s).
        joint.armature = 0.05
        _set_damping(joint, 30.0)
        _position_actuator(spec, name, config.gripper_kp, config.gripper_force,
                           FRANKA_FINGER_RANGE)
    for body in ('panda_leftfinger', 'panda_rightfinger'):
        for geom in spec.body(body).geoms:
            geom.rgba = [0.25, 0.25, 0.27, 1.0]
    return spec, FRANKA_FINGER_JOINTS


def _mount_in_wrist(robot: RobotModel, wrist_link: str) -> pin.SE3:
    """Return the EE (hand mount) frame's placement in `wrist_link` (pinocchio model)."""
    model = robot.model
    data = model.createData()
    pin.framesForwardKinematics(model, data, pin.neutral(model))
    wrist = data.oMf[model.getFrameId(wrist_link)]
    return wrist.actInv(data.oMf[robot.ee_frame_id])


def _g1_spec(robot: RobotModel, config: SimConfig) -> tuple[mujoco.MjSpec, tuple[str, ...]]:
    side = 'left' if robot.name.startswith('g1_left') else 'right'
    spec = _urdf_spec(mujoco_urdf(robot), robot.name)
    _set_collision(spec, [0.72, 0.74, 0.78, 1.0], config.object_friction)
    rubber = spec.body(f'{side}_rubber_hand')
    if rubber is not None:  # the Inspire hand replaces the rubber hand
        for geom in list(rubber.geoms):
            spec.delete(geom)
    wrist_link = f'{side}_wrist_yaw_link'
    mount = _mount_in_wrist(robot, wrist_link)
    site = spec.body(wrist_link).add_site(
        name=f'{side}_inspire_mount', pos=mount.translation,
        quat=_wxyz(mount.rotation @ INSPIRE_BASE_IN_MOUNT))
    # The generated URDF's visual boxes duplicate its collision boxes: keep one set.
    hand_xml = inspire_urdf_xml(side).replace(
        '</robot>', '<mujoco><compiler fusestatic="false" discardvisual="true"/></mujoco>'
                    '</robot>')
    hand = _urdf_spec(hand_xml, f'Inspire {side} hand')
    _set_collision(hand, [0.3, 0.3, 0.33, 1.0], config.object_friction)
    for joint in hand.joints:
        # 2-7 g phalanges: armature (the linear actuators' reflected inertia) keeps the
        # position loop and the mimic equalities stable at a 2 ms step.
        joint.armature = 0.002
        _set_damping(joint, 0.05)
    actuated = tuple(a.joint for a in INSPIRE_ACTUATORS)
    limits = {j.name: (j.lower, j.upper) for j in inspire_joints(side)}
    for name in actuated:
        _position_actuator(hand, name, config.hand_kp, config.hand_torque, limits[name])
    try:
        spec.attach(hand, prefix=INSPIRE_PREFIX, site=site)
    except (ValueError, RuntimeError) as exc:
        raise SimulationError(f'cannot attach the Inspire hand at {wrist_link}: {exc}') from exc
    return spec, tuple(INSPIRE_PREFIX + name for name in actuated)


def _wxyz(rotation: np.ndarray) -> list[float]:
    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return [float(w), float(x), float(y), float(z)]


def robot_spec(robot: RobotModel, config: SimConfig | None = None) -> tuple[
        mujoco.MjSpec, tuple[str, ...]]:
    """Return the robot's MjSpec with its actuated end effector and the EE joint names.

    Franka: the Panda with both finger joints actuated. G1: the arm's URDF with the Inspire hand
    at `<side>_hand_mount` (names prefixed `inspire_`), its 6 actuated joints actuated.
    """
    config = config or SimConfig()
    if embodiment_for_robot(robot) == 'franka_gripper':
        return _franka_spec(robot, config)
    return _g1_spec(robot, config)


def _interpolate(times: np.ndarray, samples: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Linearly interpolate samples (N, J) at query times (M,), held beyond the ends."""
    return np.stack([np.interp(query, times, samples[:, j]) for j in range(samples.shape[1])],
                    axis=1)


class _SimWorld:
    """One compiled world with a robot: index maps, actuators, renderers."""

    def __init__(self, robot: RobotModel, world_config: WorldConfig, config: SimConfig) -> None:
        self.robot = robot
        self.config = config
        self.embodiment = embodiment_for_robot(robot)
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
        if self.embodiment == 'franka_gripper':
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
        if self.embodiment == 'g1_inspire':
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
    default, `PATH_TOLERANCE_RAD`.
    """

    name = 'sim'

    def __init__(self, world_config: WorldConfig | None = None,
                 config: SimConfig | None = None,
                 path_tolerance_rad: float | None = None) -> None:
        if path_tolerance_rad is not None and not path_tolerance_rad >= 0.0:
            raise SimulationError(f'path_tolerance_rad must be >= 0 rad (0: the embodiment\'s '
                                  f'default {PATH_TOLERANCE_RAD}), got {path_tolerance_rad}')
        self.world_config = world_config
        self.config = config or SimConfig()
        self.path_tolerance_rad = path_tolerance_rad or None
        self._worlds: dict[str, _SimWorld] = {}
        self._current: _SimWorld | None = None

    def tolerance_for(self, robot: RobotModel) -> float:
        """The path tolerance (rad) this executor applies to `robot`."""
        return self.path_tolerance_rad or PATH_TOLERANCE_RAD[embodiment_for_robot(robot)]

    def world_for(self, robot: RobotModel) -> _SimWorld:
        """Return (building once) the world with this robot in it."""
        if robot.name not in self._worlds:
            layout = self.world_config or world_config_for(embodiment_for_robot(robot))
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

    def start_positions(self, robot: RobotModel) -> None:
        """Return None: the sim starts each execution at the trajectory's first sample."""
        del robot
        return None

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
        q_steps = _interpolate(t_ref, q_ref, step_times)
        v_steps = np.where(moving, _interpolate(t_ref, v_ref, step_times), 0.0)
        a_steps = np.where(moving, _interpolate(t_ref, a_ref, step_times), 0.0)
        ee_steps = self._ee_targets(sim, request, step_times)

        started = time.perf_counter()
        sim.reset(q_ref[0], ee_steps[0])
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
                    step_times: np.ndarray) -> np.ndarray:
        """Return the EE actuators' targets (S, E) at each physics step."""
        if sim.embodiment == 'franka_gripper':
            if request.hand_commands is not None:
                raise SimulationError('the Franka gripper takes GripperEvents, not HandCommands')
            return _finger_targets(request.gripper_events, step_times,
                                   2.0 * sim.ee_initial[0], self.config.gripper_speed)
        if request.gripper_events:
            raise SimulationError('the Inspire hand takes HandCommands, not GripperEvents')
        return _inspire_targets(request.hand_commands, step_times)


def _finger_targets(events: tuple[GripperEvent, ...], step_times: np.ndarray,
                    initial_width: float, speed: float) -> np.ndarray:
    """Return each Franka finger's target (S, 2), m: the events' widths, rate limited."""
    low, high = FRANKA_FINGER_RANGE
    desired = np.full(len(step_times), initial_width)
    for event in sorted(events, key=lambda e: e.time):
        # OPEN and CLOSE both go to their width (CLOSE 0 = until contact, force limited).
        desired[step_times >= event.time] = np.clip(event.width, 2.0 * low, 2.0 * high)
    commanded = np.empty_like(desired)
    width = initial_width
    max_change = speed * (step_times[1] - step_times[0]) if len(step_times) > 1 else np.inf
    for i, goal in enumerate(desired):
        width += float(np.clip(goal - width, -max_change, max_change))
        commanded[i] = width
    return np.repeat(commanded[:, None] / 2.0, 2, axis=1)


def _inspire_targets(commands: HandCommands | None, step_times: np.ndarray) -> np.ndarray:
    """Return the Inspire actuated joints' targets (S, 6), rad, from normalized commands."""
    open_ = np.array([a.open_position for a in INSPIRE_ACTUATORS])
    closed = np.array([a.closed_position for a in INSPIRE_ACTUATORS])
    if commands is None:
        normalized = np.ones((len(step_times), len(INSPIRE_ACTUATORS)))
    else:
        names = [a.name for a in INSPIRE_ACTUATORS]
        missing = set(names) - set(commands.actuator_names)
        if missing:
            raise SimulationError(f'HandCommands lack Inspire actuators {sorted(missing)}; '
                                  f'they have {commands.actuator_names}')
        columns = [commands.actuator_names.index(n) for n in names]
        normalized = _interpolate(commands.times, commands.normalized[:, columns], step_times)
    return closed + normalized * (open_ - closed)


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
    embodiment = embodiment_for_robot(robot)
    cube_in_table = Pose.from_rotation_matrix(
        np.array([*layout.cube_xy, layout.table_top_z + layout.cube_half_size]),
        Rotation.from_euler('z', layout.cube_yaw).as_matrix())
    cube = layout.robot_mount.inverse() @ cube_in_table
    yaw = float(Rotation.from_quat(cube.quaternion).as_euler('xyz')[2])
    # A cube is symmetric under quarter turns: grasp across the face nearest the default yaw.
    yaw = (yaw + np.pi / 4.0) % (np.pi / 2.0) - np.pi / 4.0
    turn = Rotation.from_euler('z', yaw).as_matrix()
    if embodiment == 'franka_gripper':
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
    if embodiment == 'franka_gripper':
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
