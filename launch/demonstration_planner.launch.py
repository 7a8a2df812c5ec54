"""Start the demonstration planner: GenerateVideoPlan answered from a recorded video."""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription([
        DeclareLaunchArgument('video_path',
                              description='demonstration video used as the plan'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='namespace of the node'),
        Node(package='lvp_planner', executable='demonstration_planner',
             name='demonstration_planner', namespace=LaunchConfiguration('namespace'),
             parameters=[{'video_path': LaunchConfiguration('video_path')}],
             output='screen'),
    ])
