"""`lvp_track VIDEO --out track.npz --overlay overlay.mp4`: track the hand in a video file;
`lvp_track PHOTO.jpg --out track.npz --overlay overlay.png`: find it in a still (image mode).

Exit status (lvp_common.cli_exit's table): 0 ok, 1 bad input, 3 no usable hand (none found,
a gap too long, handedness unknown, the hand model unavailable), 64 usage error, 70 internal
error (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from lvp_common.artifacts import CameraIntrinsics
from lvp_common.cli_exit import (  # before mediapipe/cv2: sets their log levels
    CliArgumentParser,
    ExitCode,
    check_output_path,
    run_cli,
)

from lvp_hand_tracking.association import AssociationConfig
from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend
from lvp_hand_tracking.model_assets import ModelAssetError
from lvp_hand_tracking.overlay import overlay_frame, overlay_frames
from lvp_hand_tracking.track_file import save_track_npz
from lvp_hand_tracking.tracker import (
    HandednessUnknownError,
    HandTracker,
    LongGapError,
    NoHandFoundError,
    TrackerConfig,
    TrackingResult,
)
from lvp_hand_tracking.video_frames import (
    VideoReadError,
    decode_note,
    iter_video_frames,
    probe_video,
    write_video_stream,
)


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser of `lvp_track`."""
    defaults, mp_defaults = TrackerConfig(), MediaPipeConfig()
    p = CliArgumentParser(
        prog='lvp_track', description='Track the acting hand in a video: 21 keypoints (2D + '
        'metric 3D), wrist orientation, handedness; writes an .npz and an overlay video.')
    p.add_argument('video', type=Path, help='input video file, or a photo (.jpg/.png/...: '
                   'tracked as one frame in MediaPipe\'s image mode)')
    p.add_argument('--out', type=Path, required=True, help='output track (.npz)')
    p.add_argument('--overlay', type=Path, help='write the video with the skeleton drawn (.mp4; '
                   'for a photo an image, .png/.jpg)')
    p.add_argument('--snapshot', type=Path,
                   help='write the overlay of the middle tracked frame as an image (.png)')
    p.add_argument('--stride', type=int, default=1, help='track every N-th frame (default 1)')
    p.add_argument('--max-frames', type=int, help='stop after this many tracked frames')
    p.add_argument('--start', '--start-s', dest='start', type=float, default=0.0,
                   help='clip window: start at this time in the video, s (default 0)')
    p.add_argument('--duration', '--duration-s', dest='duration', type=float,
                   help='clip window: this many seconds from --start (default: to the end)')
    p.add_argument('--handedness', choices=('left', 'right'),
                   help='track this hand (chosen by the detector\'s label and its position '
                   'next to the other hand; refused when it is not in the clip); default: the '
                   'hand covering the clip best, its side by the detector\'s vote')
    p.add_argument('--model', default='',
                   help='hand_landmarker.task to use (default: the cached one, built if absent)')
    p.add_argument('--num-hands', type=int, default=mp_defaults.num_hands,
                   help=f'most hands detected per frame (default {mp_defaults.num_hands})')
    p.add_argument('--max-gap-frames', type=int, default=defaults.max_gap_frames,
                   help=f'fill gaps up to this many frames (default {defaults.max_gap_frames})')
    p.add_argument('--min-detected-fraction', type=float,
                   default=defaults.min_detected_fraction,
                   help=f'fail unless the hand is found in this fraction of frames (default '
                   f'{defaults.min_detected_fraction})')
    p.add_argument('--long-gap-policy', choices=('split', 'error'),
                   default=defaults.long_gap_policy, help='what a longer gap does')
    p.add_argument('--hfov', type=float,
                   help='horizontal field of view (deg): rotate metric keypoints into camera axes')
    return p


def summary(result: TrackingResult) -> str:
    """Return a short human-readable report of a tracking result."""
    track = result.track
    lines = [f'hand: {track.handedness.value} ({result.handedness_source}), detected in '
             f'{result.frames_with_hand}/{result.num_frames} frames '
             f'({result.detected_fraction:.1%}); {result.num_hands_seen} hand tracklet(s)',
             f'track: {track.num_frames} frames, {int(track.detected.sum())} detected, '
             f'{len(result.segments)} segment(s)']
    for gap in result.gaps:
        kind = 'filled' if gap.filled else 'not filled'
        lines.append(f'gap: frames {gap.start_frame}..{gap.end_frame - 1} '
                     f'({gap.num_frames}, {kind})')
    return '\n'.join(lines)


