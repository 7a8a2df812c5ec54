import numpy as np
import pytest
from lvp_common.video_io import VideoReadError, fit_to_size, read_video, write_video


def test_fit_to_size_crops_without_distortion():
    frame = np.zeros((720, 1280, 3), np.uint8)
    frame[:, :100] = 255  # a bar at the left edge, cropped away by the centre crop
    out = fit_to_size(frame, 480, 480)
    assert out.shape == (480, 480, 3)
    assert out.max() == 0


def test_read_video_resamples_to_the_asked_rate(tmp_path):
    # 30 frames at 30 fps whose brightness encodes the frame index
    frames = np.repeat(np.arange(30, dtype=np.uint8)[:, None, None, None] * 8, 16, axis=1)
    frames = np.repeat(np.repeat(frames, 16, axis=2), 3, axis=3)
    path = write_video(tmp_path / 'ramp.mp4', frames, 30.0)
    clip = read_video(path, fps=10.0)
    assert clip.frames.shape[0] == 10 and clip.fps == 10.0 and clip.source_fps == 30.0
    # output frame k shows source frame 3k
    np.testing.assert_allclose(clip.frames[:, 8, 8, 0].astype(float), np.arange(10) * 24,
                               atol=6)
    part = read_video(path, fps=30.0, start_s=0.5, duration_s=0.2, size=(8, 8))
    assert part.frames.shape == (6, 8, 8, 3)
    assert abs(int(part.frames[0, 4, 4, 0]) - 15 * 8) <= 6


def test_read_video_errors_name_the_file(tmp_path):
    with pytest.raises(VideoReadError, match='not found'):
        read_video(tmp_path / 'missing.mp4')
    junk = tmp_path / 'junk.mp4'
    junk.write_bytes(b'not a video')
    with pytest.raises(VideoReadError, match='junk.mp4'):
        read_video(junk)
