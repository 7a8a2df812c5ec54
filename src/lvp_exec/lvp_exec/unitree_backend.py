"""Unitree G1 arm (`rt/arm_sdk`) and Inspire hand (`rt/inspire/cmd`) backend over Cyclone DDS.

The G1 runs cyclonedds 0.10.x; so must this process (`pip install cyclonedds==0.10.2`, built
against a 0.10 C library: see the README). cyclonedds is imported on first use only, so the rest
of lvp_exec never needs it.

The IDL types are written here from Unitree's published layouts (`unitree_hg::msg::dds_::LowCmd_`,
`unitree_hg::msg::dds_::LowState_`, `unitree_go::msg::dds_::MotorCmds_`), with Unitree's type
names, so they match the robot's on the wire: the PyPI `unitree-sdk2` 1.0.1 snapshot cannot be
imported (it lacks its `b2` package and the CRC library).

- `UnitreeArmStreamer` streams a `JointTrajectory` as hg `LowCmd_` on `rt/arm_sdk`: the robot's
  motion controller blends these targets into its own with the weight in `motor_cmd[29].q`
  (0 = ignore, 1 = follow), which is ramped in at the start and out at the end.
- `UnitreeLowStateReader` reads hg `LowState_` from `rt/lowstate` (motor positions, the
  robot's `mode_machine`).
- `UnitreeExecutor` (the lvp_exec.execution.Executor) puts them together: start state from
  rt/lowstate, the arm stream with the other arm and the waist held where they are, the
  Inspire commands on the trajectory clock, and a stop that ramps the weight out.
- `InspireHandCommander` publishes go `MotorCmds_` (12 commands: right hand 0..5, left hand
  6..11, `q` in [0, 1], 1 = open) on `rt/inspire/cmd`, the Inspire DFX hand service's topic.
"""

# No `from __future__ import annotations`: cyclonedds reads the IDL classes' annotations at
# runtime, and those classes are built inside a function.
import functools
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import HandCommands, JointTrajectory

from lvp_exec.execution import ExecutionError, ExecutionRequest, ExecutionStoppedError

G1_MOTOR_SLOTS = 35
"""`LowCmd_.motor_cmd` length on the G1 (29 motors + 6 unused slots)."""
G1_ARM_SDK_WEIGHT_SLOT = 29
"""`motor_cmd[29].q` (the SDK examples' `kNotUsedJoint`) is the arm_sdk blend weight."""

G1_MOTOR_INDEX: dict[str, int] = {
    name: index for index, name in enumerate((
        'left_hip_pitch_joint', 'left_hip_roll_joint', 'left_hip_yaw_joint',
        'left_knee_joint', 'left_ankle_pitch_joint', 'left_ankle_roll_joint',
        'right_hip_pitch_joint', 'right_hip_roll_joint', 'right_hip_yaw_joint',
        'right_knee_joint', 'right_ankle_pitch_joint', 'right_ankle_roll_joint',
        'waist_yaw_joint', 'waist_roll_joint', 'waist_pitch_joint',
        'left_shoulder_pitch_joint', 'left_shoulder_roll_joint', 'left_shoulder_yaw_joint',
        'left_elbow_joint', 'left_wrist_roll_joint', 'left_wrist_pitch_joint',
        'left_wrist_yaw_joint',
        'right_shoulder_pitch_joint', 'right_shoulder_roll_joint', 'right_shoulder_yaw_joint',
        'right_elbow_joint', 'right_wrist_roll_joint', 'right_wrist_pitch_joint',
        'right_wrist_yaw_joint'))
}
"""G1 29-dof URDF joint name -> motor index (Unitree's G1 joint order, `motor_cmd[i]`)."""

G1_ARM_SDK_JOINTS = tuple(name for name, index in G1_MOTOR_INDEX.items() if index >= 12)
"""The 17 joints arm_sdk drives (waist + both arms): every one is commanded in every message."""

INSPIRE_DDS_ACTUATORS = ('little', 'ring', 'middle', 'index', 'thumb_bend', 'thumb_rotation')
"""Actuator order within one hand on `rt/inspire/cmd` (pinky..thumb rotation, = RH56 order)."""
INSPIRE_DDS_OFFSET = {'right': 0, 'left': 6}
INSPIRE_NATIVE_MAX = 1000

_CRC32_POLYNOMIAL = 0x04C11DB7
_HG_LOW_CMD_LAYOUT = struct.Struct('<BB2x' + 'B3x5fI' * G1_MOTOR_SLOTS + '4I')
"""The C struct of hg LowCmd_ without its trailing crc: 1000 bytes = the 250 words CRC'd."""


class UnitreeBackendError(ValueError):
    """A trajectory, command or configuration the Unitree backend cannot send."""


class DdsReaderTimeoutError(TimeoutError):
    """No DDS reader matched the publisher in time (is the robot on this domain/interface?)."""


class LowStateTimeoutError(ExecutionError):
    """No hg LowState_ arrived on `rt/lowstate` in time (robot off, wrong interface/domain)."""


class UnitreeExecutionError(ExecutionError):
    """UnitreeExecutor refused or could not complete a request (nothing sent when refused)."""


# --- CRC ---------------------------------------------------------------------------------------

@functools.cache
def _crc32_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ _CRC32_POLYNOMIAL) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
        table.append(crc)
    return tuple(table)


