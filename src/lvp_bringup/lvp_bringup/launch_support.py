"""What the lvp_bringup launch files share: nodes of other ROS packages that may be missing.

robot_state_publisher, rviz2 and controller_manager come from the ROS install, and a headless or
ros-base machine may lack them: such a node is started only when its package is in the ament
index (and the programs it needs are on PATH); otherwise the launch logs one line saying what is
missing and goes on without it, rather than failing halfway with the other nodes already up.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Sequence

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch import LaunchContext
from launch.action import Action
from launch.actions import LogInfo, OpaqueFunction
from launch.condition import Condition
from launch.substitution import Substitution
from launch.substitutions import Command
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from lvp_common import topics


def apt_name(package: str) -> str:
    """The Debian package of a ROS package for this ROS distribution (ros-jazzy-rviz2)."""
    distro = os.environ.get('ROS_DISTRO') or '$ROS_DISTRO'
    return f'ros-{distro}-{package.replace("_", "-")}'


def missing_program(package: str, executable: str, programs: Sequence[str] = ()) -> str:
    """Return what is missing to run `package`'s `executable` (and `programs`), or ''."""
    try:
        prefix = get_package_prefix(package)
    except PackageNotFoundError:
        return f'package {package!r} is not installed (not in the ament index)'
    path = os.path.join(prefix, 'lib', package, executable)
    if not os.access(path, os.X_OK):
        return f'package {package!r} has no executable {path}'
    for program in programs:
        if shutil.which(program) is None:
            return f'{program!r} is not on PATH'
    return ''


def optional_node(node: Node, condition: Condition, without: str, off_argument: str,
                  programs: Sequence[str] = ()) -> OpaqueFunction:
    """Start `node` when `condition` holds and its package is installed; else log what is left out.

    without: what the user goes without (e.g. 'RViz'); off_argument: the launch argument that
    switches the node off, named in the message.
    """
    package, executable = node.node_package, node.node_executable
    if not isinstance(package, str) or not isinstance(executable, str):
        raise TypeError('optional_node needs a Node with a literal package and executable')

    def start(context: LaunchContext) -> list[Action]:
        missing = missing_program(package, executable, programs)
        if not missing:
            return [node]
        return [LogInfo(msg=f'{missing}: starting without {without} (install '
                            f'{apt_name(package)}, or pass {off_argument}:=false to silence '
                            'this)')]

    return OpaqueFunction(function=start, condition=condition)


def robot_state_publisher(description_file: Substitution, default_description: str,
                          namespace: Substitution, condition: Condition) -> OpaqueFunction:
    """Start robot_state_publisher on `xacro <description_file>`, following lvp/joint_states.

    An empty `description_file` means example-robot-data's `default_description` (a path under
    its share folder). Without robot_state_publisher, xacro or example-robot-data the launch
    goes on without the robot model and says so.
    """
    def start(context: LaunchContext) -> list[Action]:
        path = description_file.perform(context)
        missing = missing_program('robot_state_publisher', 'robot_state_publisher', ('xacro',))
        if not missing and not path:
            try:
                path = os.path.join(get_package_prefix('example-robot-data'), 'share',
                                    'example-robot-data', default_description)
            except PackageNotFoundError:
                missing = "package 'example-robot-data' is not installed (not in the ament index)"
        if missing:
            needs = ', '.join(apt_name(p) for p in ('robot_state_publisher', 'xacro',
                                                     'example-robot-data'))
            return [LogInfo(msg=f'{missing}: starting without robot_state_publisher (no robot '
                                f'model in RViz; install {needs}, or pass '
                                'use_robot_state_publisher:=false to silence this)')]
        return [Node(package='robot_state_publisher', executable='robot_state_publisher',
                     namespace=namespace, output='screen',
                     remappings=[('joint_states', topics.JOINT_STATES)],
                     parameters=[{'robot_description': ParameterValue(
                         Command(['xacro ', shlex.quote(path)]), value_type=str)}])]

    return OpaqueFunction(function=start, condition=condition)
