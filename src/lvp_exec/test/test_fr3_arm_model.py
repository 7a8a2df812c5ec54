"""The FR3 arm model: the Panda's kinematics with the FR3's own joint limits, chosen by
`arm_model` ('' = the arm the backend drives: fr3 on ros2_control, panda in the sim)."""

from types import SimpleNamespace

import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]
import pytest
from lvp_bringup.pipeline import PipelineConfig, StageError, robot_for
from lvp_exec.backends import ExecutionSetupError, executor_arm_model, resolve_arm_model
from lvp_exec.embodiment_hardware import load_embodiment_robot
from lvp_exec.ik import DampedLeastSquaresIk
from lvp_exec.motion import MotionConfig, MotionError, MotionRequest, execute_motion
from lvp_exec.robots import RobotModelError, load_fr3, load_panda
from lvp_exec.safety import JointLimitError, SafetyFilter
from lvp_exec.synthetic_paths import wrist_path_from_joints
from lvp_exec.timing import parameterize

# franka_description 1.0.1, robots/fr3/joint_limits.yaml (joint1..7)
FR3_LOWER = [-2.7437, -1.7837, -2.9007, -3.0421, -2.8065, 0.5445, -3.0159]
FR3_UPPER = [2.7437, 1.7837, 2.9007, -0.1518, 2.8065, 4.5169, 3.0159]
FR3_VELOCITY = [2.62, 2.62, 2.62, 2.62, 5.26, 4.18, 5.26]
# franka_description 1.0.1, robots/fr3/kinematics.yaml: joint origins (x, y, z, roll) in the
# parent link (pitch = yaw = 0 for all)
FR3_JOINT_ORIGINS = [(0.0, 0.0, 0.333, 0.0), (0.0, 0.0, 0.0, -np.pi / 2),
                     (0.0, -0.316, 0.0, np.pi / 2), (0.0825, 0.0, 0.0, np.pi / 2),
                     (-0.0825, 0.384, 0.0, -np.pi / 2), (0.0, 0.0, 0.0, np.pi / 2),
                     (0.088, 0.0, 0.0, np.pi / 2)]


@pytest.fixture(scope='module')
def panda():
    return load_panda()


@pytest.fixture(scope='module')
def fr3():
    return load_fr3()


def test_fr3_limits_and_kinematics_are_franka_descriptions(fr3):
    assert fr3.name == 'fr3'
    np.testing.assert_array_equal(fr3.limits.lower, FR3_LOWER)
    np.testing.assert_array_equal(fr3.limits.upper, FR3_UPPER)
    np.testing.assert_array_equal(fr3.limits.velocity, FR3_VELOCITY)
    np.testing.assert_array_equal(fr3.limits.acceleration, [10.0] * 7)  # libfranka's
    np.testing.assert_array_equal(fr3.model.lowerPositionLimit, FR3_LOWER)
    for i, (x, y, z, roll) in enumerate(FR3_JOINT_ORIGINS, start=1):
        placement = fr3.model.jointPlacements[fr3.model.getJointId(f'panda_joint{i}')]
        np.testing.assert_allclose(placement.translation, [x, y, z], atol=1e-9)
        np.testing.assert_allclose(placement.rotation,
                                   pin.rpy.rpyToMatrix(roll, 0.0, 0.0), atol=1e-6)
    assert load_embodiment_robot('franka_gripper', arm_model='fr3').name == 'fr3'
    with pytest.raises(RobotModelError, match="'fr4'"):
        load_embodiment_robot('franka_gripper', arm_model='fr4')


def test_fr3_refuses_a_plan_below_its_joint6_limit_that_the_panda_accepts(panda, fr3):
    """Joint 6 from 2.0 to 0.3 rad: inside the Panda's -0.0175..3.7525, below the FR3's 0.5445."""
    start = panda.home.copy()
    goal = start.copy()
    goal[5] = 0.3
    s = np.linspace(0.0, 1.0, 40)[:, None]
    joints = start + (goal - start) * (3.0 * s ** 2 - 2.0 * s ** 3)
    wrist = wrist_path_from_joints(panda, joints)

    execute_motion(MotionRequest(panda, wrist), None, MotionConfig(plan_only=True))
    with pytest.raises(MotionError, match='fr3: wrist waypoint') as error:
        execute_motion(MotionRequest(fr3, wrist), None, MotionConfig(plan_only=True))
    assert error.value.stage == 'ik'  # IK keeps the FR3 inside its limits: out of reach

    # the Panda's plan itself, checked for the FR3: joint 6 under its lower limit
    trajectory = parameterize(DampedLeastSquaresIk(panda).solve(wrist, joints[0]),
                              panda.limits).trajectory
    SafetyFilter(panda).check(trajectory, trajectory.positions[0])
    with pytest.raises(JointLimitError, match='panda_joint6') as refused:
        SafetyFilter(fr3).check(trajectory, trajectory.positions[0])
    assert refused.value.value is not None and refused.value.value < 0.5445 + 0.01


def test_arm_model_defaults_to_the_arm_the_backend_drives():
    assert resolve_arm_model('', 'ros2_control') == 'fr3'
    assert resolve_arm_model('', 'sim') == 'panda'
    assert resolve_arm_model('panda', 'ros2_control') == 'panda'
    assert resolve_arm_model('fr3', 'sim') == 'fr3'
    with pytest.raises(ExecutionSetupError, match="arm_model 'ur5'"):
        resolve_arm_model('ur5', 'sim')
    assert executor_arm_model(SimpleNamespace(name='ros2_control')) == 'fr3'
    assert executor_arm_model(SimpleNamespace(name='ros2_control', arm_model='panda')) == 'panda'
    assert executor_arm_model(SimpleNamespace(name='sim')) == 'panda'


def test_pipeline_plans_for_the_arm_its_executor_drives():
    ros2_control = SimpleNamespace(name='ros2_control', arm_model='fr3')
    assert robot_for('franka_gripper', PipelineConfig(executor=ros2_control)).name == 'fr3'
    assert robot_for('franka_gripper', PipelineConfig()).name == 'panda'
    assert robot_for('franka_gripper', PipelineConfig(arm_model='fr3')).name == 'fr3'
    with pytest.raises(StageError, match="arm_model 'fr4'"):
        robot_for('franka_gripper', PipelineConfig(arm_model='fr4'))
