"""The Unitree backend: Unitree's CRC, the arm_sdk stream plan, and real DDS traffic.

The DDS tests publish with cyclonedds to a subscriber in a second process over loopback (a
test-unique domain id) and check every received message: fields, weight ramp, joint targets
against the trajectory, velocity clip, CRC. They are skipped when cyclonedds (0.10.x, built
against the C library; see the README) is not installed.
"""

import importlib.util
import os
import textwrap
import threading
import time
import zlib

import numpy as np
import pytest
from lvp_common.artifacts import HandCommands, JointTrajectory
from lvp_exec.arm_sdk_stream import (
    ArmSdkConfig,
    UnitreeArmStreamer,
    default_g1_gains,
    plan_arm_sdk_stream,
)
from lvp_exec.inspire_commander import InspireHandCommander, InspireHandConfig
from lvp_exec.unitree_idl import (
    G1_ARM_SDK_JOINTS,
    G1_ARM_SDK_WEIGHT_SLOT,
    G1_MOTOR_INDEX,
    UnitreeBackendError,
    hg_low_cmd_crc,
    hg_low_cmd_words,
    unitree_crc32,
    unitree_idl,
)

RIGHT_ARM = tuple(n for n in G1_ARM_SDK_JOINTS if n.startswith('right_'))
HELD = {n: 0.1 * i for i, n in enumerate(G1_ARM_SDK_JOINTS) if n not in RIGHT_ARM}
F32 = 2e-6  # float32 rounding of angles up to a few rad

# CI sets LVP_REQUIRE_CYCLONEDDS=1 (its setup installs cyclonedds-dev): there the DDS tests run
# without cyclonedds and fail (unitree_idl raises ImportError) instead of being skipped.
HAVE_CYCLONEDDS = importlib.util.find_spec('cyclonedds') is not None
REQUIRE_CYCLONEDDS = os.environ.get('LVP_REQUIRE_CYCLONEDDS') == '1'

needs_cyclonedds = pytest.mark.skipif(
    not HAVE_CYCLONEDDS and not REQUIRE_CYCLONEDDS,
    reason='cyclonedds 0.10.x not installed (apt-get install cyclonedds-dev; '
           'CYCLONEDDS_HOME=<prefix> pip install cyclonedds==0.10.2)')


# --- CRC ---------------------------------------------------------------------------------------

def crc32_core_bitwise(words):
    """Unitree's crc32_core written bit by bit from its description (reference for the table)."""
    crc = 0xFFFFFFFF
    for word in words:
        for bit in range(31, -1, -1):
            feedback = bool(crc & 0x80000000) ^ bool((int(word) >> bit) & 1)
            crc = (crc << 1) & 0xFFFFFFFF
            if feedback:
                crc ^= 0x04C11DB7
    return crc


def crc32_mpeg2_via_zlib(data: bytes) -> int:
    """CRC-32/MPEG-2 from zlib's reflected CRC-32: bit-reverse the input bytes and the result."""
    reverse8 = bytes(int(f'{b:08b}'[::-1], 2) for b in range(256))
    reflected = zlib.crc32(data.translate(reverse8)) ^ 0xFFFFFFFF
    return int(f'{reflected:032b}'[::-1], 2)


def test_mpeg2_oracle_matches_the_catalogue_check_value():
    assert crc32_mpeg2_via_zlib(b'123456789') == 0x0376E6E7  # CRC-32/MPEG-2 check value


def test_unitree_crc32_is_word_wise_crc32_mpeg2():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 250):
        words = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
        expected = crc32_mpeg2_via_zlib(words.astype('>u4').tobytes())
        assert unitree_crc32(words) == expected == crc32_core_bitwise(words)
    assert unitree_crc32([0] * 250) == crc32_core_bitwise([0] * 250)


@needs_cyclonedds
def test_low_cmd_crc_covers_the_c_struct_before_the_crc_field():
    idl = unitree_idl()
    msg = idl.HgLowCmd(mode_machine=3)
    msg.motor_cmd[22].q = 0.5
    msg.motor_cmd[22].kp = 80.0
    words = hg_low_cmd_words(msg)
    assert words.shape == (250,)  # 1004-byte struct minus the crc word
    assert words[0] == 3 << 8  # mode_pr, mode_machine, 2 pad bytes (little endian)
    assert hg_low_cmd_crc(msg) == crc32_core_bitwise(words)
    msg.motor_cmd[22].q = 0.5000001  # any field change changes the crc
    assert hg_low_cmd_crc(msg) != crc32_core_bitwise(words)


# --- stream plan (no DDS) ----------------------------------------------------------------------

