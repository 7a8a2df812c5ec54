"""lvp_common's pure core imports with rclpy (and every ROS message package) unavailable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / 'lvp_common'

ROS_PART = {'ros_node', 'tf_listener', 'ros_conversions', 'plan_archive'}
"""The modules that need rclpy or ROS message types; everything else is the pure core."""

BLOCKED = ('rclpy', 'rosidl_runtime_py', 'rosidl_parser', 'lvp_interfaces', 'std_msgs',
           'sensor_msgs', 'geometry_msgs', 'nav_msgs', 'builtin_interfaces', 'tf2_msgs',
           'ament_index_python')

PROBE = '''
import importlib.abc, sys
BLOCKED = {blocked!r}

class NoRos(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{{name}} is unavailable in this test')
        return None

sys.meta_path.insert(0, NoRos())
for module in {modules!r}:
    importlib.import_module('lvp_common.' + module)
loaded = sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED)
assert not loaded, loaded
print('ok', len({modules!r}))
'''


def pure_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob('*.py')
                  if p.stem != '__init__' and p.stem not in ROS_PART)


def test_the_pure_core_imports_without_ros():
    modules = pure_modules()
    assert {'artifacts', 'geometry', 'cli_exit', 'plan_record', 'topics'} <= set(modules)
    probe = PROBE.format(blocked=BLOCKED, modules=modules)
    run = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == f'ok {len(modules)}'


def test_the_probe_catches_a_ros_import():
    probe = PROBE.format(blocked=BLOCKED, modules=['plan_archive'])
    run = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode != 0 and 'unavailable in this test' in run.stderr


def test_every_ros_part_module_exists():
    assert ROS_PART <= {p.stem for p in PACKAGE.glob('*.py')}
