"""Arm models for execution: Franka Panda or FR3 + Franka hand, and one Unitree G1 arm.

All come from the URDFs of example-robot-data (BSD), on pinocchio; the FR3 is the Panda's
kinematics with the FR3's own joint limits (see `load_fr3`). Each model is reduced to the 7
arm joints (everything else locked at a nominal pose) and carries one end-effector frame,
`ee_frame`, that the wrist path targets:

- Panda and FR3: `panda_hand_tcp`, the Franka hand's tool centre point (0.1034 m along the
  flange z axis from `panda_hand`, between the fingertips), z = approach axis, y = finger
  closing axis.
- G1: `<side>_hand_mount`, a frame added on `<side>_wrist_yaw_link` at `hand_mount` (by default
  the pose of the URDF's `<side>_rubber_hand` link, where a dexterous hand is bolted on).

Joint positions (rad) are in `joint_names` order; base frame = the URDF root (`panda_link0`,
`pelvis`), which the project calls `base_link`.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]  (cmeel prefix)
from lvp_common.artifacts import ROBOT_BASE_FRAME
from lvp_common.geometry import Pose

PANDA_ARM_JOINTS = tuple(f'panda_joint{i}' for i in range(1, 8))
PANDA_ACCELERATION_LIMITS = (15.0, 7.5, 10.0, 12.5, 15.0, 20.0, 20.0)
"""Franka's published joint acceleration limits (rad/s^2); the URDF has none."""

FR3_JOINT_LIMITS = {
    'lower': (-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159),
    'upper': (2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159),
    'velocity': (2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26),
    'acceleration': (10.0,) * 7,
}
"""The FR3's joint limits (rad, rad/s, rad/s^2), joints 1..7. Positions and speeds: Franka's
franka_description 1.0.1, robots/fr3/joint_limits.yaml (the URDF franka_ros2 loads); accelerations:
libfranka 0.21 include/franka/rate_limiting.h, kMaxJointAcceleration. libfranka also lowers the
speed limit near the position limits; the safety filter's margins keep plans away from them."""
ARM_MODELS = ('panda', 'fr3')
"""The Franka arm models: the Panda (franka_ros, the sim) and the FR3 (franka_ros2)."""

G1_ARM_JOINT_SUFFIXES = ('shoulder_pitch', 'shoulder_roll', 'shoulder_yaw', 'elbow',
                         'wrist_roll', 'wrist_pitch', 'wrist_yaw')
G1_DEFAULT_ACCELERATION_LIMIT = 10.0
"""Our conservative G1 arm joint acceleration limit (rad/s^2); Unitree publishes none."""
G1_DEFAULT_VELOCITY_CAP = 3.0
"""Our cap on G1 arm joint speed (rad/s): the URDF's 22-37 rad/s are motor no-load figures."""
G1_RUBBER_HAND_MOUNT = Pose(np.array([0.0415, -0.003, 0.0]), np.array([0.0, 0.0, 0.0, 1.0]))
"""The right `*_hand_palm_joint` origin in the G1 URDF (the left one mirrors y)."""
INSPIRE_BASE_IN_MOUNT = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
"""Rotation of the Inspire hand's `base` frame (z fingers, x palm normal, y thumb side) in the
G1 `<side>_hand_mount` frame, both origins coincident: the fingers point along the mount's x,
the palm faces the mount's -y, the thumb side is -z (lvp_bringup's G1_HAND_IN_MOUNT)."""

EXAMPLE_ROBOT_DATA = 'example-robot-data'


class RobotModelError(ValueError):
    """A robot description cannot be found or does not have the expected joints/frames."""


def robot_data_share_dir() -> Path:
    """Return the `share` folder that holds example-robot-data (`$LVP_ROBOT_DATA_SHARE` first)."""
    candidates: list[Path] = []
    if os.environ.get('LVP_ROBOT_DATA_SHARE'):
        candidates.append(Path(os.environ['LVP_ROBOT_DATA_SHARE']))
    for entry in sys.path:
        # cmeel wheels install data under site-packages/cmeel.prefix/share.
        if entry.endswith('site-packages'):
            candidates.append(Path(entry) / 'cmeel.prefix' / 'share')
    candidates.append(Path(sys.prefix) / 'share')
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / 'share')
    for share in candidates:
        if (share / EXAMPLE_ROBOT_DATA / 'robots').is_dir():
            return share
    raise RobotModelError(
        f'{EXAMPLE_ROBOT_DATA} not found (looked in {[str(c) for c in candidates]}); '
        'pip install example-robot-data or set LVP_ROBOT_DATA_SHARE')