def right_arm_trajectory(duration=0.8, rate=100.0, fast_amplitude=0.3):
    """Right arm: joint 0 swings fast (peak 2*pi*amplitude/duration rad/s), others slowly."""
    t = np.arange(0.0, duration + 1e-9, 1.0 / rate)
    phase = np.sin(np.pi * t / duration) ** 2  # starts and ends at rest
    q = np.zeros((len(t), len(RIGHT_ARM)))
    q[:, 0] = fast_amplitude * np.sin(2 * np.pi * t / duration)
    for j in range(1, len(RIGHT_ARM)):
        q[:, j] = 0.05 * j * phase
    return JointTrajectory(t, RIGHT_ARM, q, np.asarray(np.gradient(q, t, axis=0)))


def test_plan_ramps_weight_and_follows_the_trajectory():
    traj = right_arm_trajectory()
    config = ArmSdkConfig(rate=250.0, takeover_time=0.2, release_time=0.3,
                          held_positions=HELD, max_velocity=100.0)
    plan = plan_arm_sdk_stream(traj, config)
    dt = 1 / 250
    assert np.allclose(np.diff(plan.times), dt)
    assert plan.weights[0] == 0.0 and plan.weights[-1] == 0.0 and plan.weights.max() == 1.0
    n_in, n_out = 50, 75
    assert np.allclose(plan.weights[:n_in], np.arange(n_in) / n_in)
    assert np.all(plan.weights[n_in:-n_out] == 1.0)
    assert np.all(np.diff(plan.weights[-n_out:]) < 0)
    # trajectory clock: 0 during take-over, then real time, then held at the end
    assert np.allclose(plan.trajectory_times, np.clip(plan.times - 0.2, 0.0, traj.duration))
    columns = [plan.joint_names.index(n) for n in RIGHT_ARM]
    for j, c in enumerate(columns):
        expected = np.interp(plan.trajectory_times, traj.times, traj.positions[:, j])
        assert np.allclose(plan.positions[:, c], expected, atol=1e-12)
    for name, value in HELD.items():
        assert np.all(plan.positions[:, plan.joint_names.index(name)] == value)
    assert np.all(plan.velocities == 0.0)  # no feedforward by default
    assert plan.clipped_lag < 1e-12
    assert plan.kp[plan.joint_names.index('right_wrist_roll_joint')] == 40.0
    assert plan.kp[plan.joint_names.index('right_elbow_joint')] == 80.0


def test_plan_clips_steps_and_catches_up():
    traj = right_arm_trajectory()  # joint 0 peaks at ~2.4 rad/s
    config = ArmSdkConfig(rate=250.0, takeover_time=0.1, release_time=0.5,
                          held_positions=HELD, max_velocity=1.0)
    plan = plan_arm_sdk_stream(traj, config)
    steps = np.abs(np.diff(plan.positions, axis=0))
    assert steps.max() <= 1.0 / 250 + 1e-12
    assert plan.clipped_lag > 0.05  # the clip was active
    assert np.allclose(plan.positions[-1], plan.targets[-1])  # caught up while releasing


def test_plan_velocity_feedforward_only_while_moving():
    traj = right_arm_trajectory()
    config = ArmSdkConfig(rate=250.0, takeover_time=0.2, release_time=0.2,
                          held_positions=HELD, max_velocity=2.0, velocity_feedforward=True)
    plan = plan_arm_sdk_stream(traj, config)
    assert traj.velocities is not None
    moving = (plan.times >= 0.2 - 1e-9) & (plan.times <= 0.2 + traj.duration + 1e-9)
    c = plan.joint_names.index(RIGHT_ARM[1])
    expected = np.interp(plan.trajectory_times, traj.times, traj.velocities[:, 1])
    assert np.allclose(plan.velocities[moving, c], expected[moving])
    assert np.all(plan.velocities[~moving] == 0.0)
    assert np.abs(plan.velocities).max() <= 2.0


def test_plan_refuses_bad_joints_and_uncovered_arm_sdk_joints():
    traj = right_arm_trajectory()
    with pytest.raises(UnitreeBackendError, match='held_positions'):
        plan_arm_sdk_stream(traj, ArmSdkConfig())
    legs = JointTrajectory(traj.times, ('left_knee_joint',), traj.positions[:, :1])
    with pytest.raises(UnitreeBackendError, match='not arm_sdk joints'):
        plan_arm_sdk_stream(legs, ArmSdkConfig(held_positions=HELD))
    renamed = JointTrajectory(traj.times, tuple(f'j{i}' for i in range(7)), traj.positions)
    plan = plan_arm_sdk_stream(renamed, ArmSdkConfig(
        held_positions=HELD, joint_name_map={f'j{i}': n for i, n in enumerate(RIGHT_ARM)}))
    assert plan.positions.shape[1] == len(G1_ARM_SDK_JOINTS)


