"""The lvp_exec tool's files: EE paths and end-effector commands in, the joint trajectory out.

EE path (.npz), lvp_reconstruct's `--out` layout: `times` (T,) s and, per named path NAME,
`NAME_positions` (T, 3) m, `NAME_quaternions` (T, 4) x, y, z, w, `NAME_frame_id`. lvp_reconstruct
writes `camera_raw`, `camera_smoothed`, `base_raw` and `base_smoothed` (the human wrist);
`save_ee_path_npz` writes `ee` (end-effector targets).

End-effector commands (.npz), lvp_retarget's `--out` layout: Inspire commands `times`,
`joint_names`, `joint_positions`, `actuator_names`, `normalized`, `native`, and gripper events
`gripper_event_times`, `gripper_event_actions` ('close'/'open'), `gripper_event_widths` (m).

Motion (.npz, `save_motion_npz`): the joint trajectory `times`, `joint_names`, `positions`,
`velocities`, `accelerations` (s, rad), `start_positions`, `waypoint_times` / `plan_times` (when
each EE waypoint is reached, on the trajectory's and the plan's clock), the gripper events and
hand commands on the trajectory's clock, and for a sim run `executed_positions` and
`tracking_errors` (rad).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from lvp_common.artifacts import (
    ArtifactError,
    GripperAction,
    GripperEvent,
    HandCommands,
    JointTrajectory,
    WristTrajectory,
)

from lvp_exec.motion import MotionResult

EE_PATH_NAMES = ('ee', 'base_smoothed', 'base_raw')
"""Paths in the robot base frame, in the order a file's path is picked when none is named."""


class MotionFileError(ValueError):
    """A file is missing, unreadable or not in the expected layout."""


def _open(path: Path, what: str) -> Any:
    if not path.is_file():
        raise MotionFileError(f'{what} {path}: file not found')
    try:
        return np.load(path)
    except (OSError, ValueError) as exc:
        raise MotionFileError(f'{what} {path}: not a NumPy .npz file ({exc})') from exc


def ee_path_names(path: str | Path) -> tuple[str, ...]:
    """The names of the paths an EE path file holds."""
    with _open(Path(path), 'EE path') as data:
        return tuple(k[:-len('_positions')] for k in data.files if k.endswith('_positions'))


def load_ee_path_npz(path: str | Path, name: str | None = None) -> tuple[WristTrajectory, str]:
    """Read one path (`name`, else the first of EE_PATH_NAMES in the file); return it and its
    name."""
    path = Path(path)
    with _open(path, 'EE path') as data:
        held = tuple(k[:-len('_positions')] for k in data.files if k.endswith('_positions'))
        if name is None:
            name = next((n for n in EE_PATH_NAMES if n in held), None)
            if name is None:
                raise MotionFileError(f'EE path {path}: no path in the robot base frame (looked '
                                      f'for {EE_PATH_NAMES}); it holds {held or "none"}')
        elif name not in held:
            raise MotionFileError(f'EE path {path}: no path {name!r}; it holds {held or "none"}')
        try:
            trajectory = WristTrajectory(
                times=data['times'], positions=data[f'{name}_positions'],
                quaternions=data[f'{name}_quaternions'],
                frame_id=str(data[f'{name}_frame_id']))
        except (KeyError, ArtifactError) as exc:
            raise MotionFileError(f'EE path {path}: path {name!r} is malformed: {exc}') from exc
    return trajectory, name


def save_ee_path_npz(path: str | Path, ee_path: WristTrajectory, name: str = 'ee') -> Path:
    """Write `ee_path` (EE targets) as path `name` in lvp_reconstruct's layout."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {
        'times': ee_path.times, f'{name}_positions': ee_path.positions,
        f'{name}_quaternions': ee_path.quaternions,
        f'{name}_frame_id': np.array(ee_path.frame_id)}
    with out.open('wb') as f:
        np.savez_compressed(f, **arrays)
    return out


def load_commands_npz(path: str | Path) -> tuple[HandCommands | None, tuple[GripperEvent, ...]]:
    """Read lvp_retarget's commands file: (Inspire commands or None, gripper events)."""
    path = Path(path)
    with _open(path, 'commands') as data:
        try:
            commands = None
            if 'normalized' in data.files and len(data['times']):
                commands = HandCommands(
                    times=data['times'], joint_names=tuple(str(n) for n in data['joint_names']),
                    joint_positions=data['joint_positions'],
                    actuator_names=tuple(str(n) for n in data['actuator_names']),
                    normalized=data['normalized'], native=data['native'])
            events = ()
            if 'gripper_event_times' in data.files:
                events = tuple(GripperEvent(float(t), GripperAction(str(a)), float(w)) for t, a, w
                               in zip(data['gripper_event_times'],
                                      data['gripper_event_actions'],
                                      data['gripper_event_widths']))
        except (KeyError, ValueError) as exc:
            raise MotionFileError(f'commands {path}: not lvp_retarget\'s layout: {exc}') from exc
    return commands, events


def save_motion_npz(path: str | Path, motion: MotionResult) -> Path:
    """Write the timed joint trajectory of `motion` and what came with it (module docstring)."""
    timed, trajectory = motion.timed, motion.trajectory
    if timed is None or trajectory is None:
        raise ValueError('save_motion_npz: the motion has no timed trajectory')
    arrays: dict[str, Any] = {
        'times': trajectory.times, 'joint_names': np.array(trajectory.joint_names),
        'positions': trajectory.positions, 'velocities': trajectory.velocities,
        'accelerations': trajectory.accelerations, 'start_positions': motion.start_joints,
        'waypoint_times': timed.waypoint_times, 'plan_times': timed.plan_times,
        'gripper_event_times': np.array([e.time for e in motion.gripper_events]),
        'gripper_event_actions': np.array([e.action.value for e in motion.gripper_events]),
        'gripper_event_widths': np.array([e.width for e in motion.gripper_events]),
    }
    commands = motion.hand_commands
    if commands is not None:
        arrays.update(hand_times=commands.times,
                      hand_actuator_names=np.array(commands.actuator_names),
                      hand_normalized=commands.normalized)
    executed = getattr(motion.execution, 'executed', None)
    if isinstance(executed, JointTrajectory):  # the sim's record of what the arm did
        arrays['executed_positions'] = executed.positions
        arrays['tracking_errors'] = motion.execution.tracking_errors
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open('wb') as f:
        np.savez_compressed(f, **{k: v for k, v in arrays.items() if v is not None})
    return out


def load_joint_trajectory_npz(path: str | Path) -> JointTrajectory:
    """Read the joint trajectory of a `save_motion_npz` file."""
    with _open(Path(path), 'motion') as data:
        return JointTrajectory(
            data['times'], tuple(str(n) for n in data['joint_names']), data['positions'],
            data['velocities'] if 'velocities' in data.files else None,
            data['accelerations'] if 'accelerations' in data.files else None)
