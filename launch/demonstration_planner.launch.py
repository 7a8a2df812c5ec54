"""Start the demonstration planner alone: GenerateVideoPlan answered from a recorded video, or
with `video_path` empty from lvp_sim's synthetic in-scene demonstration."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    return LaunchDescription([
        DeclareLaunchArgument('video_path', default_value='',
                              description='demonstration video used as the plan; empty = the '
                                          'synthetic in-scene demonstration'),
        DeclareLaunchArgument('embodiment', default_value='franka_gripper',
                              description='synthetic demonstration: whose lvp_sim world it is '
                                          'rendered in (franka_gripper or g1_inspire)'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node'),
        DeclareLaunchArgument('params_file',
                              default_value=PathJoinSubstitution([
                                  FindPackageShare('lvp_bringup'), 'config',
                                  'demonstration_planner.yaml']),
                              description='node parameters'),
        Node(package='lvp_planner', executable='demonstration_planner',
             name='demonstration_planner', namespace=arg('namespace'),
             parameters=[arg('params_file'), {'video_path': arg('video_path'),
                                              'embodiment': arg('embodiment')}],
             output='screen'),
    ])
