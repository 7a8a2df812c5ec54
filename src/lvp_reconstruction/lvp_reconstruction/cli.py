"""`lvp_reconstruct TRACK.npz`: metric wrist trajectory of a hand track, with a printed report.

    lvp_reconstruct track.npz [--video plan.mp4] [--intrinsics fx,fy,cx,cy | --fov DEG]
        [--depth depth.npy|depth.png] [--rgb first_frame.png]
        [--camera-to-base x,y,z,qx,qy,qz,qw] [--hand-scale S] [--palm-length M]
        [--out traj.npz] [--plot path.png]

Exit status (lvp_common.cli_exit's table): 0 ok, 1 a bad input (named), 4 reconstruction
failed, 64 usage error, 70 internal error (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from lvp_common.artifacts import ArtifactError, HandTrack
from lvp_common.cli_exit import (
    CliArgumentParser,
    ExitCode,
    check_output_path,
    run_cli,
)
from lvp_common.geometry import GeometryError
from lvp_common.input_files import (
    InputFileError,
    parse_intrinsics,
    parse_pose,
    read_depth_image,
    read_rgb_image,
)
from lvp_common.video_io import read_video
from lvp_hand_tracking.track_file import load_track_npz

from lvp_reconstruction.hand_fit import MEDIAPIPE_LANDMARK_OFFSETS_MM
from lvp_reconstruction.lifting import LIFTING_METHODS
from lvp_reconstruction.reconstruct import (
    ReconstructionConfig,
    ReconstructionResult,
    assemble_observation,
    reconstruct,
)
from lvp_reconstruction.trajectory_file import save_reconstruction_npz


class InputError(ValueError):
    """A command-line input is missing, unreadable or inconsistent with the others."""


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser of `lvp_reconstruct`."""
    defaults = ReconstructionConfig()
    p = CliArgumentParser(
        prog='lvp_reconstruct', description='Reconstruct the metric 6-DoF wrist path of a hand '
        'track (lvp_track .npz) in the camera optical frame and, with --camera-to-base, the '
        'robot base frame; print path, flags and per-frame residuals.')
    p.add_argument('track', type=Path, help='hand track written by lvp_track (.npz)')
    p.add_argument('--video', type=Path,
                   help='the video the track came from, for the camera-motion check')
    camera = p.add_mutually_exclusive_group()
    camera.add_argument('--intrinsics', metavar='FX,FY,CX,CY',
                        help='pinhole intrinsics (px) of the observation image: --rgb/--depth, '
                        'else the video; rescaled to the video by the pipeline')
    camera.add_argument('--fov', type=float, metavar='DEG',
                        help='assumed horizontal field of view (default '
                        f'{defaults.camera.default_horizontal_fov_deg:g}); flagged as assumed')
    p.add_argument('--depth', type=Path,
                   help='scene depth at planning time: .npy float metres, or a 16-bit .png in '
                   'millimetres (0 = invalid)')
    p.add_argument('--rgb', type=Path, help='scene image at planning time (colours the cloud)')
    p.add_argument('--camera-to-base', metavar='X,Y,Z,QX,QY,QZ,QW',
                   help='camera optical frame pose in the robot base frame (m, quaternion)')
    p.add_argument('--hand-scale', type=float, default=defaults.lifting.hand_scale,
                   help='multiplies the metric keypoints (1.06 undoes MediaPipe\'s shrink; '
                   f'default {defaults.lifting.hand_scale:g})')
    p.add_argument('--palm-length', type=float, metavar='M',
                   default=defaults.lifting.palm_length_m,
                   help='assumed wrist -> middle-MCP length of the demonstrator\'s hand (m), '
                   'which sets the metric scale of the whole path (depth is proportional to '
                   'it); 0 keeps the track\'s own metric hand size (default '
                   f'{defaults.lifting.palm_length_m:g})')
    p.add_argument('--lifting-method', choices=LIFTING_METHODS, default=defaults.lifting.method,
                   help='hand_model: fit the articulated hand to the clip\'s 2D keypoints; '
                   'keypoints: per-frame PnP of the track\'s metric keypoints (the fallback; '
                   f'default {defaults.lifting.method})')
    p.add_argument('--mediapipe-offsets', action='store_true',
                   help='hand_model: fit where MediaPipe put its landmarks on the rendered hand '
                   '(hand_fit.MEDIAPIPE_LANDMARK_OFFSETS_MM, measured on the Franka layout\'s '
                   'views) instead of the model\'s joint centres')
    p.add_argument('--out', type=Path, help='write the trajectories (.npz)')
    p.add_argument('--plot', type=Path, help='write a plot of the path and residuals (.png)')
    return p


