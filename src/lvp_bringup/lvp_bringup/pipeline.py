"""PlanAndExecute without ROS: video plan -> hand track -> wrist path -> robot motion.

`run_pipeline` chains the cores in-process. Stages, in order:

    hand_tracking -> reconstruction -> retargeting (+ grasping for the gripper)
    -> ik -> timing -> safety -> executing (MuJoCo sim; skipped with plan_only)

Each failure raises `StageError(stage, code, message)` with the error code of
`lvp_interfaces/action/PlanAndExecute.action`; stages after a failure never run, so nothing is
executed unless tracking, reconstruction, retargeting, IK, timing and the safety filter passed.

End-effector mapping (the human wrist pose -> a robot EE target), see `franka_tcp_path` and
`g1_mount_path`:

- franka_gripper: the Franka hand's TCP goes where the human grasped. At the contact time (the
  first close event, else lvp_grasp's human contact time) the grasp point is the centroid of the
  thumb, index and middle fingertips in the wrist frame, and the closing axis runs from the thumb
  tip to the index/middle tips; both are then held fixed in the hand frame for the whole path.
  The gripper points straight down (z = -z of the base) and its closing axis (y) is the hand's
  closing axis projected on the horizontal plane, so the gripper's yaw follows the hand. TCP
  heights are clamped to `min_tcp_height` above the base plane (the table top).
- g1_inspire: the hand-mount frame follows the wrist with a fixed hand-to-mount rotation
  (`G1_HAND_IN_MOUNT`); the path is re-expressed from the scene's base_link (the table frame of
  lvp_sim, where a Franka would stand) in the G1 pelvis frame by `g1_pelvis_in_base`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lvp_common.artifacts import (
    GraspPlan,
    GripperAction,
    GripperEvent,
    HandCommands,
    HandTrack,
    Observation,
    VideoPlan,
    WristTrajectory,
)
from lvp_common.geometry import Pose, continuous_quaternions, transform_poses
from scipy.spatial.transform import Rotation

EMBODIMENTS = ('franka_gripper', 'g1_inspire')

STAGES = ('hand_tracking', 'reconstruction', 'retargeting', 'grasping', 'ik', 'timing',
          'safety', 'executing')
"""Pipeline stages in order (the CLI adds `planning` before and `archive` after)."""

_STAGE_WEIGHTS = {'hand_tracking': 0.3, 'reconstruction': 0.2, 'retargeting': 0.05,
                  'grasping': 0.05, 'ik': 0.1, 'timing': 0.05, 'safety': 0.02, 'executing': 0.23}

_THUMB_TIP, _INDEX_TIP, _MIDDLE_TIP = 4, 8, 12

DEFAULT_HAND_GRASP_POINT = np.array([0.0, 0.1, 0.05])
"""Grasp point in the wrist frame (m) when a path has no finger keypoints: ~10 cm along the
fingers, 5 cm out of the palm (where a palm-down power grasp holds a 5 cm cube)."""

G1_HAND_IN_MOUNT = Rotation.from_matrix(np.array([
    [0.0, 1.0, 0.0],    # mount x = hand y (wrist -> fingers: the hand points along mount x)
    [0.0, 0.0, -1.0],   # mount y = -(palm normal)
    [-1.0, 0.0, 0.0],   # mount z = -(hand x)
])).as_quat()
"""Orientation of the human hand frame (x thumb side, y fingers, z palm normal) in the G1
`<side>_hand_mount` frame (x along the forearm out of the wrist)."""

G1_PELVIS_IN_BASE = Pose(np.array([0.25, 0.4, 0.0]), np.array([0.0, 0.0, 0.0, 1.0]))
"""Assumed G1 pelvis pose in the scene's base_link (lvp_sim table frame), found by a grid search
so that the lvp_sim demonstrations' wrist paths lie in the right arm's workspace with this
hand-to-mount rotation. A kinematic placement, not a physical set-up: the G1 executes alone in
lvp_exec's G1 scene (its own table 0.3 m below the pelvis)."""


