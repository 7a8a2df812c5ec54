"""Dexterous retargeting: human hand keypoints -> Inspire hand joints and actuator commands.

The keypoints (MediaPipe's 21-landmark order, metres) may be in any frame that is rigidly
attached to the camera or the wrist: a palm frame is estimated from the wrist, index and middle
knuckles and the points are expressed in dex-retargeting's operator frame (z from the wrist to
the middle knuckle, y across the palm towards the index finger, x out of the back of the hand for
a right hand) before the optimiser sees them. The optimiser (dex-retargeting 0.5.0, vector or
DexPilot) fits the robot's wrist-to-fingertip vectors (frame `root_link`) to the human's, scaled.
"""

from __future__ import annotations

import contextlib
import enum
import io
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lvp_common.artifacts import (
    NUM_HAND_KEYPOINTS,
    HandCommands,
    Handedness,
    HandTrack,
    WristTrajectory,
)

from lvp_retarget.inspire_hand import (
    INSPIRE_ACTUATORS,
    INSPIRE_NATIVE_MAX,
    ROOT_LINK,
    TIP_LINKS,
    Actuator,
    inspire_urdf_path,
    mimic_positions,
)

GRASP_SQUEEZE = 0.3
"""Finger commands after contact are this much (normalised) more closed than retargeted."""
GRASP_CLOSING_WINDOW = 0.6
"""The grasp closes within this (s) after the contact (`grasp_commands`)."""

WRIST, INDEX_MCP, MIDDLE_MCP = 0, 5, 9
FINGERTIP_INDICES = (4, 8, 12, 16, 20)
"""MediaPipe indices of the thumb, index, middle, ring and little fingertips."""

# dex-retargeting's operator -> MANO axis permutations (constants.OPERATOR2MANO_*), restated
# here so the frame convention is visible where it is used.
_OPERATOR2MANO = {
    Handedness.RIGHT: np.array([[0, 0, -1], [-1, 0, 0], [0, 1, 0]], dtype=np.float64),
    Handedness.LEFT: np.array([[0, 0, -1], [1, 0, 0], [0, -1, 0]], dtype=np.float64),
}


class RetargetError(ValueError):
    """Retargeting input or configuration is unusable."""


class RetargetingMethod(str, enum.Enum):
    VECTOR = 'vector'
    DEXPILOT = 'dexpilot'


