"""Every node a launch file starts exists, and every parameter it sets is declared by that node.

`launch`/`launch_ros` are not installable from PyPI here, so the launch files are read with ast:
the check is on what they name, which is what goes wrong when code moves.
"""

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / 'launch').glob('*.launch.py'))


def console_scripts(package: str) -> dict[str, str]:
    """Map executable name -> 'module:function' from the package's setup.py."""
    text = (REPO / 'src' / package / 'setup.py').read_text()
    return dict(re.findall(r"'([\w-]+)\s*=\s*([\w.]+:\w+)'", text))


def launched_nodes(path: Path) -> list[dict]:
    nodes = []
    for call in ast.walk(ast.parse(path.read_text())):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', None) == 'Node':
            kwargs = {k.arg: k.value for k in call.keywords}
            params: list[str] = []
            for item in getattr(kwargs.get('parameters'), 'elts', []):
                if isinstance(item, ast.Dict):
                    params += [str(k.value) for k in item.keys if isinstance(k, ast.Constant)]
            nodes.append({'package': ast.literal_eval(kwargs['package']),
                          'executable': ast.literal_eval(kwargs['executable']),
                          'parameters': params})
    return nodes


def test_there_are_launch_files():
    assert LAUNCH_FILES, 'launch/ holds no *.launch.py'


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launched_executables_and_parameters_exist(path):
    nodes = launched_nodes(path)
    assert nodes, f'{path.name} starts no Node'
    for node in nodes:
        scripts = console_scripts(node['package'])
        assert node['executable'] in scripts, (
            f"{path.name}: {node['package']} has no executable {node['executable']!r} "
            f'(has {sorted(scripts)})')
        module = scripts[node['executable']].split(':')[0]
        source = (REPO / 'src' / node['package'] / Path(*module.split('.'))).with_suffix('.py')
        text = source.read_text()
        for name in node['parameters']:
            assert f"'{name}'" in text and 'declare_parameter' in text, (
                f"{path.name}: {module} declares no parameter {name!r}")