def unitree_crc32(words: np.ndarray | Sequence[int]) -> int:
    """Return Unitree's `crc32_core` of uint32 words.

    CRC-32 with polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection and no final
    xor (the CRC-32/MPEG-2 parameters), each word fed most significant bit first.
    """
    data = np.asarray(words, dtype=np.uint32).astype('>u4').tobytes()
    table = _crc32_table()
    crc = 0xFFFFFFFF
    for byte in data:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ table[(crc >> 24) ^ byte]
    return crc


def hg_low_cmd_words(msg: Any) -> np.ndarray:
    """Return the 250 little-endian words of an hg `LowCmd_`'s C struct before its crc field."""
    values: list[float | int] = [msg.mode_pr, msg.mode_machine]
    for motor in msg.motor_cmd:
        values += [motor.mode, motor.q, motor.dq, motor.tau, motor.kp, motor.kd, motor.reserve]
    values += list(msg.reserve)
    return np.frombuffer(_HG_LOW_CMD_LAYOUT.pack(*values), dtype='<u4')


def hg_low_cmd_crc(msg: Any) -> int:
    """Return the crc field the G1 expects for an hg `LowCmd_` (crc32_core of its struct)."""
    return unitree_crc32(hg_low_cmd_words(msg))


# --- IDL types (cyclonedds imported here, on first use) ---------------------------------------

@dataclass(frozen=True)
class UnitreeIdl:
    """The IDL classes, built on first use."""

    HgMotorCmd: Any
    HgLowCmd: Any
    GoMotorCmd: Any
    GoMotorCmds: Any
    HgImuState: Any
    HgMotorState: Any
    HgLowState: Any


def _idl_type_name(name: str) -> dict[str, str]:
    """Return the class keywords naming an IDL struct (cyclonedds' metaclass reads them)."""
    # Passed unpacked: a type checker without cyclonedds installed sees only object's
    # __init_subclass__, which takes no `typename`; the class built is the same.
    return {'typename': name}


@functools.cache
def unitree_idl() -> UnitreeIdl:
    """Return the Unitree IDL types as cyclonedds dataclasses (imports cyclonedds)."""
    # cyclonedds is an optional dependency (built against the C library; see the README)
    try:
        import cyclonedds.idl as idl  # pyright: ignore[reportMissingImports]
        import cyclonedds.idl.annotations as annotate  # pyright: ignore[reportMissingImports]
        import cyclonedds.idl.types as types  # pyright: ignore[reportMissingImports]
    except ImportError as error:
        raise ImportError(
            'the Unitree backend needs cyclonedds 0.10.x (the G1 runs 0.10): '
            'CYCLONEDDS_HOME=<prefix of a cyclonedds 0.10 C library> '
            f'pip install cyclonedds==0.10.2 ({error})') from error

    @dataclass
    @annotate.final
    @annotate.autoid('sequential')
    class HgMotorCmd(idl.IdlStruct, **_idl_type_name('unitree_hg.msg.dds_.MotorCmd_')):
        mode: types.uint8 = 0
        q: types.float32 = 0.0
        dq: types.float32 = 0.0
        tau: types.float32 = 0.0
        kp: types.float32 = 0.0
        kd: types.float32 = 0.0
        reserve: types.uint32 = 0

    @dataclass
    @annotate.final
    @annotate.autoid('sequential')
    class HgLowCmd(idl.IdlStruct, **_idl_type_name('unitree_hg.msg.dds_.LowCmd_')):
        mode_pr: types.uint8 = 0
        mode_machine: types.uint8 = 0
        motor_cmd: types.array[HgMotorCmd, G1_MOTOR_SLOTS] = field(  # pyright: ignore
            default_factory=lambda: [HgMotorCmd() for _ in range(G1_MOTOR_SLOTS)])
        reserve: types.array[types.uint32, 4] = field(  # pyright: ignore
            default_factory=lambda: [0] * 4)
        crc: types.uint32 = 0

    @dataclass
    @annotate.final
    @annotate.autoid('sequential')
    class GoMotorCmd(idl.IdlStruct, **_idl_type_name('unitree_go.msg.dds_.MotorCmd_')):
        mode: types.uint8 = 0
        q: types.float32 = 0.0
        dq: types.float32 = 0.0
        tau: types.float32 = 0.0
        kp: types.float32 = 0.0
        kd: types.float32 = 0.0
        reserve: types.array[types.uint32, 3] = field(  # pyright: ignore
            default_factory=lambda: [0] * 3)

    @dataclass
    @annotate.final
    @annotate.autoid('sequential')
    class GoMotorCmds(idl.IdlStruct, **_idl_type_name('unitree_go.msg.dds_.MotorCmds_')):
        cmds: types.sequence[GoMotorCmd] = field(default_factory=list)  # pyright: ignore

    @dataclass
    @annotate.final
    @annotate.autoid('sequential')
    class HgImuState(idl.IdlStruct, **_idl_type_name('unitree_hg.msg.dds_.IMUState_')):
        quaternion: types.array[types.float32, 4] = field(  # pyright: ignore
            default_factory=lambda: [1.0, 0.0, 0.0, 0.0])
        gyroscope: types.array[types.float32, 3] = field(  # pyright: ignore
            default_factory=lambda: [0.0] * 3)
        accelerometer: types.array[types.float32, 3] = field(  # pyright: ignore
            default_factory=lambda: [0.0] * 3)
        rpy: types.array[types.float32, 3] = field(  # pyright: ignore
            default_factory=lambda: [0.0] * 3)
        temperature: types.int16 = 0

    @dataclass
    @annotate.final
    @annotate.autoid('sequential')
    class HgMotorState(idl.IdlStruct, **_idl_type_name('unitree_hg.msg.dds_.MotorState_')):
        mode: types.uint8 = 0
        q: types.float32 = 0.0
        dq: types.float32 = 0.0
        ddq: types.float32 = 0.0
        tau_est: types.float32 = 0.0
        temperature: types.array[types.int16, 2] = field(  # pyright: ignore
            default_factory=lambda: [0] * 2)
        vol: types.float32 = 0.0
        sensor: types.array[types.uint32, 2] = field(  # pyright: ignore
            default_factory=lambda: [0] * 2)
        motorstate: types.uint32 = 0
        reserve: types.array[types.uint32, 4] = field(  # pyright: ignore
            default_factory=lambda: [0] * 4)

    @dataclass
    @annotate.final
    @annotate.autoid('sequential')
    class HgLowState(idl.IdlStruct, **_idl_type_name('unitree_hg.msg.dds_.LowState_')):
        version: types.array[types.uint32, 2] = field(  # pyright: ignore
            default_factory=lambda: [0] * 2)
        mode_pr: types.uint8 = 0
        mode_machine: types.uint8 = 0
        tick: types.uint32 = 0
        imu_state: HgImuState = field(default_factory=HgImuState)
        motor_state: types.array[HgMotorState, G1_MOTOR_SLOTS] = field(  # pyright: ignore
            default_factory=lambda: [HgMotorState() for _ in range(G1_MOTOR_SLOTS)])
        wireless_remote: types.array[types.uint8, 40] = field(  # pyright: ignore
            default_factory=lambda: [0] * 40)
        reserve: types.array[types.uint32, 4] = field(  # pyright: ignore
            default_factory=lambda: [0] * 4)
        crc: types.uint32 = 0

    return UnitreeIdl(HgMotorCmd, HgLowCmd, GoMotorCmd, GoMotorCmds, HgImuState, HgMotorState,
                      HgLowState)


