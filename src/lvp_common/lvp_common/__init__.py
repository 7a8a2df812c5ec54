"""Shared library of the LVP packages: data contracts, geometry, files, exit codes, archives.

Pure core (no ROS; imports with rclpy unavailable, see test_pure_core): every module in this
folder (artifacts, geometry, hand_frame, hand_kinematics, image_encoding, input_files, video_io,
cli_exit, topics, tf_buffer, plan_record). ROS part (rclpy / message types): the `ros`
subpackage (conversions, node, tf_listener, plan_archive).
"""
