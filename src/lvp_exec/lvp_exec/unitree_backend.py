"""Unitree G1 arm + Inspire hand execution backend over Cyclone DDS: `UnitreeExecutor` (the
lvp_exec.execution.Executor) puts the parts together: start state from rt/lowstate
(`unitree_low_state`), the arm stream on rt/arm_sdk (`arm_sdk_stream`) with the other arm and the
waist held where they are, the Inspire commands on the trajectory clock (`inspire_commander`),
and a stop that ramps the arm_sdk weight out. IDL types and DDS plumbing: `unitree_idl`.
"""

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from lvp_common.artifacts import HandCommands

from lvp_exec.arm_sdk_stream import (
    ArmSdkConfig,
    ArmStreamResult,
    UnitreeArmStreamer,
    plan_arm_sdk_stream,
)
from lvp_exec.execution import ExecutionRequest, ExecutionStoppedError
from lvp_exec.inspire_commander import (
    INSPIRE_DDS_OFFSET,
    InspireHandCommander,
    InspireHandConfig,
)
from lvp_exec.unitree_idl import (
    G1_ARM_SDK_JOINTS,
    G1_MOTOR_INDEX,
    DdsReaderTimeoutError,
    UnitreeBackendError,
    UnitreeExecutionError,
)
from lvp_exec.unitree_low_state import LowStateSample, UnitreeLowStateReader


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
        """Delete this executor's DDS writers and its state reader; it cannot execute
        afterwards."""
        for part in (self._streamer, self._hand):
            if part is not None:
                part.close()
        self._streamer = self._hand = None
        self._state.close()

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
