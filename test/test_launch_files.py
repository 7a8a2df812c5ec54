"""Every node a launch file starts exists, and every parameter it sets is declared by that node.

Read with ast, without ROS: the check is on what the files name, which is what goes wrong when
code moves. test_launch_ros.py runs them with the real `ros2 launch`.
"""

import ast
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((REPO / 'launch').glob('*.launch.py'))
EXTERNAL_EXECUTABLES = {'robot_state_publisher': 'robot_state_publisher', 'rviz2': 'rviz2',
                        'controller_manager': 'spawner'}
"""ROS packages (not ours) a launch file may start, and their executables."""
BACKEND_PARAMETERS_SOURCE = REPO / 'src' / 'lvp_exec' / 'lvp_exec' / 'backends.py'
"""plan_and_execute declares the execution backend's parameters from lvp_exec's table."""


def declaring_sources(source: Path) -> str:
    """Text of the node's package modules (a node may declare parameters from helpers)."""
    texts = [path.read_text() for path in source.parent.glob('*.py')]
    if source.stem == 'plan_and_execute_node':
        texts.append(BACKEND_PARAMETERS_SOURCE.read_text())
    return '\n'.join(texts)


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
        if node['package'] in EXTERNAL_EXECUTABLES:
            assert node['executable'] == EXTERNAL_EXECUTABLES[node['package']], node
            continue
        scripts = console_scripts(node['package'])
        assert node['executable'] in scripts, (
            f"{path.name}: {node['package']} has no executable {node['executable']!r} "
            f'(has {sorted(scripts)})')
        module = scripts[node['executable']].split(':')[0]
        source = (REPO / 'src' / node['package'] / Path(*module.split('.'))).with_suffix('.py')
        text = declaring_sources(source)
        for name in node['parameters']:
            assert f"'{name}'" in text and 'declare_parameter' in text, (
                f"{path.name}: {module} declares no parameter {name!r}")


CONFIG_FILES = sorted((REPO / 'config').glob('*.yaml'))
RVIZ_FILES = sorted((REPO / 'rviz').glob('*.rviz'))


def node_modules() -> dict[str, Path]:
    """Map node name (the launch files' `name=`) -> source file of its executable."""
    modules = {}
    for path in LAUNCH_FILES:
        for call in ast.walk(ast.parse(path.read_text())):
            if isinstance(call, ast.Call) and getattr(call.func, 'id', None) == 'Node':
                kwargs = {k.arg: k.value for k in call.keywords}
                if 'name' not in kwargs:
                    continue
                package = ast.literal_eval(kwargs['package'])
                if not (REPO / 'src' / package).is_dir():
                    continue  # robot_state_publisher, rviz2: not ours
                module = console_scripts(package)[ast.literal_eval(kwargs['executable'])]
                source = REPO / 'src' / package / Path(*module.split(':')[0].split('.'))
                modules[ast.literal_eval(kwargs['name'])] = source.with_suffix('.py')
    return modules


def flat_names(params: dict, prefix: str = '') -> list[str]:
    """ROS parameter names of a ros__parameters mapping (nested keys join with '.')."""
    names = []
    for key, value in params.items():
        name = f'{prefix}{key}'
        names += flat_names(value, name + '.') if isinstance(value, dict) else [name]
    return names


@pytest.mark.parametrize('path', CONFIG_FILES, ids=lambda p: p.name)
def test_config_parameters_exist(path):
    import yaml

    modules = node_modules()
    config = yaml.safe_load(path.read_text())
    for key, body in config.items():
        # `/**/name` applies in every namespace (namespace:=r1); a bare name only at the root
        assert key.startswith('/**/'), f'{path.name}: {key!r} is lost under a namespace'
        node = key.removeprefix('/**/')
        if path.name == 'fr3_arm_controller.yaml':
            assert node == 'fr3_arm_controller'
            assert body['ros__parameters']['type'] == \
                'joint_trajectory_controller/JointTrajectoryController'
            continue
        assert node in modules, f'{path.name}: no launch file starts a node named {node!r}'
        text = declaring_sources(modules[node])
        for name in flat_names(body['ros__parameters']):
            assert f"'{name}'" in text and 'declare_parameter' in text, (
                f'{path.name}: {modules[node].name} declares no parameter {name!r}')


@pytest.mark.parametrize('setup', ['franka_gripper', 'g1_inspire'])
def test_setup_has_launch_config_and_rviz(setup):
    assert (REPO / 'launch' / f'{setup}.launch.py').is_file()
    assert (REPO / 'config' / f'{setup}.yaml').is_file()
    assert (REPO / 'rviz' / f'{setup}.rviz').is_file()