_participants: dict[tuple[int, str | None], Any] = {}
_participants_lock = threading.Lock()


def dds_participant(domain_id: int, network_interface: str | None = None) -> Any:
    """Return this process's DomainParticipant for a domain (one per domain and interface).

    `network_interface` (e.g. 'eth0', the G1's 192.168.123.x network) restricts Cyclone DDS to
    that interface, as Unitree's `ChannelFactoryInitialize(0, 'eth0')` does; None: its default.
    """
    unitree_idl()
    from cyclonedds.domain import (  # pyright: ignore[reportMissingImports]
        Domain,
        DomainParticipant,
    )

    key = (domain_id, network_interface)
    with _participants_lock:
        if key not in _participants:
            domain = None
            if network_interface is not None:
                if any(d == domain_id for d, _ in _participants):
                    raise UnitreeBackendError(
                        f'DDS domain {domain_id} is already open on another interface')
                domain = Domain(domain_id, _interface_config(network_interface))
            _participants[key] = (domain, DomainParticipant(domain_id))
        return _participants[key][1]


def _interface_config(network_interface: str) -> str:
    return ('<CycloneDDS><Domain Id="any"><General><Interfaces>'
            f'<NetworkInterface name="{network_interface}" priority="default" '
            'multicast="default"/></Interfaces></General></Domain></CycloneDDS>')


class _Publisher:
    """A DataWriter (default QoS: reliable, keep last 1, as Unitree's) that counts its readers."""

    def __init__(self, domain_id: int, network_interface: str | None, topic: str,
                 data_type: Any) -> None:
        from cyclonedds.core import Listener  # pyright: ignore[reportMissingImports]
        from cyclonedds.pub import DataWriter  # pyright: ignore[reportMissingImports]
        from cyclonedds.topic import Topic  # pyright: ignore[reportMissingImports]

        participant = dds_participant(domain_id, network_interface)
        self._matched = threading.Condition()
        self._readers = 0
        self.topic_name = topic
        # The writer's C side calls back into this Listener (e.g. when a reader goes away):
        # it must live as long as the writer; a temporary one is freed under it (segfault).
        self._listener = Listener(on_publication_matched=self._on_matched)
        self.writer: Any = DataWriter(participant, Topic(participant, topic, data_type),
                                      listener=self._listener)

    def _on_matched(self, _writer: Any, status: Any) -> None:
        with self._matched:
            self._readers = int(status.current_count)
            self._matched.notify_all()

    def wait_for_reader(self, timeout: float, settle_time: float) -> None:
        with self._matched:
            if not self._matched.wait_for(lambda: self._readers > 0, timeout):
                raise DdsReaderTimeoutError(
                    f'no reader of {self.topic_name} matched within {timeout} s')
        # The writer sees the match before the reader has matched the writer; a sample written
        # in between is dropped by the reader (seen on loopback: the first one).
        time.sleep(settle_time)

    def write(self, sample: Any) -> None:
        if self.writer is None:
            raise UnitreeBackendError(f'the {self.topic_name} publisher is closed')
        self.writer.write(sample)

    def close(self) -> None:
        """Detach the listener and delete the writer now. Left to the garbage collector, the
        publisher <-> listener reference cycle can free the listener's C callbacks before the
        writer, and Cyclone's next match event then calls freed memory (a segfault)."""
        writer = getattr(self, 'writer', None)
        if writer is None:
            return
        writer.set_listener(None)
        writer.__del__()  # cyclonedds deletes the DDS entity in __del__; idempotent
        self.writer = None