def run(args: argparse.Namespace) -> int:
    """Track the hand in the video named by `args` and write the outputs."""
    for option, path in (('--out', args.out), ('--overlay', args.overlay),
                         ('--snapshot', args.snapshot)):
        if path is not None:
            check_output_path(path, option)
    if args.stride < 1:
        raise ValueError(f'--stride {args.stride}: must be >= 1')
    if args.hfov is not None and not 1.0 < args.hfov < 179.0:
        raise ValueError(f'--hfov {args.hfov}: expected a horizontal field of view in (1, 179) '
                         'degrees')
    if is_photo(args.video):
        return run_photo(args)
    info = probe_video(args.video)
    note = decode_note(args.video)  # refuses a video with too many corrupt frames
    if note:
        print(f'note: {note}')
    intrinsics = None
    if args.hfov is not None:
        intrinsics = CameraIntrinsics.from_fov(info.width, info.height, args.hfov)
    config = TrackerConfig(max_gap_frames=args.max_gap_frames,
                           min_detected_fraction=args.min_detected_fraction,
                           long_gap_policy=args.long_gap_policy,
                           association=AssociationConfig())
    backend = MediaPipeHandBackend(MediaPipeConfig(model_path=args.model,
                                                   num_hands=args.num_hands))
    with HandTracker(config, backend) as tracker:
        result = tracker.track_video(args.video, args.handedness, args.stride,
                                     args.max_frames, intrinsics, args.start, args.duration)
    save_track_npz(args.out, result)
    print(summary(result))
    print(f'track: {args.out}')

    def frames():
        return (f for _, f in iter_video_frames(args.video, args.stride, args.max_frames,
                                                args.start, args.duration))

    if args.overlay is not None:
        write_video_stream(args.overlay, overlay_frames(frames(), result),
                           info.fps / args.stride)
        print(f'overlay: {args.overlay}')
    if args.snapshot is not None:
        import cv2

        indices = result.track_frame_indices
        wanted = int(indices[len(indices) // 2])
        for index, frame in enumerate(frames()):
            if index == wanted:
                image = overlay_frame(frame, index, result)
                args.snapshot.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(args.snapshot), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
                break
        print(f'snapshot: {args.snapshot} (frame {wanted})')
    return 0


PHOTO_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def is_photo(path: Path) -> bool:
    """Whether `path` names a still image (by its suffix) rather than a video."""
    return path.suffix.lower() in PHOTO_SUFFIXES


def run_photo(args: argparse.Namespace) -> int:
    """Find the hand in one photo (MediaPipe image mode); write the track and the overlay."""
    import cv2
    from lvp_common.input_files import read_rgb_image

    for option in ('--overlay', '--snapshot'):
        path = getattr(args, option[2:])
        if path is not None and not is_photo(path):
            raise ValueError(f'{option} {path}: the input is a photo; write its overlay as an '
                             f'image ({", ".join(PHOTO_SUFFIXES)})')
    rgb = read_rgb_image(args.video, 'photo')
    height, width = rgb.shape[:2]
    intrinsics = (None if args.hfov is None else
                  CameraIntrinsics.from_fov(width, height, args.hfov))
    config = TrackerConfig(max_gap_frames=args.max_gap_frames,
                           min_detected_fraction=args.min_detected_fraction,
                           long_gap_policy=args.long_gap_policy)
    backend = MediaPipeHandBackend(MediaPipeConfig(model_path=args.model,
                                                   num_hands=args.num_hands,
                                                   running_mode='image'))
    with HandTracker(config, backend) as tracker:
        result = tracker.track_image(rgb, args.handedness, intrinsics)
    save_track_npz(args.out, result)
    print(summary(result))
    print(f'track: {args.out}')
    image = cv2.cvtColor(overlay_frame(rgb, 0, result), cv2.COLOR_RGB2BGR)
    for option in ('overlay', 'snapshot'):
        path = getattr(args, option)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(path), image):
                raise ValueError(f'--{option} {path}: OpenCV cannot write this image format')
            print(f'{option}: {path}')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the hand tracker on a video file from the command line."""
    return run_cli(build_parser(), argv, run, {
        VideoReadError: ExitCode.INVALID_GOAL, NoHandFoundError: ExitCode.NO_HAND_FOUND,
        LongGapError: ExitCode.NO_HAND_FOUND, HandednessUnknownError: ExitCode.NO_HAND_FOUND,
        ModelAssetError: ExitCode.NO_HAND_FOUND, ValueError: ExitCode.INVALID_GOAL})


if __name__ == '__main__':
    sys.exit(main())
