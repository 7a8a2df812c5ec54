# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""The simulated robot as a MuJoCo model: the URDF, its end effector and its actuators.

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

`SimConfig` holds the parameters of the model and of the executor (lvp_sim.mujoco_executor).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

os.environ.setdefault('MUJOCO_GL', 'egl')

import mujoco  # noqa: E402  (MUJOCO_GL is read at import)
import numpy as np  # noqa: E402
import pinocchio as pin  # noqa: E402  # pyright: ignore[reportMissingImports]
from lvp_exec.embodiment_hardware import (  # noqa: E402
    EmbodimentHardware,
    EndEffector,
    UnknownHardwareError,
    hardware_for_robot,
)
from lvp_exec.execution import ExecutionError  # noqa: E402
from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT, RobotModel, robot_data_share_dir  # noqa: E402
from lvp_retarget.inspire_hand import (  # noqa: E402
    INSPIRE_ACTUATORS,
    inspire_joints,
    inspire_urdf_xml,
)
from scipy.spatial.transform import Rotation  # noqa: E402

FRANKA_FINGER_JOINTS = ('panda_finger_joint1', 'panda_finger_joint2')


FRANKA_FINGER_RANGE = (0.0, 0.04)
"""Travel of each Franka finger (m): 0-0.08 m opening width."""


INSPIRE_PREFIX = 'inspire_'
"""Name prefix of the Inspire hand's bodies/joints inside the G1 (before the world's `robot/`)."""


_ROBOT_CONTYPE, _ROBOT_CONAFFINITY = 2, 1
"""Robot geoms: contype 2 / conaffinity 1; the world's geoms are 1 / 1, so robot-world pairs
collide and robot-robot pairs do not."""


class SimulationError(ExecutionError):
    """The simulated robot cannot be built or diverged from its trajectory."""


def sim_hardware(robot: RobotModel) -> EmbodimentHardware:
    """Return the hardware spec of a robot model (lvp_exec.embodiment_hardware), or raise
    SimulationError when no registered embodiment has it."""
    try:
        return hardware_for_robot(robot)
    except UnknownHardwareError as exc:
        raise SimulationError(f'no simulated embodiment for robot {robot.name!r}: {exc}') from None


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
    if sim_hardware(robot).end_effector is EndEffector.PARALLEL_GRIPPER:
        return _franka_spec(robot, config)
    return _g1_spec(robot, config)
