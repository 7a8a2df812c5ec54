"""Franka + parallel gripper: planner, stage nodes, plan_and_execute, robot model and RViz.

`ros2 launch lvp_bringup franka_gripper.launch.py` (arguments: see the lvp_bringup README).
Execution: MuJoCo by default; `robot_ip:=<ip>`, `use_fake_hardware:=true` or `use_sim:=false`
select the ros2_control backend (the arm's joint_trajectory_controller + franka_gripper, started
by franka_ros2's own bringup: see the README). In the sim, robot_state_publisher (example-robot-
data's panda.urdf unless `robot_description_file` names another URDF/xacro) follows
plan_and_execute's joint state playback; on the robot, franka_ros2's robot_state_publisher runs.
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
    stage_nodes = arg('stage_nodes')
    sim = PythonExpression([
        "'", arg('use_sim'), "'.lower() == 'true' and '", arg('use_fake_hardware'),
        "'.lower() != 'true' and '", arg('robot_ip'), "' == ''"])
    backend = PythonExpression(["'sim' if ", sim, " else 'ros2_control'"])
    camera = [(topics.OBSERVATION_IMAGE, arg('image_topic')),
              (topics.OBSERVATION_DEPTH, arg('depth_topic')),
              (topics.OBSERVATION_CAMERA_INFO, arg('camera_info_topic'))]
    return LaunchDescription([
        DeclareLaunchArgument('use_sim', default_value='true',
                              description='execute in MuJoCo unless robot_ip or '
                                          'use_fake_hardware is set; false = ros2_control'),
        DeclareLaunchArgument('use_fake_hardware', default_value='false',
                              description='execute through ros2_control on franka_ros2\'s mock '
                                          'hardware (start its bringup with '
                                          'use_fake_hardware:=true)'),
        DeclareLaunchArgument('robot_ip', default_value='',
                              description='Franka robot IP: execute on it through ros2_control '
                                          '(start franka_ros2\'s bringup with this robot_ip)'),
        DeclareLaunchArgument('stage_nodes', default_value='false',
                              description='also start the stage nodes (they publish the stage '
                                          'artifacts; plan_and_execute then leaves them those '
                                          'topics)'),
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
        # The stage nodes rerun the stages on every plan the planner publishes (and on the camera
        # topics); plan_and_execute runs them in-process on the goal's observation and publishes
        # what it executes, so by default only it publishes the stage artifacts.
        Node(package='lvp_hand_tracking', executable='hand_tracking_node', name='hand_tracking',
             namespace=ns, parameters=[params], output='screen',
             condition=IfCondition(stage_nodes)),
        Node(package='lvp_reconstruction', executable='reconstruction_node',
             name='reconstruction', namespace=ns, parameters=[params], remappings=camera,
             output='screen', condition=IfCondition(stage_nodes)),
        Node(package='lvp_grasp', executable='grasp_node', name='grasp', namespace=ns,
             parameters=[params], output='screen', condition=IfCondition(stage_nodes)),
        Node(package='lvp_bringup', executable='plan_and_execute', name='plan_and_execute',
             namespace=ns, output='screen',
             parameters=[params, {
                 'embodiment': SETUP,
                 'execution_backend': backend,
                 'stage_nodes_publish': ParameterValue(arg('stage_nodes'), value_type=bool)}]),
        # on the robot, franka_ros2's bringup runs robot_state_publisher on its joint_states
        Node(package='robot_state_publisher', executable='robot_state_publisher',
             namespace=ns, output='screen', condition=IfCondition(sim),
             remappings=[('joint_states', topics.JOINT_STATES)],
             parameters=[{'robot_description': ParameterValue(
                 Command(['xacro ', arg('robot_description_file')]), value_type=str)}]),
        Node(package='rviz2', executable='rviz2', name='rviz2', namespace=ns,
             condition=IfCondition(arg('use_rviz')),
             arguments=['-d', PathJoinSubstitution([share, 'rviz', f'{SETUP}.rviz'])]),
    ])