# --- G1 arm over rt/arm_sdk -------------------------------------------------------------------

def default_g1_gains(joint: str) -> tuple[float, float]:
    """Return (kp N m/rad, kd N m s/rad) for a G1 joint: Unitree's xr_teleoperate arm gains.

    Shoulders and elbows 80 / 3, wrists 40 / 1.5, waist 300 / 3 (held stiff).
    """
    if 'wrist' in joint:
        return 40.0, 1.5
    if 'waist' in joint:
        return 300.0, 3.0
    return 80.0, 3.0


@dataclass(frozen=True)
class ArmSdkConfig:
    """How a trajectory is streamed on `rt/arm_sdk` (times in s, angles in rad).

    rate: messages per second. Unitree's arm_sdk examples send at 50 Hz, its xr_teleoperate
      G1 arm controller at 250 Hz (the default here); the low-level rt/lowcmd loop runs 500 Hz.
    takeover_time / release_time: the weight ramps linearly 0 -> 1 over `takeover_time` while
      the start pose is held, and 1 -> 0 over `release_time` holding the final pose (skipped
      when `release_at_end` is False: the last message then has weight 1).
    gains: joint -> (kp, kd) overrides of `default_g1_gains`.
    held_positions: targets (rad) of the arm_sdk joints the trajectory does not move (the other
      arm, the waist); every one of `G1_ARM_SDK_JOINTS` must be in the trajectory or here,
      because arm_sdk takes all 17 from each message (kp = 0 would leave one limp). Give the
      robot's current positions (rt/lowstate).
    max_velocity: rad/s per step clip, a number or joint -> value: a step that exceeds it is
      scaled down as a whole (direction kept), and later steps catch up.
    velocity_feedforward: send the trajectory's velocities as `dq` (else 0, as Unitree's
      examples do).
    reader_timeout / settle_time: `stream` first waits for a matched reader (the robot), then
      `settle_time` for the reader's side of the match.
    """

    topic: str = 'rt/arm_sdk'
    domain_id: int = 0
    network_interface: str | None = None
    rate: float = 250.0
    takeover_time: float = 1.0
    release_time: float = 1.0
    release_at_end: bool = True
    gains: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    held_positions: Mapping[str, float] = field(default_factory=dict)
    max_velocity: float | Mapping[str, float] = 3.0
    velocity_feedforward: bool = False
    motor_mode: int = 1
    mode_machine: int = 0
    reader_timeout: float = 5.0
    settle_time: float = 0.1
    joint_name_map: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ArmSdkStream:
    """Every message of one stream, planned ahead: K samples at `ArmSdkConfig.rate`.

    times: (K,) s from the first message; trajectory_times: (K,) the trajectory clock
    (0 during take-over, `duration` during release); weights: (K,); positions/velocities:
    (K, 17) commands for `joint_names` (= G1_ARM_SDK_JOINTS); targets: (K, 17) before the
    velocity clip; kp/kd: (17,).
    """

    times: np.ndarray
    trajectory_times: np.ndarray
    weights: np.ndarray
    joint_names: tuple[str, ...]
    motor_indices: tuple[int, ...]
    positions: np.ndarray
    velocities: np.ndarray
    targets: np.ndarray
    kp: np.ndarray
    kd: np.ndarray

    @property
    def clipped_lag(self) -> float:
        """Largest distance (rad) the clipped command trailed its target."""
        return float(np.max(np.abs(self.positions - self.targets), initial=0.0))


