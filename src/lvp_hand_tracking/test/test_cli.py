import os
import re

import cv2
import imageio_ffmpeg
import numpy as np
from lvp_common.artifacts import Handedness
from lvp_common.video_io import write_video
from lvp_hand_tracking.cli import main
from lvp_hand_tracking.overlay import draw_hand
from lvp_hand_tracking.track_file import load_track_npz


def test_lvp_track_writes_track_overlay_and_snapshot(shared_data, tmp_path, hand_model_path,
                                                     capfd):
    video = shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4'
    out, overlay, snap = tmp_path / 'track.npz', tmp_path / 'overlay.mp4', tmp_path / 'snap.png'
    code = main([str(video), '--out', str(out), '--overlay', str(overlay), '--snapshot',
                 str(snap), '--stride', '10', '--max-frames', '8', '--model',
                 str(hand_model_path)])
    assert code == 0
    captured = capfd.readouterr()  # file-descriptor level: MediaPipe's C++ writes to fd 2
    assert 'detected in 8/8 frames' in captured.out
    noise = [line for line in captured.err.splitlines()
             if re.match(r'(INFO: |WARNING: |[IW]\d{4} )', line)]
    assert noise == [], noise
    track = load_track_npz(out)
    assert track.num_frames == 8 and track.detected.all()
    assert track.handedness is Handedness.RIGHT and track.image_size == (1280, 720)
    assert imageio_ffmpeg.count_frames_and_secs(str(overlay))[0] == 8
    image = cv2.imread(str(snap))
    assert image is not None and image.shape == (720, 1280, 3)


def test_lvp_track_reports_a_missing_video(tmp_path, capsys):
    assert main([str(tmp_path / 'none.mp4'), '--out', str(tmp_path / 't.npz')]) == 1
    assert 'does not exist' in capsys.readouterr().err


def test_draw_hand_marks_keypoints():
    frame = np.zeros((100, 100, 3), dtype=np.uint8)
    keypoints = np.stack([np.linspace(10, 90, 21), np.linspace(10, 90, 21)], axis=1)
    drawn = draw_hand(frame, keypoints)
    assert frame.sum() == 0 and drawn[50, 50].any() and drawn[10, 10].any()


def test_native_log_noise_is_dropped_and_real_errors_pass(capfd):
    from lvp_hand_tracking.mediapipe_backend import _native_noise_filtered

    with _native_noise_filtered():
        os.write(2, b'INFO: [environment.cc:36] Creating LiteRT environment with options\n'
                    b'WARNING: Logging before InitGoogle() is written to STDERR\n'
                    b'W0000 00:00:1796641214.064809    2277 inference_runner_litert.cc:1433] '
                    b'Input tensor memory is not aligned\n'
                    b'E0000 00:00:1796641214.1 2277 graph.cc:1] a real failure\n')
    assert capfd.readouterr().err == 'E0000 00:00:1796641214.1 2277 graph.cc:1] a real failure\n'


def test_lvp_track_refuses_a_mostly_corrupt_video(tmp_path, capsys):
    rng = np.random.default_rng(0)
    video = tmp_path / 'corrupt.mp4'
    write_video(video, (rng.integers(0, 4, (30, 96, 128, 3)) * 64).astype(np.uint8), 16.0)
    data = bytearray(video.read_bytes())
    for k in range(1, 8):
        start = len(data) * k // 9
        data[start:start + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    video.write_bytes(bytes(data))
    assert main([str(video), '--out', str(tmp_path / 't.npz')]) == 1
    assert 'frames failed to decode or decoded corrupt' in capsys.readouterr().err
    assert not (tmp_path / 't.npz').exists()


def test_lvp_track_clip_window_and_handedness(two_hand_clip, tmp_path, hand_model_path, capsys):
    out = tmp_path / 'left.npz'
    code = main([str(two_hand_clip), '--out', str(out), '--handedness', 'left', '--start',
                 '0.5', '--duration', '1.0', '--min-detected-fraction', '0.9', '--model',
                 str(hand_model_path)])
    assert code == 0, capsys.readouterr().err
    track = load_track_npz(out)
    # 8 fps: the window [0.5, 1.5) s is frames 4..11, at their times in the file
    assert np.allclose(track.times, np.arange(4, 12) / 8.0)
    assert track.handedness is Handedness.LEFT and np.all(track.keypoints_px[:, 0, 0] < 400)
    assert main([str(two_hand_clip), '--out', str(tmp_path / 'x.npz'), '--start', '-1']) == 1
    assert 'start -1' in capsys.readouterr().err


def test_lvp_track_refuses_an_absent_hand(shared_data, tmp_path, hand_model_path, capsys):
    video = shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4'
    code = main([str(video), '--out', str(tmp_path / 't.npz'), '--handedness', 'left',
                 '--stride', '30', '--model', str(hand_model_path)])
    assert code == 3
    assert 'no left hand in the clip' in capsys.readouterr().err


def test_lvp_track_a_photo_writes_track_and_overlay(shared_data, tmp_path, hand_model_path,
                                                    capsys):
    photo = shared_data / 'hand_images' / 'two_people_gesture.jpg'
    out, overlay = tmp_path / 'photo.npz', tmp_path / 'photo.png'
    code = main([str(photo), '--out', str(out), '--overlay', str(overlay), '--model',
                 str(hand_model_path)])
    assert code == 0, capsys.readouterr().err
    track = load_track_npz(out)
    assert track.num_frames == 1 and track.detected.all() and track.image_size == (848, 565)
    image = cv2.imread(str(overlay))
    assert image is not None and image.shape == (565, 848, 3)
    original = cv2.imread(str(photo))
    assert np.abs(image.astype(int) - original.astype(int)).max() > 100  # the skeleton drawn
    assert main([str(photo), '--out', str(tmp_path / 'p2.npz'), '--overlay',
                 str(tmp_path / 'o.mp4')]) == 1
    assert 'write its overlay as an image' in capsys.readouterr().err