class ErrorCode(enum.IntEnum):
    """Result codes of PlanAndExecute.action."""

    SUCCESS = 0
    INVALID_GOAL = 1
    PLANNER_FAILED = 2
    NO_HAND_FOUND = 3
    RECONSTRUCTION_FAILED = 4
    RETARGET_FAILED = 5
    GRASP_FAILED = 6
    UNREACHABLE = 7
    SAFETY_VIOLATION = 8
    EXECUTION_FAILED = 9
    CANCELED = 10
    ARCHIVE_FAILED = 11


class StageError(RuntimeError):
    """A pipeline stage failed: `stage` name, `code` (ErrorCode) and a readable message."""

    def __init__(self, stage: str, code: ErrorCode, message: str) -> None:
        self.stage = stage
        self.code = ErrorCode(code)
        self.message = message
        self.result: PipelineResult | None = None
        """What the stages before the failure produced (set by run_pipeline)."""
        super().__init__(f'{stage} failed ({self.code.name}): {message}')


ProgressCallback = Callable[[str, float, float], None]
"""progress(stage, stage_progress in [0, 1], overall_progress in [0, 1])."""


def _no_progress(_stage: str, _stage_progress: float, _overall: float) -> None:
    pass


@dataclass
class PipelineConfig:
    """Every stage's parameters; `None` fields use the core's defaults."""

    plan_only: bool = False
    """Stop after the safety filter: move nothing."""
    handedness: str | None = None
    """Override the acting hand ('left'/'right'); None = plan metadata, else MediaPipe's vote."""
    tracker: object = None
    mediapipe: object = None
    reconstruction: object = None
    gripper: object = None
    dexterous: object = None
    ik: object = None
    timing: object = None
    sim: object = None
    min_tcp_height: float = 0.02
    """Lowest TCP height (m) above the base plane (the table top) for the Franka."""
    require_grasp_candidate: bool = False
    """GRASP_FAILED when the antipodal detector finds no grasp (else reported and continued)."""
    g1_side: str = 'right'
    g1_pelvis_in_base: Pose = field(default_factory=lambda: G1_PELVIS_IN_BASE)


@dataclass(frozen=True)
class EeMapping:
    """How a human wrist path became EE targets; stored in the archive to replay it exactly.

    grasp_point / closing_axis: wrist-frame vectors (Franka); base_in_robot: scene base_link ->
    robot base frame (G1); hand_in_mount: quaternion (x, y, z, w) (G1).
    """

    embodiment: str
    contact_time: float | None = None
    grasp_point: tuple[float, ...] = ()
    closing_axis: tuple[float, ...] = ()
    min_tcp_height: float = 0.0
    base_in_robot: tuple[float, ...] = ()
    hand_in_mount: tuple[float, ...] = ()
    description: str = ''

    def to_metadata(self) -> dict[str, object]:
        return {'embodiment': self.embodiment, 'contact_time': self.contact_time,
                'grasp_point': list(self.grasp_point), 'closing_axis': list(self.closing_axis),
                'min_tcp_height': self.min_tcp_height, 'base_in_robot': list(self.base_in_robot),
                'hand_in_mount': list(self.hand_in_mount), 'description': self.description}

    @classmethod
    def from_metadata(cls, meta: dict) -> EeMapping:
        return cls(embodiment=str(meta['embodiment']), contact_time=meta.get('contact_time'),
                   grasp_point=tuple(meta.get('grasp_point', ())),
                   closing_axis=tuple(meta.get('closing_axis', ())),
                   min_tcp_height=float(meta.get('min_tcp_height', 0.0)),
                   base_in_robot=tuple(meta.get('base_in_robot', ())),
                   hand_in_mount=tuple(meta.get('hand_in_mount', ())),
                   description=str(meta.get('description', '')))


