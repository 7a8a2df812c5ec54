"""Data contracts: one dataclass per artifact of the pipeline, validated on construction.

Every array is numpy; shapes are checked, floats must be finite. Time is seconds from the start
of the plan; positions are metres; angles radians; quaternions (x, y, z, w). Frames follow
REP 103 (the camera optical frame is z forward, x right, y down).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from lvp_common.geometry import Pose, as_array, normalize_quaternions

NUM_HAND_KEYPOINTS = 21
"""MediaPipe's 21-landmark hand: wrist, then 4 joints per finger (thumb to little)."""

HAND_KEYPOINT_NAMES = (
    'wrist',
    'thumb_cmc', 'thumb_mcp', 'thumb_ip', 'thumb_tip',
    'index_mcp', 'index_pip', 'index_dip', 'index_tip',
    'middle_mcp', 'middle_pip', 'middle_dip', 'middle_tip',
    'ring_mcp', 'ring_pip', 'ring_dip', 'ring_tip',
    'little_mcp', 'little_pip', 'little_dip', 'little_tip',
)

CAMERA_OPTICAL_FRAME = 'camera_color_optical_frame'
ROBOT_BASE_FRAME = 'base_link'


class ArtifactError(ValueError):
    """An artifact violates its contract (shape, range, units, consistency)."""


def _check_times(times, name: str) -> np.ndarray:
    t = as_array(times, (None,), name)
    if np.any(np.diff(t) <= 0.0):
        raise ArtifactError(f'{name}: timestamps must be strictly increasing')
    return t


def _check_len(arr: np.ndarray, n: int, name: str) -> None:
    if arr.shape[0] != n:
        raise ArtifactError(f'{name}: expected {n} entries (one per frame), got {arr.shape[0]}')


def _rgb(image, name: str) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ArtifactError(f'{name}: expected an RGB uint8 image (H, W, 3), '
                            f'got {img.dtype} {img.shape}')
    return img


class Handedness(str, enum.Enum):
    LEFT = 'left'
    RIGHT = 'right'