def read_track(path: Path) -> tuple[HandTrack, np.ndarray | None]:
    """Return the track and, when stored, the video frame index of each of its frames."""
    if not path.is_file():
        raise InputError(f'TRACK {path}: file not found')
    try:
        track = load_track_npz(path)
        with np.load(path) as data:  # frame_indices: lvp_track --stride keeps every N-th frame
            indices = data['frame_indices'] if 'frame_indices' in data else None
    except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f'TRACK {path}: not a hand track written by lvp_track ({exc})') from exc
    return track, indices


def read_track_frames(path: Path, track: HandTrack, indices: np.ndarray | None) -> np.ndarray:
    """Return the video frames (T, H, W, 3) the track's frames came from."""
    clip = read_video(path)
    frames = clip.frames
    width, height = track.image_size
    if (frames.shape[2], frames.shape[1]) != (width, height):
        raise InputError(f'--video {path}: frames are {frames.shape[2]}x{frames.shape[1]}, the '
                         f'track is for {width}x{height}')
    if indices is None:
        indices = np.arange(track.num_frames)
    if len(indices) != track.num_frames or indices.max(initial=0) >= len(frames):
        raise InputError(f'--video {path}: has {len(frames)} frames, the track needs frames '
                         f'up to index {int(indices.max(initial=0))}')
    return frames[indices]


def summary(track_path: Path, track: HandTrack, result: ReconstructionResult) -> str:
    """Return the human-readable report: inputs, flags, path and per-frame residuals."""
    report = result.report
    intr = result.intrinsics
    lines = [f'track: {track_path} ({track.num_frames} frames, {track.times[-1]:.2f} s, '
             f'{track.handedness.value} hand, {track.image_size[0]}x{track.image_size[1]})',
             f'intrinsics: fx {intr.fx:.1f} fy {intr.fy:.1f} cx {intr.cx:.1f} cy {intr.cy:.1f}'
             + (' (ASSUMED)' if intr.assumed else '')]
    motion = report.camera_motion
    if motion is None:
        lines.append('camera motion: not checked (no --video)')
    else:
        lines.append(f'camera motion: {"MOVING" if motion.moving else "static"} (background up '
                     f'to {motion.max_displacement_px:.1f} px, {motion.max_rotation_deg:.2f} '
                     f'deg, unmeasured in {motion.unmeasured_pairs} of '
                     f'{len(motion.displacement_px) - 1} frames)')
    flags = [name for name, on in (('intrinsics assumed', report.intrinsics_assumed),
                                   ('camera moving', bool(report.camera_moving))) if on]
    lines.append(f'flags: {", ".join(flags) if flags else "none"}')
    lines.append(f'frames: {report.valid_frames}/{report.num_frames} valid (rejected: fit '
                 f'{report.rejected_fit}, depth range {report.rejected_depth_range}, behind '
                 f'the scene {report.rejected_behind_scene}); smoothing outliers '
                 f'{report.smoothing_outliers}')
    scale = report.depth_scale
    lines.append(f'hand scale: {report.hand_scale:.4f} ('
                 + ('no depth' if scale is None else 'set by scene depth' if scale.applied
                    else 'depth gave no usable scale') + ')')
    smoothed = result.wrist_base or result.wrist_camera
    length = float(np.sum(np.linalg.norm(np.diff(smoothed.positions, axis=0), axis=1)))
    extent = np.ptp(smoothed.positions, axis=0)
    lines.append(f'wrist path (smoothed, {smoothed.frame_id}): length {length:.3f} m; extent '
                 f'x {extent[0]:.3f} y {extent[1]:.3f} z {extent[2]:.3f} m')
    for name, traj in (('raw', result.wrist_camera_raw), ('smoothed', result.wrist_camera)):
        res = traj.residuals_px
        assert res is not None
        lines.append(f'residuals {name} (px per frame): median {np.median(res):.2f}, p90 '
                     f'{np.percentile(res, 90):.2f}, max {res.max():.2f} (frame '
                     f'{int(np.argmax(res))})')
    lines.extend(f'note: {m}' for m in report.messages)
    return '\n'.join(lines)