def robot_urdf_path(description: str, urdf_name: str) -> Path:
    """Return the path of `robots/<description>/urdf/<urdf_name>` in example-robot-data."""
    path = (robot_data_share_dir() / EXAMPLE_ROBOT_DATA / 'robots' / description / 'urdf'
            / urdf_name)
    if not path.is_file():
        raise RobotModelError(f'robot description not found: {path}')
    return path


@dataclass(frozen=True)
class JointLimits:
    """Per-joint limits in `joint_names` order: positions (rad), speed (rad/s), accel (rad/s^2)."""

    lower: np.ndarray
    upper: np.ndarray
    velocity: np.ndarray
    acceleration: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.lower)
        for name in ('lower', 'upper', 'velocity', 'acceleration'):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (n,) or not np.all(np.isfinite(value)):
                raise RobotModelError(f'JointLimits.{name}: expected {n} finite values, '
                                      f'got {value}')
            object.__setattr__(self, name, value)
        if np.any(self.upper <= self.lower):
            raise RobotModelError(f'JointLimits: upper {self.upper} must exceed lower '
                                  f'{self.lower}')
        if np.any(self.velocity <= 0.0) or np.any(self.acceleration <= 0.0):
            raise RobotModelError('JointLimits: velocity and acceleration limits must be > 0')


@dataclass
class RobotModel:
    """A 7-joint arm model: pinocchio model/data, joint order, limits and the wrist EE frame."""

    name: str
    model: pin.Model
    joint_names: tuple[str, ...]
    limits: JointLimits
    ee_frame: str
    base_frame: str
    urdf_path: Path
    nominal_full_configuration: dict[str, float] = field(default_factory=dict)
    """Values of the joints locked away by the reduction (rad), for simulators."""
    collision_frames: tuple[str, ...] = ()
    """Frames (besides the EE) whose origins the safety filter keeps above the table."""
    home: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """A comfortable start configuration (rad) with the hand in front of the robot."""

    def __post_init__(self) -> None:
        self.data = self.model.createData()
        if not self.model.existFrame(self.ee_frame):
            raise RobotModelError(f'{self.name}: no frame named {self.ee_frame!r}')
        self.ee_frame_id = self.model.getFrameId(self.ee_frame)
        self.collision_frame_ids = tuple(self.model.getFrameId(f) for f in self.collision_frames)
        if self.model.nq != len(self.joint_names):
            raise RobotModelError(f'{self.name}: model has {self.model.nq} coordinates for '
                                  f'{len(self.joint_names)} joints')

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def base_frame_names(self) -> tuple[str, str]:
        """Frame ids a target path may be given in: the URDF root and the project alias."""
        return (self.base_frame, ROBOT_BASE_FRAME)

    def ee_pose(self, q) -> Pose:
        """Return the EE pose in the base frame at joint positions `q` (rad)."""
        placement = self.ee_placement(q)
        return Pose.from_rotation_matrix(placement.translation, placement.rotation)

    def ee_placement(self, q) -> pin.SE3:
        """Return the EE placement (pinocchio SE3) in the base frame at `q`."""
        pin.framesForwardKinematics(self.model, self.data, np.asarray(q, dtype=np.float64))
        return self.data.oMf[self.ee_frame_id].copy()

    def frame_positions(self, q, frame_ids) -> np.ndarray:
        """Return the origins (K, 3) of frames `frame_ids` in the base frame at `q` (metres)."""
        pin.framesForwardKinematics(self.model, self.data, np.asarray(q, dtype=np.float64))
        return np.array([self.data.oMf[f].translation for f in frame_ids]).reshape(-1, 3)

    def ee_positions(self, joint_positions) -> np.ndarray:
        """Return EE positions (T, 3) for joint positions (T, J)."""
        return np.array([self.ee_placement(q).translation for q in joint_positions])


