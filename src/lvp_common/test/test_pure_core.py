"""lvp_common's pure core imports with rclpy (and every ROS message package) unavailable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'lvp_common'

ROS_PART = PACKAGE / 'ros'
"""The subpackage of the modules that need rclpy or ROS message types; every module beside it
(lvp_common/*.py) is the pure core."""

BLOCKED_PREFIXES = ('rclpy', 'rcl_', 'rosidl', 'rmw', 'ament_index_python')
BLOCKED_SUFFIXES = ('_msgs', '_interfaces')
"""rclpy, the rosidl runtime and every message package (std_msgs, lvp_interfaces, ...)."""

PROBE = '''
import importlib, importlib.abc, sys
PREFIXES, SUFFIXES = {prefixes!r}, {suffixes!r}

def blocked(name):
    top = name.split('.')[0]
    return top.startswith(PREFIXES) or top.endswith(SUFFIXES)

class NoRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if blocked(name):
            raise ImportError(f'{{name}} is unavailable in this test')
        return None

sys.meta_path.insert(0, NoRos())
importlib.import_module('lvp_common')
for module in {modules!r}:
    importlib.import_module('lvp_common.' + module)
loaded = sorted(m for m in sys.modules if blocked(m))
assert not loaded, loaded
print('ok', len({modules!r}))
'''


def run_probe(modules: list[str]) -> subprocess.CompletedProcess:
    """Import `lvp_common` and `lvp_common.<module>` for each module in a fresh interpreter."""
    probe = PROBE.format(prefixes=BLOCKED_PREFIXES, suffixes=BLOCKED_SUFFIXES, modules=modules)
    return subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                          timeout=120)


def pure_modules() -> list[str]:
    """Every module of the package outside `ros/`, found on disk (a new module is covered)."""
    return sorted(p.stem for p in PACKAGE.glob('*.py') if p.stem != '__init__')


def test_the_pure_core_imports_without_ros():
    modules = pure_modules()
    assert {'artifacts', 'geometry', 'cli_exit', 'plan_record', 'topics'} <= set(modules)
    run = run_probe(modules)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == f'ok {len(modules)}'


def test_the_probe_catches_a_ros_import():
    run = run_probe(['ros.plan_archive'])
    assert run.returncode != 0 and 'unavailable in this test' in run.stderr


def test_the_ros_part_is_a_subpackage_of_its_own():
    ros_modules = {p.stem for p in ROS_PART.glob('*.py')}
    assert {'__init__', 'conversions', 'node', 'tf_listener', 'plan_archive'} <= ros_modules
    assert not ros_modules & set(pure_modules())
