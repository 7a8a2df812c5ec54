"""One plan's record and the archive folder, without ROS: what `lvp_common.ros.plan_archive`
(rclpy) writes and reads, the writable-folder check made before anything moves, and retention.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from lvp_common.artifacts import (
    GraspPlan,
    GripperEvent,
    HandCommands,
    HandTrack,
    JointTrajectory,
    Observation,
    PointCloud,
    VideoPlan,
    WristTrajectory,
)

PARTIAL_SUFFIX = '.partial'
"""An archive being written; renamed to its final name once complete."""


class PlanArchiveError(OSError):
    """A plan archive cannot be written or read."""


@dataclass
class PlanRecord:
    """Everything one plan produced; stages that did not run stay None."""

    prompts: tuple[str, ...] = ()
    embodiment: str = ''
    observation: Observation | None = None
    plan: VideoPlan | None = None
    hand_track: HandTrack | None = None
    wrist_camera: WristTrajectory | None = None
    wrist_base_raw: WristTrajectory | None = None
    wrist_base: WristTrajectory | None = None
    scene_cloud: PointCloud | None = None
    grasps: GraspPlan | None = None
    hand_commands: HandCommands | None = None
    gripper_events: tuple[GripperEvent, ...] = ()
    joint_trajectory: JointTrajectory | None = None
    metadata: dict[str, object] = field(default_factory=dict)


def check_archive_dir(folder: str | Path) -> Path:
    """Create `folder` if needed and prove a file can be written there; PlanArchiveError if not.

    Called before anything moves, so a robot never runs a plan that cannot be archived.
    """
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix='.write-check-'):
            pass
    except OSError as exc:
        raise PlanArchiveError(f'archive folder {folder} is not writable: {exc}') from exc
    return folder


def prune_archives(folder: str | Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest plan archives in `folder` (0 keeps all); return them.

    Only complete archives (a folder with metadata.yaml and an .mcap file) are counted and
    deleted; `.partial` folders and anything else stay.
    """
    if keep <= 0:
        return []
    archives = [p for p in Path(folder).expanduser().iterdir()
                if p.is_dir() and not p.name.endswith(PARTIAL_SUFFIX)
                and (p / 'metadata.yaml').is_file() and any(p.glob('*.mcap'))]
    archives.sort(key=lambda p: ((p / 'metadata.yaml').stat().st_mtime, p.name))
    removed = archives[:-keep]
    for old in removed:
        shutil.rmtree(old, ignore_errors=True)
    return removed
