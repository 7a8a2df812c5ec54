"""What the pipeline's stages share: error codes, the stage error, the configuration, the result,
and the runner that times each stage and turns its known exceptions into StageErrors.

`lvp_bringup.pipeline` orders the stages; `lvp_bringup.embodiments` holds each robot's own stages
and motion mapping. Both import their contract from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from lvp_common.artifacts import (
    GraspPlan,
    GripperEvent,
    HandCommands,
    HandTrack,
    Observation,
    VideoPlan,
    WristTrajectory,
)
from lvp_common.cli_exit import ExitCode

if TYPE_CHECKING:
    from lvp_exec.ik import IkConfig, JointPath
    from lvp_exec.robots import RobotModel
    from lvp_exec.safety import SafetyConfig
    from lvp_exec.timing import TimedPath, TimingConfig
    from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig
    from lvp_hand_tracking.tracker import TrackerConfig, TrackingResult
    from lvp_reconstruction.reconstruct import ReconstructionConfig, ReconstructionResult
    from lvp_retarget.dexterous import DexterousRetargetConfig
    from lvp_retarget.gripper import GripperRetargetConfig, GripperRetargeting
    from lvp_sim.mujoco_executor import SimConfig
    from lvp_sim.world import WorldConfig

    from lvp_bringup.embodiments.ee_mapping import EeMapping


ErrorCode = ExitCode
"""Result codes of PlanAndExecute.action: the one table in lvp_common.cli_exit (its codes 0-11;
checked against the .action file by lvp_common's test_cli_exit)."""


STAGES = ('hand_tracking', 'reconstruction', 'retargeting', 'grasping', 'ik', 'timing',
          'safety', 'executing')
"""Pipeline stages in order (the CLI adds `planning` before and `archive` after)."""

HAND_STAGES = ('retargeting', 'grasping')
"""The stages an embodiment runs its own way (`Embodiment.hand_stages`)."""

STAGE_CODES: dict[str, ErrorCode] = {
    'validation': ErrorCode.INVALID_GOAL, 'planning': ErrorCode.PLANNER_FAILED,
    'hand_tracking': ErrorCode.NO_HAND_FOUND, 'reconstruction': ErrorCode.RECONSTRUCTION_FAILED,
    'retargeting': ErrorCode.RETARGET_FAILED, 'grasping': ErrorCode.GRASP_FAILED,
    'ik': ErrorCode.UNREACHABLE, 'timing': ErrorCode.UNREACHABLE,
    'safety': ErrorCode.SAFETY_VIOLATION, 'executing': ErrorCode.EXECUTION_FAILED,
    'archive': ErrorCode.ARCHIVE_FAILED,
}
"""The one stage -> error code table: the code of a failure (or unexpected exception) in each
stage, for run_pipeline, run_motion and the plan_and_execute node."""

_STAGE_WEIGHTS = {'hand_tracking': 0.3, 'reconstruction': 0.2, 'retargeting': 0.05,
                  'grasping': 0.05, 'ik': 0.1, 'timing': 0.05, 'safety': 0.02, 'executing': 0.23}


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


def no_progress(_stage: str, _stage_progress: float, _overall: float) -> None:
    """Report nothing."""


def _never() -> bool:
    return False


@dataclass
class PipelineConfig:
    """Every stage's parameters; `None` fields use the core's defaults."""

    plan_only: bool = False
    """Stop after the safety filter: move nothing."""
    scene_check: bool = True
    """Keep the arm's links clear of what the observation's depth shows (its point cloud in the
    base frame, beyond the table, the robot and the task's surroundings; lvp_exec.scene_obstacle),
    besides the world's fixed obstacles. Without depth there is no cloud and no such check."""
    handedness: str | None = None
    """Override the acting hand ('left'/'right'); None = plan metadata, else MediaPipe's vote."""
    tracker: TrackerConfig | None = None
    mediapipe: MediaPipeConfig | None = None
    reconstruction: ReconstructionConfig | None = None
    gripper: GripperRetargetConfig | None = None
    dexterous: DexterousRetargetConfig | None = None
    ik: IkConfig | None = None
    timing: TimingConfig | None = None
    sim: SimConfig | None = None
    """lvp_sim.mujoco_executor.SimConfig of the default executor (the MuJoCo sim)."""
    executor: Any = None
    """An lvp_exec.execution.Executor (any object speaking its protocol); None = the MuJoCo sim
    in the embodiment's lvp_sim world."""
    should_stop: Callable[[], bool] = field(default=_never)
    """Polled while the robot moves: True stops it (the run ends CANCELED at `executing`)."""
    min_tcp_height: float = 0.02
    """Lowest TCP height (m) above the base plane (the table top) for the Franka."""
    max_grasp_offset: float = 0.12
    """Register the path to a detected grasp / object only this close (m) to the human's
    grasp point: the hand's monocular depth errs by up to ~10 cm at the G1 camera's distance
    (measured on synthetic demonstrations), the scene depth by millimetres."""
    require_grasp_candidate: bool = False
    """GRASP_FAILED when the antipodal detector finds no grasp (else reported and continued)."""
    g1_side: str = 'right'
    arm_model: str = ''
    """The Franka arm planned for ('panda' | 'fr3', lvp_exec.robots.ARM_MODELS), whose joint
    limits IK, timing and the safety filter use; '' = the one the executor drives (lvp_exec.
    backends.executor_arm_model: fr3 on ros2_control, panda in the sim)."""
    safety_for: Callable[[RobotModel, WorldConfig | None], SafetyConfig] | None = None
    """Safety limits (lvp_exec.safety.SafetyConfig) for (arm model, the executor's lvp_sim world
    or None), e.g. from a node's `safety.<embodiment>.*` parameters; None = lvp_exec's defaults
    in the executor's world."""
    grasp: bool | None = None
    """Whether the task grasps the object (G1: open before contact, pinch, hold); None decides
    from the task sentence (`task_grasps`)."""


@dataclass
class PipelineResult:
    """Everything the stages produced (None where a stage did not run) and how long each took."""

    embodiment: str
    plan: VideoPlan | None = None
    observation: Observation | None = None
    tracking: TrackingResult | None = None
    hand_track: HandTrack | None = None
    reconstruction: ReconstructionResult | None = None
    wrist_base_raw: WristTrajectory | None = None
    wrist_base: WristTrajectory | None = None
    gripper: GripperRetargeting | None = None
    gripper_events: tuple[GripperEvent, ...] = ()
    grasp_plan: GraspPlan | None = None
    hand_commands: HandCommands | None = None
    mapping: EeMapping | None = None
    ee_path: WristTrajectory | None = None
    robot: Any = None
    """The lvp_exec RobotModel planned for."""
    start_joints: np.ndarray | None = None
    joint_path: JointPath | None = None
    timed: TimedPath | None = None
    execution: Any = None
    """The executor's own result object."""
    executed: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    @property
    def trajectory(self):
        """The planned joint trajectory (lvp_common JointTrajectory) or None."""
        return None if self.timed is None else self.timed.trajectory


class StageRunner:
    """Time each stage, report progress and turn known exceptions into StageErrors."""

    def __init__(self, result: PipelineResult, progress: ProgressCallback,
                 stages: tuple[str, ...]) -> None:
        self.result = result
        self.progress = progress
        total = sum(_STAGE_WEIGHTS[s] for s in stages)
        self._weights = {s: _STAGE_WEIGHTS[s] / total for s in stages}
        self._done = 0.0

    def report(self, stage: str, fraction: float) -> None:
        """Report `fraction` of `stage` done."""
        fraction = float(min(max(fraction, 0.0), 1.0))
        self.progress(stage, fraction, min(1.0, self._done + self._weights[stage] * fraction))

    def run(self, stage: str, errors: tuple[type[BaseException], ...],
            work: Callable[[], Any]) -> Any:
        """Run `work` as `stage`: an exception of a type in `errors` fails it with its code."""
        self.report(stage, 0.0)
        start = time.perf_counter()
        try:
            out = work()
        except StageError:
            raise
        except errors as exc:
            raise StageError(stage, STAGE_CODES[stage], str(exc)) from exc
        finally:
            self.result.timings[stage] = time.perf_counter() - start
        self.report(stage, 1.0)
        self._done += self._weights[stage]
        return out
