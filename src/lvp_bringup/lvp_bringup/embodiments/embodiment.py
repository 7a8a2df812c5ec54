"""The `Embodiment` type: what the pipeline does differently for one robot + end effector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lvp_exec.embodiment_hardware import EmbodimentHardware

if TYPE_CHECKING:
    from lvp_common.artifacts import HandCommands, WristTrajectory

    from lvp_bringup.embodiments.ee_mapping import EeMapping
    from lvp_bringup.pipeline_types import PipelineConfig, PipelineResult, StageRunner


@dataclass(frozen=True)
class Embodiment:
    """One robot arm with its end effector, as the pipeline and the nodes see it.

    hardware is its lvp_exec hardware spec (lvp_exec.embodiment_hardware): the name (defined
    there, once), the end effector, the sim layout, the safety defaults, the robot backend;
    what this type adds is the motion mapping.
    run_hand_stages(result, config, runner) runs `hand_stages` (of pipeline_types.HAND_STAGES,
    in order) through `runner` and leaves `result.mapping` set (plus the gripper events or hand
    commands it produced); ee_path(wrist, mapping, robot, hand_commands) turns a base-frame human
    wrist path into EE targets for `robot`; load_robot(config) loads the lvp_exec RobotModel
    planned for; world_config() is the lvp_sim world layout (where the robot stands, the objects
    lie, the camera looks) the sim and the synthetic demonstrations use.
    """

    hardware: EmbodimentHardware
    base_frame: str
    """The root of the robot's TF tree (its URDF): base-frame artifacts are stamped with it."""
    hand_stages: tuple[str, ...]
    load_robot: Callable[[PipelineConfig], Any]
    run_hand_stages: Callable[[PipelineResult, PipelineConfig, StageRunner], None]
    ee_path: Callable[[WristTrajectory, EeMapping, Any, HandCommands | None], WristTrajectory]
    world_config: Callable[[], Any]
    reconstruction: Callable[[], Any] | None = None
    """The lvp_reconstruction ReconstructionConfig used when the pipeline's config names none:
    the lifting method (and hand-fit settings) that gave this embodiment's camera layout the
    best end-to-end success (README, measured figures); None = lvp_reconstruction's defaults."""

    @property
    def name(self) -> str:
        """The registry key: the hardware spec's name."""
        return self.hardware.name
