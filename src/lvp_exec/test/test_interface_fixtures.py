"""The test-only interface packages (test/fixtures) are type-identical to the real ones.

rosidl writes each built interface's type description with its RIHS01 hashes into
share/<package>/<msg|action>/<Type>.json. The hashes below were computed once, with the venv's
`rosidl hash` (rosidl_generator_type_description 4.6.6, dependencies from the venv's Jazzy
wheels), from the upstream files themselves:
- control_msgs: ros-controls/control_msgs branch jazzy (5.8.0); the humble branch (4.8.0) has the
  same FollowJointTrajectory.action, JointTolerance.msg and JointComponentTolerance.msg;
- franka_msgs: frankarobotics/franka_ros2 branch jazzy, franka_msgs 3.4.0;
- tf2_msgs: ros2/geometry2 branch jazzy.
Equal hashes mean equal field names, types, order and constants: the fakes built on the fixtures
speak exactly what franka_ros2 and ros2_control speak.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

UPSTREAM_HASHES = {
    'control_msgs/action/FollowJointTrajectory': {
        'control_msgs/action/FollowJointTrajectory':
            'RIHS01_738ebcb7a2d7cfa42f9f1001cc99ce3a4383d1cfe508015d9be8485e4b1c66f6',
        'control_msgs/action/FollowJointTrajectory_Goal':
            'RIHS01_8a9060704b269608f5a340934cc26e66869dd14bdac29e2e7fd9ec8b9882d205',
        'control_msgs/action/FollowJointTrajectory_Result':
            'RIHS01_8002e99ed2c14c6faa522f2a93c26d744c5982f254f9e98ff9c6f19789bdb220',
        'control_msgs/action/FollowJointTrajectory_Feedback':
            'RIHS01_3fd0aaecf71725121ae1ff7f01098a5e0da581e672be18a6b2c286cb43d96b49',
        'control_msgs/action/FollowJointTrajectory_SendGoal':
            'RIHS01_b13789dddc325a7a962825c45e28c77d37237ec129dd0c34dc5994562938c57f',
        'control_msgs/action/FollowJointTrajectory_GetResult':
            'RIHS01_e3ceb38e3e1867c8dc0f46014df26e90eb93422f27e9e97f936e07f94be4bc8b',
        'control_msgs/action/FollowJointTrajectory_FeedbackMessage':
            'RIHS01_80398fcb9674a79081a9906e2ccf0c804dd7cb15e22e362e606ee87186beab71',
    },
    'control_msgs/msg/JointTolerance': {
        'control_msgs/msg/JointTolerance':
            'RIHS01_c254f9cece0f3b733017b6990fd46d1326e25242d6b8844398c97d9a88e7d648',
    },
    'control_msgs/msg/JointComponentTolerance': {
        'control_msgs/msg/JointComponentTolerance':
            'RIHS01_739ea7566931944d33830fa10f1bf5e7a7fbdc3172bce7a7eaac642bd6e3ffa4',
    },
    'franka_msgs/action/Grasp': {
        'franka_msgs/action/Grasp':
            'RIHS01_8e8a4bb9d96564ae56fb2d47e932c65656316f5c10365958a26df3517a06bb92',
        'franka_msgs/action/Grasp_Goal':
            'RIHS01_428f419ee476685cacb4eb11299e26f3a2ffa1229aa9d7e4489eb4706d070e71',
        'franka_msgs/action/Grasp_Result':
            'RIHS01_f2294990e5deb93e76692e787a35fd8d692f22982e21f2f3f488c92cef5bd713',
        'franka_msgs/action/Grasp_Feedback':
            'RIHS01_98e46899b441d2f450da39a69d2518312fefaf7e4ba7d24e4128ba5c2649f4a1',
    },
    'franka_msgs/action/Move': {
        'franka_msgs/action/Move':
            'RIHS01_ff1f93537cae0ce92792433e368199606771ad62bb819d78078bfe37144d3ef1',
        'franka_msgs/action/Move_Goal':
            'RIHS01_16b42fe0e773dfad5429e6e58affa1614d4dbb1fa3af99da69311a3ad5557b94',
        'franka_msgs/action/Move_Result':
            'RIHS01_ead952993d2a1f18328c138c4ace43a460d235051f15924308a7885e4d4356bd',
        'franka_msgs/action/Move_Feedback':
            'RIHS01_b06c651bb0f95f0f618e8051e5a9dd5face58ef2828e1dd50446df2a5fac3e1a',
    },
    'franka_msgs/action/Homing': {
        'franka_msgs/action/Homing':
            'RIHS01_2156a4bd902561e59e6081ba94428daf9a453f960596f8b7ca12e8281e0caeeb',
        'franka_msgs/action/Homing_Goal':
            'RIHS01_e2b6f7bbb4241246e69b6ca8170f8d4693697f253b94f8ffdd3b7b65c3d9bb56',
        'franka_msgs/action/Homing_Result':
            'RIHS01_e7f036b116a3a48e456b028fdb35b908f294dfd78adfc941b777b0335156d490',
    },
    'franka_msgs/msg/GraspEpsilon': {
        'franka_msgs/msg/GraspEpsilon':
            'RIHS01_387fda91ae7324c144958fa617e7d5dc21f99d6b054b141b073ead3d082f46d3',
    },
    'tf2_msgs/msg/TFMessage': {
        'tf2_msgs/msg/TFMessage':
            'RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087',
    },
}
"""Type -> {type or sub-type name: RIHS01 hash of the upstream definition}."""


def built_hashes(type_name: str) -> dict[str, str]:
    """The RIHS01 hashes rosidl recorded when the installed package `type_name` was built."""
    from ament_index_python.packages import get_package_share_directory

    package, kind, name = type_name.split('/')
    path = Path(get_package_share_directory(package)) / kind / f'{name}.json'
    description = json.loads(path.read_text())
    assert description['type_description_msg']['type_description']['type_name'] == type_name
    return {entry['type_name']: entry['hash_string'] for entry in description['type_hashes']}


@pytest.mark.parametrize('type_name', sorted(UPSTREAM_HASHES))
def test_fixture_type_hashes_equal_upstream(type_name):
    built = built_hashes(type_name)
    for name, upstream in UPSTREAM_HASHES[type_name].items():
        assert built.get(name) == upstream, (
            f'{name}: the fixture built as {built.get(name)}, upstream is {upstream}: '
            'test/fixtures differs from the real interface')


def test_follow_joint_trajectory_goal_has_the_component_tolerances():
    from control_msgs.action import FollowJointTrajectory
    from control_msgs.msg import JointComponentTolerance

    fields = FollowJointTrajectory.Goal.get_fields_and_field_types()
    assert list(fields) == ['trajectory', 'multi_dof_trajectory', 'path_tolerance',
                            'component_path_tolerance', 'goal_tolerance',
                            'component_goal_tolerance', 'goal_time_tolerance']
    assert fields['component_path_tolerance'] == (
        'sequence<control_msgs/JointComponentTolerance>')
    assert (JointComponentTolerance.X_AXIS, JointComponentTolerance.ROTATION) == (1, 5)
