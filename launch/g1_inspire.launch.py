"""Unitree G1 + Inspire hands: video planner, plan_and_execute, robot model and RViz.

`ros2 launch lvp_bringup g1_inspire.launch.py` (arguments: see the lvp_bringup README;
headless: `use_rviz:=false`). Execution: MuJoCo by default; `network_interface:=<if>` (or
`use_sim:=false`) selects the Unitree backend (rt/arm_sdk + rt/inspire/cmd over Cyclone DDS on
that interface). robot_state_publisher follows plan_and_execute's joint state playback (the
commanded motion; the G1 publishes no ROS joint states); the robot description comes from
example-robot-data's g1_29dof_rev_1_0.urdf (its own hands, not the Inspire hands) unless
`robot_description_file` names another URDF/xacro (e.g. one that mounts lvp_retarget's
description/inspire_hand_<side>.urdf on the `<side>_hand_mount` links).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
from lvp_bringup.launch_support import optional_node, robot_state_publisher

from lvp_common import topics

SETUP = 'g1_inspire'


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    share = FindPackageShare('lvp_bringup')
    params = arg('params_file')
    ns = arg('namespace')
    model_planner = PythonExpression(["'", arg('wan_dir'), "' != ''"])
    # anything but use_sim:=false (a typo too) keeps the sim: a robot is chosen only on purpose
    sim = PythonExpression([
        "'", arg('use_sim'), "'.lower() != 'false' and '", arg('network_interface'), "' == ''"])
    backend = PythonExpression(["'sim' if ", sim, " else 'unitree'"])
    camera = [(topics.OBSERVATION_IMAGE, arg('image_topic')),
              (topics.OBSERVATION_DEPTH, arg('depth_topic')),
              (topics.OBSERVATION_CAMERA_INFO, arg('camera_info_topic'))]
    return LaunchDescription([
        DeclareLaunchArgument('use_sim', default_value='true',
                              description='execute in MuJoCo unless network_interface is set; '
                                          'false = the Unitree backend'),
        DeclareLaunchArgument('network_interface', default_value='',
                              description='network interface to the G1 (e.g. eth0): execute on '
                                          'it over Cyclone DDS'),
        DeclareLaunchArgument('planner_checkpoint', default_value='',
                              description='LVP checkpoint; empty = the Wan folder\'s own'),
        DeclareLaunchArgument('wan_dir', default_value='',
                              description='Wan 2.1 I2V folder; empty = demonstration planner'),
        DeclareLaunchArgument('demonstration_video', default_value='',
                              description='video the demonstration planner serves as the plan; '
                                          'empty = the synthetic in-scene demonstration'),
        DeclareLaunchArgument('image_topic', default_value=topics.OBSERVATION_IMAGE,
                              description='camera RGB image topic'),
        DeclareLaunchArgument('depth_topic', default_value=topics.OBSERVATION_DEPTH,
                              description='registered depth image topic'),
        DeclareLaunchArgument('camera_info_topic', default_value=topics.OBSERVATION_CAMERA_INFO,
                              description='CameraInfo topic of the RGB image'),
        DeclareLaunchArgument('use_rviz', default_value='true',
                              description='start RViz2 (skipped with a message when rviz2 is '
                                          'not installed)'),
        DeclareLaunchArgument('use_robot_state_publisher', default_value='true',
                              description='start robot_state_publisher on the playback '
                                          '(skipped with a message when not installed)'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the nodes'),
        DeclareLaunchArgument('params_file',
                              default_value=PathJoinSubstitution([share, 'config',
                                                                  f'{SETUP}.yaml']),
                              description='node parameters'),
        DeclareLaunchArgument('robot_description_file', default_value='',
                              description='URDF (or xacro) of the robot for '
                                          'robot_state_publisher; empty = example-robot-data\'s '
                                          'g1_description/urdf/g1_29dof_rev_1_0.urdf'),
        Node(package='lvp_planner', executable='video_planner', name='video_planner',
             namespace=ns, condition=IfCondition(model_planner), output='screen',
             parameters=[params, {'wan_dir': arg('wan_dir'),
                                  'checkpoint': arg('planner_checkpoint')}]),
        Node(package='lvp_planner', executable='demonstration_planner',
             name='demonstration_planner', namespace=ns, output='screen',
             condition=UnlessCondition(model_planner),
             parameters=[params, {'video_path': arg('demonstration_video'),
                                  'embodiment': SETUP}]),
        Node(package='lvp_bringup', executable='plan_and_execute', name='plan_and_execute',
             namespace=ns, output='screen', remappings=camera,
             parameters=[params, {
                 'embodiment': SETUP,
                 'execution_backend': backend,
                 'network_interface': ParameterValue(arg('network_interface'), value_type=str)}]),
        # the G1 publishes no ROS joint states: the model follows the playback
        robot_state_publisher(arg('robot_description_file'), 'robots/g1_description/urdf/'
                              'g1_29dof_rev_1_0.urdf', ns,
                              IfCondition(arg('use_robot_state_publisher'))),
        optional_node(
            Node(package='rviz2', executable='rviz2', name='rviz2', namespace=ns,
                 arguments=['-d', PathJoinSubstitution([share, 'rviz', f'{SETUP}.rviz'])]),
            IfCondition(arg('use_rviz')), 'RViz', 'use_rviz'),
    ])
