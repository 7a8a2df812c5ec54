"""The lvp_retarget command line tool on a track file in lvp_track's .npz format."""

from pathlib import Path

import numpy as np
from lvp_retarget.cli import main


def _write_track(path: Path, hand_model, n: int = 8) -> None:
    fractions = np.concatenate([np.linspace(0.0, 1.0, n // 2), np.linspace(1.0, 0.0, n // 2)])
    kp = np.stack([hand_model.hand_keypoints(hand_model.half_closed(f)) for f in fractions])
    np.savez(path, times=np.arange(n) / 16.0, keypoints_px=np.zeros((n, 21, 2)),
             keypoints_m=kp, wrist_quaternions=np.tile([0.0, 0.0, 0.0, 1.0], (n, 1)),
             confidence=np.ones(n), detected=np.ones(n, dtype=bool),
             handedness=np.array('right'), image_size=np.array([832, 480]))


def test_cli_writes_commands(tmp_path: Path, hand_model, capsys) -> None:
    track = tmp_path / 'track.npz'
    _write_track(track, hand_model)
    out = tmp_path / 'commands.npz'
    assert main([str(track), '--out', str(out)]) == 0
    with np.load(out) as data:
        assert data['normalized'].shape == (8, 6)
        assert list(data['actuator_names'])[:2] == ['little', 'ring']
        assert data['native'].max() <= 1000
    assert '8 frames' in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ['commands.npz', 'track.npz']


def test_cli_reports_a_missing_track(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / 'none.npz'), '--out', str(tmp_path / 'x.npz')]) == 1
    assert 'none.npz' in capsys.readouterr().err