def plot_reconstruction(path: Path, result: ReconstructionResult) -> Path:
    """Write positions over time, the 3-D path and per-frame residuals as one figure."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    raw = result.wrist_base_raw or result.wrist_camera_raw
    smooth = result.wrist_base or result.wrist_camera
    t = smooth.times
    fig = plt.figure(figsize=(13, 4))
    ax = fig.add_subplot(1, 3, 1)
    for i, axis in enumerate('xyz'):
        line, = ax.plot(t, smooth.positions[:, i], label=f'{axis} smoothed')
        ax.plot(t, raw.positions[:, i], '.', color=line.get_color(), ms=3)
    invalid = ~result.valid
    if invalid.any():
        ax.plot(t[invalid], smooth.positions[invalid, 0], 'kx', label='interpolated')
    ax.set(xlabel='time (s)', ylabel=f'position in {smooth.frame_id} (m)',
           title='wrist position (dots: raw)')
    ax.legend(fontsize=7)
    ax3 = fig.add_subplot(1, 3, 2, projection='3d')
    ax3.plot(*raw.positions.T, '.', ms=2, alpha=0.5, label='raw')
    ax3.plot(*smooth.positions.T, label='smoothed')
    ax3.scatter(*smooth.positions[0], color='g', label='start')
    ax3.set(xlabel='x (m)', ylabel='y (m)', zlabel='z (m)', title=f'wrist in {smooth.frame_id}')
    ax3.legend(fontsize=7)
    ax = fig.add_subplot(1, 3, 3)
    for name, traj in (('raw', result.wrist_camera_raw), ('smoothed', result.wrist_camera)):
        assert traj.residuals_px is not None
        ax.plot(t, traj.residuals_px, label=name)
    ax.set(xlabel='time (s)', ylabel='reprojection RMS (px)', title='per-frame residuals')
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(args: argparse.Namespace) -> ReconstructionResult:
    """Load the inputs named by `args`, reconstruct, print the report and write the outputs."""
    for option, path in (('--out', args.out), ('--plot', args.plot)):
        if path is not None:
            check_output_path(path, option)
    track, indices = read_track(args.track)
    frames = read_track_frames(args.video, track, indices) if args.video else None
    rgb = read_rgb_image(args.rgb, '--rgb') if args.rgb else None
    size = None if rgb is None else (rgb.shape[1], rgb.shape[0])
    depth = read_depth_image(args.depth, '--depth', size) if args.depth else None
    intrinsics = None
    if args.intrinsics:
        image = rgb if rgb is not None else depth
        width, height = (image.shape[1], image.shape[0]) if image is not None \
            else track.image_size
        intrinsics = parse_intrinsics(args.intrinsics, int(width), int(height))
    camera_to_base = (parse_pose(args.camera_to_base, '--camera-to-base')
                      if args.camera_to_base else None)
    try:
        observation = assemble_observation(track.image_size, rgb, depth, intrinsics,
                                           camera_to_base)
    except (ArtifactError, GeometryError) as exc:
        raise InputError(f'the observation (--rgb/--depth/--intrinsics/--camera-to-base) does '
                         f'not fit the track: {exc}') from exc
    config = ReconstructionConfig()
    try:
        lifting = replace(config.lifting, hand_scale=args.hand_scale,
                          palm_length_m=args.palm_length, method=args.lifting_method)
    except ValueError as exc:
        raise InputError(f'--hand-scale {args.hand_scale} / --palm-length {args.palm_length}: '
                         f'{exc}') from exc
    config = replace(config, lifting=lifting)
    if args.mediapipe_offsets:
        config = replace(config, hand_fit=replace(config.hand_fit,
                                                  landmark_offsets_mm=MEDIAPIPE_LANDMARK_OFFSETS_MM))
    if args.fov is not None:
        if not 1.0 < args.fov < 179.0:
            raise InputError(f'--fov {args.fov}: expected a horizontal field of view in (1, 179) '
                             'degrees')
        config = replace(config, camera=replace(config.camera,
                                                default_horizontal_fov_deg=args.fov))
    result = reconstruct(track, observation, config, frames=frames)
    print(summary(args.track, track, result))
    if args.out is not None:
        print(f'trajectory: {save_reconstruction_npz(args.out, result)}')
    if args.plot is not None:
        print(f'plot: {plot_reconstruction(args.plot, result)}')
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Reconstruct the wrist trajectory of a track file from the command line."""
    # input errors first: every reconstruction error is a ValueError as well
    def body(args: argparse.Namespace) -> int:
        run(args)
        return 0

    return run_cli(build_parser(), argv, body, {
        InputError: ExitCode.INVALID_GOAL, InputFileError: ExitCode.INVALID_GOAL,
        OSError: ExitCode.INVALID_GOAL, ValueError: ExitCode.RECONSTRUCTION_FAILED})


if __name__ == '__main__':
    sys.exit(main())