def plan_arm_sdk_stream(trajectory: JointTrajectory, config: ArmSdkConfig) -> ArmSdkStream:
    """Return every arm_sdk command for a trajectory: ramp-in, trajectory, ramp-out (no DDS)."""
    names = tuple(config.joint_name_map.get(n, n) for n in trajectory.joint_names)
    unknown = [n for n in names if n not in G1_ARM_SDK_JOINTS]
    if unknown:
        raise UnitreeBackendError(
            f'joints {unknown} are not arm_sdk joints; expected names from {G1_ARM_SDK_JOINTS} '
            '(set joint_name_map to rename)')
    missing = [n for n in G1_ARM_SDK_JOINTS if n not in names and n not in config.held_positions]
    if missing:
        raise UnitreeBackendError(
            f'arm_sdk commands all of {G1_ARM_SDK_JOINTS}; give held_positions for {missing}')
    if len(trajectory.times) == 0:
        raise UnitreeBackendError('the trajectory is empty')
    if config.rate <= 0.0 or config.takeover_time < 0.0 or config.release_time < 0.0:
        raise UnitreeBackendError(
            f'rate must be > 0 and ramp times >= 0, got {config.rate}, '
            f'{config.takeover_time}, {config.release_time}')
    dt = 1.0 / config.rate
    duration = trajectory.duration
    n_in = int(np.ceil(config.takeover_time / dt - 1e-9))
    n_traj = int(np.ceil(duration / dt - 1e-9)) + 1
    n_out = int(np.ceil(config.release_time / dt - 1e-9)) if config.release_at_end else 0
    k = np.arange(n_in + n_traj + n_out)
    traj_t = np.clip((k - n_in) * dt, 0.0, duration)
    weights = np.ones(len(k))
    weights[:n_in] = np.arange(n_in) / max(n_in, 1)
    weights[n_in + n_traj:] = 1.0 - np.arange(1, n_out + 1) / max(n_out, 1)

    column = {n: i for i, n in enumerate(names)}
    targets = np.empty((len(k), len(G1_ARM_SDK_JOINTS)))
    feedforward = np.zeros_like(targets)
    times = trajectory.times - trajectory.times[0]
    for j, name in enumerate(G1_ARM_SDK_JOINTS):
        if name in column:
            targets[:, j] = np.interp(traj_t, times, trajectory.positions[:, column[name]])
            if config.velocity_feedforward and trajectory.velocities is not None:
                moving = (k >= n_in) & (k < n_in + n_traj)
                feedforward[moving, j] = np.interp(
                    traj_t[moving], times, trajectory.velocities[:, column[name]])
        else:
            targets[:, j] = config.held_positions[name]

    v_max = np.array([_per_joint(config.max_velocity, n, 'max_velocity')
                      for n in G1_ARM_SDK_JOINTS])
    if np.any(v_max <= 0.0):
        raise UnitreeBackendError(f'max_velocity must be > 0 rad/s, got {config.max_velocity}')
    positions = np.empty_like(targets)
    positions[0] = targets[0]
    step_max = v_max * dt
    for i in range(1, len(k)):
        delta = targets[i] - positions[i - 1]
        scale = max(1.0, float(np.max(np.abs(delta) / step_max)))
        positions[i] = positions[i - 1] + delta / scale
    velocities = np.clip(feedforward, -v_max, v_max)
    gains = np.array([config.gains.get(n, default_g1_gains(n)) for n in G1_ARM_SDK_JOINTS])
    return ArmSdkStream(
        times=k * dt, trajectory_times=traj_t, weights=weights, joint_names=G1_ARM_SDK_JOINTS,
        motor_indices=tuple(G1_MOTOR_INDEX[n] for n in G1_ARM_SDK_JOINTS),
        positions=positions, velocities=velocities, targets=targets,
        kp=gains[:, 0], kd=gains[:, 1])


def _per_joint(value: float | Mapping[str, float], joint: str, what: str) -> float:
    if isinstance(value, Mapping):
        if joint not in value:
            raise UnitreeBackendError(f'{what} has no value for {joint}')
        return float(value[joint])
    return float(value)


@dataclass(frozen=True)
class ArmStreamResult:
    """What `UnitreeArmStreamer.stream` sent: the plan, messages written, and send-time slip."""

    plan: ArmSdkStream
    published: int
    max_lateness: float
    """Largest delay (s) of a write after its scheduled time."""


class UnitreeArmStreamer:
    """Stream G1 arm trajectories on `rt/arm_sdk` (hg LowCmd_, CRC filled) in real time."""

    def __init__(self, config: ArmSdkConfig | None = None) -> None:
        self.config = config or ArmSdkConfig()
        self._idl = unitree_idl()
        self._publisher = _Publisher(self.config.domain_id, self.config.network_interface,
                                     self.config.topic, self._idl.HgLowCmd)

    def close(self) -> None:
        """Delete the DDS writer (see _Publisher.close)."""
        self._publisher.close()

    def plan(self, trajectory: JointTrajectory) -> ArmSdkStream:
        return plan_arm_sdk_stream(trajectory, self.config)

    def message(self, plan: ArmSdkStream, k: int) -> Any:
        """Return the k-th LowCmd_ of a plan, crc filled."""
        msg = self._idl.HgLowCmd(mode_machine=self.config.mode_machine)
        for j, index in enumerate(plan.motor_indices):
            motor = msg.motor_cmd[index]
            motor.mode = self.config.motor_mode
            motor.q = float(plan.positions[k, j])
            motor.dq = float(plan.velocities[k, j])
            motor.kp = float(plan.kp[j])
            motor.kd = float(plan.kd[j])
        msg.motor_cmd[G1_ARM_SDK_WEIGHT_SLOT].q = float(plan.weights[k])
        msg.crc = hg_low_cmd_crc(msg)
        return msg

    def wait_for_reader(self, timeout: float | None = None) -> None:
        """Block until a reader (the robot) matches `rt/arm_sdk`, else DdsReaderTimeoutError."""
        self._publisher.wait_for_reader(
            self.config.reader_timeout if timeout is None else timeout, self.config.settle_time)

    def stream(self, trajectory: JointTrajectory, *,
               on_step: Callable[[float], None] | None = None,
               stop: threading.Event | None = None) -> ArmStreamResult:
        """Send the whole plan at `rate`, blocking; `on_step(trajectory_time)` after each write.

        Setting `stop` ends the stream early by ramping the weight down from where it is over
        `release_time`, holding the last command.
        """
        plan = self.plan(trajectory)
        self.wait_for_reader()
        dt = 1.0 / self.config.rate
        start = time.monotonic()
        lateness, published, k = 0.0, 0, 0
        while k < len(plan.times):
            if stop is not None and stop.is_set():
                self._release_from(plan, k, start + k * dt)
                break
            delay = start + plan.times[k] - time.monotonic()
            if delay > 0.0:
                time.sleep(delay)
            lateness = max(lateness, -delay)
            self._publisher.write(self.message(plan, k))
            published += 1
            if on_step is not None:
                on_step(float(plan.trajectory_times[k]))
            k += 1
        return ArmStreamResult(plan, published, lateness)

    def _release_from(self, plan: ArmSdkStream, k: int, t_next: float) -> None:
        last = max(k - 1, 0)
        n_out = max(int(np.ceil(self.config.release_time * self.config.rate)), 1)
        weight0 = float(plan.weights[last])
        for i in range(1, n_out + 1):
            held = ArmSdkStream(
                plan.times[:1], plan.trajectory_times[last:last + 1],
                np.array([weight0 * (1.0 - i / n_out)]), plan.joint_names, plan.motor_indices,
                plan.positions[last:last + 1], np.zeros_like(plan.velocities[:1]),
                plan.targets[last:last + 1], plan.kp, plan.kd)
            delay = t_next - time.monotonic()
            if delay > 0.0:
                time.sleep(delay)
            self._publisher.write(self.message(held, 0))
            t_next += 1.0 / self.config.rate


