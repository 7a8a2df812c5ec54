"""The dataset builder: clips cut from real and rendered videos, cached features, bad items."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from lvp_common.video_io import fit_to_size, read_video, write_video
from lvp_planner.dataset import (
    BuildConfig,
    DatasetError,
    LatentClipDataset,
    build_dataset,
    hand_and_camera_filter,
    read_manifest,
    summarize_report,
)
from lvp_planner.dataset_cli import main as dataset_main
from lvp_planner.sampler import SamplerConfig, VideoPlanner
from lvp_planner.tiny_models import build_tiny_models, save_wan_dir

GESTURE = (Path(__file__).resolve().parents[3] / '..' / 'shared' / 'data' / 'hand_video'
           / 'gesture_1280x720_30fps.mp4').resolve()
needs_gesture = pytest.mark.skipif(not GESTURE.is_file(),
                                   reason=f'test video not present: {GESTURE}')


def tiny_planner(width: int = 48, height: int = 32, num_frames: int = 9) -> VideoPlanner:
    config = SamplerConfig(num_frames=num_frames, height=height, width=width, max_text_tokens=8,
                           device='cpu', dtype='float32', model_name='tiny')
    return VideoPlanner(build_tiny_models(seed=0), config)


def write_manifest(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open('w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=['video', 'start', 'end', 'caption', 'source'])
        writer.writeheader()
        writer.writerows(rows)
    return path


@needs_gesture
def test_gesture_clip_and_bad_items(tmp_path: Path) -> None:
    (tmp_path / 'broken.mp4').write_bytes(b'not a video at all')
    manifest = write_manifest(tmp_path / 'clips.csv', [
        {'video': str(GESTURE), 'start': 1.0, 'end': 3.0, 'caption': 'open the hand',
         'source': 'gesture'},
        {'video': 'broken.mp4', 'caption': 'pick up the cup'},
        {'video': str(GESTURE), 'start': 0.0, 'end': 0.3, 'caption': 'too short'},
        {'video': str(GESTURE), 'start': 0.0, 'end': 2.0, 'caption': ''},
    ])
    config = BuildConfig(num_frames=9, width=48, height=32, shard_clips=2,
                         feature_dtype='float32')
    planner = tiny_planner()
    index = build_dataset(manifest, tmp_path / 'data', planner, config)

    # 2 s at 16 fps = 32 frames -> three 9-frame clips, the rest dropped
    assert [c['id'] for c in index['clips']] == ['l00002_f000000', 'l00002_f000009',
                                                 'l00002_f000018']
    assert [c['start_s'] for c in index['clips']] == [1.0, 1.5625, 2.125]
    assert sorted(p.name for p in (tmp_path / 'data').glob('shard-*')) == [
        'shard-00000.safetensors', 'shard-00001.safetensors']
    errors = {r['line']: r['error'] for r in index['report']}
    assert errors[2] == ''
    assert errors[3].startswith('unreadable:') and 'broken.mp4' in errors[3]
    assert errors[4].startswith('too short: 5 frames')
    assert errors[5] == 'line 5: no caption for ' + str(GESTURE)
    assert 'SKIPPED (too short' in '\n'.join(summarize_report(index))

    data = LatentClipDataset(tmp_path / 'data')
    assert len(data) == 3
    item = data[1]
    assert item['latents'].shape == (16, 3, 4, 6)
    assert item['text'].shape == (8, 16) and item['clip'].shape == (5, 12)
    # the cached features are the planner's own encodings of the clip
    video = read_video(GESTURE, 16.0, (48, 32), 1.0, 2.0).frames
    clip = video[9:18]
    torch.testing.assert_close(item['latents'], planner.encode_frames(clip)[0])
    torch.testing.assert_close(item['clip'], planner.encode_clip(clip[0])[0])
    torch.testing.assert_close(item['text'], planner.encode_text(['open the hand'])[0])
    written = read_video(tmp_path / 'data' / 'clips' / 'l00002_f000009.mp4')
    assert written.frames.shape == (9, 32, 48, 3) and written.fps == 16.0

    with pytest.raises(DatasetError, match='already holds a dataset'):
        build_dataset(manifest, tmp_path / 'data', planner, config)


def test_rendered_sim_clips_49_frames(tmp_path: Path) -> None:
    from lvp_sim.demonstrations import TASK_PROMPTS, DemonstrationConfig, render_demonstration

    rows = []
    for seed, task in enumerate(('press', 'push')):
        demo = render_demonstration(DemonstrationConfig(task=task, seed=seed, num_frames=60))
        write_video(tmp_path / f'{task}.mp4', demo.plan.frames, demo.plan.fps)
        rows.append({'video': f'{task}.mp4', 'caption': TASK_PROMPTS[task], 'source': 'lvp_sim'})
    manifest = tmp_path / 'clips.jsonl'
    manifest.write_text(''.join(json.dumps(r) + '\n' for r in rows))
    config = BuildConfig(width=48, height=32, write_clips=False)
    index = build_dataset(manifest, tmp_path / 'data', tiny_planner(num_frames=49), config)
    assert [c['caption'] for c in index['clips']] == [TASK_PROMPTS['press'],
                                                      TASK_PROMPTS['push']]
    assert index['config']['fps'] == 16.0 and index['latent_shape'] == [16, 13, 4, 6]
    assert all(c['end_s'] - c['start_s'] == pytest.approx(49 / 16) for c in index['clips'])
    data = LatentClipDataset(tmp_path / 'data')
    assert data.batch([0, 1])['latents'].shape == (2, 16, 13, 4, 6)
    assert not (tmp_path / 'data' / 'clips').exists()


@needs_gesture
def test_hand_and_camera_filters() -> None:
    from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration

    config = BuildConfig(num_frames=9, width=640, height=384, require_hand=True,
                         max_camera_motion_px=3.0)
    # the camera check needs this size: at 320x192 the partition has too few corners
    wide = read_video(GESTURE, 16.0, (720, 432), 4.0, 0.6).frames[:9]
    assert hand_and_camera_filter(wide[:, 24:408, 40:680], config) == ''
    # the same hand filmed by a camera panning 4 px a frame
    pan = np.stack([f[24:408, 4 * i:4 * i + 640] for i, f in enumerate(wide)])
    assert hand_and_camera_filter(pan, config).startswith('camera moves 32.')
    # the scene without the hand, held still: no hand to track
    demo = render_demonstration(DemonstrationConfig(num_frames=8))
    still = np.repeat(fit_to_size(demo.observation.rgb, 640, 384)[None], 9, axis=0)
    assert hand_and_camera_filter(still, config).startswith('no hand: ')


def test_manifest_errors(tmp_path: Path) -> None:
    bad = tmp_path / 'bad.csv'
    bad.write_text('path,text\nx.mp4,hello\n')
    with pytest.raises(DatasetError, match=r"missing \['video', 'caption'\]"):
        read_manifest(bad)
    rows = tmp_path / 'rows.csv'
    write_manifest(rows, [{'video': 'a.mp4', 'start': 'soon', 'caption': 'x'},
                          {'video': 'a.mp4', 'start': 2, 'end': 1, 'caption': 'x'},
                          {'video': 'a.mp4', 'caption': 'ok'}])
    items, reports = read_manifest(rows)
    assert [i.line for i in items] == [4]
    assert [r.error for r in reports] == ["line 2: start must be seconds, got 'soon'",
                                          'line 3: end 1.0 s is not after start 2.0 s']


def test_cli_bad_input_and_success(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    wan = save_wan_dir(build_tiny_models(seed=0), tmp_path / 'wan')
    frames = np.random.default_rng(0).integers(0, 255, (20, 32, 48, 3), dtype=np.uint8)
    write_video(tmp_path / 'noise.mp4', frames, 16.0)
    manifest = write_manifest(tmp_path / 'm.csv', [{'video': 'noise.mp4', 'caption': 'push'}])
    common = ['--manifest', str(manifest), '--wan-dir', str(wan), '--width', '48',
              '--height', '32', '--num-frames', '9', '--max-text-tokens', '8', '--device', 'cpu']
    assert dataset_main([*common, '--out', str(tmp_path / 'd'), '--num-frames', '8']) == 1
    assert 'num_frames must be 4 n + 1' in capsys.readouterr().err
    missing = ['--manifest', str(tmp_path / 'none.csv'), *common[2:]]
    assert dataset_main([*missing, '--wan-dir', str(tmp_path), '--out', str(tmp_path / 'd')]) == 1
    assert f'manifest not found: {tmp_path / "none.csv"}' in capsys.readouterr().err
    assert dataset_main([*common, '--out', str(tmp_path / 'd')]) == 0
    out = capsys.readouterr().out
    assert 'line 2 noise.mp4: 2 kept, 0 dropped' in out and '2 clip(s) in 1 item(s)' in out
    short = write_manifest(tmp_path / 's.csv', [{'video': 'noise.mp4', 'end': 0.2,
                                                  'caption': 'push'}])
    common[1] = str(short)
    assert dataset_main([*common, '--out', str(tmp_path / 'e')]) == 1
    assert 'no clip kept' in capsys.readouterr().err
    # the hand filter drops both noise clips (real MediaPipe through build_dataset)
    common[1] = str(manifest)
    assert dataset_main([*common, '--out', str(tmp_path / 'f'), '--require-hand']) == 1
    out = capsys.readouterr().out
    assert 'line 2 noise.mp4: 0 kept, 2 dropped' in out
    assert 'dropped l00002_f000000: no hand' in out
