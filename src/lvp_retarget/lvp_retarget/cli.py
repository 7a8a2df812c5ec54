"""`lvp_retarget TRACK.npz --out commands.npz`: Inspire hand commands and gripper events.

Exit status (lvp_common.cli_exit's table): 0 ok, 1 a bad input (named), 5 retargeting failed,
64 usage error, 70 internal error (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from lvp_common.artifacts import ArtifactError, Handedness, HandTrack
from lvp_common.cli_exit import (
    CliArgumentParser,
    CliError,
    ExitCode,
    check_output_path,
    run_cli,
)

from lvp_retarget.dexterous import (
    DexterousRetargetConfig,
    DexterousRetargeter,
    RetargetError,
    RetargetingMethod,
)
from lvp_retarget.gripper import GripperRetargetConfig, GripperRetargetError, retarget_gripper
from lvp_retarget.inspire_hand import DescriptionError


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser of `lvp_retarget`."""
    d, g = DexterousRetargetConfig(), GripperRetargetConfig()
    p = CliArgumentParser(
        prog='lvp_retarget', description='Retarget a hand track (lvp_track .npz) to Inspire '
        'hand commands (radians, [0, 1] with 1 = open, native 0..1000) and Franka gripper '
        'close/open events.')
    p.add_argument('track', type=Path, help='hand track written by lvp_track (.npz)')
    p.add_argument('--out', type=Path, required=True, help='output commands (.npz)')
    p.add_argument('--method', choices=[m.value for m in RetargetingMethod],
                   default=d.method.value, help=f'optimiser (default {d.method.value})')
    p.add_argument('--urdf', default='', help='robot hand URDF (default: the shipped Inspire '
                   'hand of the track\'s side)')
    p.add_argument('--handedness', choices=('left', 'right'),
                   help='override the track\'s handedness')
    p.add_argument('--scaling-factor', type=float, default=d.scaling_factor,
                   help=f'robot/human hand size (default {d.scaling_factor})')
    p.add_argument('--max-joint-speed', type=float, default=d.max_joint_speed,
                   help=f'joint speed bound, rad/s, <= 0 off (default {d.max_joint_speed})')
    p.add_argument('--close-aperture', type=float, default=g.close_aperture,
                   help=f'gripper closes below this thumb-index gap, m (default '
                   f'{g.close_aperture})')
    p.add_argument('--open-aperture', type=float, default=g.open_aperture,
                   help=f'gripper opens above this gap, m (default {g.open_aperture})')
    return p


def load_track(path: Path) -> HandTrack:
    """Read an lvp_track .npz (lvp_hand_tracking's format); CliError naming what is wrong."""
    from lvp_hand_tracking.track_file import load_track_npz

    if not path.is_file():
        raise CliError(ExitCode.INVALID_GOAL, f'TRACK {path}: file not found')
    try:
        return load_track_npz(path)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CliError(ExitCode.INVALID_GOAL, f'TRACK {path}: not a hand track written by '
                       f'lvp_track ({type(exc).__name__}: {exc})') from exc


def run(args: argparse.Namespace) -> int:
    """Retarget the track named by `args` and write the commands file."""
    check_output_path(args.out, '--out')
    track = load_track(args.track)
    side = Handedness(args.handedness) if args.handedness else track.handedness
    try:
        config = DexterousRetargetConfig(
            method=RetargetingMethod(args.method), urdf_path=args.urdf,
            scaling_factor=args.scaling_factor, max_joint_speed=args.max_joint_speed)
        gripper_config = GripperRetargetConfig(close_aperture=args.close_aperture,
                                               open_aperture=args.open_aperture)
        retargeter = DexterousRetargeter(side, config)
    except (ValueError, OSError) as exc:  # the configs' errors, DescriptionError (--urdf)
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    commands = retargeter.retarget_sequence(track.times, track.keypoints_m)
    gripper = retarget_gripper(track.times, track.keypoints_m, gripper_config)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    partial = args.out.with_name(args.out.name + '.partial')  # complete at --out, or absent
    try:
        with partial.open('wb') as f:
            np.savez_compressed(
                f, times=commands.times, joint_names=np.array(commands.joint_names),
                joint_positions=commands.joint_positions,
                actuator_names=np.array(commands.actuator_names),
                normalized=commands.normalized, native=commands.native,
                gripper_widths=gripper.widths,
                gripper_event_times=np.array([e.time for e in gripper.events]),
                gripper_event_actions=np.array([e.action.value for e in gripper.events]),
                gripper_event_widths=np.array([e.width for e in gripper.events]))
        partial.replace(args.out)
    finally:
        partial.unlink(missing_ok=True)
    mean = commands.normalized.mean(axis=1)
    print(f'{track.num_frames} frames, {side.value} hand, {args.method}: mean command '
          f'{mean.min():.2f}..{mean.max():.2f} (1 = open); gripper events '
          f'{[(e.action.value, round(e.time, 2)) for e in gripper.events]} -> {args.out}')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line tool; return the exit status (lvp_common.cli_exit's table)."""
    return run_cli(build_parser(), argv, run, {
        RetargetError: ExitCode.RETARGET_FAILED, GripperRetargetError: ExitCode.RETARGET_FAILED,
        ArtifactError: ExitCode.RETARGET_FAILED, DescriptionError: ExitCode.INVALID_GOAL,
        OSError: ExitCode.ARCHIVE_FAILED})


if __name__ == '__main__':
    raise SystemExit(main())
