"""`lvp demo/run` on real clips: the real-camera options, the task sentence, the same track as
`lvp_track`, the hand chosen by --handedness, no silent crop, and where an unreachable
waypoint lies."""

from __future__ import annotations

import os
import re

os.environ.setdefault('MUJOCO_GL', 'egl')

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from lvp_bringup.cli import main  # noqa: E402
from lvp_common.artifacts import CameraIntrinsics  # noqa: E402
from lvp_common.cli_exit import ExitCode  # noqa: E402
from lvp_common.ros.plan_archive import read_plan_archive  # noqa: E402
from lvp_common.video_io import frame_fit, read_video, write_video  # noqa: E402

TASK = ('--task', 'open and close the hand')


@pytest.fixture(scope='module')
def gesture(shared_data):
    return shared_data / 'hand_video' / 'gesture_1280x720_30fps.mp4'


@pytest.fixture(scope='module')
def plan_sized_clip(gesture, tmp_path_factory):
    """24 frames of the gesture clip already at the plan's size and rate (832x480, 16 fps)."""
    clip = read_video(gesture, fps=16.0, size=(832, 480), start_s=2.0, duration_s=1.5,
                      fit='crop')
    path = tmp_path_factory.mktemp('clip') / 'gesture_832x480.mp4'
    write_video(path, clip.frames, 16.0)
    return path


@pytest.fixture(scope='module')
def two_hands(gesture, tmp_path_factory):
    """1280x480, 8 fps, 12 frames: the real right hand on the right half, its mirror image (a
    left hand) on the left half; both outside the centre 832 columns."""
    clip = read_video(gesture, fps=8.0, start_s=1.0, duration_s=1.5)
    frames = []
    for frame in clip.frames:
        half = cv2.resize(frame, (853, 480), interpolation=cv2.INTER_AREA)[:, 106:746]
        frames.append(np.concatenate([half[:, ::-1], half], axis=1))
    path = tmp_path_factory.mktemp('two') / 'two_hands_1280x480.mp4'
    write_video(path, np.ascontiguousarray(np.stack(frames)), 8.0)
    return path


def _lvp(args, capsys) -> tuple[int, str, str]:
    code = main([*args, '--quiet'])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_recorded_clip_needs_the_task_sentence(plan_sized_clip, tmp_path, capsys):
    code, _, err = _lvp(['demo', '--plan-video', str(plan_sized_clip), '--out',
                         str(tmp_path / 'a')], capsys)
    assert code == ExitCode.INVALID_GOAL
    assert 'a recorded clip (--plan-video) needs --task' in err
    assert not (tmp_path / 'a' / 'report.html').exists()


@pytest.mark.parametrize('options, message', [
    (('--hfov', '70'), '--hfov: only for a recorded clip'),
    (('--camera-to-base', '0,0,1,0,0,0,1'), '--camera-to-base: only for a recorded clip'),
    (('--start', '1'), '--start: only for a recorded clip (--plan-video)'),
    (('--fit', 'crop'), '--fit: only for a recorded clip'),
])
def test_real_camera_options_are_refused_with_the_synthetic_demo(options, message, tmp_path,
                                                                  capsys):
    code, _, err = _lvp(['demo', *options, '--out', str(tmp_path / 'o')], capsys)
    assert code == ExitCode.INVALID_GOAL and message in err


@pytest.mark.parametrize('options, message', [
    (('--start', '-1'), '--start -1: must be >= 0 s'),
    (('--duration', '0'), '--duration 0: must be > 0 s'),
    (('--hfov', '200'), '--hfov 200: expected a horizontal field of view in (1, 179)'),
    (('--min-detected-fraction', '1.5'), '--min-detected-fraction 1.5: must lie in [0, 1]'),
])
def test_real_clip_option_values_are_checked(plan_sized_clip, options, message, tmp_path,
                                             capsys):
    code, _, err = _lvp(['demo', '--plan-video', str(plan_sized_clip), *TASK, *options,
                         '--out', str(tmp_path / 'o')], capsys)
    assert code == ExitCode.INVALID_GOAL and message in err


def test_hfov_and_intrinsics_together_are_refused(plan_sized_clip, tmp_path, capsys):
    image = tmp_path / 'img.png'
    cv2.imwrite(str(image), np.zeros((480, 832, 3), np.uint8))
    code, _, err = _lvp(['run', '--plan-video', str(plan_sized_clip), *TASK, '--image',
                         str(image), '--hfov', '70', '--intrinsics', '500,500,416,240',
                         '--out', str(tmp_path / 'o')], capsys)
    assert code == ExitCode.INVALID_GOAL and '--hfov and --intrinsics: give one' in err


