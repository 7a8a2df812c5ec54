"""The launch files under the real ROS 2 tools: `ros2 launch`, `ros2 param`, over loopback.

launch, launch_ros and ros2cli are the Jazzy wheels of ../shared/ros2-launch (`make test-env`);
the packages come from the colcon build of the workspace (`make workspace-build`, build/ws), as
a ROS user runs them. robot_state_publisher and rviz2 (C++) are not installed here: the launches
switch them off, or check that their absence is one message and not an aborted launch.
"""

from __future__ import annotations

import filecmp
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_launch_files import declared_arguments

pytestmark = [pytest.mark.ros, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / 'build' / 'ws' / 'install'
VENV_BIN = Path(sys.executable).parent
SHARE = INSTALL / 'lvp_bringup' / 'share' / 'lvp_bringup'
START_S = 120.0
"""Hang guard for a launch to serve its action (imports on a loaded 2-core machine)."""


def installed_share_is_current() -> str:
    """Return why build/ws/install's lvp_bringup share differs from the sources, or ''."""
    if not (INSTALL / 'local_setup.bash').is_file():
        return f'{INSTALL} is not built'
    for folder, pattern in (('launch', '*.launch.py'), ('config', '*.yaml'), ('rviz', '*.rviz')):
        for source in (REPO / folder).glob(pattern):
            built = SHARE / folder / source.name
            if not built.is_file() or not filecmp.cmp(source, built, shallow=False):
                return f'{built} is missing or older than {source}'
    return ''


@pytest.fixture(scope='module')
def launch_env() -> Iterator[dict[str, str]]:
    """The environment of a shell that sourced the venv and the workspace's local_setup.bash."""
    try:
        import launch_ros  # noqa: F401
        import ros2cli  # noqa: F401
    except ImportError as error:
        pytest.fail(f'ROS 2 launch tools missing ({error}): run `make test-env`')
    stale = installed_share_is_current()
    if stale:
        pytest.fail(f'{stale}: run `make workspace-build`')
    dump = subprocess.run(
        ['bash', '-c', f'. {VENV_BIN}/activate && . {INSTALL}/local_setup.bash && env -0'],
        capture_output=True, check=True, env={k: v for k, v in os.environ.items()
                                              if k not in ('AMENT_PREFIX_PATH', 'PYTHONPATH')})
    env = dict(item.split('=', 1) for item in dump.stdout.decode().split('\0') if '=' in item)
    # the nodes import the sources the venv has installed editable, so that a Python change
    # needs no rebuild; the share (launch, config, rviz) and the executables come from build/ws
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p and str(INSTALL) not in p)
    # a domain of this test process (as conftest's ros_domain_id), apart from other test runs
    env.update(ROS_DOMAIN_ID=str(10 + os.getpid() % 90), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
               RMW_IMPLEMENTATION='rmw_fastrtps_cpp', MUJOCO_GL='egl', PYTHONUNBUFFERED='1',
               ROS_HOME=str(REPO / 'build' / 'ros_home'))
    yield env
    # a verb run without --no-daemon would have left a daemon in this domain
    subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True, timeout=30)


def ros2(env: dict[str, str], *args: str, timeout_s: float = 60.0) -> subprocess.CompletedProcess:
    """Run a ros2cli command and return it (stdout and stderr as text)."""
    return subprocess.run(['ros2', *args], env=env, capture_output=True, text=True,
                          timeout=timeout_s)


class Launch:
    """`ros2 launch lvp_bringup <file> <args>` in a process group of its own, output to a file."""

    def __init__(self, env: dict[str, str], launch_file: str, *args: str, log: Path) -> None:
        self.log = log
        with log.open('w') as out:
            self.process = subprocess.Popen(
                ['ros2', 'launch', 'lvp_bringup', launch_file, *args], env=env, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, cwd=log.parent)

    def output(self) -> str:
        return self.log.read_text()

    def interrupt(self, timeout_s: float = 60.0) -> int:
        """Ctrl-C as a terminal sends it (to the whole group); return the launch's exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=timeout_s)

    def kill(self) -> None:
        """Kill whatever of the group is left (no node outlives a test)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