class PlanSource(str, enum.Enum):
    """Where a video plan came from; a demonstration is never reported as generated."""

    GENERATED = 'generated'
    SYNTHETIC_DEMONSTRATION = 'synthetic_demonstration'
    RECORDED_DEMONSTRATION = 'recorded_demonstration'


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole camera model (pixels); distortion (plumb_bob k1 k2 p1 p2 k3) may be empty.

    `assumed` is True when the intrinsics were not measured but derived from a default field of
    view; downstream metric results inherit that caveat.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion: np.ndarray = field(default_factory=lambda: np.zeros(0))
    assumed: bool = False

    def __post_init__(self) -> None:
        for name in ('fx', 'fy'):
            value = getattr(self, name)
            if not np.isfinite(value) or value <= 0.0:
                raise ArtifactError(f'CameraIntrinsics.{name} must be positive, got {value}')
        if self.width <= 0 or self.height <= 0:
            raise ArtifactError(f'CameraIntrinsics: bad image size {self.width}x{self.height}')
        if not (np.isfinite(self.cx) and np.isfinite(self.cy)):
            raise ArtifactError('CameraIntrinsics: principal point must be finite')
        object.__setattr__(self, 'distortion',
                           as_array(self.distortion, (None,), 'CameraIntrinsics.distortion'))

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float,
                 assumed: bool = True) -> CameraIntrinsics:
        """Intrinsics of an ideal pinhole with square pixels and a centred principal point."""
        if not 1.0 < horizontal_fov_deg < 179.0:
            raise ArtifactError(f'horizontal field of view must be in (1, 179) deg, '
                                f'got {horizontal_fov_deg}')
        f = 0.5 * width / np.tan(np.radians(horizontal_fov_deg) / 2.0)
        return cls(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height, assumed=assumed)

    @property
    def matrix(self) -> np.ndarray:
        """The 3x3 camera matrix K."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def project(self, points_camera) -> np.ndarray:
        """Project points (N, 3) in the optical frame to pixels (N, 2) (no distortion)."""
        p = np.asarray(points_camera, dtype=np.float64).reshape(-1, 3)
        return np.stack([self.fx * p[:, 0] / p[:, 2] + self.cx,
                         self.fy * p[:, 1] / p[:, 2] + self.cy], axis=1)


@dataclass(frozen=True)
class Observation:
    """What the robot's camera sees at planning time.

    rgb: (H, W, 3) uint8. depth: (H, W) float32 metres, NaN where invalid, or None.
    camera_to_base: the camera optical frame's pose in the robot base frame, or None.
    """

    rgb: np.ndarray
    depth: np.ndarray | None = None
    intrinsics: CameraIntrinsics | None = None
    camera_to_base: Pose | None = None
    stamp: float = 0.0
    camera_frame: str = CAMERA_OPTICAL_FRAME
    base_frame: str = ROBOT_BASE_FRAME

    def __post_init__(self) -> None:
        rgb = _rgb(self.rgb, 'Observation.rgb')
        if self.depth is not None:
            depth = np.asarray(self.depth, dtype=np.float32)
            if depth.shape != rgb.shape[:2]:
                raise ArtifactError(f'Observation.depth: shape {depth.shape} does not match '
                                    f'the RGB image {rgb.shape[:2]}')
            valid = depth[np.isfinite(depth)]
            if valid.size and valid.min() < 0.0:
                raise ArtifactError('Observation.depth: negative depth (metres expected, '
                                    'NaN for invalid)')
            object.__setattr__(self, 'depth', depth)
        if self.intrinsics is not None and (
                self.intrinsics.width, self.intrinsics.height) != (rgb.shape[1], rgb.shape[0]):
            raise ArtifactError(
                f'Observation: intrinsics are for {self.intrinsics.width}x'
                f'{self.intrinsics.height} but the image is {rgb.shape[1]}x{rgb.shape[0]}')


@dataclass(frozen=True)
class PlanRequest:
    """A task for the planner: one sentence, or several sub-task sentences done in sequence."""

    prompts: tuple[str, ...]
    seed: int = 0
    num_samples: int = 1

    def __post_init__(self) -> None:
        prompts = tuple(p.strip() for p in self.prompts)
        if not prompts or any(not p for p in prompts):
            raise ArtifactError('PlanRequest: give at least one non-empty task sentence')
        if self.num_samples < 1:
            raise ArtifactError(f'PlanRequest.num_samples must be >= 1, got {self.num_samples}')
        object.__setattr__(self, 'prompts', prompts)


@dataclass(frozen=True)
class VideoPlan:
    """A video of a human hand doing the task: frames (T, H, W, 3) uint8 RGB at `fps`.

    chunk_starts: index of the first frame of each autoregressive chunk (0 for the first).
    """

    frames: np.ndarray
    fps: float
    prompts: tuple[str, ...]
    source: PlanSource
    seed: int = 0
    chunk_starts: tuple[int, ...] = (0,)
    model: str = ''
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frames = np.asarray(self.frames)
        if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[3] != 3:
            raise ArtifactError(f'VideoPlan.frames: expected (T, H, W, 3) uint8 RGB, '
                                f'got {frames.dtype} {frames.shape}')
        if frames.shape[0] < 2:
            raise ArtifactError(
                f'VideoPlan: a plan needs at least 2 frames, got {frames.shape[0]}')
        if not np.isfinite(self.fps) or self.fps <= 0.0:
            raise ArtifactError(f'VideoPlan.fps must be positive, got {self.fps}')
        starts = tuple(int(s) for s in self.chunk_starts)
        if not starts or starts[0] != 0 or any(b <= a for a, b in zip(starts, starts[1:])) \
                or starts[-1] >= frames.shape[0]:
            raise ArtifactError(f'VideoPlan.chunk_starts must start at 0, increase and stay '
                                f'below {frames.shape[0]}, got {starts}')
        object.__setattr__(self, 'frames', frames)
        object.__setattr__(self, 'prompts', tuple(self.prompts))
        object.__setattr__(self, 'source', PlanSource(self.source))
        object.__setattr__(self, 'chunk_starts', starts)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Frame timestamps, seconds from the first frame."""
        return np.arange(self.num_frames) / self.fps


@dataclass(frozen=True)
class HandMesh:
    """A hand surface per frame: vertices (T, V, 3) metres hand-centred, faces (F, 3)."""

    vertices: np.ndarray
    faces: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, 'vertices',
                           as_array(self.vertices, (None, None, 3), 'HandMesh.vertices'))
        faces = as_array(self.faces, (None, 3), 'HandMesh.faces', dtype=np.int64)
        if faces.size and (faces.min() < 0 or faces.max() >= self.vertices.shape[1]):
            raise ArtifactError('HandMesh.faces index vertices that do not exist')
        object.__setattr__(self, 'faces', faces)


