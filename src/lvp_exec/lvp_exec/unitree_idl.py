"""The Unitree G1 on the wire: Unitree's IDL types, the LowCmd CRC, the DDS participant and
publisher over Cyclone DDS.

The G1 runs cyclonedds 0.10.x; so must this process (`pip install cyclonedds==0.10.2`, built
against a 0.10 C library: see the README). cyclonedds is imported on first use only, so the rest
of lvp_exec never needs it.

The IDL types are written here from Unitree's published layouts (`unitree_hg::msg::dds_::LowCmd_`,
`unitree_hg::msg::dds_::LowState_`, `unitree_go::msg::dds_::MotorCmds_`), with Unitree's type
names, so they match the robot's on the wire: the PyPI `unitree-sdk2` 1.0.1 snapshot cannot be
imported (it lacks its `b2` package and the CRC library).
"""

# No `from __future__ import annotations`: cyclonedds reads the IDL classes' annotations at
# runtime, and those classes are built inside a function.
import functools
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lvp_exec.execution import ExecutionError

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


_CRC32_POLYNOMIAL = 0x04C11DB7


_HG_LOW_CMD_LAYOUT = struct.Struct('<BB2x' + 'B3x5fI' * G1_MOTOR_SLOTS + '4I')
"""The C struct of hg LowCmd_ without its trailing crc: 1000 bytes = the 250 words CRC'd."""


class UnitreeBackendError(ValueError):
    """A trajectory, command or configuration the Unitree backend cannot send."""


class DdsReaderTimeoutError(TimeoutError):
    """No DDS reader matched the publisher in time (is the robot on this domain/interface?)."""


class UnitreeExecutionError(ExecutionError):
    """UnitreeExecutor refused or could not complete a request (nothing sent when refused)."""


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


class DdsPublisher:
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
