"""Make the offline MediaPipe `hand_landmarker.task` from the mediapipe 0.10.21 wheel.

The current mediapipe wheels ship no models; 0.10.21 ships the full palm-detection and
hand-landmark TFLite models (Apache-2.0) inside its wheel. Zipping those two files under the names
the Tasks API expects gives a `.task` bundle that today's `HandLandmarker` loads with numpy 2.
Everything is cached under `$LVP_CACHE_DIR` (default `~/.cache/lvp`); building is idempotent.

Run as `python -m lvp_hand_tracking.model_assets` to fetch and build once (prints the path).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

MEDIAPIPE_MODEL_VERSION = '0.10.21'
"""The last mediapipe release whose wheel carries the hand models."""

TASK_FILENAME = 'hand_landmarker.task'

TASK_MEMBERS = {
    'hand_detector.tflite': 'mediapipe/modules/palm_detection/palm_detection_full.tflite',
    'hand_landmarks_detector.tflite': 'mediapipe/modules/hand_landmark/hand_landmark_full.tflite',
}
"""Member name in the .task bundle -> path of the model inside the mediapipe wheel."""


class ModelAssetError(RuntimeError):
    """The hand landmarker model could not be found, downloaded or built."""


def cache_dir() -> Path:
    """Return the project's cache folder: $LVP_CACHE_DIR, else ~/.cache/lvp."""
    env = os.environ.get('LVP_CACHE_DIR')
    return Path(env).expanduser() if env else Path.home() / '.cache' / 'lvp'


def default_task_path() -> Path:
    """Return where the built `hand_landmarker.task` lives in the cache."""
    return cache_dir() / 'mediapipe' / TASK_FILENAME


def is_valid_task(path: Path) -> bool:
    """Return True if `path` is a zip bundle holding both hand models."""
    try:
        with zipfile.ZipFile(path) as bundle:
            names = set(bundle.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return set(TASK_MEMBERS) <= names


def find_cached_wheel(folder: Path, version: str = MEDIAPIPE_MODEL_VERSION) -> Path | None:
    """Return a mediapipe wheel of `version` already in `folder`, or None."""
    wheels = sorted(folder.glob(f'mediapipe-{version}-*.whl'))
    return wheels[0] if wheels else None


def download_wheel(folder: Path, version: str = MEDIAPIPE_MODEL_VERSION) -> Path:
    """Download the mediapipe wheel for this platform and Python into `folder` with pip."""
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, '-m', 'pip', 'download', f'mediapipe=={version}', '--no-deps',
           '--only-binary=:all:', '--disable-pip-version-check', '--dest', str(folder)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wheel = find_cached_wheel(folder, version)
    if result.returncode != 0 or wheel is None:
        tail = '\n'.join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise ModelAssetError(
            f'could not download mediapipe=={version} (the wheel that carries the hand models) '
            f'into {folder}: pip exited with {result.returncode}:\n{tail}\n'
            f'Fetch it on a machine with PyPI access ({" ".join(cmd[1:])}) and copy the .whl '
            f'there, or pass your own hand_landmarker.task.')
    return wheel


def build_task_from_wheel(wheel: Path, task_path: Path) -> Path:
    """Zip the palm-detection and hand-landmark models of `wheel` into a `.task` bundle."""
    try:
        with zipfile.ZipFile(wheel) as source:
            names = set(source.namelist())
            missing = [src for src in TASK_MEMBERS.values() if src not in names]
            if missing:
                raise ModelAssetError(f'{wheel} does not contain {missing}; use the mediapipe '
                                      f'{MEDIAPIPE_MODEL_VERSION} wheel')
            models = {dst: source.read(src) for dst, src in TASK_MEMBERS.items()}
    except zipfile.BadZipFile as exc:
        raise ModelAssetError(f'{wheel} is not a readable wheel (zip): {exc}') from exc
    task_path.parent.mkdir(parents=True, exist_ok=True)
    # Write next to the target and rename, so a crash never leaves a half-written bundle.
    fd, tmp_name = tempfile.mkstemp(suffix='.task.tmp', dir=task_path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, 'w', compression=zipfile.ZIP_STORED) as bundle:
            for name, data in models.items():
                bundle.writestr(name, data)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, task_path)
    finally:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
    return task_path


def ensure_hand_landmarker_task(task_path: Path | None = None, force: bool = False) -> Path:
    """Return the path of a valid `hand_landmarker.task`, downloading and building it if needed."""
    target = Path(task_path) if task_path is not None else default_task_path()
    if not force and is_valid_task(target):
        return target
    wheel_dir = cache_dir() / 'wheels'
    wheel = find_cached_wheel(wheel_dir)
    if wheel is None or force:
        wheel = download_wheel(wheel_dir)
    return build_task_from_wheel(wheel, target)


def resolve_model_path(model_path: str | Path | None = None) -> Path:
    """Return the user's `.task` file if given (it must exist), else the cached one."""
    if model_path is None or str(model_path) == '':
        return ensure_hand_landmarker_task()
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise ModelAssetError(f'hand landmarker model {path} does not exist')
    if not is_valid_task(path):
        raise ModelAssetError(f'{path} is not a hand landmarker .task bundle (expected a zip '
                              f'with {sorted(TASK_MEMBERS)})')
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Build the cached hand landmarker model and print its path."""
    parser = argparse.ArgumentParser(
        prog='python -m lvp_hand_tracking.model_assets',
        description='Build the offline MediaPipe hand_landmarker.task under $LVP_CACHE_DIR.')
    parser.add_argument('--output', type=Path, default=None,
                        help=f'where to write the bundle (default: {default_task_path()})')
    parser.add_argument('--force', action='store_true',
                        help='download and rebuild even if a valid bundle exists')
    args = parser.parse_args(argv)
    try:
        path = ensure_hand_landmarker_task(args.output, force=args.force)
    except ModelAssetError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == '__main__':
    sys.exit(main())