def default_description(setup: str) -> Path:
    """The URDF the setup's launch file gives robot_state_publisher by default."""
    from ament_index_python.packages import get_package_share_directory

    tree = ast.parse((REPO / 'launch' / f'{setup}.launch.py').read_text())
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', None) == \
                'robot_state_publisher':
            return Path(get_package_share_directory('example-robot-data'),
                        ast.literal_eval(call.args[1]))
    raise AssertionError(f'{setup}.launch.py starts no robot_state_publisher')


def urdf_root_link(path: Path) -> str:
    """The link no joint has as its child."""
    import xml.etree.ElementTree as ET

    robot = ET.parse(path).getroot()
    children = {j.find('child').get('link') for j in robot.iter('joint')}  # type: ignore[union-attr]
    roots = [link.get('name') for link in robot.iter('link') if link.get('name') not in children]
    assert len(roots) == 1, f'{path}: roots {roots}'
    return str(roots[0])


@pytest.mark.parametrize('path', RVIZ_FILES, ids=lambda p: p.name)
def test_rviz_config_parses_and_uses_live_topics(path):
    import yaml

    from lvp_common import topics

    known = {v for k, v in vars(topics).items() if k.isupper() and isinstance(v, str)}
    config = yaml.safe_load(path.read_text())
    manager = config['Visualization Manager']
    # the robot model's root: the frame robot_state_publisher's TF tree hangs from
    root = urdf_root_link(default_description(path.stem))
    assert root == {'franka_gripper': 'panda_link0', 'g1_inspire': 'pelvis'}[path.stem]
    assert manager['Global Options']['Fixed Frame'] == root
    assert manager['Views']['Current']['Target Frame'] == root
    displays = manager['Displays']
    classes = {d['Class'] for d in displays}
    for wanted in ('rviz_default_plugins/RobotModel', 'rviz_default_plugins/PointCloud2',
                   'rviz_default_plugins/Path', 'rviz_default_plugins/MarkerArray',
                   'rviz_default_plugins/Image'):
        assert wanted in classes, f'{path.name}: no {wanted} display'
    for display in displays:
        assert display.get('Reference Frame', root) == root, display['Name']
        topic = display.get('Topic', {}).get('Value')
        if topic is not None and display['Class'] != 'rviz_default_plugins/RobotModel':
            assert topic in known, f'{path.name}: {display["Name"]} shows {topic!r}, not a ' \
                                   'lvp_common.topics name'


# --- launch arguments ---------------------------------------------------------------------------

README = REPO / 'src' / 'lvp_bringup' / 'README.md'


def declared_arguments(tree: ast.AST) -> dict[str, str]:
    """DeclareLaunchArgument name -> default value ('' when the default is a substitution)."""
    out = {}
    for call in ast.walk(tree):
        if (isinstance(call, ast.Call)
                and getattr(call.func, 'id', None) == 'DeclareLaunchArgument'):
            kwargs = {k.arg: k.value for k in call.keywords}
            default = kwargs.get('default_value')
            out[ast.literal_eval(call.args[0])] = (
                default.value if isinstance(default, ast.Constant) else '')
    return out


def used_arguments(tree: ast.AST) -> set[str]:
    """Names read with arg('...') / LaunchConfiguration('...')."""
    return {ast.literal_eval(call.args[0]) for call in ast.walk(tree)
            if isinstance(call, ast.Call)
            and getattr(call.func, 'id', None) in ('arg', 'LaunchConfiguration')
            and call.args and isinstance(call.args[0], ast.Constant)}


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_arguments_are_declared_and_documented(path):
    tree = ast.parse(path.read_text())
    declared = declared_arguments(tree)
    assert used_arguments(tree) <= set(declared), (
        f'{path.name} reads undeclared arguments {used_arguments(tree) - set(declared)}')
    if path.name == 'demonstration_planner.launch.py':
        return
    readme = README.read_text()
    for name in declared:
        assert f'`{name}`' in readme, f'{path.name}: argument {name!r} not in the README table'


