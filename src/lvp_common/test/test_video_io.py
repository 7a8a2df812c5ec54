import numpy as np
import pytest
from lvp_common.video_io import (
    MAX_CORRUPT_FRACTION,
    DecodeCheck,
    VideoReadError,
    check_video_decoding,
    fit_to_size,
    read_video,
    write_video,
)


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


def write_corrupt_video(path, chunks: int, seed: int = 0):
    """A 30-frame H.264 clip with `chunks` runs of 3 kB of random bytes written over it."""
    rng = np.random.default_rng(seed)
    write_video(path, (rng.integers(0, 4, (30, 96, 128, 3)) * 64).astype(np.uint8), 16.0)
    data = bytearray(path.read_bytes())
    for k in range(1, chunks + 1):
        start = len(data) * k // (chunks + 2)
        data[start:start + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def test_decode_errors_are_counted_noted_and_refused_above_the_threshold(tmp_path):
    clean = write_corrupt_video(tmp_path / 'clean.mp4', 0)
    assert check_video_decoding(clean) == DecodeCheck(packets=30, corrupt_frames=0)
    assert read_video(clean).decode_note == ''
    one = write_corrupt_video(tmp_path / 'one.mp4', 1)
    check = check_video_decoding(one)
    assert 1 <= check.corrupt_frames <= 2 and check.corrupt_fraction < MAX_CORRUPT_FRACTION
    clip = read_video(one)
    assert len(clip.frames) == 30
    assert clip.decode_note.startswith(f'video {one}: {check.corrupt_frames} of 30 frames failed')
    many = write_corrupt_video(tmp_path / 'many.mp4', 7)
    assert check_video_decoding(many).corrupt_fraction > MAX_CORRUPT_FRACTION
    with pytest.raises(VideoReadError, match=r'of 30 frames failed to decode .* refusing it'):
        read_video(many)
    assert len(read_video(many, max_corrupt_fraction=None).frames) >= 20  # concealed, read


def test_a_file_that_is_no_video_is_named(tmp_path):
    garbage = tmp_path / 'plan.mp4'
    garbage.write_bytes(b'\x00\x00\x00\x18ftypmp42 then nothing')
    with pytest.raises(VideoReadError, match='plan.mp4: not a video FFmpeg can read'):
        read_video(garbage)


def test_write_video_leaves_no_partial_file(tmp_path, monkeypatch):
    frames = np.zeros((4, 16, 16, 3), np.uint8)
    out = write_video(tmp_path / 'plan.mp4', frames, 8.0)
    assert out.is_file() and sorted(p.name for p in tmp_path.iterdir()) == ['plan.mp4']
    import imageio.v3 as iio

    def fail(path, *args, **kwargs):
        path.write_bytes(b'half a video')
        raise OSError('disk full')

    monkeypatch.setattr(iio, 'imwrite', fail)
    with pytest.raises(OSError, match='disk full'):
        write_video(tmp_path / 'other.mp4', frames, 8.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ['plan.mp4']


@pytest.mark.parametrize('mode', ['letterbox', 'crop'])
def test_frame_fit_moves_intrinsics_with_the_pixels(mode):
    """A point drawn where the source intrinsics project it is where the fitted ones do."""
    from lvp_common.artifacts import CameraIntrinsics
    from lvp_common.video_io import frame_fit

    source = CameraIntrinsics.from_fov(1280, 480, 70.0)
    point = np.array([[0.55, 0.1, 1.0]])  # near the right border: kept by letterbox only
    u, v = source.project(point)[0]
    frame = np.zeros((480, 1280, 3), np.uint8)
    frame[int(round(v)) - 4:int(round(v)) + 5, int(round(u)) - 4:int(round(u)) + 5] = 255
    fit = frame_fit((1280, 480), (832, 480), mode)
    out = fit.apply(frame)
    assert out.shape == (480, 832, 3)
    fitted = fit.intrinsics(source)
    assert (fitted.width, fitted.height) == (832, 480)
    fu, fv = fitted.project(point)[0]
    if mode == 'crop':
        assert fu > 832, 'the crop cut this point out of the view'
        return
    ys, xs = np.nonzero(out[:, :, 0] > 128)
    assert abs(xs.mean() - fu) < 1.0 and abs(ys.mean() - fv) < 1.0
    assert out[:fit.offset[1]].max() == 0  # padded, black
    depth = fit.apply(np.ones((480, 1280), np.float32), fill=np.nan)
    assert np.isnan(depth[0]).all() and np.isfinite(depth[240]).all()
