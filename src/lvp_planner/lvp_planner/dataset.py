"""Fine-tuning data: cut captioned clips from videos and cache their encoder features on disk.

A manifest (CSV with a header, or JSON Lines) lists items: `video` (path, relative to the
manifest's folder), optional `start`/`end` (seconds), `caption`, optional `source`. Each item is
read at the plan rate and fitted to the plan size by lvp_common's fit_to_size (the planner's
rule: scale to cover, centre-crop) and cut into consecutive non-overlapping clips of
`num_frames` frames. Optional filters keep a clip only when the hand tracker follows a hand
through it and the reconstruction's background check finds a static camera.

Each kept clip is encoded once, with the planner's own encoders (VideoPlanner.encode_frames,
encode_text, encode_clip): normalised VAE latents (16, F, h, w), the caption's umT5 features
(only its real tokens: the sampler zeroes the padding anyway) and the CLIP features of the clip's
first frame. They go to safetensors shards; `index.json` names every clip, its shard and its
origin, and the build report (what was kept, what was dropped and why, item by item).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lvp_common.video_io import VideoReadError, read_video, write_video
from safetensors import safe_open
from safetensors.torch import save_file

from lvp_planner.sampler import VideoPlanner

INDEX_FILE = 'index.json'
FORMAT_VERSION = 1
MANIFEST_FIELDS = ('video', 'start', 'end', 'caption', 'source')


class DatasetError(ValueError):
    """A manifest, dataset folder or build setting is unusable; the message names it."""


@dataclass(frozen=True)
class ManifestItem:
    """One manifest row: a video range and its caption (end None = to the end of the video)."""

    line: int
    video: Path
    caption: str
    start: float = 0.0
    end: float | None = None
    source: str = ''


@dataclass(frozen=True)
class BuildConfig:
    """Clip geometry, filters and storage of a dataset build.

    num_frames/fps/width/height: the clip (the planner's 49 frames at 16 fps, 832x480).
    max_clips_per_item: cut at most this many clips from one item (None: all that fit).
    require_hand: keep a clip only when the tracker detects a hand in at least
    min_hand_fraction of its frames. max_camera_motion_px: keep a clip only when the background
    moves by at most this many pixels (None: no camera check; it uses the tracker's hand mask).
    shard_clips: clips per safetensors shard. feature_dtype: dtype of the stored features.
    write_clips: also write each kept clip as clips/<id>.mp4 (to look at, not used in training).
    """

    num_frames: int = 49
    fps: float = 16.0
    width: int = 832
    height: int = 480
    max_clips_per_item: int | None = None
    require_hand: bool = False
    min_hand_fraction: float = 0.8
    max_camera_motion_px: float | None = None
    shard_clips: int = 64
    feature_dtype: str = 'bfloat16'
    write_clips: bool = True

    def __post_init__(self) -> None:
        if self.num_frames < 5 or (self.num_frames - 1) % 4:
            raise DatasetError(f'num_frames must be 4 n + 1 >= 5, got {self.num_frames}')
        if not self.fps > 0:
            raise DatasetError(f'fps must be positive, got {self.fps}')
        if self.width % 16 or self.height % 16 or self.width <= 0 or self.height <= 0:
            raise DatasetError(f'clip size must be positive multiples of 16, got '
                               f'{self.width}x{self.height}')
        if self.max_clips_per_item is not None and self.max_clips_per_item < 1:
            raise DatasetError(f'max_clips_per_item must be >= 1, got {self.max_clips_per_item}')
        if not 0.0 < self.min_hand_fraction <= 1.0:
            raise DatasetError(f'min_hand_fraction must lie in (0, 1], got '
                               f'{self.min_hand_fraction}')
        if self.shard_clips < 1:
            raise DatasetError(f'shard_clips must be >= 1, got {self.shard_clips}')
        if self.feature_dtype not in _STORE_DTYPES:
            raise DatasetError(f'feature_dtype must be one of {sorted(_STORE_DTYPES)}, got '
                               f'{self.feature_dtype!r}')


_STORE_DTYPES = {'float32': torch.float32, 'bfloat16': torch.bfloat16,
                 'float16': torch.float16}


@dataclass
class ItemReport:
    """What became of one manifest item: clips kept and dropped (with reasons), or its error."""

    line: int
    video: str
    kept: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    error: str = ''


def read_manifest(path: str | Path) -> tuple[list[ManifestItem], list[ItemReport]]:
    """Parse a CSV/JSONL manifest; return the usable items and a report for each bad row."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f'manifest not found: {path}')
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f'cannot read manifest {path}: {exc}') from exc
    rows: list[tuple[int, Any]] = []
    if path.suffix in ('.jsonl', '.json'):
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as exc:
                    rows.append((number, f'not JSON: {exc}'))
    else:
        reader = csv.DictReader(text.splitlines())
        missing = [f for f in ('video', 'caption') if f not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f'manifest {path}: the header must name video and caption '
                               f'(columns: {", ".join(MANIFEST_FIELDS)}); missing {missing}')
        rows = [(number, row) for number, row in enumerate(reader, 2)]
    items, bad = [], []
    for number, row in rows:
        try:
            items.append(_item(number, row, path.parent))
        except DatasetError as exc:
            video = str(row.get('video', '')) if isinstance(row, dict) else ''
            bad.append(ItemReport(number, video, error=str(exc)))
    return items, bad


def _item(line: int, row: Any, root: Path) -> ManifestItem:
    if not isinstance(row, dict):
        raise DatasetError(f'line {line}: {row}')
    video = str(row.get('video') or '').strip()
    caption = ' '.join(str(row.get('caption') or '').split())
    if not video:
        raise DatasetError(f'line {line}: no video')
    if not caption:
        raise DatasetError(f'line {line}: no caption for {video}')

    def seconds(name: str) -> float | None:
        value = row.get(name)
        if value in (None, ''):
            return None
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise DatasetError(f'line {line}: {name} must be seconds, got {value!r}') from None
        if not np.isfinite(out) or out < 0:
            raise DatasetError(f'line {line}: {name} must be >= 0 seconds, got {value!r}')
        return out

    start, end = seconds('start') or 0.0, seconds('end')
    if end is not None and end <= start:
        raise DatasetError(f'line {line}: end {end} s is not after start {start} s')
    path = Path(video)
    return ManifestItem(line, path if path.is_absolute() else root / path, caption, start, end,
                        str(row.get('source') or ''))


ClipFilter = Callable[[np.ndarray, BuildConfig], str]
"""Return '' to keep a clip (T, H, W, 3), else the reason to drop it."""


def hand_and_camera_filter(clip: np.ndarray, config: BuildConfig) -> str:
    """Drop a clip without a tracked hand or with a moving camera, as `config` asks."""
    from lvp_common.artifacts import CameraIntrinsics
    from lvp_hand_tracking.tracker import HandTracker, NoHandFoundError
    from lvp_reconstruction.camera_motion import estimate_camera_motion

    times = np.arange(len(clip)) / config.fps
    size = (clip.shape[2], clip.shape[1])
    with HandTracker() as tracker:
        try:
            result = tracker.track_frames(clip, times, size)
        except NoHandFoundError as exc:
            return f'no hand: {exc}'
    if config.require_hand and result.detected_fraction < config.min_hand_fraction:
        return (f'hand in {result.detected_fraction:.0%} of frames '
                f'(< {config.min_hand_fraction:.0%})')
    if config.max_camera_motion_px is None:
        return ''
    # every frame needs a hand mask: frames outside the track take the nearest tracked one
    indices = result.track_frame_indices
    nearest = np.abs(np.arange(len(clip))[:, None] - indices[None, :]).argmin(axis=1)
    keypoints = result.track.keypoints_px[nearest]
    intrinsics = CameraIntrinsics.from_fov(size[0], size[1], 60.0)
    motion = estimate_camera_motion(clip, keypoints, intrinsics)
    if motion.unmeasured_pairs > (len(clip) - 1) // 2:
        # too little background texture to tell: a static verdict would be a guess
        return (f'camera motion not measurable in {motion.unmeasured_pairs} of '
                f'{len(clip) - 1} frames')
    moved = motion.max_displacement_px
    if moved > config.max_camera_motion_px:
        return f'camera moves {moved:.1f} px (> {config.max_camera_motion_px:g})'
    return ''


def cut_clips(frames: np.ndarray, config: BuildConfig) -> list[tuple[int, np.ndarray]]:
    """Split frames into consecutive clips of num_frames: (first frame index, clip) each."""
    n = len(frames) // config.num_frames
    if config.max_clips_per_item is not None:
        n = min(n, config.max_clips_per_item)
    return [(i * config.num_frames, frames[i * config.num_frames:(i + 1) * config.num_frames])
            for i in range(n)]


def build_dataset(manifest: str | Path, out: str | Path, planner: VideoPlanner,
                  config: BuildConfig | None = None, clip_filter: ClipFilter | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the feature dataset of `manifest` into `out`; return the index (also on disk).

    planner supplies the encoders; its size must be the config's. Bad items are reported and
    skipped. clip_filter defaults to hand_and_camera_filter when a filter is asked for.
    """
    config = config or BuildConfig()
    pc = planner.config
    if (pc.width, pc.height) != (config.width, config.height):
        raise DatasetError(f'the encoders are set up for {pc.width}x{pc.height}, the dataset '
                           f'for {config.width}x{config.height}')
    if clip_filter is None and (config.require_hand or config.max_camera_motion_px is not None):
        clip_filter = hand_and_camera_filter
    items, reports = read_manifest(manifest)
    out = Path(out)
    if (out / INDEX_FILE).exists():
        raise DatasetError(f'{out} already holds a dataset ({INDEX_FILE}); choose a new folder')
    out.mkdir(parents=True, exist_ok=True)
    store = _STORE_DTYPES[config.feature_dtype]
    writer = _ShardWriter(out, config.shard_clips)
    clips: list[dict[str, Any]] = []
    text_cache: dict[str, torch.Tensor] = {}
    for item in items:
        report = ItemReport(item.line, str(item.video))
        reports.append(report)
        if progress is not None:
            progress(f'line {item.line}: {item.video.name}')
        duration = None if item.end is None else item.end - item.start
        try:
            video = read_video(item.video, config.fps, (config.width, config.height),
                               item.start, duration)
        except VideoReadError as exc:
            report.error = f'unreadable: {exc}'
            continue
        pieces = cut_clips(video.frames, config)
        if not pieces:
            report.error = (f'too short: {len(video.frames)} frames at {config.fps:g} fps, a '
                            f'clip needs {config.num_frames}')
            continue
        for first, clip in pieces:
            clip_id = f'l{item.line:05d}_f{first:06d}'
            reason = clip_filter(clip, config) if clip_filter is not None else ''
            if reason:
                report.dropped.append(f'{clip_id}: {reason}')
                continue
            if item.caption not in text_cache:
                text = planner.encode_text([item.caption])[0]
                tokens = _real_tokens(planner, item.caption)
                text_cache[item.caption] = text[:tokens].float().cpu()
            tensors = {
                'latents': planner.encode_frames(clip)[0].cpu(),
                'text': text_cache[item.caption],
                'clip': planner.encode_clip(clip[0])[0].float().cpu(),
            }
            shard = writer.add(clip_id, {k: v.to(store).clone() for k, v in tensors.items()})
            if config.write_clips:
                write_video(out / 'clips' / f'{clip_id}.mp4', clip, config.fps)
            start_s = item.start + first / config.fps
            clips.append({'id': clip_id, 'shard': shard, 'video': str(item.video),
                          'start_s': round(start_s, 4),
                          'end_s': round(start_s + config.num_frames / config.fps, 4),
                          'caption': item.caption, 'source': item.source,
                          'text_tokens': int(tensors['text'].shape[0])})
            report.kept.append(clip_id)
    writer.close()
    reports.sort(key=lambda r: r.line)
    latent_shape = [16, (config.num_frames - 1) // 4 + 1, config.height // 8, config.width // 8]
    index = {
        'format': FORMAT_VERSION,
        'config': asdict(config),
        'latent_shape': latent_shape,
        'max_text_tokens': pc.max_text_tokens,
        'clips': clips,
        'report': [asdict(r) for r in reports],
    }
    (out / INDEX_FILE).write_text(json.dumps(index, indent=1))
    return index


def _real_tokens(planner: VideoPlanner, caption: str) -> int:
    """Count the caption's tokens the text encoder reads (the rest of its 512 are padding)."""
    tok: Any = planner.models.tokenizer
    ids = tok(caption, add_special_tokens=True, truncation=True,
              max_length=planner.config.max_text_tokens)['input_ids']
    return len(ids)


class _ShardWriter:
    """Collect clips' tensors and write them as shard-NNNNN.safetensors, `size` clips a file."""

    def __init__(self, root: Path, size: int) -> None:
        self.root, self.size = root, size
        self.pending: dict[str, torch.Tensor] = {}
        self.count, self.shard = 0, 0

    def add(self, clip_id: str, tensors: dict[str, torch.Tensor]) -> str:
        name = f'shard-{self.shard:05d}.safetensors'
        self.pending.update({f'{clip_id}.{k}': v for k, v in tensors.items()})
        self.count += 1
        if self.count == self.size:
            self.close()
        return name

    def close(self) -> None:
        if self.pending:
            name = self.root / f'shard-{self.shard:05d}.safetensors'
            partial = name.with_suffix('.partial')
            save_file(self.pending, str(partial))
            partial.replace(name)
            self.shard += 1
        self.pending, self.count = {}, 0


def summarize_report(index: dict[str, Any]) -> list[str]:
    """One line per manifest item and a total: kept clips, dropped clips with reasons, errors."""
    lines = []
    for r in index['report']:
        head = f'line {r["line"]} {Path(r["video"]).name or "(no video)"}: '
        if r['error']:
            lines.append(head + f'SKIPPED ({r["error"]})')
            continue
        lines.append(head + f'{len(r["kept"])} kept, {len(r["dropped"])} dropped')
        lines.extend(f'  dropped {reason}' for reason in r['dropped'])
    lines.append(f'{len(index["clips"])} clip(s) in {len(index["report"])} item(s)')
    return lines


def load_index(root: str | Path) -> dict[str, Any]:
    """Read and check a dataset folder's index.json."""
    path = Path(root) / INDEX_FILE
    if not path.is_file():
        raise DatasetError(f'not a dataset folder (no {INDEX_FILE}): {root}')
    index = json.loads(path.read_text())
    if index.get('format') != FORMAT_VERSION:
        raise DatasetError(f'{path}: format {index.get("format")!r}, expected {FORMAT_VERSION}')
    if not index['clips']:
        raise DatasetError(f'{path}: the dataset holds no clip')
    return index


class LatentClipDataset(torch.utils.data.Dataset):
    """The cached features of a dataset folder, as float32 tensors per clip.

    Item: latents (16, F, h, w), text (max_text_tokens, D) zero-padded like the sampler's
    encode_text output, clip (tokens, C).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.index = load_index(self.root)
        self.clips: list[dict[str, Any]] = self.index['clips']
        self.max_text_tokens = int(self.index['max_text_tokens'])

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        meta = self.clips[i]
        with safe_open(str(self.root / meta['shard']), framework='pt') as f:
            out = {k: f.get_tensor(f'{meta["id"]}.{k}').float()
                   for k in ('latents', 'text', 'clip')}
        text = out['text']
        padded = text.new_zeros(self.max_text_tokens, text.shape[1])
        padded[:len(text)] = text
        out['text'] = padded
        return out

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """Stack the items at `indices` into a batch."""
        items = [self[i] for i in indices]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}

