"""lvp_exec sits below lvp_sim: none of its modules imports lvp_sim; the sim backend and the
default surroundings come through entry points that lvp_sim declares."""

import ast
from pathlib import Path

import pytest
from lvp_exec.backends import BackendOptions, ExecutionSetupError, close_executor, make_executor
from lvp_exec.plugins import BACKEND_PLUGINS, PluginNotFoundError, load_plugin

PACKAGE = Path(__file__).resolve().parents[1] / 'lvp_exec'
IMPORT_FUNCTIONS = ('import_module', '__import__', 'import_interface')


def imported_modules(source: str) -> list[tuple[int, str]]:
    """(line, module) of every import in `source`: import statements at any depth (inside
    functions too) and import_module / __import__ calls with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str) \
                and getattr(node.func, 'id', getattr(node.func, 'attr', '')) in IMPORT_FUNCTIONS:
            found.append((node.lineno, node.args[0].value))
    return found


def test_the_probe_finds_imports_in_functions_and_by_name():
    source = ('def f():\n    from lvp_sim.world import WorldConfig\n'
              'def g():\n    import importlib\n    importlib.import_module("lvp_sim.tasks")\n'
              '# import lvp_sim in a comment\n"""from lvp_sim import x in a docstring"""\n')
    assert imported_modules(source) == [(2, 'lvp_sim.world'), (4, 'importlib'),
                                        (5, 'lvp_sim.tasks')]


def test_no_lvp_exec_module_imports_lvp_sim():
    modules = sorted(PACKAGE.rglob('*.py'))
    assert len(modules) > 10
    offending = [f'{path.relative_to(PACKAGE)}:{line}: {module}'
                 for path in modules for line, module in imported_modules(path.read_text())
                 if module == 'lvp_sim' or module.startswith('lvp_sim.')]
    assert not offending, 'lvp_exec imports lvp_sim:\n' + '\n'.join(offending)


def test_the_sim_backend_is_lvp_sims_entry_point():
    from lvp_sim.mujoco_executor import MujocoExecutor, make_sim_executor

    assert load_plugin(BACKEND_PLUGINS, 'sim') is make_sim_executor
    sim = make_executor('sim', None, BackendOptions())
    try:
        assert isinstance(sim, MujocoExecutor)
    finally:
        close_executor(sim)


def test_a_missing_plugin_names_the_backend_and_the_package(monkeypatch):
    import lvp_exec.plugins as plugins

    monkeypatch.setattr(plugins, 'entry_points', lambda group: ())
    with pytest.raises(PluginNotFoundError, match=r"'sim'.*'lvp_exec\.backends'.*install lvp_sim"):
        load_plugin(BACKEND_PLUGINS, 'sim')
    with pytest.raises(ExecutionSetupError, match=r"execution_backend 'sim'.*install lvp_sim"):
        make_executor('sim', None, BackendOptions())
