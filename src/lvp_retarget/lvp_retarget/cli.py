"""`lvp_retarget TRACK.npz --out commands.npz`: Inspire hand commands and gripper events."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from lvp_common.artifacts import ArtifactError, Handedness, HandTrack

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
    p = argparse.ArgumentParser(
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
    """Read an lvp_track .npz (lvp_hand_tracking's format)."""
    from lvp_hand_tracking.track_file import load_track_npz

    return load_track_npz(path)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line tool; return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        track = load_track(args.track)
        side = Handedness(args.handedness) if args.handedness else track.handedness
        config = DexterousRetargetConfig(
            method=RetargetingMethod(args.method), urdf_path=args.urdf,
            scaling_factor=args.scaling_factor, max_joint_speed=args.max_joint_speed)
        commands = DexterousRetargeter(side, config).retarget_sequence(track.times,
                                                                       track.keypoints_m)
        gripper = retarget_gripper(track.times, track.keypoints_m, GripperRetargetConfig(
            close_aperture=args.close_aperture, open_aperture=args.open_aperture))
    except (OSError, KeyError, ArtifactError, RetargetError, GripperRetargetError,
            DescriptionError) as exc:
        print(f'lvp_retarget: {exc}', file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open('wb') as f:
        np.savez_compressed(
            f, times=commands.times, joint_names=np.array(commands.joint_names),
            joint_positions=commands.joint_positions,
            actuator_names=np.array(commands.actuator_names), normalized=commands.normalized,
            native=commands.native, gripper_widths=gripper.widths,
            gripper_event_times=np.array([e.time for e in gripper.events]),
            gripper_event_actions=np.array([e.action.value for e in gripper.events]),
            gripper_event_widths=np.array([e.width for e in gripper.events]))
    mean = commands.normalized.mean(axis=1)
    print(f'{track.num_frames} frames, {side.value} hand, {args.method}: mean command '
          f'{mean.min():.2f}..{mean.max():.2f} (1 = open); gripper events '
          f'{[(e.action.value, round(e.time, 2)) for e in gripper.events]} -> {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