def substitution_value(node: ast.AST, args: dict[str, str], env: Mapping[str, ast.AST]) -> str:
    """Evaluate a launch substitution built from str constants, arg(...), PythonExpression."""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if isinstance(node, ast.Name):
        return substitution_value(env[node.id], args, env)
    if isinstance(node, ast.Call):
        func = getattr(node.func, 'id', None)
        if func in ('arg', 'LaunchConfiguration'):
            return args[ast.literal_eval(node.args[0])]
        if func == 'PythonExpression':
            assert isinstance(node.args[0], ast.List)
            text = ''.join(substitution_value(e, args, env) for e in node.args[0].elts)
            return str(eval(text))  # what PythonExpression.perform does
        if func == 'ParameterValue':
            return substitution_value(node.args[0], args, env)
    raise AssertionError(f'cannot evaluate {ast.dump(node)}')


def plan_and_execute_parameters(path: Path, overrides: dict[str, str]) -> dict[str, str]:
    """The parameters the launch file gives plan_and_execute for these launch arguments."""
    tree = ast.parse(path.read_text())
    args = {**declared_arguments(tree), **overrides}
    env = {t.id: a.value for a in ast.walk(tree) if isinstance(a, ast.Assign)
           for t in a.targets if isinstance(t, ast.Name)}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', None) == 'Node':
            kwargs = {k.arg: k.value for k in call.keywords}
            if ast.literal_eval(kwargs['executable']) != 'plan_and_execute':
                continue
            values = {}
            for item in getattr(kwargs['parameters'], 'elts', []):
                if isinstance(item, ast.Dict):
                    for key, value in zip(item.keys, item.values):
                        assert isinstance(key, ast.Constant)
                        values[key.value] = substitution_value(value, args, env)
            return values
    raise AssertionError(f'{path.name} starts no plan_and_execute')


@pytest.mark.parametrize('setup, overrides, backend', [
    ('franka_gripper', {}, 'sim'),
    ('franka_gripper', {'use_sim': 'false'}, 'ros2_control'),
    ('franka_gripper', {'use_sim': 'False'}, 'ros2_control'),
    ('franka_gripper', {'robot_ip': '172.16.0.2'}, 'ros2_control'),
    ('franka_gripper', {'use_fake_hardware': 'true'}, 'ros2_control'),
    ('g1_inspire', {}, 'sim'),
    ('g1_inspire', {'network_interface': 'eth0'}, 'unitree'),
    ('g1_inspire', {'use_sim': 'false'}, 'unitree'),
    ('franka_gripper', {'use_sim': 'ture'}, 'sim'),
    ('g1_inspire', {'use_sim': 'no'}, 'sim'),
])
def test_launch_arguments_select_the_execution_backend(setup, overrides, backend):
    params = plan_and_execute_parameters(REPO / 'launch' / f'{setup}.launch.py', overrides)
    assert params['execution_backend'] == backend
    assert params['embodiment'] == setup
    if setup == 'g1_inspire':
        assert params['network_interface'] == overrides.get('network_interface', '')


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_only_plan_and_execute_publishes_the_artifacts(path):
    """No stage nodes in the launches: the artifacts on the topics are the ones executed."""
    stage_executables = {'hand_tracking_node', 'reconstruction_node', 'grasp_node',
                         'retarget_node'}
    executables = {node['executable'] for node in launched_nodes(path)}
    assert not executables & stage_executables, path.name
    tree = ast.parse(path.read_text())
    assert 'stage_nodes' not in declared_arguments(tree)
    assert 'stage_nodes_publish' not in path.read_text()


@pytest.mark.parametrize('robot_ip, spawn_controller, spawned', [
    ('', 'true', 'False'), ('172.16.0.2', 'true', 'True'), ('172.16.0.2', 'false', 'False'),
    ('172.16.0.2', 'False', 'False')])
def test_franka_spawns_the_controller_only_on_the_robot(robot_ip, spawn_controller, spawned):
    path = REPO / 'launch' / 'franka_gripper.launch.py'
    tree = ast.parse(path.read_text())
    args = {**declared_arguments(tree), 'robot_ip': robot_ip, 'spawn_controller': spawn_controller}
    env = {t.id: a.value for a in ast.walk(tree) if isinstance(a, ast.Assign)
           for t in a.targets if isinstance(t, ast.Name)}
    assert substitution_value(env['spawn'], args, env) == spawned
    params = plan_and_execute_parameters(path, {'arm_model': 'fr3'})
    assert params['arm_model'] == 'fr3'


@pytest.mark.parametrize('use_sim, robot_ip, use_rsp, started', [
    ('true', '', 'true', 'True'), ('true', '', 'false', 'False'),
    ('true', '172.16.0.2', 'true', 'False'), ('false', '', 'true', 'False')])