def test_motor_index_table_is_unitrees_g1_order():
    assert G1_MOTOR_INDEX['waist_yaw_joint'] == 12
    assert G1_MOTOR_INDEX['left_shoulder_pitch_joint'] == 15
    assert G1_MOTOR_INDEX['right_shoulder_pitch_joint'] == 22
    assert G1_MOTOR_INDEX['right_wrist_yaw_joint'] == 28
    assert len(G1_ARM_SDK_JOINTS) == 17 and G1_ARM_SDK_WEIGHT_SLOT == 29
    assert default_g1_gains('left_wrist_pitch_joint') == (40.0, 1.5)


# --- real DDS traffic over loopback ------------------------------------------------------------

SUBSCRIBER = textwrap.dedent('''
    import json, sys, threading, time
    from cyclonedds.core import Qos, Policy
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic
    from lvp_exec.unitree_idl import dds_participant, unitree_idl

    idl = unitree_idl()
    dp = dds_participant(int(sys.argv[1]))
    qos = Qos(Policy.Reliability.Reliable(1_000_000_000), Policy.History.KeepAll)
    arm = DataReader(dp, Topic(dp, 'rt/arm_sdk', idl.HgLowCmd), qos=qos)
    hand = DataReader(dp, Topic(dp, 'rt/inspire/cmd', idl.GoMotorCmds), qos=qos)
    done = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print('ready', flush=True)
    arm_msgs, hand_msgs = [], []
    while True:
        finished = done.is_set()
        # The writer's deletion (the executor's close) arrives as an InvalidSample.
        for m in (m for m in arm.take(N=10000) if isinstance(m, idl.HgLowCmd)):
            arm_msgs.append({
                'mode_pr': m.mode_pr, 'mode_machine': m.mode_machine,
                'motors': [[c.mode, c.q, c.dq, c.tau, c.kp, c.kd, c.reserve]
                           for c in m.motor_cmd],
                'reserve': list(m.reserve), 'crc': m.crc, 't': time.monotonic()})
        for m in (m for m in hand.take(N=10000) if isinstance(m, idl.GoMotorCmds)):
            hand_msgs.append([c.q for c in m.cmds])
        if finished:
            break
        time.sleep(0.005)
    print(json.dumps({'arm': arm_msgs, 'hand': hand_msgs}), flush=True)
''')


@pytest.fixture
def dds_subscriber(dds_process):
    """A subscriber process on a test-unique domain: yields (domain, collect())."""
    domain = 150 + os.getpid() % 80  # ROS tests use 10..99
    return domain, dds_process(SUBSCRIBER, str(domain))


@pytest.fixture
def closing():
    """Register DDS writers to close after the test (left to the garbage collector, a writer's
    listener can be freed before the writer: a segfault later in the run)."""
    opened = []

    def register(thing):
        opened.append(thing)
        return thing

    yield register
    for thing in opened:
        thing.close()


@needs_cyclonedds
def test_arm_stream_received_over_loopback(dds_subscriber, closing):
    domain, collect = dds_subscriber
    rate, v_max = 250.0, 1.5
    traj = right_arm_trajectory()
    config = ArmSdkConfig(domain_id=domain, rate=rate, takeover_time=0.2, release_time=0.3,
                          held_positions=HELD, max_velocity=v_max, mode_machine=5)
    streamer = closing(UnitreeArmStreamer(config))
    result = streamer.stream(traj)
    plan = result.plan
    received = collect()['arm']
    assert result.published == len(plan.times) == len(received)
    idl = unitree_idl()

    weights = np.array([m['motors'][G1_ARM_SDK_WEIGHT_SLOT][1] for m in received])
    assert np.allclose(weights, plan.weights, atol=1e-7)
    assert weights[0] == 0.0 and weights.max() == 1.0 and weights[-1] == 0.0
    rise, fall = np.argmax(weights == 1.0), len(weights) - np.argmax(weights[::-1] == 1.0)
    assert np.all(np.diff(weights[:rise]) > 0) and np.all(np.diff(weights[fall - 1:]) < 0)

    q = np.array([[m['motors'][i][1] for i in plan.motor_indices] for m in received])
    # velocity clip: no step beyond v_max / rate, and it was active on the fast joint
    assert np.abs(np.diff(q, axis=0)).max() <= v_max / rate + F32
    assert plan.clipped_lag > 0.05
    assert np.allclose(q, plan.positions, atol=F32)
    # where the clip is idle, every joint is the trajectory at the stream time (a clipped step
    # is scaled as a whole, so all joints trail together until the command catches up)
    free = np.all(np.abs(plan.positions - plan.targets) < 1e-12, axis=1)
    assert free.mean() > 0.3
    for j, name in enumerate(RIGHT_ARM):
        c = plan.joint_names.index(name)
        expected = np.interp(plan.times - config.takeover_time, traj.times, traj.positions[:, j])
        assert np.allclose(q[free, c], expected[free], atol=F32), name
    for name, value in HELD.items():
        assert np.allclose(q[:, plan.joint_names.index(name)], value, atol=F32)
    # messages arrive at the stream rate
    arrival = np.array([m['t'] for m in received])
    assert abs((arrival[-1] - arrival[0]) - plan.times[-1]) < 0.1

    for m in received:
        assert m['mode_pr'] == 0 and m['mode_machine'] == 5 and m['reserve'] == [0] * 4
        for index, (mode, _, dq, tau, kp, kd, _) in enumerate(m['motors']):
            if index in plan.motor_indices:
                gains = default_g1_gains(plan.joint_names[plan.motor_indices.index(index)])
                assert (mode, dq, tau) == (1, 0.0, 0.0)
                assert np.allclose((kp, kd), gains)
            elif index != G1_ARM_SDK_WEIGHT_SLOT:
                assert (mode, kp, kd) == (0, 0.0, 0.0)  # legs: untouched by arm_sdk
        rebuilt = idl.HgLowCmd(
            mode_pr=m['mode_pr'], mode_machine=m['mode_machine'], reserve=m['reserve'],
            motor_cmd=[idl.HgMotorCmd(*motor) for motor in m['motors']])
        assert m['crc'] == hg_low_cmd_crc(rebuilt) == crc32_core_bitwise(
            hg_low_cmd_words(rebuilt))