@dataclass
class PipelineResult:
    """Everything the stages produced (None where a stage did not run) and how long each took."""

    embodiment: str
    plan: VideoPlan | None = None
    observation: Observation | None = None
    tracking: object = None
    hand_track: HandTrack | None = None
    reconstruction: object = None
    wrist_base_raw: WristTrajectory | None = None
    wrist_base: WristTrajectory | None = None
    gripper: object = None
    gripper_events: tuple[GripperEvent, ...] = ()
    grasp_plan: GraspPlan | None = None
    hand_commands: HandCommands | None = None
    mapping: EeMapping | None = None
    ee_path: WristTrajectory | None = None
    robot: object = None
    start_joints: np.ndarray | None = None
    joint_path: object = None
    timed: object = None
    execution: object = None
    executed: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    @property
    def trajectory(self):
        """The planned joint trajectory (lvp_common JointTrajectory) or None."""
        return None if self.timed is None else self.timed.trajectory  # type: ignore[attr-defined]


class _StageRunner:
    """Time each stage, report progress and turn known exceptions into StageErrors."""

    def __init__(self, result: PipelineResult, progress: ProgressCallback,
                 stages: tuple[str, ...]) -> None:
        self.result = result
        self.progress = progress
        total = sum(_STAGE_WEIGHTS[s] for s in stages)
        self._weights = {s: _STAGE_WEIGHTS[s] / total for s in stages}
        self._done = 0.0

    def report(self, stage: str, fraction: float) -> None:
        fraction = float(min(max(fraction, 0.0), 1.0))
        self.progress(stage, fraction, min(1.0, self._done + self._weights[stage] * fraction))

    def run(self, stage: str, code: ErrorCode, errors: tuple[type[BaseException], ...],
            work: Callable[[], object]):
        self.report(stage, 0.0)
        start = time.perf_counter()
        try:
            out = work()
        except StageError:
            raise
        except errors as exc:
            raise StageError(stage, code, str(exc)) from exc
        finally:
            self.result.timings[stage] = time.perf_counter() - start
        self.report(stage, 1.0)
        self._done += self._weights[stage]
        return out


def robot_for(embodiment: str, config: PipelineConfig):
    """Load the lvp_exec arm model of an embodiment."""
    from lvp_exec.robots import G1ArmConfig, load_g1_arm, load_panda

    if embodiment == 'franka_gripper':
        return load_panda()
    if embodiment == 'g1_inspire':
        return load_g1_arm(G1ArmConfig(side=config.g1_side))
    raise StageError('ik', ErrorCode.INVALID_GOAL,
                     f'unknown embodiment {embodiment!r}; expected one of {EMBODIMENTS}')


def _contact_index(times: np.ndarray, contact_time: float) -> int:
    return int(np.argmin(np.abs(times - contact_time)))


def franka_mapping(wrist: WristTrajectory, contact_time: float,
                   min_tcp_height: float) -> EeMapping:
    """Choose the wrist-frame grasp point and closing axis at the contact time."""
    if wrist.finger_keypoints is not None:
        kp = wrist.finger_keypoints[_contact_index(wrist.times, contact_time)]
        tips = kp[[_THUMB_TIP, _INDEX_TIP, _MIDDLE_TIP]]
        grasp_point = tips.mean(axis=0)
        axis = 0.5 * (kp[_INDEX_TIP] + kp[_MIDDLE_TIP]) - kp[_THUMB_TIP]
        source = 'fingertips (thumb, index, middle) at contact'
    else:
        grasp_point = DEFAULT_HAND_GRASP_POINT.copy()
        axis = np.array([1.0, 0.0, 0.0])
        source = 'default palm grasp point (no finger keypoints)'
    norm = float(np.linalg.norm(axis))
    axis = axis / norm if norm > 1e-6 else np.array([1.0, 0.0, 0.0])
    return EeMapping(
        'franka_gripper', float(contact_time), tuple(float(v) for v in grasp_point),
        tuple(float(v) for v in axis), float(min_tcp_height),
        description=(f'Franka TCP at the human grasp point ({source}, t = {contact_time:.2f} s; '
                     f'wrist frame {np.round(grasp_point, 3).tolist()} m), fixed in the hand '
                     f'frame; gripper pointing down, closing axis = the hand\'s thumb -> '
                     f'fingertips direction projected on the table (yaw follows the hand); '
                     f'TCP kept >= {min_tcp_height:.2f} m above the table'))


