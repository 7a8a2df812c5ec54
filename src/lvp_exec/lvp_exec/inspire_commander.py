"""The Inspire hand over `rt/inspire/cmd`: `InspireHandCommander` publishes go `MotorCmds_`
(12 commands: right hand 0..5, left hand 6..11, `q` in [0, 1], 1 = open), the Inspire DFX hand
service's topic.
"""

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from lvp_common.artifacts import HandCommands

from lvp_exec.unitree_idl import (
    DdsPublisher,
    UnitreeBackendError,
    unitree_idl,
)

INSPIRE_DDS_ACTUATORS = ('little', 'ring', 'middle', 'index', 'thumb_bend', 'thumb_rotation')
"""Actuator order within one hand on `rt/inspire/cmd` (pinky..thumb rotation, = RH56 order)."""


INSPIRE_DDS_OFFSET = {'right': 0, 'left': 6}


INSPIRE_NATIVE_MAX = 1000


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
        self._publisher = DdsPublisher(self.config.domain_id, self.config.network_interface,
                                     self.config.topic, self._idl.GoMotorCmds)
        self._q = np.full(12, self._check_native([self.config.other_hand_native])[0] / 1000.0)

    def close(self) -> None:
        """Delete the DDS writer (see DdsPublisher.close)."""
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