def test_demo_and_lvp_track_give_identical_keypoints(plan_sized_clip, tmp_path, capsys):
    """Same frames, same track: `lvp demo --plan-video X` and `lvp_track X`."""
    from lvp_hand_tracking.cli import main as lvp_track
    from lvp_hand_tracking.track_file import load_track_npz

    out = tmp_path / 'demo'
    code, stdout, err = _lvp(['demo', '--plan-video', str(plan_sized_clip), *TASK,
                              '--plan-only', '--out', str(out)], capsys)
    assert code == 0, err
    assert f'task: {TASK[1]}' in stdout and 'fitted to' not in stdout  # already plan-sized
    demo_track = read_plan_archive(out / 'plan_archive').hand_track
    assert lvp_track([str(plan_sized_clip), '--out', str(tmp_path / 't.npz')]) == 0
    tracked = load_track_npz(tmp_path / 't.npz')
    assert demo_track is not None and demo_track.num_frames == tracked.num_frames == 24
    np.testing.assert_array_equal(demo_track.keypoints_px, tracked.keypoints_px)
    np.testing.assert_array_equal(demo_track.keypoints_m, tracked.keypoints_m)
    assert '1 hand tracklet' in capsys.readouterr().out
    assert TASK[1] in (out / 'report.html').read_text()
    assert 'pick up the green cube' not in (out / 'report.html').read_text()


def test_clip_window_camera_pose_and_fov_reach_the_plan(gesture, tmp_path, capsys):
    """--start/--duration cut the clip; --camera-to-base and --hfov (at the clip's own size,
    fitted like the frames: letterbox) become the observation's."""
    pose = '0.95,0.0,0.55,0.6533,0.6533,-0.2706,-0.2706'  # looking back at the robot, 45 deg down
    out = tmp_path / 'w'
    code, stdout, err = _lvp(['demo', '--plan-video', str(gesture), *TASK, '--start', '4',
                              '--duration', '1.5', '--camera-to-base', pose, '--hfov', '70',
                              '--plan-only', '--out', str(out)], capsys)
    assert code == 0, err
    assert 'camera pose from --camera-to-base' in stdout
    assert '1280x720 fitted to 832x480' in stdout and 'letterbox' in stdout
    record = read_plan_archive(out / 'plan_archive')
    assert record.plan is not None and record.plan.num_frames == 24  # 1.5 s at 16 fps
    obs = record.observation
    assert obs is not None and obs.camera_to_base is not None and obs.intrinsics is not None
    np.testing.assert_allclose(obs.camera_to_base.position, [0.95, 0.0, 0.55])
    expected = frame_fit((1280, 720), (832, 480)).intrinsics(
        CameraIntrinsics.from_fov(1280, 720, 70.0))
    assert obs.intrinsics.fx == pytest.approx(expected.fx)
    assert obs.intrinsics.cy == pytest.approx(expected.cy)


def test_min_detected_fraction_sets_the_tracking_threshold(plan_sized_clip, tmp_path, capsys):
    """9 of 24 frames show the hand (the rest blanked): refused at the default 0.5, tracked
    at 0.3."""
    frames = read_video(plan_sized_clip).frames.copy()
    frames[9:] = 90
    clip = write_video(tmp_path / 'partly.mp4', frames, 16.0)
    code, _, err = _lvp(['demo', '--plan-video', str(clip), *TASK, '--plan-only', '--out',
                         str(tmp_path / 'a')], capsys)
    assert code == ExitCode.NO_HAND_FOUND and 'at least 12 (50%)' in err
    code, _, err = _lvp(['demo', '--plan-video', str(clip), *TASK, '--plan-only',
                         '--min-detected-fraction', '0.3', '--out', str(tmp_path / 'b')],
                        capsys)
    assert 'hand_tracking failed' not in err
    assert code != ExitCode.NO_HAND_FOUND


def test_handedness_selects_each_hand_and_nothing_is_cropped(two_hands, tmp_path, capsys):
    """A 1280x480 two-hand clip: letterboxed (both hands kept), --handedness picks each. The
    track is checked on the plan and the pipeline configuration `lvp demo` builds from these
    options (a later stage may refuse the clip; tracking must not)."""
    from lvp_bringup.cli import build_parser, pipeline_config
    from lvp_bringup.cli_real_clip import recorded_plan
    from lvp_bringup.pipeline import track_hand

    wrists = {}
    for hand in ('left', 'right'):
        argv = ['demo', '--plan-video', str(two_hands), *TASK, '--handedness', hand,
                '--plan-only', '--out', str(tmp_path / hand)]
        code, stdout, err = _lvp(argv, capsys)
        assert 'hand_tracking failed' not in err and code != ExitCode.NO_HAND_FOUND, err
        assert '1280x480 fitted to 832x480: scaled 0.650 to 832x312, padded 84 px' in stdout
        args = build_parser().parse_args(argv)
        result = track_hand(recorded_plan(args), pipeline_config(args, None), lambda _f: None)
        assert result.track.handedness.value == hand and result.handedness_source == 'argument'
        wrists[hand] = result.track.keypoints_px[result.track.detected, 0, 0]
    assert np.all(wrists['left'] < 416) and np.all(wrists['right'] > 416)
    # cropped instead, both wrists leave the view: the note says so
    _code, stdout, _err = _lvp(['demo', '--plan-video', str(two_hands), *TASK, '--fit', 'crop',
                                '--plan-only', '--out', str(tmp_path / 'crop')], capsys)
    assert 'cropped 224 px left and right (the borders are lost)' in stdout