def franka_tcp_path(wrist: WristTrajectory, mapping: EeMapping,
                    reference_closing_axis: np.ndarray | None = None) -> WristTrajectory:
    """Return Franka TCP targets (base frame) for a human wrist path under `mapping`."""
    rot = Rotation.from_quat(wrist.quaternions)
    positions = wrist.positions + rot.apply(np.asarray(mapping.grasp_point))
    positions[:, 2] = np.maximum(positions[:, 2], mapping.min_tcp_height)
    closing = rot.apply(np.asarray(mapping.closing_axis))
    down = np.array([0.0, 0.0, -1.0])
    previous = (np.array([0.0, 1.0, 0.0]) if reference_closing_axis is None
                else np.asarray(reference_closing_axis, dtype=np.float64))
    quats = np.zeros((wrist.num_frames, 4))
    for i, axis in enumerate(closing):
        y = np.array([axis[0], axis[1], 0.0])
        if np.linalg.norm(y) < 1e-3:  # closing axis vertical: keep the last yaw
            y = previous
        y = y / np.linalg.norm(y)
        # A parallel gripper is symmetric: of y and -y take the one nearer the last yaw.
        if float(np.dot(y, previous)) < 0.0:
            y = -y
        x = np.cross(y, down)
        quats[i] = Rotation.from_matrix(np.stack([x, y, down], axis=1)).as_quat()
        previous = y
    return WristTrajectory(wrist.times, positions, continuous_quaternions(quats),
                           wrist.frame_id, smoothed=wrist.smoothed)


def g1_mapping(config: PipelineConfig, base_frame: str) -> EeMapping:
    """The G1 hand-mount mapping: pelvis pose in the scene base and the hand-to-mount rotation."""
    pelvis = config.g1_pelvis_in_base
    base_in_robot = pelvis.inverse()
    return EeMapping(
        'g1_inspire', None, base_in_robot=tuple(base_in_robot.position.tolist()
                                                + base_in_robot.quaternion.tolist()),
        hand_in_mount=tuple(float(v) for v in G1_HAND_IN_MOUNT),
        description=(f'G1 {base_frame} hand mount follows the human wrist with a fixed '
                     f'hand-to-mount rotation (fingers along the mount x axis); pelvis assumed '
                     f'at {pelvis.position.tolist()} m in the scene base_link'))


def g1_mount_path(wrist: WristTrajectory, mapping: EeMapping, robot_base: str) -> WristTrajectory:
    """Return G1 hand-mount targets in the robot's base frame for a human wrist path."""
    b = np.asarray(mapping.base_in_robot)
    base_in_robot = Pose(b[:3], b[3:])
    hand_in_mount = Rotation.from_quat(np.asarray(mapping.hand_in_mount))
    pos, quat = transform_poses(base_in_robot, wrist.positions, wrist.quaternions)
    mount = (Rotation.from_quat(quat) * hand_in_mount.inv()).as_quat()
    return WristTrajectory(wrist.times, pos, continuous_quaternions(mount), robot_base,
                           smoothed=wrist.smoothed)


def ee_path_for(wrist: WristTrajectory, mapping: EeMapping, robot) -> WristTrajectory:
    """Apply an EeMapping to a base-frame human wrist path for `robot` (lvp_exec RobotModel)."""
    if mapping.embodiment == 'franka_gripper':
        # The home TCP's closing axis picks the sign of the first yaw (least wrist rotation).
        ref = robot.ee_pose(robot.home).rotation[:, 1]
        return franka_tcp_path(wrist, mapping, ref)
    return g1_mount_path(wrist, mapping, robot.base_frame)


