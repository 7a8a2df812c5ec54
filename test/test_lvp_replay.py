"""`lvp replay --backend ros2_control|unitree`: an archived plan re-executed on a robot backend.

ros2_control: the fake joint_trajectory_controller (+ its JointState) and franka_gripper of
ros_helpers run in this process on a node of their own, `lvp replay` builds its own rclpy
context; they talk over loopback. unitree: lvp_exec's fake G1 process (rt/lowstate out, what
arrives on rt/arm_sdk and rt/inspire/cmd recorded) over Cyclone DDS on loopback, skipped
without cyclonedds like lvp_exec's Unitree tests.

The Franka archive is written by `lvp demo` (the whole pipeline). The G1 archive is written by
the pipeline's motion stages from a reachable synthetic wrist path (`plan_record` of a plan-only
`run_motion`): the G1 demonstration's outcome (IK, safety) varies with MediaPipe's run-to-run
differences, a test archive must not.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import signal
import threading
from pathlib import Path

os.environ.setdefault('MUJOCO_GL', 'egl')

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from lvp_bringup.cli import main  # noqa: E402
from lvp_bringup.pipeline import ErrorCode  # noqa: E402
from lvp_common.ros.plan_archive import read_plan_archive  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PANDA_JOINTS = tuple(f'panda_joint{i}' for i in range(1, 8))
ARM_ACTION = '/replay_fr3/arm_controller/follow_joint_trajectory'
GRIPPER = '/replay_fr3/gripper'
JOINT_STATES = '/replay_fr3/joint_states'
NUM_FRAMES = 33  # 2 s synthetic demonstration: a short archive, a short trajectory
HAND_ROWS = np.array([[1.0] * 6, [0.6] * 6, [0.2] * 6, [0.25] * 6])
"""Inspire commands of the G1 archive (normalized, 1 = open), one row every 0.6 s."""


def lvp(*argv: str) -> tuple[int, str, str]:
    """Run the `lvp` command line in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def replayed_difference(stdout: str) -> float:
    """The printed max difference (rad) between the replayed and the archived trajectory."""
    line = 'replayed joint trajectory vs archived: max difference '
    assert line in stdout, stdout
    return float(stdout.split(line)[1].split(' rad')[0])