def _reduce(full: pin.Model, keep: tuple[str, ...], locked: dict[str, float]) -> tuple[
        pin.Model, dict[str, float]]:
    for name in keep:
        if not full.existJointName(name):
            raise RobotModelError(f'joint {name!r} not in the robot description')
    q_ref = pin.neutral(full)
    nominal: dict[str, float] = {}
    lock_ids = []
    for jid in range(1, full.njoints):
        name = full.names[jid]
        if name in keep:
            continue
        value = float(locked.get(name, 0.0))
        if full.joints[jid].nq != 1:
            raise RobotModelError(f'joint {name!r} has {full.joints[jid].nq} coordinates; '
                                  'only 1-DoF joints can be locked')
        q_ref[full.joints[jid].idx_q] = value
        nominal[name] = value
        lock_ids.append(jid)
    unknown = set(locked) - set(nominal)
    if unknown:
        raise RobotModelError(f'locked joints not in the description: {sorted(unknown)}')
    reduced = pin.buildReducedModel(full, lock_ids, q_ref)
    names = tuple(reduced.names[j] for j in range(1, reduced.njoints))
    if names != keep:
        raise RobotModelError(f'reduced model joints {names} differ from {keep}')
    return reduced, nominal


def _limits(model: pin.Model, acceleration, velocity_cap: float | None) -> JointLimits:
    velocity = np.array(model.velocityLimit, dtype=np.float64)
    if velocity_cap is not None:
        velocity = np.minimum(velocity, velocity_cap)
    return JointLimits(np.array(model.lowerPositionLimit), np.array(model.upperPositionLimit),
                       velocity, np.broadcast_to(np.asarray(acceleration, float), velocity.shape))


@dataclass(frozen=True)
class PandaConfig:
    """Franka Panda arm with the Franka hand; fingers locked at `finger_opening` (m each)."""

    ee_frame: str = 'panda_hand_tcp'
    finger_opening: float = 0.04
    acceleration_limits: tuple[float, ...] = PANDA_ACCELERATION_LIMITS
    velocity_cap: float | None = None
    home: tuple[float, ...] = (0.0, -0.3, 0.0, -2.2, 0.0, 2.0, 0.785)


def load_panda(config: PandaConfig | None = None) -> RobotModel:
    """Load the Panda arm (7 joints) with its hand's TCP as the EE frame."""
    config = config or PandaConfig()
    urdf = robot_urdf_path('panda_description', 'panda.urdf')
    full = pin.buildModelFromUrdf(str(urdf))
    locked = {'panda_finger_joint1': config.finger_opening,
              'panda_finger_joint2': config.finger_opening}
    model, nominal = _reduce(full, PANDA_ARM_JOINTS, locked)
    return RobotModel(
        name='panda', model=model, joint_names=PANDA_ARM_JOINTS,
        limits=_limits(model, config.acceleration_limits, config.velocity_cap),
        ee_frame=config.ee_frame, base_frame='panda_link0', urdf_path=urdf,
        nominal_full_configuration=nominal,
        collision_frames=('panda_link5', 'panda_link6', 'panda_link7', 'panda_hand',
                          'panda_leftfinger', 'panda_rightfinger'),
        home=np.array(config.home, dtype=np.float64))


def load_fr3(config: PandaConfig | None = None) -> RobotModel:
    """Load the FR3 arm (7 joints): the Panda model with the FR3's joint limits.

    franka_description's robots/fr3/kinematics.yaml and robots/fer/kinematics.yaml (the Panda)
    hold the same joint origins, so the Panda URDF's kinematics, hand and TCP are the FR3's; the
    joints keep the URDF's names panda_joint1..7 (the ros2_control backend renames them to
    franka_ros2's fr3_joint1..7). What differs is the limits, FR3_JOINT_LIMITS: e.g. joint 6 in
    0.5445..4.5169 rad where the Panda allows -0.0175..3.7525.
    """
    panda = load_panda(config)
    model = panda.model
    model.lowerPositionLimit = np.array(FR3_JOINT_LIMITS['lower'], dtype=np.float64)
    model.upperPositionLimit = np.array(FR3_JOINT_LIMITS['upper'], dtype=np.float64)
    model.velocityLimit = np.array(FR3_JOINT_LIMITS['velocity'], dtype=np.float64)
    velocity_cap = (config or PandaConfig()).velocity_cap
    return replace(panda, name='fr3', limits=_limits(model, FR3_JOINT_LIMITS['acceleration'],
                                                     velocity_cap))