def _tracking_errors() -> tuple[type[BaseException], ...]:
    from lvp_hand_tracking.backend import BackendError
    from lvp_hand_tracking.model_assets import ModelAssetError
    from lvp_hand_tracking.tracker import HandednessUnknownError, LongGapError, NoHandFoundError

    return (NoHandFoundError, LongGapError, HandednessUnknownError, BackendError,
            ModelAssetError)


def track_hand(plan: VideoPlan, config: PipelineConfig, report: Callable[[float], None]):
    """Run MediaPipe over the plan's frames (progress per frame) -> TrackingResult."""
    from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend
    from lvp_hand_tracking.tracker import HandTracker, TrackerConfig

    def frames() -> Iterator[np.ndarray]:
        for k, frame in enumerate(plan.frames):
            report(k / plan.num_frames)
            yield frame

    backend = MediaPipeHandBackend(config.mediapipe or MediaPipeConfig())  # type: ignore[arg-type]
    with HandTracker(config.tracker or TrackerConfig(), backend) as tracker:  # type: ignore
        height, width = plan.frames.shape[1:3]
        return tracker.track_frames(frames(), plan.times, (width, height), config.handedness,
                                    plan.metadata)


def run_pipeline(observation: Observation, plan: VideoPlan, embodiment: str,
                 config: PipelineConfig | None = None,
                 progress: ProgressCallback | None = None) -> PipelineResult:
    """Turn a video plan and the scene observation into robot motion (see module docstring).

    Raises StageError at the first failing stage, its `result` holding what the earlier stages
    produced; the result of a successful run holds every intermediate artifact and per-stage
    wall times (s). A `progress` callback may raise StageError (e.g. CANCELED) to stop the run
    before the next stage or tracked frame.
    """
    config = config or PipelineConfig()
    if embodiment not in EMBODIMENTS:
        raise StageError('hand_tracking', ErrorCode.INVALID_GOAL,
                         f'unknown embodiment {embodiment!r}; expected one of {EMBODIMENTS}')
    result = PipelineResult(embodiment=embodiment, plan=plan, observation=observation)
    try:
        return _run_stages(result, observation, plan, embodiment, config,
                           progress or _no_progress)
    except StageError as exc:
        exc.result = result
        raise


def _run_stages(result: PipelineResult, observation: Observation, plan: VideoPlan,
                embodiment: str, config: PipelineConfig,
                progress: ProgressCallback) -> PipelineResult:
    from lvp_reconstruction.pipeline import ReconstructionConfig, ReconstructionError, reconstruct

    stages = tuple(s for s in STAGES if not (s == 'grasping' and embodiment != 'franka_gripper')
                   and not (s == 'executing' and config.plan_only))
    runner = _StageRunner(result, progress, stages)

    tracking = runner.run('hand_tracking', ErrorCode.NO_HAND_FOUND, _tracking_errors(),
                          lambda: track_hand(plan, config,
                                             lambda f: runner.report('hand_tracking', f)))
    result.tracking = tracking
    track = tracking.track  # type: ignore[attr-defined]
    result.hand_track = track
    indices = tracking.track_frame_indices  # type: ignore[attr-defined]
    if tracking.long_gaps:  # type: ignore[attr-defined]
        result.messages.append(f'hand tracking: track cut at long gaps, using frames '
                               f'{int(indices[0])}..{int(indices[-1])} of {plan.num_frames}')

    def reconstruct_stage():
        if observation.camera_to_base is None:
            raise ReconstructionError('the observation has no camera_to_base extrinsic: the '
                                      'wrist path cannot be put in the robot base frame')
        rec = reconstruct(track, observation,
                          config.reconstruction or ReconstructionConfig(),  # type: ignore
                          frames=plan.frames[indices])
        if rec.wrist_base is None:
            raise ReconstructionError('no base-frame wrist path')
        return rec

    rec = runner.run('reconstruction', ErrorCode.RECONSTRUCTION_FAILED, (ValueError,),
                     reconstruct_stage)
    result.reconstruction = rec
    result.wrist_base, result.wrist_base_raw = rec.wrist_base, rec.wrist_base_raw  # type: ignore
    result.messages.extend(f'reconstruction: {m}' for m in rec.report.messages)  # type: ignore
    wrist = result.wrist_base
    assert wrist is not None

    robot = robot_for(embodiment, config)
    result.robot = robot
    if embodiment == 'franka_gripper':
        runner.run('retargeting', ErrorCode.RETARGET_FAILED, (ValueError,),
                   lambda: _gripper_stage(result, config))
        runner.run('grasping', ErrorCode.GRASP_FAILED, (ValueError,),
                   lambda: _grasp_stage(result, config))
    else:
        runner.run('retargeting', ErrorCode.RETARGET_FAILED, (ValueError,),
                   lambda: _dexterous_stage(result, config))
    mapping = result.mapping
    assert mapping is not None
    run_motion(result, wrist, mapping, config, runner)
    return result


