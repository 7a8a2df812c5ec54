"""lvp_common's ROS part: everything that needs rclpy or the ROS message packages.

`conversions` (messages <-> dataclasses), `node` (run_node, QoS, parameter descriptions),
`tf_listener` (/tf and /tf_static into a TransformBuffer) and `plan_archive` (rosbag2 via
rclpy's serialization). The pure core (`lvp_common.*` outside this folder) never imports these.
"""
