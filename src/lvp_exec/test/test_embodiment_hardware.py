"""The embodiment hardware registry: the names written in one module only, lookups by name and
by robot model, and the lower layers branching on a spec's fields."""

import ast
from dataclasses import replace
from pathlib import Path

import pytest
from lvp_exec.backends import BackendMismatchError, check_backend_fits
from lvp_exec.embodiment_hardware import (
    EMBODIMENTS,
    FRANKA_GRIPPER,
    G1_INSPIRE,
    EndEffector,
    UnknownHardwareError,
    g1_inspire_hardware,
    hardware_for_robot,
    hardware_named,
    register,
    unregister,
)
from lvp_exec.robots import load_robot

from lvp_exec import embodiment_hardware

SRC = Path(__file__).resolve().parents[2]
SPEC_MODULE = Path(embodiment_hardware.__file__).resolve()


def docstring_nodes(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (a module's, class's or function's,
    and the attribute docstrings after an assignment): text, not code."""
    ids = set()
    for node in ast.walk(tree):
        body = getattr(node, 'body', None)
        if not isinstance(body, list):
            continue
        for statement in body:
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant) \
                    and isinstance(statement.value.value, str):
                ids.add(id(statement.value))
    return ids


def name_literals(source: str, names: tuple[str, ...]) -> list[tuple[int, str]]:
    """(line, name) of every string constant of `source` that is exactly an embodiment name and
    not a docstring: comparisons, dict keys, default arguments, tuples, call arguments alike.
    Comments are not in the AST; longer strings ('/franka_gripper', a message naming one) are
    not the name."""
    tree = ast.parse(source)
    docstrings = docstring_nodes(tree)
    return sorted((node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in names
                  and id(node) not in docstrings)


def package_modules() -> list[Path]:
    """Every module of every workspace package (src/<package>/<package>/**), tests excluded."""
    return sorted(path for package in SRC.iterdir() if (package / package.name).is_dir()
                  for path in (package / package.name).rglob('*.py'))


def test_the_probe_sees_comparisons_keys_defaults_and_tuples_not_docstrings():
    source = ('"""franka_gripper in a docstring"""\n'
              'def f(e="g1_inspire"):\n    """g1_inspire"""\n    return e == "franka_gripper"\n'
              'X = {"g1_inspire": 1}\nY = ("franka_gripper", "g1_inspire")\n'
              'Z = "/franka_gripper"  # franka_gripper\nW = "franka_gripper takes events"\n')
    assert name_literals(source, EMBODIMENTS) == [
        (2, 'g1_inspire'), (4, 'franka_gripper'), (5, 'g1_inspire'), (6, 'franka_gripper'),
        (6, 'g1_inspire')]


def test_embodiment_names_are_written_in_the_hardware_module_only():
    modules = package_modules()
    assert SPEC_MODULE in modules and len(modules) > 100
    assert name_literals(SPEC_MODULE.read_text(), EMBODIMENTS)  # the probe finds them there
    found = [f'{path.relative_to(SRC)}:{line}: {name!r}'
             for path in modules if path != SPEC_MODULE
             for line, name in name_literals(path.read_text(), EMBODIMENTS)]
    assert not found, ('embodiment names outside lvp_exec.embodiment_hardware (look the spec '
                       'up and branch on its fields):\n' + '\n'.join(found))


@pytest.mark.parametrize('robot, hardware', [('panda', FRANKA_GRIPPER), ('fr3', FRANKA_GRIPPER),
                                             ('g1_right_arm', G1_INSPIRE),
                                             ('g1_left_arm', G1_INSPIRE)])
def test_a_robot_model_finds_its_hardware(robot, hardware):
    assert hardware_for_robot(load_robot(robot)) is hardware


def test_unknown_names_and_robots_name_the_choices():
    with pytest.raises(UnknownHardwareError, match=r"'spot_arm'.*franka_gripper.*g1_inspire"):
        hardware_named('spot_arm')
    panda = load_robot('panda')
    with pytest.raises(UnknownHardwareError, match=r"'ur5'.*'g1_left_arm'.*'panda'"):
        hardware_for_robot(replace(panda, name='ur5'))
    with pytest.raises(ValueError, match='already registered'):
        register(FRANKA_GRIPPER)


def test_a_registered_embodiment_is_found_and_backends_follow_its_fields():
    left = g1_inspire_hardware('g1_left_only', 'left')
    assert left.end_effector is EndEffector.INSPIRE_HAND and not left.takes_gripper_events
    register(left)
    try:
        assert hardware_named('g1_left_only') is left
        assert left.load_robot(side='right').name == 'g1_left_arm'  # the side is fixed
        # the built-in G1 spec was registered first: a left arm model is still its own
        assert hardware_for_robot(load_robot('g1_left_arm')) is G1_INSPIRE
        check_backend_fits('sim', 'g1_left_only')
        with pytest.raises(BackendMismatchError, match="drives the g1_inspire embodiment, not "
                                                       "'g1_left_only'"):
            check_backend_fits('unitree', 'g1_left_only')
    finally:
        unregister('g1_left_only')
    with pytest.raises(UnknownHardwareError):
        hardware_named('g1_left_only')


def test_the_sim_and_the_safety_filter_read_the_spec_fields():
    from lvp_exec.safety import default_safety_config
    from lvp_sim.mujoco_executor import MujocoExecutor
    from lvp_sim.world import SIM_LAYOUTS, world_config_for

    panda, g1 = load_robot('panda'), load_robot('g1_right_arm')
    sim = MujocoExecutor()
    assert sim.tolerance_for(panda) == FRANKA_GRIPPER.sim_path_tolerance_rad == 0.4
    assert sim.tolerance_for(g1) == G1_INSPIRE.sim_path_tolerance_rad == 0.9
    config = default_safety_config(panda)
    assert config.contact_links == ('panda_leftfinger', 'panda_rightfinger')
    assert default_safety_config(g1).workspace_min == (-0.1, -0.8, -0.6)
    assert world_config_for(G1_INSPIRE.name) == SIM_LAYOUTS[G1_INSPIRE.sim_layout]()
