"""Topic and action names of the live system, shared by the nodes and the plan archive.

Relative names: they resolve under the nodes' namespace (launch argument `namespace`).
`ros2 bag play` of a plan archive publishes on these same names.
"""

OBSERVATION_IMAGE = 'lvp/observation/image'
OBSERVATION_DEPTH = 'lvp/observation/depth'
OBSERVATION_CAMERA_INFO = 'lvp/observation/camera_info'
TASK = 'lvp/task'

VIDEO_PLAN = 'lvp/video_plan'
# the plan frame by frame for RViz (image_transport's compressed name: JPEG)
VIDEO_PLAN_FRAMES = 'lvp/video_plan/image/compressed'
HAND_TRACK = 'lvp/hand_track'
HAND_MARKERS = 'lvp/hand_track/markers'
# the fitted hand surface (HandTrack.mesh) as TRIANGLE_LIST markers, next to the skeleton
HAND_MESH_MARKERS = 'lvp/hand_track/mesh_markers'
WRIST_TRAJECTORY_CAMERA = 'lvp/wrist_trajectory/camera'
WRIST_TRAJECTORY_BASE = 'lvp/wrist_trajectory/base'
WRIST_PATH_RAW = 'lvp/wrist_path/raw'
WRIST_PATH_SMOOTHED = 'lvp/wrist_path/smoothed'
SCENE_CLOUD = 'lvp/scene_cloud'
GRASP_CANDIDATES = 'lvp/grasp_candidates'
GRASP_MARKERS = 'lvp/grasp_candidates/markers'
HAND_COMMANDS = 'lvp/hand_commands'
JOINT_TRAJECTORY = 'lvp/joint_trajectory'
# the trajectory being executed (or the planned one) replayed as sensor_msgs/JointState, for
# robot_state_publisher; not `joint_states`, which a real robot's driver publishes
JOINT_STATES = 'lvp/joint_states'
ARCHIVE_METADATA = 'lvp/archive/metadata'

GENERATE_VIDEO_PLAN_ACTION = 'generate_video_plan'
PLAN_AND_EXECUTE_ACTION = 'plan_and_execute'

# lvp_exec's exec_node: the ExecuteMotion action, and for display the last goal's EE path
# (nav_msgs/Path) and its checked joint trajectory (trajectory_msgs/JointTrajectory)
EXECUTE_MOTION_ACTION = 'lvp/execute_motion'
MOTION_EE_PATH = 'lvp/execute_motion/ee_path'
MOTION_JOINT_TRAJECTORY = 'lvp/execute_motion/joint_trajectory'
