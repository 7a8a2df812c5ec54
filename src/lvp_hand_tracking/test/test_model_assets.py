import subprocess
import zipfile

import pytest
from lvp_hand_tracking.model_assets import (
    TASK_MEMBERS,
    ModelAssetError,
    build_task_from_wheel,
    ensure_hand_landmarker_task,
    is_valid_task,
    resolve_model_path,
)

from lvp_hand_tracking import model_assets


def _fake_wheel(folder, with_models=True):
    wheel = folder / 'mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl'
    with zipfile.ZipFile(wheel, 'w') as z:
        z.writestr('mediapipe/__init__.py', '')
        if with_models:
            for src in TASK_MEMBERS.values():
                z.writestr(src, f'model bytes of {src}')
    return wheel


def test_build_task_from_wheel_renames_the_two_models(tmp_path):
    task = build_task_from_wheel(_fake_wheel(tmp_path), tmp_path / 'out' / 'hand.task')
    with zipfile.ZipFile(task) as z:
        assert sorted(z.namelist()) == sorted(TASK_MEMBERS)
        for dst, src in TASK_MEMBERS.items():
            assert z.read(dst).decode() == f'model bytes of {src}'
    assert is_valid_task(task)


def test_build_task_rejects_a_wheel_without_models(tmp_path):
    with pytest.raises(ModelAssetError, match='does not contain'):
        build_task_from_wheel(_fake_wheel(tmp_path, with_models=False), tmp_path / 'h.task')


def test_ensure_uses_cached_wheel_and_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.setenv('LVP_CACHE_DIR', str(tmp_path / 'cache'))
    (tmp_path / 'cache' / 'wheels').mkdir(parents=True)
    _fake_wheel(tmp_path / 'cache' / 'wheels')

    def no_download(*args, **kwargs):
        raise AssertionError('must not download when the wheel is cached')

    monkeypatch.setattr(subprocess, 'run', no_download)
    task = ensure_hand_landmarker_task()
    assert task == tmp_path / 'cache' / 'mediapipe' / 'hand_landmarker.task'
    stamp = task.stat().st_mtime_ns
    assert ensure_hand_landmarker_task() == task
    assert task.stat().st_mtime_ns == stamp


def test_failed_download_names_the_version_and_pip_error(tmp_path, monkeypatch):
    monkeypatch.setenv('LVP_CACHE_DIR', str(tmp_path))

    def failing_pip(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, '', 'ERROR: No matching distribution')

    monkeypatch.setattr(subprocess, 'run', failing_pip)
    with pytest.raises(ModelAssetError, match=r'mediapipe==0\.10\.21.*\n.*No matching'):
        ensure_hand_landmarker_task()
    assert model_assets.main([]) == 1


def test_user_model_path_must_exist_and_be_a_task(tmp_path):
    with pytest.raises(ModelAssetError, match='does not exist'):
        resolve_model_path(tmp_path / 'missing.task')
    bogus = tmp_path / 'bogus.task'
    bogus.write_text('not a zip')
    with pytest.raises(ModelAssetError, match='not a hand landmarker'):
        resolve_model_path(bogus)
    good = build_task_from_wheel(_fake_wheel(tmp_path), tmp_path / 'good.task')
    assert resolve_model_path(str(good)) == good


def test_main_prints_the_task_path(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('LVP_CACHE_DIR', str(tmp_path))
    (tmp_path / 'wheels').mkdir()
    _fake_wheel(tmp_path / 'wheels')
    assert model_assets.main([]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / 'mediapipe' / 'hand_landmarker.task')
