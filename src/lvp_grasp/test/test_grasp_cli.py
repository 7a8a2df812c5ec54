"""The lvp_grasp command line tool."""

import json
from pathlib import Path

import numpy as np
from lvp_grasp.cli import main
from lvp_grasp.synthetic_scenes import bar_above_table, scene_cloud, table


def test_cli_on_a_saved_cloud(tmp_path: Path, capsys) -> None:
    cloud, _ = scene_cloud(table(), bar_above_table(), noise=0.0005)
    np.save(tmp_path / 'cloud.npy', cloud.points)
    out = tmp_path / 'grasps.json'
    assert main([str(tmp_path / 'cloud.npy'), '--contact', '0', '0', '0.12', '--approach', '0',
                 '0', '-1', '--max-candidates', '3', '--out', str(out)]) == 0
    result = json.loads(out.read_text())
    assert result['frame_id'] == 'base_link' and len(result['candidates']) == 3
    assert abs(result['candidates'][0]['position'][2] - 0.12) < 0.02
    assert 'grasp(s)' in capsys.readouterr().out


def test_cli_reports_bad_input(tmp_path: Path, capsys) -> None:
    assert main(['synthetic:teapot']) == 1
    assert 'teapot' in capsys.readouterr().err
    assert main([str(tmp_path / 'missing.npy')]) == 1
