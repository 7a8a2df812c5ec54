"""The plan_and_execute node's own parameters (lvp_exec adds its backend and safety ones).

ROS-free: name -> (default, description); `camera_to_base` is declared by the node itself (an
empty list default would be typed BYTE_ARRAY, so it is declared as a DOUBLE_ARRAY type).
"""

from __future__ import annotations

from typing import Any

from lvp_bringup import embodiments
from lvp_bringup.joint_state_playback import JOINT_STATE_RATE
from lvp_common import topics

CAMERA_TO_BASE_DESCRIPTION = (
    'camera optical frame in the robot base: x, y, z (m), qx, qy, qz, qw; published on '
    "/tf_static (base_frame -> the image's frame_id); empty = looked up in TF at each goal")

PARAMETERS: dict[str, tuple[Any, str]] = {  # and lvp_exec's backend parameters
    'embodiment': (embodiments.DEFAULT_EMBODIMENT, 'robot used when a goal names none: one of '
                   f'{embodiments.embodiment_names()}'),
    'base_frame': ('', 'robot base frame (TF lookups, artifact frame_ids); empty = the URDF '
                   f'root of the goal\'s embodiment: {embodiments.base_frames()}'),
    'tf_timeout_s': (1.0, 'camera_to_base empty: wait up to this long (s) at each goal for the '
                     'camera frame in base_frame on /tf_static and /tf'),
    'archive_dir': ('~/.ros/lvp/plan_archives', 'folder for the plan archives (one rosbag2 '
                    'folder per plan); checked writable before anything moves'),
    'archive_keep': (50, 'keep the newest N plan archives in archive_dir (~3 MB each); 0 = all'),
    'default_horizontal_fov_deg': (60.0, 'field of view assumed without CameraInfo, deg'),
    'planner_wait_s': (10.0, 'how long to wait for the generate_video_plan server, s'),
    'planner_timeout_s': (1800.0, 'longest a plan may take, s'),
    'planner_feedback_timeout_s': (5.0, 'the planner is taken for dead (PLANNER_FAILED) after '
                                   'this long without feedback, s (planners repeat it every '
                                   '1 s); 0 = no limit'),
    'max_samples': (8, 'largest num_candidates (or deprecated num_samples) a goal may ask for '
                    '(each candidate is a plan, a dry run and an archive)'),
    'sim_disturbance_m': (0.0, 'testing closed_loop only: with a rendered sim scene, the cube is '
                          "moved this far (m, along the table's +y) after the plan is made, "
                          'before anything moves; 0 = no disturbance'),
    'closed_loop_segment_s': (0.0, 'closed_loop in sim: 0 = one check before the motion; > 0 = '
                              'check between segments this long (s) of the motion too, stop '
                              'and re-plan from the current joint state (the executor keeps '
                              'its state for the goal)'),
    'sim_knock_out_m': (0.0, 'testing closed_loop only: with closed_loop_segment_s > 0, the '
                        'cube leaves the grasp mid-lift and lands this far (m, along the '
                        "table's +y) from where it was; 0 = no disturbance"),
    'handedness': ('', "'left'/'right' overrides the acting hand; empty = plan metadata, else "
                   'the detector vote'),
    'min_tcp_height': (0.02, 'lowest Franka TCP height above the table (base plane), m'),
    'require_grasp_candidate': (False, 'fail with GRASP_FAILED when no grasp is found'),
    'scene_check': (True, "keep the arm's links safety.<embodiment>.link_clearance from what "
                    "the camera's depth shows (beyond the table, the robot and the task's "
                    'surroundings); no depth: no such check'),
    'publish_artifacts': (True, "publish every plan's artifacts, latched, on the lvp/ topics"),
    'publish_joint_states': (True, f'play the executed (or planned) trajectory on '
                             f'{topics.JOINT_STATES} ({JOINT_STATE_RATE:g} Hz)'),
}
