"""Bad-input matrix over the real command-line tools (issue 23, items 4-7).

Each case runs a tool's main() in-process on a broken input and checks: the exit code of the
one table (lvp_common.cli_exit), a one-line message that names the problem, no traceback,
nothing executed, and no output (or half-written output) left behind.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import imageio.v3 as iio  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from lvp_common.cli_exit import ExitCode  # noqa: E402


@dataclass(frozen=True)
class Case:
    tool: str
    args: tuple[str, ...]
    code: ExitCode
    message: str
    outputs: tuple[str, ...] = ('out',)
    """Paths (relative to the case folder) that must not exist afterwards."""
    setup: tuple[str, ...] = field(default=())
    """Extra inputs to build first (see `build_inputs`)."""


def _mains():
    from lvp_bringup.cli import main as lvp
    from lvp_exec.cli import main as lvp_exec
    from lvp_grasp.cli import main as lvp_grasp
    from lvp_hand_tracking.cli import main as lvp_track
    from lvp_planner.cli import main as lvp_plan
    from lvp_reconstruction.cli import main as lvp_reconstruct
    from lvp_retarget.cli import main as lvp_retarget

    return {'lvp': lvp, 'lvp_exec': lvp_exec, 'lvp_grasp': lvp_grasp, 'lvp_track': lvp_track,
            'lvp_plan': lvp_plan, 'lvp_reconstruct': lvp_reconstruct,
            'lvp_retarget': lvp_retarget}


RUN = ('run', '--plan-video', 'plan.mp4', '--task', 'pick up the cube', '--out', 'out', '--quiet',
       '--image')
INVALID, USAGE = ExitCode.INVALID_GOAL, ExitCode.USAGE

CASES = {
    # lvp run: the observation
    'image missing': Case('lvp', RUN + ('none.png',), INVALID, '--image none.png: file not found'),
    'image garbage': Case('lvp', RUN + ('garbage.png',), INVALID, 'not a readable image'),
    'depth wrong size': Case('lvp', RUN + ('img.png', '--depth', 'depth_small.npy'), INVALID,
                             'is 10x10 pixels, the image is 64x48'),
    'depth wrong dtype': Case('lvp', RUN + ('img.png', '--depth', 'depth_int.npy'), INVALID,
                              'expected a 2-D float array in metres, got int32'),
    'depth npz renamed npy': Case('lvp', RUN + ('img.png', '--depth', 'depth_npz.npy'),
                                  INVALID, 'is an .npz archive renamed .npy'),
    'depth garbage npy': Case('lvp', RUN + ('img.png', '--depth', 'garbage.npy'), INVALID,
                              'not a NumPy .npy array'),
    'depth all NaN': Case('lvp', RUN + ('img.png', '--depth', 'depth_nan.npy'), INVALID,
                          'no valid depth pixel'),
    'depth all zero png': Case('lvp', RUN + ('img.png', '--depth', 'depth_zero.png'), INVALID,
                               'no valid depth pixel'),
    'depth negative': Case('lvp', RUN + ('img.png', '--depth', 'depth_neg.npy'), INVALID,
                           'pixel(s) of negative depth'),
    'intrinsics garbled': Case('lvp', RUN + ('img.png', '--intrinsics', '500,x,32'), INVALID,
                               "--intrinsics '500,x,32': expected 4 comma-separated"),
    'intrinsics NaN': Case('lvp', RUN + ('img.png', '--intrinsics', '500,500,nan,24'), INVALID,
                           'finite numbers'),
    'intrinsics negative focal': Case('lvp', RUN + ('img.png', '--intrinsics=-5,5,32,24'),
                                      INVALID, '--intrinsics'),
    'camera_to_base NaN': Case('lvp', RUN + ('img.png', '--camera-to-base', '0,0,nan,0,0,0,1'),
                               INVALID, '--camera-to-base'),
    'camera_to_base zero quaternion': Case(
        'lvp', RUN + ('img.png', '--camera-to-base', '0,0,1,0,0,0,0'), INVALID,
        'the quaternion (qx, qy, qz, qw) is zero'),
    'camera_to_base not unit': Case(
        'lvp', RUN + ('img.png', '--camera-to-base', '0,0,1,0,0,0,3'), INVALID,
        'expected a unit quaternion'),
    'run without a plan source': Case('lvp', ('run', '--image', 'img.png', '--out', 'out'),
                                      INVALID, 'give a plan source'),
    'unknown option': Case('lvp', ('demo', '--bogus'), USAGE, 'unrecognized arguments: --bogus'),
    'demo --num-frames out of range': Case('lvp', ('demo', '--num-frames', '0', '--out', 'out'),
                                           INVALID, 'num_frames must be >= 8, got 0'),
    'bad option value': Case('lvp', ('demo', '--seed', 'x'), USAGE, "invalid int value: 'x'"),
    # lvp: outputs checked before anything runs
    '--out an existing file': Case('lvp', ('demo', '--out', 'file.txt', '--quiet'), INVALID,
                                   '--out file.txt: exists and is not a folder', ()),
    '--out reused': Case('lvp', ('demo', '--out', 'used', '--quiet'), INVALID,
                         '--out used: already holds plan_archive', ('used/report.html',),
                         ('used',)),
    # lvp: the model
    'demo --checkpoint garbage': Case(
        'lvp', ('demo', '--checkpoint', 'garbage.ckpt', '--wan-dir', 'wan', '--out', 'out'),
        ExitCode.PLANNER_FAILED, 'garbage.ckpt is not a valid checkpoint', ('out',), ('wan',)),
    'demo --checkpoint without --wan-dir': Case(
        'lvp', ('demo', '--checkpoint', 'garbage.ckpt', '--out', 'out'), INVALID,
        '--checkpoint needs --wan-dir'),
    'plan video mostly corrupt': Case(
        'lvp', ('run', '--plan-video', 'corrupt.mp4', '--task', 'pick', '--out', 'out', '--image',
                'img.png'),
        ExitCode.PLANNER_FAILED, 'of 30 frames failed to decode or decoded corrupt', ('out',),
        ('corrupt.mp4',)),
    'plan video missing': Case('lvp', RUN + ('img.png',), ExitCode.PLANNER_FAILED,
                               'video file not found: plan.mp4'),
    # lvp replay: archives
    'replay missing archive': Case('lvp', ('replay', 'none', '--out', 'out'), INVALID,
                                   'plan archive not found: none'),
    'replay garbage folder': Case('lvp', ('replay', 'wan', '--out', 'out'), INVALID,
                                  'not a readable plan archive', ('out',), ('wan',)),
    'replay metadata not JSON': Case('lvp', ('replay', 'bad_json', '--out', 'out'), INVALID,
                                     'not a readable plan archive', ('out',), ('bad_json',)),
    'replay ee_mapping malformed': Case('lvp', ('replay', 'bad_mapping', '--out', 'out'),
                                       INVALID, 'malformed ee_mapping metadata',
                                       ('out',), ('bad_mapping',)),
    'replay NaN in the path': Case('lvp', ('replay', 'nan_path', '--out', 'out'), INVALID,
                                   'waypoint 5 (t = 0.312 s) of 8 has a non-finite pose', ('out',),
                                   ('nan_path',)),
    # lvp_exec
    'exec NaN in a path': Case('lvp_exec', ('nan_path.npz', '--out', 'out/m.npz'), INVALID,
                               'non-finite value at index (3, 1)',
                               ('out',), ('nan_path.npz',)),
    'exec garbage npz': Case('lvp_exec', ('garbage.npz', '--out', 'out/m.npz'), INVALID,
                             'garbage.npz'),
    'exec --out a folder': Case('lvp_exec', ('nan_path.npz', '--out', 'used'), INVALID,
                                '--out used: is a folder', ('used/m.npz',),
                                ('nan_path.npz', 'used')),
    'exec unknown option': Case('lvp_exec', ('x.npz', '--out', 'o.npz', '--bogus'), USAGE,
                                'unrecognized arguments: --bogus', ('o.npz',)),
    # the stage tools
    'plan --checkpoint garbage': Case(
        'lvp_plan', ('--checkpoint', 'garbage.ckpt', '--wan-dir', 'wan', '--image', 'img.png',
                     '--prompt', 'pick', '--out', 'out.mp4'), ExitCode.PLANNER_FAILED,
        'garbage.ckpt is not a valid checkpoint', ('out.mp4',), ('wan',)),
    'plan missing --prompt': Case('lvp_plan', ('--wan-dir', 'wan', '--image', 'img.png',
                                               '--out', 'out.mp4'), USAGE, '--prompt'),
    'track video mostly corrupt': Case('lvp_track', ('corrupt.mp4', '--out', 'out/t.npz'),
                                       INVALID, 'more than 10 % of the frames; refusing it',
                                       ('out',), ('corrupt.mp4',)),
    'track garbage video': Case('lvp_track', ('garbage.png', '--out', 'out/t.npz'), INVALID,
                                'garbage.png'),
    'reconstruct garbage track': Case('lvp_reconstruct', ('garbage.npz', '--out', 'out/r.npz'),
                                      INVALID, 'not a hand track written by lvp_track'),
    'reconstruct depth npz renamed': Case(
        'lvp_reconstruct', ('garbage.npz', '--depth', 'depth_npz.npy'), INVALID,
        'not a hand track'),
    'retarget garbage track': Case('lvp_retarget', ('garbage.npz', '--out', 'out/c.npz'),
                                   INVALID, 'not a hand track written by lvp_track'),
    'grasp garbage npz': Case('lvp_grasp', ('garbage.npz', '--out', 'out/g.json'), INVALID,
                              'not a readable point cloud'),
    'grasp NaN cloud': Case('lvp_grasp', ('nan_cloud.npy',), INVALID,
                            'point(s) hold NaN', (), ('nan_cloud.npy',)),
}


def build_inputs(folder: Path, extras: tuple[str, ...]) -> None:
    """Write the broken (and the few valid) input files the cases name."""
    iio.imwrite(folder / 'img.png', np.full((48, 64, 3), 120, np.uint8))
    (folder / 'garbage.png').write_bytes(b'not an image at all' * 10)
    (folder / 'garbage.npy').write_bytes(b'\x93NUMPY garbage')
    (folder / 'garbage.npz').write_bytes(b'PK\x03\x04 garbage')
    (folder / 'garbage.ckpt').write_bytes(b'\x80\x02}q\x00 truncated download')
    (folder / 'file.txt').write_text('x')
    np.save(folder / 'depth_small.npy', np.ones((10, 10), np.float32))
    np.save(folder / 'depth_int.npy', np.ones((48, 64), np.int32))
    np.save(folder / 'depth_nan.npy', np.full((48, 64), np.nan, np.float32))
    np.save(folder / 'depth_neg.npy', -np.ones((48, 64), np.float32))
    iio.imwrite(folder / 'depth_zero.png', np.zeros((48, 64), np.uint16))
    with (folder / 'depth_npz.npy').open('wb') as f:
        np.savez(f, depth=np.ones((48, 64), np.float32))
    for extra in extras:
        if extra == 'wan':
            for name in ('vae', 'text_encoder', 'tokenizer', 'image_encoder', 'transformer'):
                (folder / 'wan' / name).mkdir(parents=True)
        elif extra == 'used':
            (folder / 'used' / 'plan_archive').mkdir(parents=True)
        elif extra == 'nan_path.npz':
            positions = np.tile([0.4, 0.0, 0.3], (6, 1))
            positions[3, 1] = np.nan
            np.savez(folder / extra, times=np.arange(6) / 16.0, ee_positions=positions,
                     ee_quaternions=np.tile([1.0, 0, 0, 0], (6, 1)),
                     ee_frame_id=np.array('panda_link0'))
        elif extra == 'corrupt.mp4':
            write_corrupt_video(folder / extra)
        elif extra == 'nan_cloud.npy':
            points = np.random.default_rng(0).uniform(-0.1, 0.1, (50, 3))
            points[7] = np.nan
            np.save(folder / extra, points)
        else:
            _write_archive(folder / extra, extra)


def write_corrupt_video(path: Path, chunks: int = 7, seed: int = 0) -> None:
    """A 30-frame H.264 clip with `chunks` runs of 3 kB of random bytes written over it."""
    from lvp_common.video_io import write_video

    rng = np.random.default_rng(seed)
    write_video(path, (rng.integers(0, 4, (30, 96, 128, 3)) * 64).astype(np.uint8), 16.0)
    data = bytearray(path.read_bytes())
    for k in range(1, chunks + 1):
        start = len(data) * k // (chunks + 2)
        data[start:start + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _write_archive(path: Path, kind: str) -> None:
    """A small Franka plan archive, broken as `kind` says."""
    import lvp_common.ros.plan_archive as plan_archive
    from lvp_common.artifacts import WristTrajectory

    from lvp_common import topics

    positions = np.tile([0.45, 0.0, 0.3], (8, 1)) + np.linspace(0, 0.05, 8)[:, None]
    wrist = WristTrajectory(np.arange(8) / 16.0, positions, np.tile([1.0, 0, 0, 0], (8, 1)),
                            'panda_link0', smoothed=True)
    mapping = {'embodiment': 'franka_gripper'} if kind != 'bad_mapping' else {'yaw': 'x'}
    record = plan_archive.PlanRecord(prompts=('pick',), embodiment='franka_gripper',
                                     wrist_base=wrist, metadata={'ee_mapping': mapping})
    original = plan_archive.record_messages

    def garbled(record, t0):
        out = original(record, t0)
        for topic, _stamp, msg in out:
            if kind == 'bad_json' and topic == topics.ARCHIVE_METADATA:
                msg.data = '{"prompts": [broken'  # type: ignore[attr-defined]
            if kind == 'nan_path' and topic == topics.WRIST_TRAJECTORY_BASE:
                msg.poses[5].position.z = float('nan')  # type: ignore[attr-defined]
        return out

    plan_archive.record_messages = garbled
    try:
        plan_archive.write_plan_archive(path, record)
    finally:
        plan_archive.record_messages = original


@pytest.fixture(scope='module')
def mains():
    return _mains()


@pytest.mark.parametrize('name', list(CASES))
def test_bad_input_is_refused_with_its_code_and_named(name, mains, tmp_path, monkeypatch,
                                                      capsys):
    case = CASES[name]
    build_inputs(tmp_path, case.setup)
    monkeypatch.chdir(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob('*'))
    code = mains[case.tool](list(case.args))
    captured = capsys.readouterr()
    assert code == case.code, (code, captured.err)
    assert case.message in captured.err, captured.err
    assert 'Traceback' not in captured.err + captured.out
    error_lines = [line for line in captured.err.splitlines() if ': error: ' in line]
    assert len(error_lines) == 1, captured.err
    # nothing executed and nothing written: the folder holds exactly the inputs
    assert 'executing' not in captured.out and 'executed on' not in captured.out
    for output in case.outputs:
        assert not (tmp_path / output).exists(), output
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob('*'))
    assert after == before


def test_the_matrix_covers_every_tool(mains):
    assert {case.tool for case in CASES.values()} == set(mains)


def test_archive_metadata_of_the_bad_json_case_is_really_not_json(tmp_path):
    from lvp_common.ros.plan_archive import read_archive_messages

    _write_archive(tmp_path / 'a', 'bad_json')
    from lvp_common import topics

    meta = [m for t, _s, m in read_archive_messages(tmp_path / 'a')
            if t == topics.ARCHIVE_METADATA]
    with pytest.raises(json.JSONDecodeError):
        json.loads(meta[0].data)  # type: ignore[attr-defined]


@pytest.mark.parametrize('tool', ['lvp', 'lvp_exec', 'lvp_grasp', 'lvp_track', 'lvp_plan',
                                  'lvp_reconstruct', 'lvp_retarget'])
def test_every_tool_exits_64_on_a_usage_error_not_argparses_2(tool, mains, capsys):
    assert mains[tool](['--no-such-option']) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith('usage: ') and 'Traceback' not in err
