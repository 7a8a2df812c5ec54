"""`lvp_dataset`: cut captioned clips from a manifest and cache their features for fine-tuning.

    lvp_dataset --manifest clips.csv --wan-dir Wan2.1-I2V-14B-480P-Diffusers --out data/lab \\
        [--require-hand] [--max-camera-motion-px 8]

The manifest is a CSV with the header `video,start,end,caption,source` (or JSON Lines with those
keys); start/end in seconds may be empty. Prints what was kept and dropped per item.
Exit status (lvp_common.cli_exit's table): 0 ok (even if some items were skipped), 1 bad input
(manifest, options, or no clip kept at all), 2 the encoders could not be loaded, 11 the
dataset could not be written, 64 usage error, 70 internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lvp_common.cli_exit import (  # before torch/diffusers: sets their log levels
    CliArgumentParser,
    CliError,
    ExitCode,
    check_output_path,
    run_cli,
)

from lvp_planner.checkpoint import CheckpointError, load_planner_models
from lvp_planner.dataset import (
    BuildConfig,
    DatasetError,
    build_dataset,
    read_manifest,
    summarize_report,
)
from lvp_planner.models import resolve_device, resolve_dtype
from lvp_planner.sampler import SamplerConfig, VideoPlanner


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line (defaults are BuildConfig's)."""
    d = BuildConfig()
    p = CliArgumentParser(prog='lvp_dataset', description=(__doc__ or '').splitlines()[0])
    p.add_argument('--manifest', required=True,
                   help='CSV or JSONL: video,start,end,caption,source')
    p.add_argument('--wan-dir', required=True,
                   help='Wan 2.1 I2V diffusers folder (its VAE, umT5 and CLIP encode the clips)')
    p.add_argument('--out', required=True, help='new dataset folder')
    p.add_argument('--num-frames', type=int, default=d.num_frames)
    p.add_argument('--fps', type=float, default=d.fps)
    p.add_argument('--width', type=int, default=d.width)
    p.add_argument('--height', type=int, default=d.height)
    p.add_argument('--max-clips-per-item', type=int, default=None)
    p.add_argument('--require-hand', action='store_true',
                   help=f'keep clips where the tracker sees a hand in >= --min-hand-fraction '
                        f'(default {d.min_hand_fraction}) of the frames')
    p.add_argument('--min-hand-fraction', type=float, default=d.min_hand_fraction)
    p.add_argument('--max-camera-motion-px', type=float, default=None,
                   help='drop clips whose background moves more than this (pixels)')
    p.add_argument('--shard-clips', type=int, default=d.shard_clips)
    p.add_argument('--feature-dtype', default=d.feature_dtype)
    p.add_argument('--no-clip-videos', action='store_true', help='do not write clips/<id>.mp4')
    p.add_argument('--max-text-tokens', type=int, default=SamplerConfig.max_text_tokens)
    p.add_argument('--device', default='auto')
    p.add_argument('--dtype', default='auto')
    return p


def run(args: argparse.Namespace) -> int:
    """Check the inputs, load the encoders and build the dataset."""
    check_output_path(args.out, '--out', kind='dir')
    try:
        config = BuildConfig(
            num_frames=args.num_frames, fps=args.fps, width=args.width, height=args.height,
            max_clips_per_item=args.max_clips_per_item, require_hand=args.require_hand,
            min_hand_fraction=args.min_hand_fraction,
            max_camera_motion_px=args.max_camera_motion_px, shard_clips=args.shard_clips,
            feature_dtype=args.feature_dtype, write_clips=not args.no_clip_videos)
        sampler = SamplerConfig(num_frames=args.num_frames, height=args.height, width=args.width,
                                fps=args.fps, device=args.device, dtype=args.dtype,
                                max_text_tokens=args.max_text_tokens)
        read_manifest(args.manifest)  # a missing or header-less manifest fails before loading
    except ValueError as exc:  # BuildConfig, SamplerConfig, DatasetError
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    try:
        device = resolve_device(sampler.device)
        models = load_planner_models(args.wan_dir, dtype=resolve_dtype(sampler.dtype, device))
    except CheckpointError as exc:
        raise CliError(ExitCode.PLANNER_FAILED, str(exc)) from exc
    planner = VideoPlanner(models, sampler)
    try:
        index = build_dataset(args.manifest, args.out, planner, config,
                              progress=lambda text: print(text, file=sys.stderr))
    except DatasetError as exc:
        raise CliError(ExitCode.INVALID_GOAL, str(exc)) from exc
    except OSError as exc:
        raise CliError(ExitCode.ARCHIVE_FAILED, f'cannot write {args.out}: {exc}') from exc
    for line in summarize_report(index):
        print(line)
    if not index['clips']:
        raise CliError(ExitCode.INVALID_GOAL, f'no clip kept from {args.manifest} (see above)')
    print(f'wrote {args.out}')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status (lvp_common.cli_exit's table)."""
    return run_cli(build_parser(), argv, run)


if __name__ == '__main__':
    sys.exit(main())
