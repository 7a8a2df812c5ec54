"""UnitreeExecutor (the Executor of lvp_exec.execution) against a fake G1 in a second process.

The fake G1 publishes hg LowState_ on rt/lowstate at 200 Hz (known motor positions and
mode_machine) and records what arrives on rt/arm_sdk and rt/inspire/cmd, over loopback on a
test-unique DDS domain. Skipped without cyclonedds (0.10.x; see the lvp_exec README).
"""

import importlib.util
import json
import os
import textwrap
import time

import numpy as np
import pytest
from lvp_common.artifacts import HandCommands, JointTrajectory
from lvp_exec.arm_sdk_stream import ArmSdkConfig
from lvp_exec.execution import ExecutionError, ExecutionRequest, ExecutionStoppedError
from lvp_exec.unitree_backend import UnitreeExecutor, UnitreeExecutorConfig
from lvp_exec.unitree_idl import (
    G1_ARM_SDK_JOINTS,
    G1_ARM_SDK_WEIGHT_SLOT,
    G1_MOTOR_INDEX,
    G1_MOTOR_SLOTS,
    UnitreeExecutionError,
    hg_low_cmd_crc,
    unitree_idl,
)
from lvp_exec.unitree_low_state import LowStateTimeoutError

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec('cyclonedds') is None and
    os.environ.get('LVP_REQUIRE_CYCLONEDDS') != '1',
    reason='cyclonedds 0.10.x not installed (see the lvp_exec README)')

RIGHT_ARM = tuple(n for n in G1_ARM_SDK_JOINTS if n.startswith('right_'))
MOTOR_Q = np.round(np.linspace(-0.5, 0.6, G1_MOTOR_SLOTS), 3)
"""Positions (rad) the fake G1 reports, by motor index."""
MODE_MACHINE = 4
F32 = 2e-6

FAKE_G1 = textwrap.dedent('''
    import json, sys, threading, time
    from cyclonedds.core import Qos, Policy
    from cyclonedds.pub import DataWriter
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic
    from lvp_exec.unitree_idl import dds_participant, unitree_idl

    idl = unitree_idl()
    dp = dds_participant(int(sys.argv[1]))
    q = json.loads(sys.argv[2])
    state = DataWriter(dp, Topic(dp, 'rt/lowstate', idl.HgLowState))
    qos = Qos(Policy.Reliability.Reliable(1_000_000_000), Policy.History.KeepAll)
    arm = DataReader(dp, Topic(dp, 'rt/arm_sdk', idl.HgLowCmd), qos=qos)
    hand = DataReader(dp, Topic(dp, 'rt/inspire/cmd', idl.GoMotorCmds), qos=qos)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print('ready', flush=True)
    arm_msgs, hand_msgs, tick = [], [], 0
    while True:
        finished = done.is_set()
        msg = idl.HgLowState(mode_machine=int(sys.argv[3]), tick=tick)
        for i, value in enumerate(q):
            msg.motor_state[i].q = value
        state.write(msg)
        tick += 5
        # The writer's deletion (the executor's close) arrives as an InvalidSample.
        for m in (m for m in arm.take(N=10000) if isinstance(m, idl.HgLowCmd)):
            arm_msgs.append({'mode_machine': m.mode_machine, 'q': [c.q for c in m.motor_cmd],
                             'raw': [[c.mode, c.q, c.dq, c.tau, c.kp, c.kd, c.reserve]
                                     for c in m.motor_cmd], 'crc': m.crc})
        for m in (m for m in hand.take(N=10000) if isinstance(m, idl.GoMotorCmds)):
            hand_msgs.append([c.q for c in m.cmds])
        if finished:
            break
        time.sleep(0.005)
    print(json.dumps({'arm': arm_msgs, 'hand': hand_msgs}), flush=True)
''')


@pytest.fixture
def fake_g1(dds_process):
    """A fake G1 process on a test-unique domain: yields (domain, collect())."""
    domain = 150 + (os.getpid() + 40) % 80
    return domain, dds_process(FAKE_G1, str(domain), json.dumps(MOTOR_Q.tolist()),
                               str(MODE_MACHINE))


class RightArm:
    """The part of lvp_exec.robots.RobotModel an executor reads."""

    joint_names = RIGHT_ARM


def start_q() -> np.ndarray:
    return np.array([MOTOR_Q[G1_MOTOR_INDEX[n]] for n in RIGHT_ARM])


def trajectory_from_start(duration=0.6, rate=100.0) -> JointTrajectory:
    t = np.arange(0.0, duration + 1e-9, 1.0 / rate)
    s = np.sin(0.5 * np.pi * t / duration) ** 2
    q = start_q() + np.outer(s, np.linspace(0.05, 0.2, len(RIGHT_ARM)))
    return JointTrajectory(t, RIGHT_ARM, q, np.asarray(np.gradient(q, t, axis=0)))


@pytest.fixture
def executor_for():
    """Make UnitreeExecutors on a domain; each is closed after the test (left to the garbage
    collector, a writer's listener can be freed before the writer: a segfault later)."""
    made: list[UnitreeExecutor] = []

    def make(domain, **config) -> UnitreeExecutor:
        arm = ArmSdkConfig(rate=250.0, takeover_time=0.1, release_time=0.1)
        made.append(UnitreeExecutor(UnitreeExecutorConfig(domain_id=domain, arm=arm, **config)))
        return made[-1]

    yield make
    for executor in made:
        executor.close()