# --- Inspire hand over rt/inspire/cmd ---------------------------------------------------------

@dataclass(frozen=True)
class InspireHandConfig:
    """The Inspire DFX hands' DDS command topic (both hands in one message).

    other_hand_native: what the hand not being commanded is sent (0..1000, 1000 = open) until
    it is commanded, since every message carries both hands.
    """

    topic: str = 'rt/inspire/cmd'
    domain_id: int = 0
    network_interface: str | None = None
    other_hand_native: int = INSPIRE_NATIVE_MAX
    reader_timeout: float = 5.0
    settle_time: float = 0.1


class InspireHandCommander:
    """Publish Inspire hand commands (native 0..1000, 1000 = open) as go MotorCmds_."""

    def __init__(self, config: InspireHandConfig | None = None) -> None:
        self.config = config or InspireHandConfig()
        self._idl = unitree_idl()
        self._publisher = _Publisher(self.config.domain_id, self.config.network_interface,
                                     self.config.topic, self._idl.GoMotorCmds)
        self._q = np.full(12, self._check_native([self.config.other_hand_native])[0] / 1000.0)

    def close(self) -> None:
        """Delete the DDS writer (see _Publisher.close)."""
        self._publisher.close()

    @staticmethod
    def _check_native(native: Sequence[int] | np.ndarray) -> np.ndarray:
        values = np.asarray(native)
        if values.size and (values.min() < 0 or values.max() > INSPIRE_NATIVE_MAX):
            raise UnitreeBackendError(
                f'Inspire commands must lie in 0..{INSPIRE_NATIVE_MAX}, got {values.tolist()}')
        return values

    def wait_for_reader(self, timeout: float | None = None) -> None:
        """Block until a reader (the hand service) matches, else DdsReaderTimeoutError."""
        self._publisher.wait_for_reader(
            self.config.reader_timeout if timeout is None else timeout, self.config.settle_time)

    def send(self, native: Sequence[int] | np.ndarray, side: str = 'right',
             actuator_names: Sequence[str] = INSPIRE_DDS_ACTUATORS) -> Any:
        """Publish one command for a hand (6 values in `actuator_names` order); return it."""
        if side not in INSPIRE_DDS_OFFSET:
            raise UnitreeBackendError(f"side must be 'right' or 'left', got {side!r}")
        values = self._check_native(native)
        order = _actuator_order(actuator_names)
        if values.shape != (len(order),):
            raise UnitreeBackendError(
                f'expected {len(order)} Inspire commands, got shape {values.shape}')
        offset = INSPIRE_DDS_OFFSET[side]
        self._q[offset + order] = values / float(INSPIRE_NATIVE_MAX)
        msg = self._idl.GoMotorCmds(cmds=[self._idl.GoMotorCmd(q=float(q)) for q in self._q])
        self._publisher.write(msg)
        return msg

    def play(self, commands: HandCommands, side: str = 'right', start: float | None = None,
             stop: threading.Event | None = None) -> int:
        """Send each row of `commands.native` at `start` (monotonic s) + its time; return count.

        With `start` from the arm stream's first message + `takeover_time`, hand and arm
        share the trajectory clock.
        """
        t0 = time.monotonic() if start is None else start
        sent = 0
        for t, row in zip(commands.times, commands.native):
            if stop is not None and stop.is_set():
                break
            delay = t0 + float(t) - time.monotonic()
            if delay > 0.0:
                time.sleep(delay)
            self.send(row, side, commands.actuator_names)
            sent += 1
        return sent


def _actuator_order(actuator_names: Sequence[str]) -> np.ndarray:
    names = tuple(actuator_names)
    if sorted(names) != sorted(INSPIRE_DDS_ACTUATORS):
        raise UnitreeBackendError(
            f'Inspire actuators must be {INSPIRE_DDS_ACTUATORS} (any order), got {names}')
    return np.array([INSPIRE_DDS_ACTUATORS.index(n) for n in names])


# --- G1 state over rt/lowstate ------------------------------------------------------------------