@dataclass(frozen=True)
class DexterousRetargetConfig:
    """How to retarget; the defaults drive the project's Inspire RH56 hand.

    urdf_path: the robot hand's URDF; empty = the shipped Inspire hand of the track's side.
    root_link / tip_links: the robot frames matched to the human wrist / fingertips (thumb,
    index, middle, ring, little). actuators: actuated joints in command order, each with its
    open and closed joint positions (rad) that map to 1 and 0; the defaults are the RH56's order
    (little, ring, middle, index, thumb bend, thumb rotation) over the URDF's joint limits.
    scaling_factor: robot size / human hand size applied to the human vectors.
    low_pass_alpha: dex-retargeting's exponential filter on the output joints (1 = off).
    max_joint_speed: largest joint speed (rad/s) between consecutive frames; bounds the jumps
    of mis-tracked frames and of DexPilot's pinch switching (<= 0 = off).
    """

    method: RetargetingMethod = RetargetingMethod.VECTOR
    urdf_path: str = ''
    root_link: str = ROOT_LINK
    tip_links: tuple[str, ...] = TIP_LINKS
    actuators: tuple[Actuator, ...] = INSPIRE_ACTUATORS
    native_max: int = INSPIRE_NATIVE_MAX
    scaling_factor: float = 1.15
    low_pass_alpha: float = 1.0
    max_joint_speed: float = 4.0
    huber_delta: float = 0.02
    normal_delta: float = 4e-3
    project_dist: float = 0.03
    escape_dist: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, 'method', RetargetingMethod(self.method))
        if len(self.tip_links) != len(FINGERTIP_INDICES):
            raise RetargetError(f'tip_links: expected 5 links (thumb..little), '
                                f'got {self.tip_links}')
        if not self.actuators:
            raise RetargetError('actuators: give at least one actuated joint')
        for actuator in self.actuators:
            if actuator.open_position == actuator.closed_position:
                raise RetargetError(f'actuator {actuator.name}: open and closed positions are '
                                    f'both {actuator.open_position} rad')
        if not 0.0 < self.low_pass_alpha <= 1.0:
            raise RetargetError(f'low_pass_alpha must lie in (0, 1], got {self.low_pass_alpha}')
        if self.scaling_factor <= 0.0:
            raise RetargetError(f'scaling_factor must be positive, got {self.scaling_factor}')
        if self.native_max <= 0:
            raise RetargetError(f'native_max must be positive, got {self.native_max}')

    def resolved_urdf(self, side: Handedness | str) -> Path:
        """Return the URDF to load for `side`."""
        path = Path(self.urdf_path) if self.urdf_path else inspire_urdf_path(side)
        if not path.is_file():
            raise RetargetError(f'robot hand URDF not found: {path}')
        return path.resolve()

    def dex_retargeting_dict(self, side: Handedness | str) -> dict:
        """Return the dex-retargeting config (its YAML `retargeting:` section) for `side`."""
        common: dict = {
            'urdf_path': str(self.resolved_urdf(side)),
            'target_joint_names': [a.joint for a in self.actuators],
            'scaling_factor': self.scaling_factor,
            'low_pass_alpha': self.low_pass_alpha,
        }
        if self.method is RetargetingMethod.VECTOR:
            return {**common, 'type': 'vector',
                    'target_origin_link_names': [self.root_link] * len(self.tip_links),
                    'target_task_link_names': list(self.tip_links),
                    'target_link_human_indices': [[WRIST] * len(FINGERTIP_INDICES),
                                                  list(FINGERTIP_INDICES)],
                    'huber_delta': self.huber_delta, 'normal_delta': self.normal_delta}
        return {**common, 'type': 'dexpilot', 'wrist_link_name': self.root_link,
                'finger_tip_link_names': list(self.tip_links),
                'project_dist': self.project_dist, 'escape_dist': self.escape_dist}


def palm_frame(keypoints: np.ndarray) -> np.ndarray:
    """Return the MANO-convention palm rotation (3, 3) (columns x, y, z) of wrist-relative points.

    x points from the middle knuckle to the wrist, y is the palm-plane normal, z points across the
    palm from the little finger towards the index finger (dex-retargeting's convention).
    """
    points = keypoints[[WRIST, INDEX_MCP, MIDDLE_MCP]]
    towards_wrist = points[0] - points[2]
    centred = points - points.mean(axis=0)
    normal = np.linalg.svd(centred)[2][2]
    x = towards_wrist - np.dot(towards_wrist, normal) * normal
    norm = np.linalg.norm(x)
    if norm < 1e-6:
        raise RetargetError('palm frame: wrist and middle knuckle coincide')
    x /= norm
    z = np.cross(x, normal)
    if np.dot(z, points[1] - points[2]) < 0.0:
        normal, z = -normal, -z
    return np.stack([x, normal, z], axis=1)


def keypoints_to_operator_frame(keypoints, side: Handedness | str) -> np.ndarray:
    """Express 21 hand keypoints (metres, any hand- or camera-fixed frame) in operator frame."""
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (NUM_HAND_KEYPOINTS, 3) or not np.all(np.isfinite(kp)):
        raise RetargetError(f'keypoints: expected finite (21, 3) metres, got {kp.shape}')
    kp = kp - kp[WRIST]
    return kp @ palm_frame(kp) @ _OPERATOR2MANO[Handedness(side)]