@pytest.fixture(scope='module')
def franka_archive(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('franka_demo')
    code, stdout, stderr = lvp('demo', '--num-frames', str(NUM_FRAMES), '--out', out, '--quiet')
    assert code == 0, stdout + stderr
    return out / 'plan_archive'


@pytest.fixture(scope='module')
def g1_archive(tmp_path_factory) -> Path:
    from lvp_bringup.pipeline import (
        EeMapping,
        PipelineConfig,
        PipelineResult,
        plan_record,
        robot_for,
        run_motion,
    )
    from lvp_common.artifacts import HandCommands
    from lvp_common.ros.plan_archive import write_plan_archive
    from lvp_exec.synthetic_paths import smooth_joint_path, wrist_path_from_joints

    robot = robot_for('g1_inspire', PipelineConfig())
    joints = smooth_joint_path(robot, np.random.default_rng(0), num_frames=NUM_FRAMES,
                               amplitude=0.3)
    wrist = wrist_path_from_joints(robot, joints)  # the hand-mount poses: identity hand_in_mount
    mapping = EeMapping('g1_inspire', None, hand_in_mount=(0.0, 0.0, 0.0, 1.0),
                        description='synthetic: the mount follows the wrist path')
    commands = HandCommands(0.6 * np.arange(len(HAND_ROWS)), (), np.zeros((len(HAND_ROWS), 0)),
                            ('little', 'ring', 'middle', 'index', 'thumb_bend',
                             'thumb_rotation'), HAND_ROWS, np.round(HAND_ROWS * 1000))
    result = PipelineResult('g1_inspire', wrist_base=wrist, hand_commands=commands)
    run_motion(result, wrist, mapping, PipelineConfig(plan_only=True))
    record = plan_record(result, ('wave the right hand',), None, None, {'tool': 'test'})
    return write_plan_archive(tmp_path_factory.mktemp('g1') / 'plan_archive', record)


# --- ros2_control -------------------------------------------------------------------------------

def ros2_control_args(archive: Path, out: Path, *extra: str) -> list[str]:
    return ['replay', str(archive), '--backend', 'ros2_control',
            '--controller-action', ARM_ACTION,
            '--controller-joint-names', ','.join(PANDA_JOINTS),
            '--gripper-action-namespace', GRIPPER, '--joint-states-topic', JOINT_STATES,
            '--robot-wait-s', '10', '--out', str(out), '--quiet',
            # the archives are planned for the Panda (sim); ros2_control defaults to the FR3, which
            # would re-plan for its own limits instead of replaying the archived trajectory
            '--arm-model', 'panda', *extra]


@pytest.fixture
def fake_franka(ros_domain_id, franka_archive):
    """The fake FR3 controller (named with the Panda joints) at the archive's start, and the
    fake gripper: yields (controller, gripper)."""
    from lvp_exec.ros_action_client import StandaloneRosNode
    from ros_helpers import FakeFrankaGripper, FakeTrajectoryController

    start = read_plan_archive(franka_archive).joint_trajectory.positions[0]  # type: ignore
    with StandaloneRosNode('fake_franka', domain_id=ros_domain_id, threads=4) as robot:
        controller = FakeTrajectoryController(robot.node, ARM_ACTION, joints=PANDA_JOINTS,
                                              joint_states_topic=JOINT_STATES, initial=start)
        yield controller, FakeFrankaGripper(robot.node, GRIPPER)


@pytest.mark.ros
def test_replay_on_ros2_control_sends_the_archived_plan(franka_archive, fake_franka, tmp_path):
    from lvp_common.ros.conversions import joint_trajectory_from_msg

    controller, gripper = fake_franka
    record = read_plan_archive(franka_archive)
    archived = record.joint_trajectory
    assert archived is not None and record.gripper_events
    code, stdout, stderr = lvp(*ros2_control_args(franka_archive, tmp_path / 'replay'))
    assert code == 0, stdout + stderr
    assert len(controller.goals) == 1
    sent = joint_trajectory_from_msg(controller.goals[0].trajectory)
    assert sent.joint_names == archived.joint_names
    np.testing.assert_allclose(sent.times, archived.times, atol=1e-6)
    np.testing.assert_allclose(sent.positions, archived.positions, atol=1e-9)
    # close -> franka_gripper Grasp, open -> Move, at the archived widths, in order
    expected = [('grasp' if e.action.value == 'close' else 'move', pytest.approx(e.width))
                for e in sorted(record.gripper_events, key=lambda e: e.time)]
    assert gripper.calls == expected
    assert replayed_difference(stdout) == 0.0
    assert 'executed on ros2_control in' in stdout and f'{ARM_ACTION}: trajectory executed' \
        in stdout, stdout
    error = float(stdout.split('final joint error ')[1].split(' rad')[0])
    assert error < 1e-6  # the fake's joint state after the result: the trajectory's end
    assert f'joint states on {JOINT_STATES} after the result' in stdout, stdout
    assert 'gripper grasp to 0.0000 m succeeded' in stdout
    assert 'task check: not evaluated (executed on ros2_control' in stdout
    assert not (tmp_path / 'replay' / 'execution.mp4').exists()
    assert 'executed on ros2_control' in (tmp_path / 'replay' / 'report.html').read_text()


@pytest.mark.ros
def test_ctrl_c_stops_the_robot_on_ros2_control(franka_archive, fake_franka, tmp_path):
    controller, _gripper = fake_franka

    def interrupt() -> None:
        if controller.started.wait(60.0):
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    code, stdout, stderr = lvp(*ros2_control_args(franka_archive, tmp_path / 'replay'))
    thread.join(5.0)
    assert code == ErrorCode.CANCELED, stdout + stderr
    assert controller.canceled.wait(5.0), 'the controller goal was not canceled'
    assert 'stopped on request' in stderr and 'stopping the robot' in stderr, stderr
    assert signal.getsignal(signal.SIGINT) is previous  # the handler is given back


@pytest.mark.ros
def test_replay_refuses_an_archive_of_another_embodiment(g1_archive, fake_franka, tmp_path):
    controller, gripper = fake_franka
    code, stdout, stderr = lvp(*ros2_control_args(g1_archive, tmp_path / 'replay'))
    assert code == ErrorCode.INVALID_GOAL, stdout + stderr
    assert ("the ros2_control backend drives the franka_gripper embodiment, not 'g1_inspire'"
            in stderr), stderr
    assert '--backend unitree' in stderr and 'nothing executed' in stderr
    assert controller.goals == [] and gripper.calls == []
    assert not (tmp_path / 'replay').exists()


def test_missing_rclpy_is_a_clear_setup_error(franka_archive, monkeypatch, tmp_path):
    import sys

    import lvp_exec

    # as without a ROS 2 install: the backend module cannot be imported
    monkeypatch.setitem(sys.modules, 'rclpy', None)
    monkeypatch.setitem(sys.modules, 'lvp_exec.ros2_control_backend', None)
    monkeypatch.delattr(lvp_exec, 'ros2_control_backend', raising=False)
    code, stdout, stderr = lvp(*ros2_control_args(franka_archive, tmp_path / 'replay'))
    assert code == ErrorCode.EXECUTION_FAILED, stdout + stderr
    assert 'the ros2_control backend needs rclpy' in stderr, stderr
    assert 'source a ROS 2 install' in stderr, stderr
    assert 'executing on' not in stdout


@pytest.mark.ros
def test_missing_action_interfaces_are_a_clear_setup_error(franka_archive, monkeypatch,
                                                          ros_domain_id, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, 'control_msgs.action', None)  # ros2_control not installed
    code, stdout, stderr = lvp(*ros2_control_args(franka_archive, tmp_path / 'replay'))
    assert code == ErrorCode.EXECUTION_FAILED, stdout + stderr
    assert "needs the ROS package 'control_msgs'" in stderr, stderr


# --- unitree ------------------------------------------------------------------------------------

needs_cyclonedds = pytest.mark.skipif(
    importlib.util.find_spec('cyclonedds') is None and
    os.environ.get('LVP_REQUIRE_CYCLONEDDS') != '1',
    reason='cyclonedds 0.10.x not installed (see the lvp_exec README)')


def _lvp_exec_test_module(name: str, file: str):
    spec = importlib.util.spec_from_file_location(
        name, REPO / 'src' / 'lvp_exec' / 'test' / file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# lvp_exec's DDS helper-process fixture and fake G1, shared rather than copied
dds_process = _lvp_exec_test_module('lvp_exec_test_conftest', 'conftest.py').dds_process


@pytest.fixture
def fake_g1(dds_process, g1_archive):
    """lvp_exec's fake G1 with the right arm at the G1 archive's start: (domain, collect())."""
    from lvp_exec.unitree_idl import G1_MOTOR_INDEX, G1_MOTOR_SLOTS

    fake = _lvp_exec_test_module('lvp_exec_test_unitree', 'test_unitree_executor.py').FAKE_G1
    archived = read_plan_archive(g1_archive).joint_trajectory
    assert archived is not None
    q = np.zeros(G1_MOTOR_SLOTS)
    for name, value in zip(archived.joint_names, archived.positions[0]):
        q[G1_MOTOR_INDEX[name]] = value
    domain = 150 + (os.getpid() + 15) % 80
    return domain, dds_process(fake, str(domain), json.dumps(q.tolist()), '4')


def unitree_args(archive: Path, domain: int, out: Path) -> list[str]:
    return ['replay', str(archive), '--backend', 'unitree', '--dds-domain-id', str(domain),
            '--arm-takeover-s', '0.1', '--arm-release-s', '0.1', '--robot-wait-s', '5',
            '--out', str(out), '--quiet']


@needs_cyclonedds
def test_replay_on_unitree_streams_the_archived_plan(g1_archive, fake_g1, tmp_path):
    from lvp_exec.unitree_idl import G1_ARM_SDK_WEIGHT_SLOT, G1_MOTOR_INDEX

    domain, collect = fake_g1
    archived = read_plan_archive(g1_archive).joint_trajectory
    assert archived is not None
    code, stdout, stderr = lvp(*unitree_args(g1_archive, domain, tmp_path / 'replay'))
    assert code == 0, stdout + stderr
    received = collect()
    arm = received['arm']
    assert arm, 'nothing arrived on rt/arm_sdk'
    assert 'executed on unitree in' in stdout and f'{len(arm)} rt/arm_sdk messages' in stdout
    assert 'final joint error: not reported' in stdout
    # the start state arrives as float32 on rt/lowstate: the same plan up to that rounding
    assert replayed_difference(stdout) < 1e-6
    weights = np.array([m['q'][G1_ARM_SDK_WEIGHT_SLOT] for m in arm])
    assert weights[0] == 0.0 and weights.max() == 1.0 and weights[-1] == 0.0
    index = [G1_MOTOR_INDEX[n] for n in archived.joint_names]
    streamed = np.array([[m['q'][i] for i in index] for m in arm])
    f32 = 2e-6
    np.testing.assert_allclose(streamed[0], archived.positions[0], atol=f32)
    np.testing.assert_allclose(streamed[-1], archived.positions[-1], atol=f32)
    # every streamed target lies on the archived path (interpolated at the stream's rate)
    full = weights == 1.0
    lo, hi = archived.positions.min(axis=0) - f32, archived.positions.max(axis=0) + f32
    assert np.all((streamed[full] >= lo) & (streamed[full] <= hi))
    hand = np.array(received['hand'])
    assert hand.shape == (len(HAND_ROWS), 12)
    np.testing.assert_allclose(hand[:, :6], HAND_ROWS, atol=1e-6)  # the right hand
    assert 'task check: not evaluated (executed on unitree' in stdout


@needs_cyclonedds
def test_unitree_refuses_a_franka_archive(franka_archive, fake_g1, tmp_path):
    domain, collect = fake_g1
    code, stdout, stderr = lvp(*unitree_args(franka_archive, domain, tmp_path / 'replay'))
    assert code == ErrorCode.INVALID_GOAL, stdout + stderr
    assert "the unitree backend drives the g1_inspire embodiment, not 'franka_gripper'" in stderr
    assert '--backend ros2_control' in stderr
    received = collect()
    assert received['arm'] == [] and received['hand'] == []
