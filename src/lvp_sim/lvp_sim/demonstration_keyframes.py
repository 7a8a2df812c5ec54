# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""How a synthetic demonstration is scripted: wrist/finger keyframes joined by minimum-jerk
segments (SLERP for the wrist orientation), hand orientations and placements in the table's
frame, and the seed's variations of timing and start pose.

The task scripts (`demonstrations_tabletop`, `demonstrations_articulated`) are built from these;
`demonstrations.render_demonstration` renders them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mujoco
import numpy as np
from lvp_common.artifacts import HAND_KEYPOINT_NAMES
from lvp_common.geometry import Pose
from scipy.spatial.transform import Rotation, Slerp

from lvp_sim.hand_model import HandRig, HandState
from lvp_sim.tasks import TaskSpec
from lvp_sim.world import World


class DemonstrationError(ValueError):
    """A demonstration cannot be made as configured."""


@dataclass(frozen=True)
class Keyframe:
    time: float
    wrist: Pose
    fingers: np.ndarray


def min_jerk(u: float) -> float:
    u = min(max(u, 0.0), 1.0)
    return u ** 3 * (10.0 - 15.0 * u + 6.0 * u * u)


def sample_keyframes(keys: list[Keyframe], t: float) -> HandState:
    """Return the hand state at time `t` on the keyframe path (held before/after the ends)."""
    if t <= keys[0].time:
        return HandState(keys[0].wrist, keys[0].fingers)
    for a, b in zip(keys, keys[1:]):
        if t <= b.time:
            s = min_jerk((t - a.time) / (b.time - a.time))
            rots = Rotation.from_quat(np.stack([a.wrist.quaternion, b.wrist.quaternion]))
            quat = Slerp([0.0, 1.0], rots)(s).as_quat()
            position = (1.0 - s) * a.wrist.position + s * b.wrist.position
            return HandState(Pose(position, quat), (1.0 - s) * a.fingers + s * b.fingers)
    return HandState(keys[-1].wrist, keys[-1].fingers)


PALM_DOWN = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]).T
"""Hand frame in the base frame: fingers along -y (from the image's right), palm down, thumb
towards the camera (+x)."""


def hand_rotation(yaw: float, roll: float, pitch: float) -> np.ndarray:
    """Palm-down hand, turned by yaw about base z, thumb side lowered by roll, fingers down by
    pitch (radians)."""
    return (Rotation.from_euler('z', yaw) * Rotation.from_euler('y', roll)
            * Rotation.from_euler('x', pitch)).as_matrix() @ PALM_DOWN


def wrist_placing(point_in_hand: np.ndarray, target: np.ndarray, rotation: np.ndarray) -> Pose:
    """Return the wrist pose with `rotation` that puts a hand-frame point on `target`."""
    return Pose.from_rotation_matrix(target - rotation @ point_in_hand, rotation)


def hand_frame_keypoints(world: World, fingers: np.ndarray) -> np.ndarray:
    """Return the 21 landmarks (21, 3) in the hand frame for a finger posture."""
    data = mujoco.MjData(world.model)
    rig = HandRig(world.model, data)
    rig.set_state(HandState(Pose.identity(), fingers))
    mujoco.mj_kinematics(world.model, data)
    return rig.keypoints()


def kp_index(name: str) -> int:
    return HAND_KEYPOINT_NAMES.index(name)


@dataclass
class Script:
    """A task's keyframes and how the scene responds to the hand."""

    keys: list[Keyframe]
    spec: TaskSpec
    contact_window: tuple[float, float]
    respond: Callable[[float, HandState, np.ndarray], None]
    """Update object state for time t given the hand state and its keypoints (base frame)."""


class Variation:
    """The seed's small variations, scaled by the config's jitter."""

    def __init__(self, seed: int, scale: float) -> None:
        self.rng = np.random.default_rng(seed)
        self.scale = scale

    def uniform(self, half_range: float, size: int | None = None):
        return self.scale * self.rng.uniform(-half_range, half_range, size)


def yaw_rotation(yaw: float) -> np.ndarray:
    """Rotation (3x3) by `yaw` rad about the table's z: turns the script's offsets with the
    layout's `hand_approach_yaw` (exactly the identity for 0)."""
    return Rotation.from_euler('z', yaw).as_matrix()


def timeline(fractions, duration: float, var: Variation) -> list[float]:
    """Turn keyframe times (fractions of the clip) into seconds, stretched by the seed."""
    stretch = 1.0 + float(var.uniform(0.06))
    return [min(f * stretch, 1.0) * duration if 0.0 < f < 1.0 else f * duration
            for f in fractions]


def start_pose(target: np.ndarray, yaw: float, var: Variation) -> Pose:
    """Start 20 cm to the side of `target` the fingers point away from (rotated by yaw)."""
    offset = yaw_rotation(yaw) @ (np.array([0.03, 0.2, 0.14]) + var.uniform(0.02, 3))
    return Pose.from_rotation_matrix(target + offset, hand_rotation(yaw + 0.15, 0.35, -0.15))