def normalize_actuators(joint_positions, joint_names, actuators: tuple[Actuator, ...],
                        native_max: int = INSPIRE_NATIVE_MAX) -> tuple[np.ndarray, np.ndarray]:
    """Map joint positions (T, J) rad to actuator commands: [0, 1] (1 = open) and native ints."""
    q = np.atleast_2d(np.asarray(joint_positions, dtype=np.float64))
    names = list(joint_names)
    missing = [a.joint for a in actuators if a.joint not in names]
    if missing:
        raise RetargetError(f'actuated joints {missing} are not in the hand model {names}')
    cols = q[:, [names.index(a.joint) for a in actuators]]
    closed = np.array([a.closed_position for a in actuators])
    opened = np.array([a.open_position for a in actuators])
    normalized = np.clip((closed - cols) / (closed - opened), 0.0, 1.0)
    native = np.rint(normalized * native_max).astype(np.int32)
    return normalized, native


@dataclass
class DexterousRetargeter:
    """A dex-retargeting optimiser for one hand side, warm-started frame to frame."""

    side: Handedness
    config: DexterousRetargetConfig = field(default_factory=DexterousRetargetConfig)

    def __post_init__(self) -> None:
        from dex_retargeting.retargeting_config import RetargetingConfig

        self.side = Handedness(self.side)
        # dex-retargeting prints advice while building and leaves a rewritten URDF in a fresh
        # temporary folder; keep stdout clean and remove the folder once pinocchio has read it.
        saved_tempdir = tempfile.tempdir
        with tempfile.TemporaryDirectory(prefix='lvp_retarget-') as scratch, \
                contextlib.redirect_stdout(io.StringIO()):
            tempfile.tempdir = scratch
            try:
                self._retargeting = RetargetingConfig.from_dict(
                    self.config.dex_retargeting_dict(self.side)).build()
            finally:
                tempfile.tempdir = saved_tempdir
        optimizer = self._retargeting.optimizer
        self.joint_names: tuple[str, ...] = tuple(optimizer.robot.dof_joint_names)
        self._human_indices = np.asarray(optimizer.target_link_human_indices)
        limits = np.asarray(optimizer.robot.joint_limits, dtype=np.float64)
        self._lower, self._upper = limits[:, 0], limits[:, 1]
        self._last: np.ndarray | None = None

    @property
    def actuator_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.config.actuators)

    def reset(self) -> None:
        """Forget the previous frame (start a new sequence)."""
        self._retargeting.reset()
        if self._retargeting.filter is not None:
            self._retargeting.filter.reset()
        self._last = None

    def retarget_frame(self, keypoints, dt: float = 1.0 / 16.0) -> np.ndarray:
        """Return the hand's joint positions (J,) rad for 21 keypoints (metres), `dt` s later."""
        operator = keypoints_to_operator_frame(keypoints, self.side)
        origin, task = self._human_indices
        ref_value = operator[task] - operator[origin]
        q = np.asarray(self._retargeting.retarget(ref_value), dtype=np.float64)
        step = self.config.max_joint_speed * dt
        if self._last is not None and step > 0.0:
            q = self._last + np.clip(q - self._last, -step, step)
        q = np.clip(q, self._lower, self._upper)
        self._last = q
        return q

    def retarget_sequence(self, times, keypoints) -> HandCommands:
        """Retarget keypoints (T, 21, 3) at `times` (s) into hand commands, from a fresh start."""
        kp = np.asarray(keypoints, dtype=np.float64)
        if kp.ndim != 3 or kp.shape[1:] != (NUM_HAND_KEYPOINTS, 3):
            raise RetargetError(f'keypoints: expected (T, 21, 3), got {kp.shape}')
        t = np.asarray(times, dtype=np.float64)
        if t.shape != (len(kp),):
            raise RetargetError(f'times: expected {len(kp)} timestamps, got shape {t.shape}')
        self.reset()
        dts = np.diff(t, prepend=t[0] if len(t) else 0.0)
        q = np.stack([self.retarget_frame(frame, float(dt)) for frame, dt in zip(kp, dts)]) \
            if len(kp) else np.zeros((0, len(self.joint_names)))
        normalized, native = normalize_actuators(q, self.joint_names, self.config.actuators,
                                                 self.config.native_max)
        return HandCommands(times=t,
                            joint_names=self.joint_names, joint_positions=q,
                            actuator_names=self.actuator_names, normalized=normalized,
                            native=native)