def _gripper_stage(result: PipelineResult, config: PipelineConfig) -> None:
    from lvp_retarget.gripper import GripperRetargetConfig, retarget_gripper_from_trajectory

    assert result.wrist_base is not None
    gripper = retarget_gripper_from_trajectory(
        result.wrist_base, config.gripper or GripperRetargetConfig())  # type: ignore[arg-type]
    result.gripper = gripper
    result.gripper_events = gripper.events


def _grasp_stage(result: PipelineResult, config: PipelineConfig) -> None:
    from lvp_grasp.backend import GraspError
    from lvp_grasp.human_contact import find_human_contact
    from lvp_grasp.planning import grasp_plan_from_demonstration

    wrist = result.wrist_base
    assert wrist is not None
    rec = result.reconstruction
    cloud = rec.point_cloud_base  # type: ignore[attr-defined]
    events = result.gripper_events
    if cloud is not None:
        plan = grasp_plan_from_demonstration(cloud, wrist, events)
        result.grasp_plan = plan
        if not plan.candidates:
            if config.require_grasp_candidate:
                raise GraspError('the antipodal detector found no grasp near the human\'s '
                                 'contact point')
            result.messages.append('grasping: no antipodal grasp candidate near the human\'s '
                                   'contact point (single-view cloud); the TCP follows the '
                                   'hand\'s grasp point')
        contact_time = plan.close_time
    else:
        if config.require_grasp_candidate:
            raise GraspError('no depth: no scene point cloud to grasp on')
        result.messages.append('grasping: no depth image, no scene cloud: grasp detection '
                               'skipped; the TCP follows the hand\'s grasp point')
        contact_time = find_human_contact(wrist, events).time
    if contact_time is None:
        contact_time = float(wrist.times[len(wrist.times) // 2])
    if not any(e.action is GripperAction.CLOSE for e in events):
        # The aperture never crossed the close threshold (e.g. a power grasp around a 5 cm cube
        # keeps thumb and index 4-5 cm apart): close at the human's contact time instead.
        result.gripper_events = tuple(sorted(
            (*events, GripperEvent(float(contact_time), GripperAction.CLOSE, 0.0)),
            key=lambda e: e.time))
        result.messages.append(f'retargeting: no close event from the hand aperture; gripper '
                               f'closes at the human contact time {contact_time:.2f} s '
                               f'(lvp_grasp.human_contact)')
    result.mapping = franka_mapping(wrist, float(contact_time), config.min_tcp_height)


def _dexterous_stage(result: PipelineResult, config: PipelineConfig) -> None:
    from lvp_retarget.dexterous import DexterousRetargetConfig, retarget_wrist_trajectory

    assert result.wrist_base is not None and result.hand_track is not None
    result.hand_commands = retarget_wrist_trajectory(
        result.wrist_base, result.hand_track.handedness,
        config.dexterous or DexterousRetargetConfig())  # type: ignore[arg-type]
    robot = result.robot
    result.mapping = g1_mapping(config, robot.ee_frame)  # type: ignore[attr-defined]


def motion_stages(plan_only: bool) -> tuple[str, ...]:
    return ('ik', 'timing', 'safety') + (() if plan_only else ('executing',))


def run_motion(result: PipelineResult, wrist: WristTrajectory, mapping: EeMapping,
               config: PipelineConfig, runner: _StageRunner | None = None,
               progress: ProgressCallback | None = None) -> PipelineResult:
    """EE mapping -> IK -> time parameterization -> safety filter -> sim execution.

    Used by run_pipeline and by replay (from an archived wrist path and mapping).
    """
    from lvp_exec.ik import DampedLeastSquaresIk, IkConfig, PathFrameError, UnreachablePathError
    from lvp_exec.safety import SafetyFilter, SafetyViolationError, default_safety_config
    from lvp_exec.sim import MujocoArmSim, SimConfig, SimulationError
    from lvp_exec.timing import TimingConfig, TimingError, parameterize

    if runner is None:
        runner = _StageRunner(result, progress or _no_progress, motion_stages(config.plan_only))
    if result.robot is None:
        result.robot = robot_for(mapping.embodiment, config)
    robot: Any = result.robot
    result.mapping = mapping
    ee_path = ee_path_for(wrist, mapping, robot)
    result.ee_path = ee_path
    start = np.asarray(robot.home, dtype=np.float64)
    result.start_joints = start
    ik = DampedLeastSquaresIk(robot, config.ik or IkConfig())  # type: ignore[arg-type]
    result.joint_path = runner.run('ik', ErrorCode.UNREACHABLE,
                                   (UnreachablePathError, PathFrameError, ValueError),
                                   lambda: ik.solve(ee_path, start))
    result.timed = runner.run(
        'timing', ErrorCode.UNREACHABLE, (TimingError, ValueError),
        lambda: parameterize(result.joint_path, robot.limits,  # type: ignore[arg-type]
                             config.timing or TimingConfig()))  # type: ignore[arg-type]
    trajectory = result.trajectory
    assert trajectory is not None
    safety = SafetyFilter(robot, default_safety_config(robot))
    runner.run('safety', ErrorCode.SAFETY_VIOLATION, (SafetyViolationError,),
               lambda: safety.check(trajectory, start))
    if config.plan_only:
        result.messages.append('plan only: nothing executed')
        return result
    sim_config = config.sim or SimConfig(render_fps=10.0)

    def execute():
        sim = MujocoArmSim(robot, sim_config)  # type: ignore[arg-type]
        return sim.execute(trajectory)

    result.execution = runner.run('executing', ErrorCode.EXECUTION_FAILED, (SimulationError,),
                                  execute)
    result.executed = True
    return result


TASK_NOT_EVALUATED = ('task check: not evaluated (robot executed in an empty scene: '
                      'lvp_exec\'s MuJoCo table holds no lvp_sim objects)')


def plan_record(result: PipelineResult, prompts: tuple[str, ...], plan: VideoPlan | None,
                observation: Observation | None, metadata: dict[str, object]):
    """Gather what a (possibly partial) run produced as an lvp_common PlanRecord to archive.

    The metadata gets the EE mapping (so `lvp replay` is exact) and whether the run was plan only.
    """
    from lvp_common.plan_archive import PlanRecord

    rec: Any = result.reconstruction
    mapping = result.mapping
    return PlanRecord(
        prompts=prompts, embodiment=result.embodiment, observation=observation,
        plan=plan, hand_track=result.hand_track,
        wrist_camera=None if rec is None else rec.wrist_camera,
        wrist_base_raw=result.wrist_base_raw, wrist_base=result.wrist_base,
        scene_cloud=None if rec is None else rec.point_cloud_base,
        grasps=result.grasp_plan, hand_commands=result.hand_commands,
        gripper_events=result.gripper_events, joint_trajectory=result.trajectory,
        metadata={'ee_mapping': None if mapping is None else mapping.to_metadata(),
                  'plan_only': result.timed is not None and not result.executed,
                  **metadata})
