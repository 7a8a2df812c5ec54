"""The G1's state: `UnitreeLowStateReader` reads hg `LowState_` from `rt/lowstate` (motor
positions, the robot's `mode_machine`).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lvp_exec.execution import ExecutionError
from lvp_exec.unitree_idl import (
    G1_MOTOR_INDEX,
    UnitreeExecutionError,
    dds_participant,
    unitree_idl,
)


class LowStateTimeoutError(ExecutionError):
    """No hg LowState_ arrived on `rt/lowstate` in time (robot off, wrong interface/domain)."""


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
        self._reader: Any = DataReader(
            participant, Topic(participant, topic, self._idl.HgLowState), qos=qos)

    def read(self, timeout: float, poll_period: float = 0.002) -> LowStateSample:
        """Return the first LowState_ received after this call; LowStateTimeoutError if none
        comes within `timeout` s."""
        if self._reader is None:
            raise UnitreeExecutionError(f'the {self.topic_name} reader is closed')
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

    def close(self) -> None:
        """Delete the DataReader now (not whenever the garbage collector gets to it, possibly
        on another thread while Cyclone delivers samples); idempotent."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.__del__()  # cyclonedds deletes the DDS entity in __del__; idempotent