@needs_cyclonedds
def test_inspire_commands_received_over_loopback(dds_subscriber, closing):
    domain, collect = dds_subscriber
    hand = closing(InspireHandCommander(InspireHandConfig(domain_id=domain)))
    hand.wait_for_reader()
    order = ('index', 'middle', 'ring', 'little', 'thumb_rotation', 'thumb_bend')
    native = np.array([[1000, 900, 800, 700, 600, 500], [0, 100, 200, 300, 400, 500]])
    commands = HandCommands(
        times=np.array([0.0, 0.05]), joint_names=(), joint_positions=np.zeros((2, 0)),
        actuator_names=order, normalized=native / 1000.0, native=native)
    assert hand.play(commands, side='left') == 2
    # the writer keeps only its newest sample (Unitree's default QoS), so space the commands
    time.sleep(0.05)
    hand.send([1000, 0, 1000, 0, 1000, 0], side='right')
    with pytest.raises(UnitreeBackendError, match='0..1000'):
        hand.send([1001, 0, 0, 0, 0, 0])
    received = np.array(collect()['hand'])
    assert received.shape == (3, 12)
    # DDS order within a hand: little, ring, middle, index, thumb_bend, thumb_rotation
    assert np.allclose(received[0, 6:], [0.7, 0.8, 0.9, 1.0, 0.5, 0.6], atol=1e-7)
    assert np.allclose(received[1, 6:], [0.3, 0.2, 0.1, 0.0, 0.5, 0.4], atol=1e-7)
    assert np.allclose(received[:2, :6], 1.0)  # right hand held open until commanded
    assert np.allclose(received[2, :6], [1, 0, 1, 0, 1, 0])
    assert np.allclose(received[2, 6:], received[1, 6:])


@needs_cyclonedds
def test_arm_stream_stop_ramps_the_weight_down(dds_subscriber, closing):
    domain, collect = dds_subscriber
    config = ArmSdkConfig(domain_id=domain, rate=250.0, takeover_time=0.1, release_time=0.1,
                          held_positions=HELD)
    stop = threading.Event()
    steps = []

    def on_step(t):
        steps.append(t)
        if t >= 0.2:
            stop.set()

    streamer = closing(UnitreeArmStreamer(config))
    result = streamer.stream(right_arm_trajectory(), on_step=on_step, stop=stop)
    received = collect()['arm']
    assert result.published == len(steps) < len(result.plan.times)
    weights = np.array([m['motors'][G1_ARM_SDK_WEIGHT_SLOT][1] for m in received])
    assert len(received) == len(steps) + 25  # release_time * rate messages after the stop
    assert weights[len(steps) - 1] == 1.0 and weights[-1] == 0.0
    assert np.all(np.diff(weights[len(steps) - 1:]) < 0)
    last = np.array([received[len(steps) - 1]['motors'][i][1] for i in result.plan.motor_indices])
    for m in received[len(steps):]:  # the last command is held while releasing
        assert np.allclose([m['motors'][i][1] for i in result.plan.motor_indices], last)