@dataclass(frozen=True)
class LowStateSample:
    """One hg LowState_: motor positions q (rad) and velocities dq (rad/s) by motor index
    (35 slots, `G1_MOTOR_INDEX`), the robot's `mode_machine` and its `tick` (ms counter)."""

    q: np.ndarray
    dq: np.ndarray
    mode_machine: int
    tick: int

    def positions(self, joints: Sequence[str]) -> np.ndarray:
        """Return the positions (rad) of G1 URDF joints `joints`, in that order."""
        unknown = [j for j in joints if j not in G1_MOTOR_INDEX]
        if unknown:
            raise UnitreeExecutionError(
                f'joints {unknown} are not G1 motors; expected names from '
                f'{tuple(G1_MOTOR_INDEX)} (set joint_name_map to rename)')
        return np.array([self.q[G1_MOTOR_INDEX[j]] for j in joints], dtype=np.float64)


class UnitreeLowStateReader:
    """Read the G1's hg LowState_ (published at 500 Hz by the robot) from `topic`."""

    def __init__(self, domain_id: int = 0, network_interface: str | None = None,
                 topic: str = 'rt/lowstate') -> None:
        from cyclonedds.core import Policy, Qos  # pyright: ignore[reportMissingImports]
        from cyclonedds.sub import DataReader  # pyright: ignore[reportMissingImports]
        from cyclonedds.topic import Topic  # pyright: ignore[reportMissingImports]

        self._idl = unitree_idl()
        participant = dds_participant(domain_id, network_interface)
        self.topic_name = topic
        self.where = (f'DDS domain {domain_id}, network interface '
                      f'{network_interface or "(Cyclone default)"}')
        # best effort, newest only: matches the robot's writer, and a late reader gets fresh state
        qos = Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(1))
        self._reader = DataReader(participant, Topic(participant, topic, self._idl.HgLowState),
                                  qos=qos)

    def read(self, timeout: float, poll_period: float = 0.002) -> LowStateSample:
        """Return the first LowState_ received after this call; LowStateTimeoutError if none
        comes within `timeout` s."""
        self._reader.take(N=100)  # drop what was received before the call
        deadline = time.monotonic() + timeout
        while True:
            samples = [s for s in self._reader.take(N=100)
                       if isinstance(s, self._idl.HgLowState)]
            if samples:
                msg = samples[-1]
                return LowStateSample(
                    q=np.array([m.q for m in msg.motor_state], dtype=np.float64),
                    dq=np.array([m.dq for m in msg.motor_state], dtype=np.float64),
                    mode_machine=int(msg.mode_machine), tick=int(msg.tick))
            if time.monotonic() > deadline:
                raise LowStateTimeoutError(
                    f'no unitree_hg LowState_ on {self.topic_name!r} ({self.where}) within '
                    f'{timeout:g} s: is the G1 on, and this interface on its network '
                    '(192.168.123.x)?')
            time.sleep(poll_period)


# --- the Executor -------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitreeExecutorConfig:
    """The G1's DDS connection and how a request is streamed (s, rad).

    `domain_id` / `network_interface` apply to every topic (they replace those of `arm` and
    `hand`). The arm stream's `held_positions` and `mode_machine` are taken from rt/lowstate
    at the start of each request (the joints the trajectory does not move stay where they
    are). `hand` None: no Inspire hands (a request with hand commands is refused).
    `hand_side`: None = the arm's side (from its joint names).
    """

    domain_id: int = 0
    network_interface: str | None = None
    arm: ArmSdkConfig = field(default_factory=ArmSdkConfig)
    hand: InspireHandConfig | None = field(default_factory=InspireHandConfig)
    hand_side: str | None = None
    lowstate_topic: str = 'rt/lowstate'
    lowstate_timeout: float = 2.0
    start_tolerance: float | None = 0.05
    """rad between the robot's joints and the trajectory's first point; None: not checked."""
    stop_poll_period: float = 0.02
    """s between two `should_stop` calls while streaming."""


@dataclass(frozen=True)
class UnitreeExecutionResult:
    """What UnitreeExecutor sent: the arm stream, the hand commands sent, the start state."""

    arm: ArmStreamResult
    hand_commands_sent: int
    start_state: LowStateSample


