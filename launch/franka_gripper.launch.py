"""Franka + parallel gripper: planner, stage nodes, plan_and_execute, robot model and RViz.

`ros2 launch lvp_bringup franka_gripper.launch.py` (arguments: see the lvp_bringup README).
Only the MuJoCo backend executes in this release (`use_sim:=true`); the robot description comes
from example-robot-data's panda.urdf unless `robot_description_file` names another URDF/xacro.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import (
    Command,
    LaunchConfiguration,
    PathJoinSubstitution,
    PythonExpression,
)
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from lvp_common import topics

SETUP = 'franka_gripper'


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    share = FindPackageShare('lvp_bringup')
    params = arg('params_file')
    ns = arg('namespace')
    model_planner = PythonExpression(["'", arg('wan_dir'), "' != ''"])
    camera = [(topics.OBSERVATION_IMAGE, arg('image_topic')),
              (topics.OBSERVATION_DEPTH, arg('depth_topic')),
              (topics.OBSERVATION_CAMERA_INFO, arg('camera_info_topic'))]
    return LaunchDescription([
        DeclareLaunchArgument('use_sim', default_value='true',
                              description='execute in MuJoCo (the only backend wired so far)'),
        DeclareLaunchArgument('use_fake_hardware', default_value='false',
                              description='ros2_control mock hardware (not wired yet)'),
        DeclareLaunchArgument('robot_ip', default_value='',
                              description='Franka controller IP (real robot; not wired yet)'),
        DeclareLaunchArgument('planner_checkpoint', default_value='',
                              description='LVP checkpoint; empty = the Wan folder\'s own'),
        DeclareLaunchArgument('wan_dir', default_value='',
                              description='Wan 2.1 I2V folder; empty = demonstration planner'),
        DeclareLaunchArgument('demonstration_video', default_value='',
                              description='video the demonstration planner serves as the plan'),
        DeclareLaunchArgument('image_topic', default_value=topics.OBSERVATION_IMAGE,
                              description='camera RGB image topic'),
        DeclareLaunchArgument('depth_topic', default_value=topics.OBSERVATION_DEPTH,
                              description='registered depth image topic'),
        DeclareLaunchArgument('camera_info_topic', default_value=topics.OBSERVATION_CAMERA_INFO,
                              description='CameraInfo topic of the RGB image'),
        DeclareLaunchArgument('use_rviz', default_value='true', description='start RViz2'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the nodes'),
        DeclareLaunchArgument('params_file',
                              default_value=PathJoinSubstitution([share, 'config',
                                                                  f'{SETUP}.yaml']),
                              description='node parameters'),
        DeclareLaunchArgument(
            'robot_description_file',
            default_value=PathJoinSubstitution([
                FindPackageShare('example-robot-data'), 'robots', 'panda_description', 'urdf',
                'panda.urdf']),
            description='URDF (or xacro) of the robot for robot_state_publisher'),
        Node(package='lvp_planner', executable='video_planner', name='video_planner',
             namespace=ns, condition=IfCondition(model_planner), output='screen',
             parameters=[params, {'wan_dir': arg('wan_dir'),
                                  'checkpoint': arg('planner_checkpoint')}]),
        Node(package='lvp_planner', executable='demonstration_planner',
             name='demonstration_planner', namespace=ns, output='screen',
             condition=UnlessCondition(model_planner),
             parameters=[params, {'video_path': arg('demonstration_video')}]),
        Node(package='lvp_hand_tracking', executable='hand_tracking_node', name='hand_tracking',
             namespace=ns, parameters=[params], output='screen'),
        Node(package='lvp_reconstruction', executable='reconstruction_node',
             name='reconstruction', namespace=ns, parameters=[params], remappings=camera,
             output='screen'),
        Node(package='lvp_grasp', executable='grasp_node', name='grasp', namespace=ns,
             parameters=[params], output='screen'),
        Node(package='lvp_bringup', executable='plan_and_execute', name='plan_and_execute',
             namespace=ns, output='screen',
             parameters=[params, {
                 'embodiment': SETUP,
                 # use_sim:=false asks for the ros2_control backend, which plan_and_execute refuses
                 # with a clear message until it is wired
                 'execution_backend': PythonExpression(
                     ["'sim' if '", arg('use_sim'), "'.lower() == 'true' else 'ros2_control'"])}]),
        Node(package='robot_state_publisher', executable='robot_state_publisher',
             namespace=ns, output='screen',
             parameters=[{'robot_description': ParameterValue(
                 Command(['xacro ', arg('robot_description_file')]), value_type=str)}]),
        Node(package='rviz2', executable='rviz2', name='rviz2', namespace=ns,
             condition=IfCondition(arg('use_rviz')),
             arguments=['-d', PathJoinSubstitution([share, 'rviz', f'{SETUP}.rviz'])]),
    ])
