import cv2
import imageio_ffmpeg
import numpy as np
from lvp_common.artifacts import Handedness
from lvp_hand_tracking.cli import main
from lvp_hand_tracking.overlay import draw_hand
from lvp_hand_tracking.track_file import load_track_npz


def test_lvp_track_writes_track_overlay_and_snapshot(shared_data, tmp_path, hand_model_path,
                                                     capsys):
    video = shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4'
    out, overlay, snap = tmp_path / 'track.npz', tmp_path / 'overlay.mp4', tmp_path / 'snap.png'
    code = main([str(video), '--out', str(out), '--overlay', str(overlay), '--snapshot',
                 str(snap), '--stride', '10', '--max-frames', '8', '--model',
                 str(hand_model_path)])
    assert code == 0
    assert 'detected in 8/8 frames' in capsys.readouterr().out
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
