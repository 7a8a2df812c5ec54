"""lvp_exec.backends: the options, parameters and command line options reach the backends."""

import argparse

import numpy as np
import pytest
from lvp_common.artifacts import JointTrajectory
from lvp_exec.backends import (
    BACKEND_PARAMETERS,
    BackendOptions,
    ExecutionSetupError,
    add_backend_arguments,
    backend_options_from_args,
    backend_options_from_parameters,
    backend_parameter_defaults,
    close_executor,
    declare_backend_parameters,
    make_executor,
)
from lvp_exec.execution import ExecutionError, ExecutionRequest
from lvp_exec.robots import load_fr3, load_panda


def test_defaults_are_franka_ros2s_names():
    defaults = backend_parameter_defaults()
    assert set(defaults) == set(BACKEND_PARAMETERS)
    assert defaults['gripper_action_namespace'] == '/franka_gripper'
    assert defaults['controller_action'] == '/fr3_arm_controller/follow_joint_trajectory'
    assert defaults['arm_model'] == ''
    assert defaults['path_tolerance_rad'] == BackendOptions().path_tolerance_rad == 0.0


def test_sim_gets_the_path_tolerance_and_the_arm_model():
    from lvp_sim.mujoco_executor import PATH_TOLERANCE_RAD

    sim = make_executor('sim', 'franka_gripper', BackendOptions(path_tolerance_rad=0.3))
    try:
        assert sim.tolerance_for(load_panda()) == 0.3
        assert sim.arm_model == 'panda'
    finally:
        close_executor(sim)
    sim = make_executor('sim', None, BackendOptions(arm_model='fr3'))
    try:  # 0: the sim's own default for the embodiment
        assert sim.tolerance_for(load_panda()) == PATH_TOLERANCE_RAD['franka_gripper']
        assert sim.arm_model == 'fr3'
    finally:
        close_executor(sim)
    with pytest.raises(ExecutionSetupError, match='path_tolerance_rad'):
        make_executor('sim', None, BackendOptions(path_tolerance_rad=-1.0))


def test_command_line_options_reach_backend_options():
    parser = argparse.ArgumentParser()
    add_backend_arguments(parser)
    options = backend_options_from_args(parser.parse_args(
        ['--backend', 'ros2_control', '--arm-model', 'panda', '--path-tolerance-rad', '0.08']))
    assert (options.arm_model, options.path_tolerance_rad) == ('panda', 0.08)
    assert backend_options_from_args(parser.parse_args([])).arm_model == ''
    with pytest.raises(SystemExit):
        parser.parse_args(['--arm-model', 'fr4'])


@pytest.mark.ros
def test_node_parameters_reach_backend_options(ros_domain_id):
    import rclpy
    from rclpy.context import Context
    from rclpy.parameter import Parameter

    context = Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    try:
        node = rclpy.create_node('backend_parameters', context=context, parameter_overrides=[
            Parameter('arm_model', value='panda'), Parameter('path_tolerance_rad', value=0.05),
            Parameter('gripper_action_namespace', value='/fr3_gripper')])
        declare_backend_parameters(node)
        options = backend_options_from_parameters(node)
        assert (options.arm_model, options.path_tolerance_rad) == ('panda', 0.05)
        assert options.gripper_action_namespace == '/fr3_gripper'
        node.destroy_node()
    finally:
        context.try_shutdown()


def ramp(robot, duration=0.4):
    times = np.linspace(0.0, duration, 5)
    positions = robot.home + np.outer(times / duration, np.full(7, 0.05))
    return JointTrajectory(times, robot.joint_names, positions)


@pytest.mark.ros
def test_ros2_control_goal_carries_the_path_tolerance_and_the_arm_model(ros_domain_id):
    executor = make_executor('ros2_control', 'franka_gripper',
                             BackendOptions(path_tolerance_rad=0.12, robot_wait_s=0.3))
    try:
        assert executor.arm_model == 'fr3'
        goal = executor._arm.build_goal(ramp(load_fr3()))
        assert [(t.name, t.position, t.velocity) for t in goal.path_tolerance] == [
            (f'fr3_joint{i}', 0.12, 0.0) for i in range(1, 8)]
        assert list(goal.component_path_tolerance) == [] == list(goal.goal_tolerance)

        # a plan made for the Panda's limits is not sent to the FR3
        with pytest.raises(ExecutionError, match="drives a 'fr3' arm but the motion was "
                                                 "planned for 'panda'"):
            executor.execute(ExecutionRequest(load_panda(), ramp(load_panda())))
    finally:
        close_executor(executor)

    panda = make_executor('ros2_control', None,
                          BackendOptions(arm_model='panda', path_tolerance_rad=0.0))
    try:
        assert panda.arm_model == 'panda'
        assert list(panda._arm.build_goal(ramp(load_panda())).path_tolerance) == []
    finally:
        close_executor(panda)
    with pytest.raises(ExecutionSetupError, match='path_tolerance_rad must be >= 0'):
        make_executor('ros2_control', None, BackendOptions(path_tolerance_rad=-0.1))
    with pytest.raises(ExecutionSetupError, match="arm_model 'fr2'"):
        make_executor('ros2_control', None, BackendOptions(arm_model='fr2'))
