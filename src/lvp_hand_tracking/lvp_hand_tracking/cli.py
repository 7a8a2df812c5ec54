"""`lvp_track VIDEO --out track.npz --overlay overlay.mp4`: track the hand in a video file.

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
    p.add_argument('video', type=Path, help='input video file')
    p.add_argument('--out', type=Path, required=True, help='output track (.npz)')
    p.add_argument('--overlay', type=Path, help='write the video with the skeleton drawn (.mp4)')
    p.add_argument('--snapshot', type=Path,
                   help='write the overlay of the middle tracked frame as an image (.png)')
    p.add_argument('--stride', type=int, default=1, help='track every N-th frame (default 1)')
    p.add_argument('--max-frames', type=int, help='stop after this many tracked frames')
    p.add_argument('--handedness', choices=('left', 'right'),
                   help='the demonstrating hand (default: majority vote of the detector)')
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
                                     args.max_frames, intrinsics)
    save_track_npz(args.out, result)
    print(summary(result))
    print(f'track: {args.out}')

    def frames():
        return (f for _, f in iter_video_frames(args.video, args.stride, args.max_frames))

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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the hand tracker on a video file from the command line."""
    return run_cli(build_parser(), argv, run, {
        VideoReadError: ExitCode.INVALID_GOAL, NoHandFoundError: ExitCode.NO_HAND_FOUND,
        LongGapError: ExitCode.NO_HAND_FOUND, HandednessUnknownError: ExitCode.NO_HAND_FOUND,
        ModelAssetError: ExitCode.NO_HAND_FOUND, ValueError: ExitCode.INVALID_GOAL})


if __name__ == '__main__':
    sys.exit(main())