def wait_for_action(env: dict[str, str], launch: Launch, action: str) -> None:
    """Wait until the launch's `action` server is up, failing early if the launch died."""
    import rclpy
    from rclpy.action import ActionClient
    from ros_helpers import RosContext, spin_until

    from lvp_interfaces.action import PlanAndExecute

    with RosContext(int(env['ROS_DOMAIN_ID'])) as context:
        node = rclpy.create_node('launch_test_probe', context=context)
        client = ActionClient(node, PlanAndExecute, action)
        deadline = time.monotonic() + START_S
        while not client.server_is_ready():
            out = launch.output()
            assert launch.process.poll() is None, f'launch exited:\n{out}'
            assert 'process has died' not in out, f'a node died:\n{out}'
            assert time.monotonic() < deadline, \
                f'{action} never appeared in {START_S:.0f} s:\n{launch.output()}'
            spin_until(node, client.server_is_ready, 1.0)
        client.destroy()
        node.destroy_node()


def params_file(setup: str, tmp: Path, **plan_and_execute: object) -> Path:
    """The setup's config/<setup>.yaml with the archives written under `tmp` (and these
    plan_and_execute parameters changed)."""
    import yaml

    config = yaml.safe_load((REPO / 'config' / f'{setup}.yaml').read_text())
    config['/**/plan_and_execute']['ros__parameters'].update(
        archive_dir=str(tmp / 'archives'), **plan_and_execute)
    path = tmp / f'{setup}.yaml'
    path.write_text(yaml.safe_dump(config))
    return path


class GoalCli:
    """`ros2 action send_goal --feedback` in a process of its own, its output read as it comes."""

    def __init__(self, env: dict[str, str], action: str, goal: str) -> None:
        import threading

        self.lines: list[str] = []
        self.process = subprocess.Popen(
            ['ros2', 'action', 'send_goal', '--feedback', action,
             'lvp_interfaces/action/PlanAndExecute', goal],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return ''.join(self.lines)

    def finish(self, timeout_s: float) -> str:
        self.process.wait(timeout=timeout_s)
        self._reader.join(timeout=5)
        return self.output()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


RVIZ_TYPES = {'rviz_default_plugins/PointCloud2': 'sensor_msgs/msg/PointCloud2',
              'rviz_default_plugins/Path': 'nav_msgs/msg/Path',
              'rviz_default_plugins/MarkerArray': 'visualization_msgs/msg/MarkerArray',
              'rviz_default_plugins/Image': 'sensor_msgs/msg/Image'}


def check_rviz_topics(env: dict[str, str], setup: str, namespace: str) -> None:
    """Every topic the setup's .rviz file displays is published, with the displayed type and
    the QoS the display subscribes with; /tf_static places the camera in the fixed frame."""
    import rclpy
    import yaml
    from lvp_common.ros.tf_listener import TF_STATIC_TOPIC, tf_message_type
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from ros_helpers import RosContext, spin_until

    manager = yaml.safe_load((REPO / 'rviz' / f'{setup}.rviz').read_text())[
        'Visualization Manager']
    fixed = manager['Global Options']['Fixed Frame']
    with RosContext(int(env['ROS_DOMAIN_ID'])) as context:
        node = rclpy.create_node('rviz_probe', context=context)
        for display in manager['Displays']:
            topic = display.get('Topic', {}).get('Value')
            if topic is None:
                continue
            name = f'{namespace}/{topic}'
            want = RVIZ_TYPES[display['Class']]
            if topic.endswith('/compressed'):  # image_transport's compressed transport
                want = 'sensor_msgs/msg/CompressedImage'
            assert spin_until(node, lambda n=name: bool(node.get_publishers_info_by_topic(n)),
                              10.0), f'{setup}.rviz: nothing publishes {name}'
            for info in node.get_publishers_info_by_topic(name):
                assert info.topic_type == want, (name, info.topic_type, want)
                assert info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL, name
                assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE, name
        frames: list = []
        latched = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE,
                             durability=DurabilityPolicy.TRANSIENT_LOCAL)

        def record(msg: Any) -> None:
            frames.extend(msg.transforms)

        node.create_subscription(tf_message_type(), TF_STATIC_TOPIC, record, latched)
        assert spin_until(node, lambda: any(t.header.frame_id == fixed for t in frames), 10.0), \
            f'no /tf_static transform from {fixed}: {[t.header.frame_id for t in frames]}'
        node.destroy_node()


