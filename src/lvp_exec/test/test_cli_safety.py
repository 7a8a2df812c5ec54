"""lvp_exec on issue 23's path: refused at ik with UNREACHABLE's exit code, nothing executed."""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
from lvp_common.cli_exit import ExitCode  # noqa: E402
from lvp_exec.cli import main  # noqa: E402
from lvp_exec.motion_file import save_ee_path_npz  # noqa: E402
from lvp_exec.robots import load_panda  # noqa: E402
from lvp_exec.synthetic_paths import (  # noqa: E402
    jump_sideways,
    smooth_joint_path,
    wrist_path_from_joints,
)


def test_a_path_that_jumps_exits_unreachable_and_executes_nothing(tmp_path, capsys):
    panda = load_panda()
    joints = smooth_joint_path(panda, np.random.default_rng(2))
    path = save_ee_path_npz(tmp_path / 'ee.npz',
                            jump_sideways(wrist_path_from_joints(panda, joints)))
    out = tmp_path / 'motion.npz'
    assert main([str(path), '--out', str(out)]) == ExitCode.UNREACHABLE
    captured = capsys.readouterr()
    printed = captured.out + captured.err
    assert 'stopped at ik' in printed and 'from waypoint 23 to 24 (t = 1.438 s)' in printed
    assert 'nothing executed' in printed
    assert not out.exists() and not out.with_suffix('.mp4').exists()
