"""`lvp demo --num-candidates`: the plan court in the command line tool."""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

from lvp_bringup.cli import main  # noqa: E402


def test_demo_with_two_candidates_judges_both_and_executes_one(tmp_path, capsys):
    status = main(['demo', '--num-candidates', '2', '--seed', '0', '--quiet',
                   '--out', str(tmp_path / 'out')])
    out = capsys.readouterr().out
    assert status == 0, out
    assert 'plan court: candidate 0 (seed 0)' in out and 'plan court: candidate 1 (seed 1)' in out
    assert 'plan court: executing candidate' in out
    assert 'task check (reach_grasp_lift' in out and 'SUCCESS' in out
    assert (tmp_path / 'out' / 'plan_archive').exists()


def test_bad_candidate_options_are_refused_by_name(tmp_path, capsys):
    assert main(['demo', '--num-candidates', '0', '--out', str(tmp_path / 'a')]) == 1
    assert '--num-candidates must be >= 1' in capsys.readouterr().err
    video = tmp_path / 'plan.mp4'
    video.write_bytes(b'not read: refused before planning')
    assert main(['demo', '--num-candidates', '3', '--plan-video', str(video), '--task',
                 'pick up the green cube', '--out', str(tmp_path / 'b')]) == 1
    assert 'a recorded --plan-video is a single plan' in capsys.readouterr().err
