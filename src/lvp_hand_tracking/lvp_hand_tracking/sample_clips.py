"""OpenCV's sample clips of a real hand (cup.mp4, box.mp4), fetched once into the cache.

The clips ship with OpenCV's documentation (Apache-2.0/BSD): Debian's `opencv-doc` package holds
them gzipped under usr/share/doc/opencv-doc/opencv4/html/. `apt-get download opencv-doc` fetches
that package (no root needed, nothing installed); the two clips are read out of it with
`dpkg-deb --fsys-tarfile` and cached under `$LVP_CACHE_DIR/opencv_samples` (default
~/.cache/lvp), like the hand landmarker model (model_assets). They are test and demo inputs,
never part of the project.

Run as `python -m lvp_hand_tracking.sample_clips` to fetch them (prints their paths).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from lvp_hand_tracking.model_assets import cache_dir

SAMPLE_CLIPS = ('cup.mp4', 'box.mp4')
DEB_PACKAGE = 'opencv-doc'
DEB_MEMBER = './usr/share/doc/opencv-doc/opencv4/html/{name}.gz'


class SampleClipError(RuntimeError):
    """An OpenCV sample clip could not be fetched."""


def sample_dir() -> Path:
    """Where the clips are cached."""
    return cache_dir() / 'opencv_samples'


def _download_deb(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if shutil.which('apt-get') is None or shutil.which('dpkg-deb') is None:
        raise SampleClipError('apt-get/dpkg-deb not found: fetch the clips from Debian\'s '
                              f'{DEB_PACKAGE} or the opencv-python sdist (samples/data) and put '
                              f'them in {sample_dir()}')
    done = subprocess.run(['apt-get', 'download', DEB_PACKAGE], cwd=folder, capture_output=True,
                          text=True, check=False, timeout=600)
    debs = sorted(folder.glob(f'{DEB_PACKAGE}_*.deb'))
    if done.returncode != 0 or not debs:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SampleClipError(f'apt-get download {DEB_PACKAGE} failed ({done.returncode}): '
                              f'{" / ".join(tail)}')
    return debs[-1]


def _extract(deb: Path, names: tuple[str, ...], target: Path) -> None:
    wanted = {DEB_MEMBER.format(name=n): n for n in names}
    with subprocess.Popen(['dpkg-deb', '--fsys-tarfile', str(deb)],
                          stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode='r|') as tar:
            for member in tar:
                name = wanted.get(member.name)
                if name is None:
                    continue
                data = tar.extractfile(member)
                assert data is not None
                partial = target / f'{name}.partial'
                partial.write_bytes(gzip.decompress(data.read()))
                partial.replace(target / name)


def ensure_sample_clip(name: str) -> Path:
    """Return the cached path of OpenCV sample clip `name` (SAMPLE_CLIPS), fetching it once."""
    if name not in SAMPLE_CLIPS:
        raise SampleClipError(f'{name!r}: not one of the OpenCV sample clips {SAMPLE_CLIPS}')
    target = sample_dir()
    path = target / name
    if path.is_file() and path.stat().st_size > 0:
        return path
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target) as scratch:
        try:
            deb = _download_deb(Path(scratch))
            _extract(deb, SAMPLE_CLIPS, target)
        except (OSError, subprocess.SubprocessError, tarfile.TarError) as exc:
            raise SampleClipError(f'could not fetch {name}: {exc}') from exc
    if not path.is_file():
        raise SampleClipError(f'{DEB_PACKAGE} holds no {DEB_MEMBER.format(name=name)}')
    return path


def main() -> int:
    """Fetch the sample clips and print their paths."""
    try:
        for name in SAMPLE_CLIPS:
            print(ensure_sample_clip(name))
    except SampleClipError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