def test_start_positions_and_full_run(fake_g1, executor_for):
    domain, collect = fake_g1
    executor = executor_for(domain)
    assert executor.name == 'unitree'
    np.testing.assert_allclose(executor.start_positions(RightArm()), start_q(), atol=F32)
    trajectory = trajectory_from_start()
    native = np.array([[1000] * 6, [500] * 6, [0] * 6])
    commands = HandCommands(np.array([0.0, 0.2, 0.4]), (), np.zeros((3, 0)),
                            ('little', 'ring', 'middle', 'index', 'thumb_bend', 'thumb_rotation'),
                            native / 1000.0, native)
    result = executor.execute(ExecutionRequest(RightArm(), trajectory, hand_commands=commands))
    assert result.hand_commands_sent == 3
    assert result.start_state.mode_machine == MODE_MACHINE
    received = collect()
    arm = received['arm']
    assert len(arm) == result.arm.published == len(result.arm.plan.times)
    weights = np.array([m['q'][G1_ARM_SDK_WEIGHT_SLOT] for m in arm])
    assert weights[0] == 0.0 and weights.max() == 1.0 and weights[-1] == 0.0
    for m in arm:
        assert m['mode_machine'] == MODE_MACHINE  # copied from rt/lowstate
        q = np.array(m['q'])
        # every arm_sdk joint the trajectory does not move is held where the robot reported it
        for name in G1_ARM_SDK_JOINTS:
            if name not in RIGHT_ARM:
                assert abs(q[G1_MOTOR_INDEX[name]] - MOTOR_Q[G1_MOTOR_INDEX[name]]) < F32, name
    idl = unitree_idl()
    last = arm[-1]
    rebuilt = idl.HgLowCmd(mode_machine=MODE_MACHINE,
                           motor_cmd=[idl.HgMotorCmd(*motor) for motor in last['raw']])
    assert last['crc'] == hg_low_cmd_crc(rebuilt)
    final = np.array([last['q'][G1_MOTOR_INDEX[n]] for n in RIGHT_ARM])
    np.testing.assert_allclose(final, trajectory.positions[-1], atol=F32)
    first = np.array([arm[0]['q'][G1_MOTOR_INDEX[n]] for n in RIGHT_ARM])
    np.testing.assert_allclose(first, start_q(), atol=F32)  # no jump at the takeover
    hand = np.array(received['hand'])
    assert hand.shape == (3, 12)
    np.testing.assert_allclose(hand[:, :6], native / 1000.0, atol=1e-7)  # the right hand
    np.testing.assert_allclose(hand[:, 6:], 1.0)  # the left hand held open


def test_stop_ramps_the_weight_out(fake_g1, executor_for):
    domain, collect = fake_g1
    executor = executor_for(domain)
    trajectory = trajectory_from_start(duration=3.0)
    started = time.monotonic()
    with pytest.raises(ExecutionStoppedError, match='ramped to 0') as stopped:
        executor.execute(ExecutionRequest(RightArm(), trajectory,
                                          should_stop=lambda: time.monotonic() - started > 0.5))
    # stopped inside the 3 s motion (how soon after 0.5 s depends on the machine's load)
    assert stopped.value.stopped_at is not None and 0.1 < stopped.value.stopped_at < 2.5
    arm = collect()['arm']
    weights = np.array([m['q'][G1_ARM_SDK_WEIGHT_SLOT] for m in arm])
    assert weights[-1] == 0.0 and weights.max() == 1.0
    assert len(arm) < 0.5 * (3.0 + 0.2) * 250  # far fewer messages than the whole stream
    peak = int(np.argmax(weights == 1.0)) + int(np.sum(weights == 1.0)) - 1
    assert np.all(np.diff(weights[peak:]) < 0)  # monotonic release after the stop
    assert isinstance(stopped.value, ExecutionError)


def test_refusals_send_nothing(fake_g1, executor_for):
    domain, collect = fake_g1
    executor = executor_for(domain)
    trajectory = trajectory_from_start()
    moved = JointTrajectory(trajectory.times, RIGHT_ARM, trajectory.positions + 0.2)
    with pytest.raises(UnitreeExecutionError, match=r'right_\w+_joint is at .* rad but'):
        executor.execute(ExecutionRequest(RightArm(), moved))
    from lvp_common.artifacts import GripperAction, GripperEvent

    with pytest.raises(UnitreeExecutionError, match='gripper events'):
        executor.execute(ExecutionRequest(RightArm(), trajectory,
                                          (GripperEvent(0.1, GripperAction.CLOSE, 0.0),)))
    assert collect()['arm'] == []


def test_no_lowstate_names_topic_and_interface(executor_for):
    domain = 150 + (os.getpid() + 60) % 80  # nobody publishes here
    executor = executor_for(domain, lowstate_timeout=0.3)
    with pytest.raises(LowStateTimeoutError, match="'rt/lowstate'.*network interface"):
        executor.start_positions(RightArm())