def test_franka_robot_model_follows_the_playback_only_in_the_sim(use_sim, robot_ip, use_rsp,
                                                                 started):
    """On the robot, franka_ros2's own robot_state_publisher runs on its joint_states."""
    path = REPO / 'launch' / 'franka_gripper.launch.py'
    tree = ast.parse(path.read_text())
    args = {**declared_arguments(tree), 'use_sim': use_sim, 'robot_ip': robot_ip,
            'use_robot_state_publisher': use_rsp}
    env = {t.id: a.value for a in ast.walk(tree) if isinstance(a, ast.Assign)
           for t in a.targets if isinstance(t, ast.Name)}
    assert substitution_value(env['model_in_sim'], args, env) == started


# --- package.xml dependencies -------------------------------------------------------------------

ROSDEP_KEYS = {'numpy': 'python3-numpy', 'scipy': 'python3-scipy', 'cv2': 'python3-opencv',
               'imageio': 'python3-imageio', 'matplotlib': 'python3-matplotlib',
               'yaml': 'python3-yaml', 'tqdm': 'python3-tqdm'}
"""Python modules with a rosdep key: package.xml names them, rosdep installs them."""
PIP_ONLY = {'mediapipe', 'imageio_ffmpeg', 'torch', 'diffusers', 'transformers', 'accelerate',
            'tokenizers', 'dex_retargeting', 'mujoco', 'toppra', 'mcap', 'rosbags', 'cyclonedds',
            'trimesh', 'huggingface_hub', 'peft', 'ray', 'safetensors', 'torchao'}
"""Modules without a rosdep key (requirements/python.txt installs them; cyclonedds: the
Unitree backend, see the lvp_exec README)."""
LAUNCH_SUPPORT = REPO / 'src' / 'lvp_bringup' / 'lvp_bringup' / 'launch_support.py'


def ros_packages() -> set[str]:
    """ROS packages: the workspace's and those in the ament index here (with the launch tools)."""
    from ament_index_python.packages import get_packages_with_prefixes

    return ({p.parent.name for p in REPO.glob('src/*/package.xml')}
            | set(get_packages_with_prefixes()) | {'launch', 'launch_ros'})


def used_packages(package: str) -> set[str]:
    """Top-level modules the package's code imports, plus the ROS packages its launch files
    (lvp_bringup) start or look up."""
    import sys

    sources = list((REPO / 'src' / package / package).glob('**/*.py'))
    if package == 'lvp_bringup':
        sources += LAUNCH_FILES
    used: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                used |= {alias.name.split('.')[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                used.add(node.module.split('.')[0])
            elif isinstance(node, ast.Call) and node.args \
                    and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                # import_interface('control_msgs', ...), FindPackageShare('example-robot-data'),
                # missing_program('rviz2', ...), get_package_prefix(...)
                name = getattr(node.func, 'id', getattr(node.func, 'attr', ''))
                if name in ('import_interface', 'import_module', 'FindPackageShare',
                            'missing_program', 'get_package_prefix'):
                    used.add(node.args[0].value.split('.')[0])
            if isinstance(node, ast.Call) and getattr(node.func, 'id', None) == 'Node':
                for keyword in node.keywords:
                    if keyword.arg == 'package' and isinstance(keyword.value, ast.Constant) \
                            and isinstance(keyword.value.value, str):
                        used.add(keyword.value.value)
    if package == 'lvp_bringup' and "('xacro',)" in LAUNCH_SUPPORT.read_text():
        used.add('xacro')  # robot_state_publisher's description: `xacro <file>`
    return used - set(sys.stdlib_module_names) - {package}


@pytest.mark.parametrize('package', sorted(p.parent.name for p in REPO.glob('src/*/package.xml')
                                           if p.parent.name != 'lvp_interfaces'))
def test_package_xml_exec_depends_cover_what_the_code_uses(package):
    import xml.etree.ElementTree as ET

    manifest = ET.parse(REPO / 'src' / package / 'package.xml').getroot()
    depends = {e.text for tag in ('exec_depend', 'depend') for e in manifest.iter(tag)}
    ros = ros_packages() | {'xacro', 'robot_state_publisher', 'rviz2', 'controller_manager'}
    missing = []
    for module in sorted(used_packages(package)):
        if module in ros:
            key = module
        elif module in ROSDEP_KEYS:
            key = ROSDEP_KEYS[module]
        else:
            assert module in PIP_ONLY, f'{package} imports {module!r}: add its rosdep key to ' \
                                       'ROSDEP_KEYS (and package.xml) or it to PIP_ONLY'
            continue
        if key not in depends:
            missing.append(key)
    assert not missing, f'src/{package}/package.xml lacks <exec_depend> {missing}'
