"""The G1 arm over `rt/arm_sdk`: `plan_arm_sdk_stream` turns a `JointTrajectory` into hg
`LowCmd_` messages and `UnitreeArmStreamer` streams them; the robot's motion controller blends
these targets into its own with the weight in `motor_cmd[29].q` (0 = ignore, 1 = follow), which
is ramped in at the start and out at the end.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lvp_common.artifacts import JointTrajectory

from lvp_exec.unitree_idl import (
    G1_ARM_SDK_JOINTS,
    G1_ARM_SDK_WEIGHT_SLOT,
    G1_MOTOR_INDEX,
    DdsPublisher,
    UnitreeBackendError,
    hg_low_cmd_crc,
    unitree_idl,
)


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
        self._publisher = DdsPublisher(self.config.domain_id, self.config.network_interface,
                                     self.config.topic, self._idl.HgLowCmd)

    def close(self) -> None:
        """Delete the DDS writer (see DdsPublisher.close)."""
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
