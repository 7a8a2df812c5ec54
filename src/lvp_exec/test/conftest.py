"""Shared fixtures of the lvp_exec tests."""

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest


@pytest.fixture
def dds_process() -> Iterator[Callable[..., Callable[[], dict]]]:
    """Start a Python DDS helper process: `start(script, *args)` waits for its 'ready' line and
    returns `collect()`, which closes its stdin and returns the JSON object it printed last."""
    procs: list[subprocess.Popen] = []

    def start(script: str, *args: str) -> Callable[[], dict]:
        proc = subprocess.Popen([sys.executable, '-c', script, *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == 'ready'

        def collect() -> dict:
            time.sleep(0.2)  # let the last samples arrive
            out, _ = proc.communicate('', timeout=20)
            return json.loads(out.strip().splitlines()[-1])

        return collect

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
