"""The lvp_plan command line on a tiny model folder and Lightning checkpoint."""

from __future__ import annotations

import imageio.v3 as iio
import pytest
import torch
from lvp_common.input_files import InputFileError, read_rgb_image
from lvp_common.video_io import read_video
from lvp_planner.cli import main
from lvp_planner.tiny_models import save_wan_dir

TINY_ARGS = ['--num-frames', '9', '--height', '32', '--width', '48', '--steps', '2',
             '--max-text-tokens', '8', '--device', 'cpu', '--quiet']


@pytest.fixture
def wan_dir(tmp_path, tiny_models):
    return save_wan_dir(tiny_models, tmp_path / 'wan')


def test_cli_writes_a_two_chunk_plan(tmp_path, wan_dir, tiny_models, scene_image, capsys):
    image = tmp_path / 'scene.png'
    iio.imwrite(image, scene_image)
    ckpt = tmp_path / 'lvp.ckpt'
    state = {'model.patch_embedding.weight': torch.zeros(1)}
    torch.save({'state_dict': state}, ckpt)
    out = tmp_path / 'plan.mp4'
    # a broken checkpoint is refused with exit status 2 and the tensor named
    code = main(['--checkpoint', str(ckpt), '--wan-dir', str(wan_dir), '--image', str(image),
                 '--prompt', 'pick up the cup', '--out', str(out), *TINY_ARGS])
    assert code == 2 and 'patch_embedding' in capsys.readouterr().err
    code = main(['--wan-dir', str(wan_dir), '--image', str(image), '--prompt', 'pick up the cup',
                 '--prompt', 'put it on the table', '--seed', '3', '--out', str(out), *TINY_ARGS])
    assert code == 0
    assert 'chunks start at [0, 9]' in capsys.readouterr().out
    clip = read_video(out)
    assert clip.frames.shape == (17, 32, 48, 3)
    assert clip.fps == pytest.approx(16.0)


def test_read_rgb_image_drops_alpha_and_expands_grey(tmp_path, scene_image):
    rgba = scene_image.copy()[:, :, [0, 1, 2, 0]]
    iio.imwrite(tmp_path / 'a.png', rgba)
    assert (read_rgb_image(tmp_path / 'a.png') == scene_image).all()
    iio.imwrite(tmp_path / 'g.png', scene_image[:, :, 0])
    grey = read_rgb_image(tmp_path / 'g.png')
    assert grey.shape == (40, 60, 3) and (grey[:, :, 2] == scene_image[:, :, 0]).all()
    with pytest.raises(InputFileError, match='absent.png'):
        read_rgb_image(tmp_path / 'absent.png')


def test_cli_speed_flags_override_the_preset_and_refuse_what_cannot_run(tmp_path, wan_dir,
                                                                         scene_image, capsys):
    from lvp_planner.cli import build_parser, sampler_config

    base = ['--wan-dir', 'w', '--image', 'i.png', '--prompt', 'p', '--out', 'o.mp4']
    config = sampler_config(build_parser().parse_args(
        [*base, '--device', 'cpu', '--preset', 'fast', '--cache', 'taylorseer',
         '--cache-interval', '2']))
    assert (config.num_inference_steps, config.cache, config.cache_interval) == (20, 'taylorseer',
                                                                                 2)
    config = sampler_config(build_parser().parse_args([*base, '--cache-mag-ratios', '1, 0.9']))
    assert config.cache_mag_ratios == (1.0, 0.9) and config.num_inference_steps == 40
    image = tmp_path / 'scene.png'
    iio.imwrite(image, scene_image)
    out = tmp_path / 'plan.mp4'
    args = ['--wan-dir', str(wan_dir), '--image', str(image), '--prompt', 'pick up the cup',
            '--out', str(out), *TINY_ARGS]
    assert main([*args, '--cache', 'faster']) == 1
    assert 'mix the three guidance passes' in capsys.readouterr().err
    assert main([*args, '--fp8']) == 1
    assert 'FP8 needs a CUDA GPU' in capsys.readouterr().err and not out.exists()
    assert main([*args, '--cache', 'first_block', '--solver-order', '1']) == 0
    assert read_video(out).frames.shape == (9, 32, 48, 3)


@pytest.mark.slow
def test_cli_parallel_under_torchrun_writes_the_single_process_plan(tmp_path, wan_dir,
                                                                   scene_image, capsys):
    import os
    import signal
    import subprocess
    import sys

    import numpy as np

    image = tmp_path / 'scene.png'
    iio.imwrite(image, scene_image)
    args = ['--wan-dir', str(wan_dir), '--image', str(image), '--prompt', 'pick up the cup',
            *TINY_ARGS]
    # without torchrun there is no process group to join
    assert main([*args, '--out', str(tmp_path / 'x.mp4'), '--parallel', 'guidance']) == 1
    assert 'torchrun' in capsys.readouterr().err
    assert main([*args, '--out', str(tmp_path / 'single.mp4')]) == 0
    # a session of its own: on a timeout the workers go with torchrun
    run = subprocess.Popen([sys.executable, '-m', 'torch.distributed.run', '--nproc-per-node',
                            '2', '--standalone', '-m', 'lvp_planner.cli', *args,
                            '--out', str(tmp_path / 'context.mp4'), '--parallel', 'context'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)
    try:
        stdout, stderr = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(run.pid, signal.SIGKILL)
        stdout, stderr = run.communicate()
    assert run.returncode == 0, stderr[-2000:]
    assert stdout.count('wrote') == 1  # process 0 alone writes
    single = read_video(tmp_path / 'single.mp4').frames.astype(np.int16)
    context = read_video(tmp_path / 'context.mp4').frames.astype(np.int16)
    assert context.shape == single.shape and np.abs(context - single).mean() < 0.5