def load_franka(arm_model: str = 'panda', config: PandaConfig | None = None) -> RobotModel:
    """Load the Franka arm model `arm_model`: 'panda' or 'fr3'."""
    if arm_model == 'panda':
        return load_panda(config)
    if arm_model == 'fr3':
        return load_fr3(config)
    raise RobotModelError(f'unknown Franka arm_model {arm_model!r}; expected one of '
                          f'{ARM_MODELS}')


@dataclass(frozen=True)
class G1ArmConfig:
    """One Unitree G1 arm (7 joints) on a fixed pelvis; other joints locked at `locked_pose`.

    hand_mount: pose of the hand's mounting frame in `<side>_wrist_yaw_link` (for the left arm
    the y of the default is mirrored). locked_pose: rad per joint name, 0 where absent.
    """

    side: str = 'right'
    hand_mount: Pose | None = None
    locked_pose: dict[str, float] = field(default_factory=dict)
    acceleration_limit: float = G1_DEFAULT_ACCELERATION_LIMIT
    velocity_cap: float | None = G1_DEFAULT_VELOCITY_CAP
    home: tuple[float, ...] = (0.0, -0.25, 0.0, 0.1, 0.0, 0.0, 0.0)
    urdf_name: str = 'g1_29dof_rev_1_0.urdf'


def load_g1_arm(config: G1ArmConfig | None = None) -> RobotModel:
    """Load one G1 arm reduced to 7 joints, with an EE frame `<side>_hand_mount` at the mount."""
    config = config or G1ArmConfig()
    if config.side not in ('left', 'right'):
        raise RobotModelError(f"G1ArmConfig.side must be 'left' or 'right', got {config.side!r}")
    side = config.side
    urdf = robot_urdf_path('g1_description', config.urdf_name)
    # Fixed base: the URDF's floating root joint is not modelled, the pelvis is the base.
    full = pin.buildModelFromUrdf(str(urdf))
    keep = tuple(f'{side}_{s}_joint' for s in G1_ARM_JOINT_SUFFIXES)
    model, nominal = _reduce(full, keep, config.locked_pose)
    mount = config.hand_mount
    if mount is None:
        sign = 1.0 if side == 'right' else -1.0
        mount = Pose(G1_RUBBER_HAND_MOUNT.position * np.array([1.0, sign, 1.0]),
                     G1_RUBBER_HAND_MOUNT.quaternion)
    parent = model.getFrameId(f'{side}_wrist_yaw_link')
    parent_frame = model.frames[parent]
    ee_frame = f'{side}_hand_mount'
    model.addFrame(pin.Frame(
        ee_frame, parent_frame.parentJoint, parent,
        parent_frame.placement * pin.SE3(mount.rotation, mount.position), pin.FrameType.OP_FRAME))
    home = np.array(config.home, dtype=np.float64)
    if side == 'left':
        home = home * np.array([1.0, -1.0, -1.0, 1.0, -1.0, 1.0, -1.0])
    return RobotModel(
        name=f'g1_{side}_arm', model=model, joint_names=keep,
        limits=_limits(model, config.acceleration_limit, config.velocity_cap),
        ee_frame=ee_frame, base_frame='pelvis', urdf_path=urdf,
        nominal_full_configuration=nominal,
        collision_frames=(f'{side}_elbow_link', f'{side}_wrist_roll_link',
                          f'{side}_wrist_yaw_link'),
        home=home)


def load_robot(name: str) -> RobotModel:
    """Load a robot by name: 'panda', 'fr3', 'g1_right_arm' or 'g1_left_arm'."""
    if name in ARM_MODELS:
        return load_franka(name)
    if name in ('g1_right_arm', 'g1_left_arm'):
        return load_g1_arm(G1ArmConfig(side=name.split('_')[1]))
    raise RobotModelError(f"unknown robot {name!r}; expected 'panda', 'fr3', 'g1_right_arm' or "
                          "'g1_left_arm'")
