"""Build the execution backend (an lvp_exec Executor) by name, from options or ROS parameters.

One construction for every caller that executes motion: the nodes (`exec_node` here,
lvp_bringup's `plan_and_execute`) choose it with the `execution_backend` parameter and configure
it with the parameters named like `BackendOptions`' fields (`BACKEND_PARAMETERS`); the command
line tools pass `BackendOptions` directly.

- `sim`: the MuJoCo executor in the simulated world of the robot's embodiment, a plugin
  (lvp_exec.plugins: the `lvp_exec.backends` entry point `sim` that lvp_sim declares,
  lvp_sim.mujoco_executor.MujocoExecutor); without lvp_sim installed it names the package;
- `ros2_control`: lvp_exec.ros2_control_backend.Ros2ControlExecutor (Franka: the arm's
  FollowJointTrajectory controller, franka_gripper, start state from sensor_msgs/JointState);
- `unitree`: lvp_exec.unitree_backend.UnitreeExecutor (G1: rt/arm_sdk, rt/inspire/cmd, start
  state from rt/lowstate over Cyclone DDS).

A backend's packages (rclpy and the ROS interfaces, cyclonedds) are imported only when it is
built, so the sim and this module need neither.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lvp_exec.embodiment_hardware import hardware_named, is_hardware, robot_backend_embodiments
from lvp_exec.plugins import BACKEND_PLUGINS, PluginNotFoundError, load_plugin
from lvp_exec.robots import ARM_MODELS

EXECUTION_BACKENDS = ('sim', 'ros2_control', 'unitree')
"""MuJoCo, ros2_control (FollowJointTrajectory + franka_gripper), Unitree (arm_sdk + Inspire)."""

PLUGIN_BACKENDS = ('sim',)
"""The backends another package provides as an `lvp_exec.backends` entry point: a factory
`(BackendOptions) -> Executor` (lvp_sim's MuJoCo executor)."""

ROBOT_BACKEND_EMBODIMENT = {backend: embodiments[0] for backend in ('ros2_control', 'unitree')
                            if (embodiments := robot_backend_embodiments(backend))}
"""The built-in embodiment each robot backend drives (the hardware specs' `robot_backend`;
the sim drives all)."""

DEFAULT_ARM_MODEL = {'ros2_control': 'fr3', 'sim': 'panda'}
"""The Franka arm model each backend drives when `arm_model` is '' (franka_ros2 drives FR3s)."""


class ExecutionSetupError(RuntimeError):
    """The configured execution backend cannot be built (missing package, bad parameter)."""


class BackendMismatchError(ExecutionSetupError):
    """The execution backend drives another embodiment than the motion's."""


@dataclass(frozen=True)
class BackendOptions:
    """What the backends need, named like the nodes' parameters (s, rad).

    ros2_control: `controller_action`, `controller_joint_names` (the controller's names of the
    7 arm joints, in the model's order panda_joint1..7), `gripper_action_namespace` (empty: no
    gripper), `joint_states_topic`; None takes lvp_exec.ros2_control_backend's default
    (franka_ros2's FR3 names). unitree: `network_interface` (empty: Cyclone DDS's default),
    `dds_domain_id`, `arm_takeover_s` / `arm_release_s` (arm_sdk weight ramps). Both:
    `robot_wait_s`, how long to wait for the action servers, the first joint state or
    rt/lowstate, and the command readers. sim and ros2_control: `arm_model`, the Franka arm
    planned for and driven ('panda' | 'fr3'; '' = DEFAULT_ARM_MODEL of the backend),
    `path_tolerance_rad` (largest tracking error of any arm joint, rad; sim: it aborts beyond it;
    ros2_control: the goal's path_tolerance for every joint; 0 = the backend's own: the sim's
    per-embodiment `sim_path_tolerance_rad` (lvp_exec.embodiment_hardware), the controller's
    configured constraints).
    sim: `sim_world` (an lvp_sim WorldConfig; None = the embodiment's layout) and
    `sim_render_fps` (scene-camera frames per second; 0: none).
    """

    controller_action: str | None = None
    controller_joint_names: tuple[str, ...] | None = None
    gripper_action_namespace: str | None = None
    joint_states_topic: str | None = None
    robot_wait_s: float = 5.0
    network_interface: str = ''
    dds_domain_id: int = 0
    arm_takeover_s: float = 1.0
    arm_release_s: float = 1.0
    arm_model: str = ''
    path_tolerance_rad: float = 0.0
    sim_world: Any = None
    sim_render_fps: float = 0.0


def check_backend_fits(backend: str, embodiment: str) -> None:
    """Raise BackendMismatchError unless `backend` drives `embodiment` (the sim drives all)."""
    if backend not in EXECUTION_BACKENDS:
        raise ExecutionSetupError(f'execution backend {backend!r} is not one of '
                                  f'{EXECUTION_BACKENDS}')
    if backend in PLUGIN_BACKENDS:
        return
    if not (is_hardware(embodiment) and hardware_named(embodiment).robot_backend == backend):
        drives = '/'.join(robot_backend_embodiments(backend)) or 'no registered'
        raise BackendMismatchError(f'the {backend} backend drives the {drives} embodiment, '
                                   f'not {embodiment!r}')


def resolve_arm_model(arm_model: str, backend: str) -> str:
    """Return the Franka arm model `backend` drives: `arm_model`, or the backend's default
    when it is '' (ros2_control: 'fr3', otherwise 'panda')."""
    if arm_model and arm_model not in ARM_MODELS:
        raise ExecutionSetupError(f'arm_model {arm_model!r} is not one of {ARM_MODELS} (or \'\' '
                                  f'for the backend\'s default)')
    return arm_model or DEFAULT_ARM_MODEL.get(backend, 'panda')


def executor_arm_model(executor: Any) -> str:
    """Return the Franka arm model an executor drives (set by make_executor; else the default
    of its backend): plan with this model, so its limits are the ones checked."""
    return getattr(executor, 'arm_model', '') or resolve_arm_model(
        '', getattr(executor, 'name', 'sim'))


def make_executor(backend: str, embodiment: str | None = None,
                  options: BackendOptions | None = None, node: Any = None) -> Any:
    """Build the `backend` Executor; refuse one that does not drive `embodiment` (None: any).

    node: the rclpy node the ros2_control clients are built on, spun by a MultiThreadedExecutor
    on other threads (the executor's calls block); None: the executor makes a node in an rclpy
    context of its own. Raises ExecutionSetupError (BackendMismatchError for the wrong
    embodiment) before anything connects to a robot.
    """
    options = options or BackendOptions()
    if embodiment is not None:
        check_backend_fits(backend, embodiment)
    arm_model = resolve_arm_model(options.arm_model, backend)
    try:
        if backend in PLUGIN_BACKENDS:
            sim: Any = load_plugin(BACKEND_PLUGINS, backend)(options)
            # The sim simulates the Panda; a plan may still be made for the FR3's limits.
            sim.arm_model = arm_model
            return sim
        if backend == 'ros2_control':
            return _ros2_control_executor(options, arm_model, node)
        if backend == 'unitree':
            return _unitree_executor(options)
    except ExecutionSetupError:
        raise
    except PluginNotFoundError as exc:
        raise ExecutionSetupError(f'execution_backend {backend!r}: {exc}') from exc
    except (ImportError, ValueError, RuntimeError) as exc:
        raise ExecutionSetupError(f'execution_backend {backend!r} could not be set up: '
                                  f'{type(exc).__name__}: {exc}') from exc
    raise ExecutionSetupError(f'execution_backend {backend!r} is not one of '
                              f'{EXECUTION_BACKENDS}')


def close_executor(executor: Any) -> None:
    """Release what an executor holds (action clients, its own rclpy context, the sim)."""
    close = getattr(executor, 'close', None)
    if close is not None:
        close()


def _ros2_control_executor(options: BackendOptions, arm_model: str, node: Any) -> Any:
    try:
        from lvp_exec import ros2_control_backend as ros2
        from lvp_exec.franka_gripper_client import DEFAULT_GRIPPER_NAMESPACE, GripperConfig
        from lvp_exec.trajectory_client import (
            DEFAULT_ARM_ACTION,
            Tolerance,
            TrajectoryControllerConfig,
        )
    except ImportError as exc:
        raise ExecutionSetupError(
            f'the ros2_control backend needs rclpy ({exc}): source a ROS 2 install (Humble or '
            'newer) or use a venv with the ROS 2 wheels') from exc
    names = (list(ros2.PANDA_TO_FR3.values()) if options.controller_joint_names is None
             else list(options.controller_joint_names))
    if len(names) != len(ros2.PANDA_TO_FR3):
        raise ExecutionSetupError(
            f'controller_joint_names must name the {len(ros2.PANDA_TO_FR3)} arm joints (for '
            f'{list(ros2.PANDA_TO_FR3)}), got {names}')
    tolerance = options.path_tolerance_rad
    if not tolerance >= 0.0:  # also refuses NaN
        raise ExecutionSetupError(f'path_tolerance_rad must be >= 0 rad (0: the controller\'s '
                                  f'own), got {tolerance}')
    wait = options.robot_wait_s
    namespace = (DEFAULT_GRIPPER_NAMESPACE if options.gripper_action_namespace is None
                 else options.gripper_action_namespace)
    config = ros2.Ros2ControlExecutorConfig(
        controller=TrajectoryControllerConfig(
            action_name=options.controller_action or DEFAULT_ARM_ACTION,
            server_timeout=wait, joint_name_map=dict(zip(ros2.PANDA_TO_FR3, names)),
            path_tolerance=Tolerance(position=tolerance) if tolerance > 0.0 else None),
        gripper=GripperConfig(namespace=namespace, server_timeout=wait)
        if namespace else None,
        joint_states_topic=options.joint_states_topic or ros2.DEFAULT_JOINT_STATES_TOPIC,
        joint_states_timeout=wait, arm_model=arm_model)
    return ros2.Ros2ControlExecutor(node, config)


def _unitree_executor(options: BackendOptions) -> Any:
    from lvp_exec.arm_sdk_stream import ArmSdkConfig
    from lvp_exec.inspire_commander import InspireHandConfig
    from lvp_exec.unitree_backend import UnitreeExecutor, UnitreeExecutorConfig

    wait = options.robot_wait_s
    return UnitreeExecutor(UnitreeExecutorConfig(
        domain_id=options.dds_domain_id,
        network_interface=options.network_interface or None,
        arm=ArmSdkConfig(takeover_time=options.arm_takeover_s,
                         release_time=options.arm_release_s, reader_timeout=wait),
        hand=InspireHandConfig(reader_timeout=wait), lowstate_timeout=wait))


# ---------------------------------------------------------------- nodes: ROS parameters


BACKEND_PARAMETERS: dict[str, str] = {
    'execution_backend': (
        f'how the motion is executed: one of {EXECUTION_BACKENDS} (sim = MuJoCo; ros2_control '
        '= Franka arm controller + franka_gripper; unitree = G1 arm_sdk + Inspire hands over '
        'DDS)'),
    'controller_action': ('ros2_control: FollowJointTrajectory action of the arm\'s '
                          'joint_trajectory_controller'),
    'controller_joint_names': ('ros2_control: the controller\'s names of the 7 arm joints, in '
                               'the model\'s order (panda_joint1..7); also looked up in '
                               'joint_states'),
    'gripper_action_namespace': ('ros2_control: namespace of franka_gripper\'s '
                                 'homing/move/grasp actions (/franka_gripper: franka_ros2 >= '
                                 '0.1.15; older installs: /fr3_gripper); empty = no gripper '
                                 '(plans with gripper events then fail before the arm moves)'),
    'joint_states_topic': ('ros2_control: sensor_msgs/JointState topic of the robot (start '
                           'state)'),
    'robot_wait_s': ('ros2_control/unitree: wait for the action servers, the first joint state '
                     'or rt/lowstate, and the command readers, s'),
    'network_interface': ('unitree: network interface to the G1 (e.g. eth0, on '
                          '192.168.123.x); empty = Cyclone DDS\'s default'),
    'dds_domain_id': 'unitree: DDS domain of the G1 (0)',
    'arm_takeover_s': 'unitree: arm_sdk weight ramp 0 -> 1 before the motion, s',
    'arm_release_s': 'unitree: arm_sdk weight ramp 1 -> 0 after the motion or a stop, s',
    'arm_model': ('sim/ros2_control: the Franka arm planned for and driven, whose joint limits '
                  'the plan is checked against: panda or fr3; empty = fr3 on ros2_control '
                  '(franka_ros2), panda in the sim'),
    'path_tolerance_rad': ('sim/ros2_control: largest tracking error of any arm joint before '
                           'the motion is aborted, rad (ros2_control: the goal\'s '
                           'path_tolerance); 0 = the backend\'s own (sim: '
                           'sim_path_tolerance_rad of the embodiment\'s hardware; '
                           'ros2_control: the controller\'s '
                           'configured constraints)'),
}
"""ROS parameter name -> description: the backend choice and `BackendOptions`' robot fields."""


def backend_parameter_defaults() -> dict[str, Any]:
    """The default value of each of BACKEND_PARAMETERS (the ros2_control names are
    franka_ros2's FR3 ones)."""
    from lvp_exec.franka_gripper_client import DEFAULT_GRIPPER_NAMESPACE
    from lvp_exec.ros2_control_backend import DEFAULT_JOINT_STATES_TOPIC, FR3_ARM_JOINTS
    from lvp_exec.trajectory_client import DEFAULT_ARM_ACTION

    options = BackendOptions()
    return {'execution_backend': 'sim', 'controller_action': DEFAULT_ARM_ACTION,
            'controller_joint_names': list(FR3_ARM_JOINTS),
            'gripper_action_namespace': DEFAULT_GRIPPER_NAMESPACE,
            'joint_states_topic': DEFAULT_JOINT_STATES_TOPIC,
            'robot_wait_s': options.robot_wait_s, 'network_interface': options.network_interface,
            'dds_domain_id': options.dds_domain_id, 'arm_takeover_s': options.arm_takeover_s,
            'arm_release_s': options.arm_release_s, 'arm_model': options.arm_model,
            'path_tolerance_rad': options.path_tolerance_rad}


def declare_backend_parameters(node: Any, names: Iterable[str] = tuple(BACKEND_PARAMETERS)
                               ) -> None:
    """Declare the backend parameters `names` (default: all of them) on an rclpy node."""
    from lvp_common.ros.node import describe

    defaults = backend_parameter_defaults()
    for name in names:
        node.declare_parameter(name, defaults[name], describe(BACKEND_PARAMETERS[name]))


def backend_options_from_parameters(node: Any) -> BackendOptions:
    """The BackendOptions of a node that declared BACKEND_PARAMETERS (no sim rendering)."""
    def value(name: str) -> Any:
        return node.get_parameter(name).value

    return BackendOptions(
        controller_action=value('controller_action'),
        controller_joint_names=tuple(value('controller_joint_names') or ()),
        gripper_action_namespace=value('gripper_action_namespace'),
        joint_states_topic=value('joint_states_topic'),
        robot_wait_s=float(value('robot_wait_s')),
        network_interface=value('network_interface'),
        dds_domain_id=int(value('dds_domain_id')),
        arm_takeover_s=float(value('arm_takeover_s')),
        arm_release_s=float(value('arm_release_s')),
        arm_model=str(value('arm_model')),
        path_tolerance_rad=float(value('path_tolerance_rad')))


class ExecutionBackends:
    """A node's execution backends: each built on first use from the node's parameters (see
    BACKEND_PARAMETERS), then reused; `close` releases them all."""

    def __init__(self, node: Any) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._executors: dict[str, Any] = {}

    def executor(self, backend: str) -> Any:
        """The backend's executor; raises ExecutionSetupError when it cannot be built."""
        with self._lock:
            if backend not in self._executors:
                self._executors[backend] = make_executor(
                    backend, None, backend_options_from_parameters(self._node), self._node)
            return self._executors[backend]

    def close(self) -> None:
        """Release every backend built (action clients, the sim)."""
        with self._lock:
            for executor in self._executors.values():
                close_executor(executor)
            self._executors.clear()


# ---------------------------------------------------------------- command line tools


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """Add `--backend` and the robot backends' options (named like BACKEND_PARAMETERS)."""
    parser.add_argument('--backend', choices=EXECUTION_BACKENDS, default='sim',
                        help='sim = MuJoCo in the lvp_sim world; ros2_control = Franka arm '
                        'controller + franka_gripper (rclpy, ROS_DOMAIN_ID from the '
                        'environment); unitree = G1 arm_sdk + Inspire hands over Cyclone DDS '
                        '(default: sim)')
    r = parser.add_argument_group('ros2_control (Franka)')
    r.add_argument('--controller-action', metavar='NAME',
                   help='FollowJointTrajectory action of the arm\'s joint_trajectory_controller '
                   '(default /fr3_arm_controller/follow_joint_trajectory)')
    r.add_argument('--controller-joint-names', metavar='J1,...,J7',
                   help='the controller\'s names of the 7 arm joints, comma-separated, in the '
                   'model\'s order panda_joint1..7; also looked up in the joint states '
                   '(default fr3_joint1,...,fr3_joint7)')
    r.add_argument('--gripper-action-namespace', metavar='NS',
                   help='namespace of franka_gripper\'s homing/move/grasp actions; \'\' = no '
                   'gripper (gripper events then fail before the arm moves) (default '
                   '/franka_gripper, franka_ros2 >= 0.1.15; older installs: /fr3_gripper)')
    r.add_argument('--joint-states-topic', metavar='TOPIC',
                   help='sensor_msgs/JointState topic of the robot: the start state (default '
                   '/joint_states)')
    r.add_argument('--arm-model', choices=('', *ARM_MODELS), default='',
                   help='the Franka arm planned for and driven; its joint limits are checked '
                   '(default: fr3 on ros2_control, panda in the sim)')
    parser.add_argument('--path-tolerance-rad', type=float, default=0.0, metavar='RAD',
                        help='sim/ros2_control: abort the motion when an arm joint is this far '
                        'from the trajectory, rad; 0 = the backend\'s own (sim: its default per '
                        'embodiment; ros2_control: the controller\'s constraints) (default 0)')
    u = parser.add_argument_group('unitree (G1)')
    u.add_argument('--network-interface', default='', metavar='IFACE',
                   help='network interface to the G1 (e.g. eth0, on 192.168.123.x); default: '
                   'Cyclone DDS\'s choice')
    u.add_argument('--dds-domain-id', type=int, default=0, metavar='N',
                   help='DDS domain of the G1 (default 0)')
    u.add_argument('--arm-takeover-s', type=float, default=1.0, metavar='S',
                   help='arm_sdk weight ramp 0 -> 1 before the motion, s (default 1)')
    u.add_argument('--arm-release-s', type=float, default=1.0, metavar='S',
                   help='arm_sdk weight ramp 1 -> 0 after the motion or a stop, s (default 1)')
    parser.add_argument('--robot-wait-s', type=float, default=5.0, metavar='S',
                        help='ros2_control/unitree: wait for the action servers, the first '
                        'joint state or rt/lowstate, and the command readers, s (default 5)')


def backend_options_from_args(args: argparse.Namespace, **sim: Any) -> BackendOptions:
    """The BackendOptions of `add_backend_arguments`' options; `sim`: sim_world and/or
    sim_render_fps."""
    names = args.controller_joint_names
    return BackendOptions(
        controller_action=args.controller_action,
        controller_joint_names=None if names is None else tuple(
            n.strip() for n in names.split(',') if n.strip()),
        gripper_action_namespace=args.gripper_action_namespace,
        joint_states_topic=args.joint_states_topic, robot_wait_s=args.robot_wait_s,
        network_interface=args.network_interface, dds_domain_id=args.dds_domain_id,
        arm_takeover_s=args.arm_takeover_s, arm_release_s=args.arm_release_s,
        arm_model=args.arm_model, path_tolerance_rad=args.path_tolerance_rad, **sim)