def grasp_commands(commands: HandCommands, contact_time: float, side: Handedness | str,
                   squeeze: float = GRASP_SQUEEZE, window: float = GRASP_CLOSING_WINDOW,
                   keep: tuple[str, ...] = ('thumb_rotation',),
                   actuators: tuple[Actuator, ...] = INSPIRE_ACTUATORS,
                   native_max: int = INSPIRE_NATIVE_MAX) -> HandCommands:
    """Return `commands` shaped for grasping an object touched at `contact_time` (s).

    Before the contact the fingers are fully open (the pre-grasp opening): a human hand
    reaching for an object curls its fingers loosely, and those curled fingers, retargeted, hang
    in the object's way and sweep it aside. From the contact on, every finger command is
    `squeeze` (normalised) more closed than retargeted: the human's fingers stop at the object's
    surface, so retargeted positions touch it without pressing, and a position-controlled hand
    needs a target inside the object to hold it. Actuators named in `keep` (by default the
    thumb's rotation into opposition) are not opened or pressed: they hold, from the start until
    `window` s after the contact, their furthest retargeted position within that window (the
    thumb is in opposition before the fingers close), then follow the retargeting.
    """
    if not 0.0 <= squeeze <= 1.0:
        raise RetargetError(f'squeeze must be in [0, 1], got {squeeze}')
    names = list(commands.joint_names)
    normalized, _ = normalize_actuators(commands.joint_positions, names, actuators, native_max)
    before = commands.times < contact_time
    closing = ~before & (commands.times <= contact_time + window)
    for i, actuator in enumerate(actuators):
        if actuator.name in keep:
            if np.any(closing):
                normalized[before | closing, i] = normalized[closing, i].min()
            continue
        normalized[before, i] = 1.0
        normalized[~before, i] = np.maximum(normalized[~before, i] - squeeze, 0.0)
    q = commands.joint_positions.copy()
    for i, actuator in enumerate(actuators):
        q[:, names.index(actuator.joint)] = actuator.closed_position + normalized[:, i] * (
            actuator.open_position - actuator.closed_position)
    for row in range(len(q)):
        full = mimic_positions(Handedness(side).value, dict(zip(names, q[row])))
        q[row] = [full.get(name, value) for name, value in zip(names, q[row])]
    return HandCommands(commands.times, commands.joint_names, q,
                        tuple(a.name for a in actuators), normalized,
                        np.rint(normalized * native_max).astype(np.int32))


def retarget_hand_track(track: HandTrack,
                        config: DexterousRetargetConfig | None = None) -> HandCommands:
    """Retarget a hand track's metric keypoints into dexterous-hand commands."""
    retargeter = DexterousRetargeter(track.handedness, config or DexterousRetargetConfig())
    return retargeter.retarget_sequence(track.times, track.keypoints_m)


def retarget_wrist_trajectory(trajectory: WristTrajectory, side: Handedness | str,
                              config: DexterousRetargetConfig | None = None) -> HandCommands:
    """Retarget a wrist trajectory's finger keypoints (wrist frame) into hand commands."""
    if trajectory.finger_keypoints is None:
        raise RetargetError('WristTrajectory.finger_keypoints is None: nothing to retarget')
    retargeter = DexterousRetargeter(Handedness(side), config or DexterousRetargetConfig())
    return retargeter.retarget_sequence(trajectory.times, trajectory.finger_keypoints)