@dataclass(frozen=True)
class HandTrack:
    """The acting hand through a video, one entry per frame.

    keypoints_px: (T, 21, 2) image pixels. keypoints_m: (T, 21, 3) metres, hand-centred with
    camera-aligned axes; the origin is the estimator's (MediaPipe: near the hand's centre), so
    consumers take differences, never assume the wrist is at 0. wrist_quaternions: (T, 4)
    orientation of the hand frame (lvp_common.hand_frame) in the camera optical frame.
    detected[t] is False where the frame was filled by interpolation. image_size: (width,
    height) in pixels.
    """

    times: np.ndarray
    keypoints_px: np.ndarray
    keypoints_m: np.ndarray
    wrist_quaternions: np.ndarray
    confidence: np.ndarray
    detected: np.ndarray
    handedness: Handedness
    image_size: tuple[int, int]
    mesh: HandMesh | None = None

    def __post_init__(self) -> None:
        t = _check_times(self.times, 'HandTrack.times')
        n = len(t)
        object.__setattr__(self, 'times', t)
        object.__setattr__(self, 'keypoints_px', as_array(
            self.keypoints_px, (n, NUM_HAND_KEYPOINTS, 2), 'HandTrack.keypoints_px'))
        object.__setattr__(self, 'keypoints_m', as_array(
            self.keypoints_m, (n, NUM_HAND_KEYPOINTS, 3), 'HandTrack.keypoints_m'))
        q = as_array(self.wrist_quaternions, (n, 4), 'HandTrack.wrist_quaternions')
        object.__setattr__(self, 'wrist_quaternions', normalize_quaternions(q))
        conf = as_array(self.confidence, (n,), 'HandTrack.confidence')
        if conf.size and (conf.min() < 0.0 or conf.max() > 1.0):
            raise ArtifactError('HandTrack.confidence must lie in [0, 1]')
        object.__setattr__(self, 'confidence', conf)
        object.__setattr__(self, 'detected', as_array(self.detected, (n,), 'HandTrack.detected',
                                                      dtype=bool))
        object.__setattr__(self, 'handedness', Handedness(self.handedness))
        if self.mesh is not None:
            _check_len(self.mesh.vertices, n, 'HandTrack.mesh.vertices')

    @property
    def num_frames(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class WristTrajectory:
    """The wrist's 6-DoF path: positions (T, 3) metres and quaternions (T, 4) in `frame_id`.

    finger_keypoints: (T, 21, 3) hand keypoints expressed in the wrist frame (for retargeting),
    or None. residuals_px: per-frame reprojection error of the metric fit, or None.
    """

    times: np.ndarray
    positions: np.ndarray
    quaternions: np.ndarray
    frame_id: str
    smoothed: bool = False
    finger_keypoints: np.ndarray | None = None
    residuals_px: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = _check_times(self.times, 'WristTrajectory.times')
        n = len(t)
        object.__setattr__(self, 'times', t)
        object.__setattr__(self, 'positions',
                           as_array(self.positions, (n, 3), 'WristTrajectory.positions'))
        object.__setattr__(self, 'quaternions', normalize_quaternions(
            as_array(self.quaternions, (n, 4), 'WristTrajectory.quaternions')))
        if not self.frame_id:
            raise ArtifactError('WristTrajectory.frame_id must name a frame')
        if self.finger_keypoints is not None:
            object.__setattr__(self, 'finger_keypoints', as_array(
                self.finger_keypoints, (n, NUM_HAND_KEYPOINTS, 3),
                'WristTrajectory.finger_keypoints'))
        if self.residuals_px is not None:
            object.__setattr__(self, 'residuals_px', as_array(
                self.residuals_px, (n,), 'WristTrajectory.residuals_px'))

    @property
    def num_frames(self) -> int:
        return len(self.times)

    def pose(self, index: int) -> Pose:
        return Pose(self.positions[index], self.quaternions[index])


@dataclass(frozen=True)
class PointCloud:
    """Scene points (N, 3) metres in `frame_id`, optional colours (N, 3) uint8 RGB."""

    points: np.ndarray
    frame_id: str
    colors: np.ndarray | None = None

    def __post_init__(self) -> None:
        pts = as_array(self.points, (None, 3), 'PointCloud.points')
        object.__setattr__(self, 'points', pts)
        if self.colors is not None:
            colors = np.asarray(self.colors)
            if colors.dtype != np.uint8 or colors.shape != pts.shape:
                raise ArtifactError(f'PointCloud.colors: expected uint8 {pts.shape}, '
                                    f'got {colors.dtype} {colors.shape}')


@dataclass(frozen=True)
class GraspCandidate:
    """A parallel-gripper grasp: the gripper frame's pose (z = approach, y = closing axis).

    width: opening at the contacts (m); depth: how far the fingers go past the grasp point (m).
    """

    pose: Pose
    width: float
    score: float
    depth: float = 0.0

    def __post_init__(self) -> None:
        if not np.isfinite(self.width) or self.width < 0.0:
            raise ArtifactError(f'GraspCandidate.width must be >= 0 m, got {self.width}')
        if not np.isfinite(self.score):
            raise ArtifactError('GraspCandidate.score must be finite')


@dataclass(frozen=True)
class GraspPlan:
    """Ranked grasp candidates (best first) in `frame_id`, with close/open times on the plan's
    clock (seconds, None when the hand never closes/opens)."""

    candidates: tuple[GraspCandidate, ...]
    frame_id: str
    close_time: float | None = None
    open_time: float | None = None


class GripperAction(str, enum.Enum):
    CLOSE = 'close'
    OPEN = 'open'


@dataclass(frozen=True)
class GripperEvent:
    """Close or open the parallel gripper at `time` (s) to `width` (m)."""

    time: float
    action: GripperAction
    width: float

    def __post_init__(self) -> None:
        object.__setattr__(self, 'action', GripperAction(self.action))
        if not np.isfinite(self.time) or self.time < 0.0:
            raise ArtifactError(f'GripperEvent.time must be >= 0 s, got {self.time}')
        if not np.isfinite(self.width) or self.width < 0.0:
            raise ArtifactError(f'GripperEvent.width must be >= 0 m, got {self.width}')


@dataclass(frozen=True)
class HandCommands:
    """Retargeted dexterous-hand commands over time.

    joint_positions: (T, J) radians for `joint_names` (the hand model's joints).
    normalized: (T, A) actuator commands in [0, 1], 1 = open, for `actuator_names`.
    native: (T, A) the same in the hand's native units (Inspire: integers 0..1000).
    """

    times: np.ndarray
    joint_names: tuple[str, ...]
    joint_positions: np.ndarray
    actuator_names: tuple[str, ...]
    normalized: np.ndarray
    native: np.ndarray

    def __post_init__(self) -> None:
        t = _check_times(self.times, 'HandCommands.times')
        n = len(t)
        object.__setattr__(self, 'times', t)
        object.__setattr__(self, 'joint_names', tuple(self.joint_names))
        object.__setattr__(self, 'actuator_names', tuple(self.actuator_names))
        object.__setattr__(self, 'joint_positions', as_array(
            self.joint_positions, (n, len(self.joint_names)), 'HandCommands.joint_positions'))
        norm = as_array(self.normalized, (n, len(self.actuator_names)), 'HandCommands.normalized')
        if norm.size and (norm.min() < 0.0 or norm.max() > 1.0):
            raise ArtifactError('HandCommands.normalized must lie in [0, 1]')
        object.__setattr__(self, 'normalized', norm)
        object.__setattr__(self, 'native', as_array(
            self.native, (n, len(self.actuator_names)), 'HandCommands.native', dtype=np.int32))


@dataclass(frozen=True)
class JointTrajectory:
    """A time-parameterized joint trajectory: positions/velocities/accelerations (T, J)."""

    times: np.ndarray
    joint_names: tuple[str, ...]
    positions: np.ndarray
    velocities: np.ndarray | None = None
    accelerations: np.ndarray | None = None

    def __post_init__(self) -> None:
        t = as_array(self.times, (None,), 'JointTrajectory.times')
        if len(t) and (t[0] < 0.0 or np.any(np.diff(t) <= 0.0)):
            raise ArtifactError('JointTrajectory.times must start >= 0 and strictly increase')
        n, j = len(t), len(self.joint_names)
        object.__setattr__(self, 'times', t)
        object.__setattr__(self, 'joint_names', tuple(self.joint_names))
        if len(set(self.joint_names)) != j:
            raise ArtifactError(f'JointTrajectory.joint_names repeat a name: {self.joint_names}')
        object.__setattr__(self, 'positions',
                           as_array(self.positions, (n, j), 'JointTrajectory.positions'))
        for name in ('velocities', 'accelerations'):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name,
                                   as_array(value, (n, j), f'JointTrajectory.{name}'))

    @property
    def duration(self) -> float:
        return float(self.times[-1]) if len(self.times) else 0.0