def check_archive(out: str, fixed_frame: str) -> None:
    """The goal's archive is what `ros2 bag play` needs: MCAP in zstd chunks, every topic offered
    reliable + transient-local depth 1 (so a replay reaches RViz's latched displays), and each
    message decodes with the PyPI mcap-ros2-support reader."""
    import yaml
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    found = re.search(r'archive_path: (\S+)', out)
    assert found, out
    folder = Path(found[1])
    info = yaml.safe_load((folder / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert info['storage_identifier'] == 'mcap'
    for entry in info['topics_with_message_count']:
        topic = entry['topic_metadata']
        (qos,) = topic['offered_qos_profiles']
        assert (qos['reliability'], qos['durability'], qos['depth']) == \
            ('reliable', 'transient_local', 1), topic['name']
    (mcap_file,) = folder.glob('*.mcap')
    with mcap_file.open('rb') as stream:
        reader = make_reader(stream, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        assert summary is not None and summary.chunk_indexes
        assert {c.compression for c in summary.chunk_indexes} == {'zstd'}
        decoded = {channel.topic: message for _schema, channel, _message, message
                   in reader.iter_decoded_messages()}
    assert len(decoded) == len(info['topics_with_message_count'])
    smoothed = decoded['/lvp/wrist_path/smoothed']
    assert smoothed.header.frame_id == fixed_frame and len(smoothed.poses) > 10


def send_goal_and_check(env: dict[str, str], action: str, goal: str) -> str:
    """Send a goal with the CLI; it must print a compact SUCCESS result (hang guard 120 s)."""
    cli = GoalCli(env, action, goal)
    try:
        started = time.monotonic()
        out = cli.finish(timeout_s=120.0)
        wall_s = time.monotonic() - started
    finally:
        cli.kill()
    assert 'Goal finished with status: SUCCEEDED' in out, out
    assert 'error_code: 0' in out and 'archive_path: /' in out, out
    assert 'plan_source: synthetic_demonstration' in out, out
    print(f'{action}: `ros2 action send_goal` returned SUCCESS in {wall_s:.1f} s, '
          f'{len(out) / 1e3:.0f} kB printed')
    return out


@pytest.mark.parametrize('launch_file', sorted(p.name for p in (REPO / 'launch').glob('*.py')))
def test_show_args_lists_every_declared_argument(launch_env, launch_file):
    import ast

    shown = ros2(launch_env, 'launch', 'lvp_bringup', launch_file, '--show-args')
    assert shown.returncode == 0, shown.stdout + shown.stderr
    declared = declared_arguments(ast.parse((REPO / 'launch' / launch_file).read_text()))
    for name in declared:
        assert f"'{name}':" in shown.stdout, f'{launch_file} --show-args lacks {name!r}'


def test_g1_headless_under_a_namespace_params_goal_rviz_topics(launch_env, tmp_path):
    import yaml

    params = params_file('g1_inspire', tmp_path)
    launch = Launch(launch_env, 'g1_inspire.launch.py', 'use_rviz:=false',
                    'use_robot_state_publisher:=false', 'namespace:=r1',
                    f'params_file:={params}', log=tmp_path / 'launch.log')
    try:
        wait_for_action(launch_env, launch, '/r1/plan_and_execute')
        config = yaml.safe_load(params.read_text())
        for node, name in (('plan_and_execute', 'arm_release_s'),
                           ('plan_and_execute', 'archive_dir'),
                           ('demonstration_planner', 'width')):
            want = config[f'/**/{node}']['ros__parameters'][name]
            got = ros2(launch_env, 'param', 'get', '--no-daemon', '--spin-time', '3',
                       f'/r1/{node}', name)
            assert got.returncode == 0, got.stdout + got.stderr
            assert got.stdout.strip().endswith(f'value is: {want}'), (node, name, got.stdout)
        # the launch argument beats the file: the G1 without network_interface runs the sim
        got = ros2(launch_env, 'param', 'get', '--no-daemon', '--spin-time', '3',
                   '/r1/plan_and_execute', 'execution_backend')
        assert got.stdout.strip().endswith('value is: sim'), got.stdout
        # the segmented closed loop is declared and off unless asked for
        got = ros2(launch_env, 'param', 'get', '--no-daemon', '--spin-time', '3',
                   '/r1/plan_and_execute', 'closed_loop_segment_s')
        assert got.stdout.strip().endswith('value is: 0.0'), got.stdout + got.stderr
        send_goal_and_check(launch_env, '/r1/plan_and_execute',
                            "{task: 'pick up the green cube', seed: 0}")
        assert list((tmp_path / 'archives').iterdir()), 'no archive written'
        check_rviz_topics(launch_env, 'g1_inspire', '/r1')
    finally:
        launch.kill()


def test_franka_goal_cancel_and_ctrl_c(launch_env, tmp_path):
    """A goal from the CLI succeeds, one canceled mid-run ends CANCELED, Ctrl-C stops every
    node cleanly; without rviz2 or robot_state_publisher the launch says so and runs the rest."""
    import rclpy
    from action_msgs.msg import GoalStatus
    from lvp_bringup.launch_support import missing_program
    from rclpy.action import ActionClient
    from ros_helpers import RosContext, send_goal, spin_until

    from lvp_interfaces.action import PlanAndExecute

    # the defaults (RViz on) where rviz2 is missing: the launch must say so and go on
    rviz_missing = bool(missing_program('rviz2', 'rviz2'))
    launch = Launch(launch_env, 'franka_gripper.launch.py', f'use_rviz:={rviz_missing}',
                    f'params_file:={params_file("franka_gripper", tmp_path)}',
                    log=tmp_path / 'launch.log')
    try:
        wait_for_action(launch_env, launch, '/plan_and_execute')
        out = launch.output()
        if rviz_missing:
            assert "package 'rviz2' is not installed" in out, out
            assert 'starting without RViz' in out, out
        if missing_program('robot_state_publisher', 'robot_state_publisher'):
            assert "package 'robot_state_publisher' is not installed" in out, out
            assert 'starting without robot_state_publisher' in out, out
        out = send_goal_and_check(launch_env, '/plan_and_execute',
                                  "{task: 'pick up the green cube', seed: 1}")
        check_archive(out, 'panda_link0')
        check_rviz_topics(launch_env, 'franka_gripper', '')

        # a goal canceled mid-run (from a client in this process; Ctrl-C on `ros2 action
        # send_goal` does not cancel: ros2cli's cancel request runs on the context its SIGINT
        # already shut down, 'Exception while canceling goal: None')
        with RosContext(int(launch_env['ROS_DOMAIN_ID'])) as context:
            node = rclpy.create_node('cancel_probe', context=context)
            client = ActionClient(node, PlanAndExecute, '/plan_and_execute')
            assert spin_until(node, client.server_is_ready, 30.0)
            stages: list[str] = []
            handle = send_goal(client, node, PlanAndExecute.Goal(task='pick up the green cube',
                                                                 seed=2),
                               feedback=lambda msg: stages.append(msg.feedback.stage))
            assert handle.accepted
            assert spin_until(node, lambda: 'hand_tracking' in stages, 120.0), stages
            cancel = handle.cancel_goal_async()
            assert spin_until(node, cancel.done, 30.0) and cancel.result().goals_canceling
            future = handle.get_result_async()
            assert spin_until(node, future.done, 60.0), launch.output()[-3000:]
            assert future.result().status == GoalStatus.STATUS_CANCELED, future.result()
            assert future.result().result.error_code == PlanAndExecute.Result.CANCELED
            client.destroy()
            node.destroy_node()

        # Ctrl-C in the launch's terminal (SIGINT to the whole group): every node ends cleanly
        assert launch.interrupt() == 0, launch.output()
        out = launch.output()
        for process in ('plan_and_execute', 'demonstration_planner'):
            finished = rf'\[INFO\] \[{process}-\d+\]: process has finished cleanly'
            assert re.search(finished, out), out
        assert 'Traceback' not in out and 'KeyboardInterrupt' not in out, out
    finally:
        launch.kill()


def test_franka_with_robot_ip_drives_franka_ros2s_controller_and_gripper(launch_env, tmp_path):
    """robot_ip: the ros2_control backend drives `fr3_arm_controller` and the gripper under
    franka_ros2's names (fakes speaking control_msgs / franka_msgs, joint states on
    /joint_states); without controller_manager the spawner is skipped with a message."""
    import rclpy
    from lvp_bringup.goal_session import render_sim_scene
    from lvp_bringup.launch_support import missing_program
    from lvp_common.ros.conversions import (
        intrinsics_to_camera_info,
        make_header,
        metres_to_depth_image,
        rgb8_to_image,
    )
    from lvp_exec.robots import load_panda
    from lvp_exec.ros_action_client import StandaloneRosNode
    from rclpy.action import ActionClient
    from ros_helpers import (
        FR3_JOINTS,
        FakeFrankaGripper,
        FakeTrajectoryController,
        RosContext,
        goal_result,
        send_goal,
        spin_until,
    )

    from lvp_interfaces.action import PlanAndExecute

    obs = render_sim_scene('franka_gripper', 1, 'panda_link0').observation
    pose = obs.camera_to_base
    params = params_file('franka_gripper', tmp_path, camera_to_base=[
        *map(float, pose.position), *map(float, pose.quaternion)])
    domain = int(launch_env['ROS_DOMAIN_ID'])
    with StandaloneRosNode('fake_franka', domain_id=domain, threads=4) as robot:
        controller = FakeTrajectoryController(
            robot.node, '/fr3_arm_controller/follow_joint_trajectory',
            joint_states_topic='/joint_states', initial=load_panda().home)
        gripper = FakeFrankaGripper(robot.node, '/franka_gripper')
        launch = Launch(launch_env, 'franka_gripper.launch.py', 'robot_ip:=127.0.0.1',
                        'use_rviz:=false', f'params_file:={params}',
                        log=tmp_path / 'launch.log')
        try:
            wait_for_action(launch_env, launch, '/plan_and_execute')
            out = launch.output()
            if missing_program('controller_manager', 'spawner'):
                assert "package 'controller_manager' is not installed" in out, out
                assert 'starting without fr3_arm_controller' in out, out
            assert 'robot_state_publisher' not in out, 'franka_ros2 runs the robot model'
            got = ros2(launch_env, 'param', 'get', '--no-daemon', '--spin-time', '3',
                       '/plan_and_execute', 'execution_backend')
            assert got.stdout.strip().endswith('value is: ros2_control'), got.stdout
            # arm_model '' (auto: the FR3 on ros2_control) reaches the node from the launch
            got = ros2(launch_env, 'param', 'get', '--no-daemon', '--spin-time', '3',
                       '/plan_and_execute', 'arm_model')
            assert got.returncode == 0 and got.stdout.strip() == 'String value is:', got.stdout
            with RosContext(domain) as context:
                node = rclpy.create_node('robot_goal', context=context)
                client = ActionClient(node, PlanAndExecute, '/plan_and_execute')
                assert spin_until(node, client.server_is_ready, 30.0)
                header = make_header(obs.camera_frame)
                goal = PlanAndExecute.Goal(task='pick up the green cube', seed=1)
                goal.image = rgb8_to_image(obs.rgb, header)
                goal.depth = metres_to_depth_image(obs.depth, header)
                goal.camera_info = intrinsics_to_camera_info(obs.intrinsics, header)
                result = goal_result(send_goal(client, node, goal), node, timeout_s=180.0)
                assert result.error_code == PlanAndExecute.Result.SUCCESS, (
                    result.failed_stage, result.error_message, launch.output()[-3000:])
                client.destroy()
                node.destroy_node()
            assert len(controller.goals) == 1
            assert tuple(controller.goals[0].trajectory.joint_names) == FR3_JOINTS
            assert [call[0] for call in gripper.calls].count('grasp') == 1, gripper.calls
        finally:
            launch.kill()