class UnitreeExecutor:
    """lvp_exec.execution.Executor on a Unitree G1 (arm_sdk) with Inspire hands (DFX service).

    `start_positions` reads rt/lowstate; `execute` re-reads it (start check, held joints,
    mode_machine), ramps the arm_sdk weight in, streams the trajectory, plays the hand
    commands on the same clock, ramps the weight out, and on `should_stop` ramps the weight
    out from where the arm is and raises ExecutionStoppedError.
    """

    name = 'unitree'

    def __init__(self, config: UnitreeExecutorConfig | None = None) -> None:
        self.config = config or UnitreeExecutorConfig()
        cfg = self.config
        self._arm_config = replace(cfg.arm, domain_id=cfg.domain_id,
                                   network_interface=cfg.network_interface)
        self._hand_config = None if cfg.hand is None else replace(
            cfg.hand, domain_id=cfg.domain_id, network_interface=cfg.network_interface)
        self._state = UnitreeLowStateReader(cfg.domain_id, cfg.network_interface,
                                            cfg.lowstate_topic)
        self._streamer: UnitreeArmStreamer | None = None
        self._hand: InspireHandCommander | None = None

    def read_state(self) -> LowStateSample:
        return self._state.read(self.config.lowstate_timeout)

    def close(self) -> None:
        """Delete this executor's DDS writers; it cannot execute afterwards."""
        for part in (self._streamer, self._hand):
            if part is not None:
                part.close()
        self._streamer = self._hand = None

    def _g1_names(self, joints: Sequence[str]) -> tuple[str, ...]:
        return tuple(self._arm_config.joint_name_map.get(j, j) for j in joints)

    def start_positions(self, robot: Any) -> np.ndarray:
        """The arm's joint positions (rad, `robot.joint_names` order) from rt/lowstate."""
        return self.read_state().positions(self._g1_names(robot.joint_names))

    def _hand_side(self, joints: tuple[str, ...]) -> str:
        if self.config.hand_side is not None:
            return self.config.hand_side
        sides = {j.split('_', 1)[0] for j in joints}
        if len(sides) != 1 or not sides <= set(INSPIRE_DDS_OFFSET):
            raise UnitreeExecutionError(
                f'cannot tell which hand the joints {list(joints)} carry; set hand_side')
        return sides.pop()

    def execute(self, request: ExecutionRequest) -> UnitreeExecutionResult:
        """Stream the request on rt/arm_sdk (+ rt/inspire/cmd); block until released.

        Raises LowStateTimeoutError, UnitreeExecutionError (refused before anything was sent,
        or no reader of the command topics) and ExecutionStoppedError, all ExecutionError.
        """
        trajectory = request.trajectory
        names = self._g1_names(trajectory.joint_names)
        commands = request.hand_commands
        if commands is not None and not len(commands.times):
            commands = None
        if request.gripper_events:
            raise UnitreeExecutionError('the G1 backend drives Inspire hands, not a parallel '
                                        f'gripper: the request has {len(request.gripper_events)} '
                                        'gripper events')
        if commands is not None and self._hand_config is None:
            raise UnitreeExecutionError('the request has Inspire hand commands but no hand is '
                                        'configured')
        side = self._hand_side(names) if commands is not None else 'right'
        if request.should_stop():
            raise ExecutionStoppedError('stopped before anything was sent', 0.0)
        state = self.read_state()
        current = state.positions(names)
        tolerance = self.config.start_tolerance
        if tolerance is not None:
            error = np.abs(current - trajectory.positions[0])
            worst = int(np.argmax(error))
            if error[worst] > tolerance:
                raise UnitreeExecutionError(
                    f'{names[worst]} is at {current[worst]:.4f} rad but the trajectory starts '
                    f'at {trajectory.positions[0, worst]:.4f} rad (more than {tolerance} rad '
                    'apart): the arm moved since the plan was made; nothing sent')
        held = {n: float(state.q[G1_MOTOR_INDEX[n]]) for n in G1_ARM_SDK_JOINTS if n not in names}
        arm_config = replace(self._arm_config, held_positions=held,
                             mode_machine=state.mode_machine)
        try:
            plan_arm_sdk_stream(trajectory, arm_config)  # refuse before anything is sent
            hand = self._connect_hand() if commands is not None else None
            if self._streamer is None:
                self._streamer = UnitreeArmStreamer(arm_config)
            self._streamer.config = arm_config
            self._streamer.wait_for_reader()
        except (UnitreeBackendError, DdsReaderTimeoutError) as exc:
            raise UnitreeExecutionError(f'{exc} ({self._state.where})') from exc
        return self._stream(request, self._streamer, hand, commands, side, state)

    def _connect_hand(self) -> InspireHandCommander:
        if self._hand is None:
            self._hand = InspireHandCommander(self._hand_config)
        self._hand.wait_for_reader()
        return self._hand

    def _stream(self, request: ExecutionRequest, streamer: UnitreeArmStreamer,
                hand: InspireHandCommander | None, commands: HandCommands | None, side: str,
                state: LowStateSample) -> UnitreeExecutionResult:
        stop = threading.Event()
        stopped_at: list[float] = []
        hand_thread: list[threading.Thread] = []
        hand_sent: list[int] = []
        next_poll = [0.0]
        takeover = streamer.config.takeover_time

        def play(commander: InspireHandCommander, rows: HandCommands, start: float) -> None:
            hand_sent.append(commander.play(rows, side, start, stop))

        def on_step(t: float) -> None:
            now = time.monotonic()
            if hand is not None and commands is not None and not hand_thread:
                # the first message is out: the trajectory clock starts takeover_time later
                thread = threading.Thread(target=play, args=(hand, commands, now + takeover),
                                          name='lvp_inspire_commands', daemon=True)
                hand_thread.append(thread)
                thread.start()
            if now >= next_poll[0] and not stop.is_set():
                next_poll[0] = now + self.config.stop_poll_period
                try:
                    stop_now = request.should_stop()
                except Exception:  # a failing stop check must not leave the arm taken over
                    stop_now = True
                if stop_now:
                    stopped_at.append(t)
                    stop.set()

        try:
            result = streamer.stream(request.trajectory, on_step=on_step, stop=stop)
        finally:
            if stopped_at:
                stop.set()
            for thread in hand_thread:
                thread.join()
        if stopped_at:
            release = streamer.config.release_time
            raise ExecutionStoppedError(
                f'stopped on request at t = {stopped_at[0]:.2f} s of the '
                f'{request.trajectory.duration:.2f} s trajectory: the arm_sdk weight was ramped '
                f'to 0 over {release:g} s (the robot\'s own controller holds the arm)',
                stopped_at[0])
        return UnitreeExecutionResult(result, hand_sent[0] if hand_sent else 0, state)