def test_handedness_of_an_absent_hand_is_refused(plan_sized_clip, tmp_path, capsys):
    code, _, err = _lvp(['demo', '--plan-video', str(plan_sized_clip), *TASK,
                         '--handedness', 'left', '--plan-only', '--out', str(tmp_path / 'x')],
                        capsys)
    assert code == ExitCode.NO_HAND_FOUND
    assert 'no left hand in the clip (seen: right hand in 24 frames)' in err


def test_run_with_the_clips_own_first_frame_as_image(two_hands, tmp_path, capsys):
    """`lvp run --image <first frame>` of a 1280x480 clip: image and plan fitted alike."""
    first = read_video(two_hands).frames[0]
    image = tmp_path / 'first.png'
    cv2.imwrite(str(image), cv2.cvtColor(first, cv2.COLOR_RGB2BGR))
    out = tmp_path / 'run'
    code, stdout, err = _lvp(['run', '--image', str(image), '--plan-video', str(two_hands),
                              *TASK, '--hfov', '75', '--handedness', 'right', '--plan-only',
                              '--out', str(out)], capsys)
    assert 'intrinsics are for' not in err, err
    assert 'observation image 1280x480 fitted to 832x480' in stdout
    assert 'plan video 1280x480 fitted to 832x480' in stdout  # both the same way
    assert code == 0, err
    obs = read_plan_archive(out / 'plan_archive').observation
    assert obs is not None and obs.rgb.shape == (480, 832, 3)


@pytest.mark.parametrize('embodiment', ['franka_gripper', 'g1_inspire'])
def test_unreachable_names_the_distance_and_direction(plan_sized_clip, embodiment, tmp_path,
                                                      capsys):
    """A camera pose (--camera-to-base) 2.2 m in front of the robot puts the demonstrated path
    ~1.8 m away: refused, naming by how much and which way (forward), no negative plan time."""
    far = '2.2,0,0.6,0.6533,0.6533,-0.2706,-0.2706'  # looking back at the robot, 45 deg down
    code, _, err = _lvp(['demo', '--embodiment', embodiment, '--plan-video',
                         str(plan_sized_clip), *TASK, '--camera-to-base', far, '--plan-only',
                         '--out', str(tmp_path / 'far')], capsys)
    assert code == ExitCode.UNREACHABLE, err
    match = re.search(r"EE waypoint \d+ \((plan time [\d.]+ s|the robot's approach waypoint, "
                      r"[\d.]+ s before the plan's first frame)\) at \(([-\d.]+), "
                      r"[-\d., ]+\) m in the robot base frame is (\d+) mm outside the arm's "
                      r'reachable workspace: it lies (\d+) mm forward', err)
    assert match, err
    assert float(match.group(2)) > 1.5 and int(match.group(3)) > 500
    assert not re.search(r't = -\d', err)
    report = (tmp_path / 'far' / 'report.html').read_text()
    assert "outside the arm&#x27;s reachable workspace" in report


def test_cup_plan_is_one_hand_in_every_frame_both_ways(tmp_path, capsys):
    """cup.mp4 as `lvp demo` plans it (16 fps, 832x480): the hand in 130/130 frames, one
    tracklet (a duplicate detection made it 103/130 and two), the same keypoints as lvp_track."""
    from lvp_bringup.pipeline import PipelineConfig, track_hand
    from lvp_common.artifacts import PlanRequest
    from lvp_hand_tracking.cli import main as lvp_track
    from lvp_hand_tracking.sample_clips import SampleClipError, ensure_sample_clip
    from lvp_hand_tracking.track_file import load_track_npz
    from lvp_planner.demonstration import DemonstrationConfig, plan_from_demonstration

    try:
        cup = ensure_sample_clip('cup.mp4')
    except SampleClipError as exc:
        pytest.skip(f'OpenCV sample cup.mp4 unavailable: {exc}')
    plan = plan_from_demonstration(DemonstrationConfig(str(cup)), PlanRequest(('pick up',)))
    assert plan.metadata['frame_fit'] == 'letterbox'
    result = track_hand(plan, PipelineConfig(), lambda _f: None)
    assert (result.frames_with_hand, result.num_frames, result.num_hands_seen) == (130, 130, 1)
    clip = write_video(tmp_path / 'cup_plan.mp4', plan.frames, plan.fps)
    assert lvp_track([str(clip), '--out', str(tmp_path / 'cup.npz')]) == 0
    assert '1 hand tracklet' in capsys.readouterr().out
    tracked = load_track_npz(tmp_path / 'cup.npz')
    again = track_hand(plan.__class__(read_video(clip).frames, plan.fps, plan.prompts,
                                      plan.source), PipelineConfig(), lambda _f: None)
    np.testing.assert_array_equal(again.track.keypoints_px, tracked.keypoints_px)
