"""Franka + parallel gripper: video planner, plan_and_execute, robot model and RViz.

`ros2 launch lvp_bringup franka_gripper.launch.py` (arguments: see the lvp_bringup README;
headless: `use_rviz:=false`). Execution: MuJoCo by default; `robot_ip:=<ip>`,
`use_fake_hardware:=true` or `use_sim:=false` select the ros2_control backend (the arm's
JointTrajectoryController + franka_gripper, on franka_ros2's bringup: see the README). With
`robot_ip` set, the controller_manager's spawner starts `fr3_arm_controller` unless
`spawn_controller:=false`. In the sim, robot_state_publisher (example-robot-data's panda.urdf
unless `robot_description_file` names another URDF/xacro) follows plan_and_execute's joint
state playback; on the robot, franka_ros2's robot_state_publisher runs.
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

SETUP = 'franka_gripper'
ARM_CONTROLLER = 'fr3_arm_controller'
"""The JointTrajectoryController the spawner starts (config/fr3_arm_controller.yaml); the
`controller_action` parameter in config/franka_gripper.yaml names its action."""


def generate_launch_description() -> LaunchDescription:
    arg = LaunchConfiguration
    share = FindPackageShare('lvp_bringup')
    params = arg('params_file')
    ns = arg('namespace')
    model_planner = PythonExpression(["'", arg('wan_dir'), "' != ''"])
    # anything but use_sim:=false (a typo too) keeps the sim: a robot is chosen only on purpose
    sim = PythonExpression([
        "'", arg('use_sim'), "'.lower() != 'false' and '", arg('use_fake_hardware'),
        "'.lower() != 'true' and '", arg('robot_ip'), "' == ''"])
    backend = PythonExpression(["'sim' if ", sim, " else 'ros2_control'"])
    spawn = PythonExpression([
        "'", arg('robot_ip'), "' != '' and '", arg('spawn_controller'), "'.lower() == 'true'"])
    model_in_sim = PythonExpression([
        sim, " and '", arg('use_robot_state_publisher'), "'.lower() == 'true'"])
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
        DeclareLaunchArgument('spawn_controller', default_value='true',
                              description=f'with robot_ip: start {ARM_CONTROLLER} (a '
                                          'JointTrajectoryController) with the '
                                          'controller_manager\'s spawner'),
        DeclareLaunchArgument('controller_manager', default_value='/controller_manager',
                              description='the robot\'s controller_manager, for the spawner'),
        DeclareLaunchArgument('arm_model', default_value='',
                              description='arm kinematics and limits: panda or fr3; empty = fr3 '
                                          'for ros2_control, panda in the sim'),
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
                              description='in the sim: start robot_state_publisher on the '
                                          'playback (skipped with a message when not installed)'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the nodes'),
        DeclareLaunchArgument('params_file',
                              default_value=PathJoinSubstitution([share, 'config',
                                                                  f'{SETUP}.yaml']),
                              description='node parameters'),
        DeclareLaunchArgument('robot_description_file', default_value='',
                              description='URDF (or xacro) of the robot for '
                                          'robot_state_publisher; empty = example-robot-data\'s '
                                          'panda_description/urdf/panda.urdf'),
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
                 'arm_model': ParameterValue(arg('arm_model'), value_type=str)}]),
        optional_node(
            Node(package='controller_manager', executable='spawner', output='screen',
                 arguments=[ARM_CONTROLLER, '--controller-manager', arg('controller_manager'),
                            '--param-file',
                            PathJoinSubstitution([share, 'config', f'{ARM_CONTROLLER}.yaml'])]),
            IfCondition(spawn), f'{ARM_CONTROLLER} (start it yourself, e.g. franka_ros2\'s '
            'franka_fr3_moveit_config moveit.launch.py)', 'spawn_controller'),
        # on the robot, franka_ros2's bringup runs robot_state_publisher on its joint_states
        robot_state_publisher(arg('robot_description_file'), 'robots/panda_description/urdf/'
                              'panda.urdf', ns, IfCondition(model_in_sim)),
        optional_node(
            Node(package='rviz2', executable='rviz2', name='rviz2', namespace=ns,
                 arguments=['-d', PathJoinSubstitution([share, 'rviz', f'{SETUP}.rviz'])]),
            IfCondition(arg('use_rviz')), 'RViz', 'use_rviz'),
    ])
