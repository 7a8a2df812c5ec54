"""Shared library of the LVP packages: data contracts, geometry, files, exit codes, archives.

Pure core (no ROS; imports with rclpy unavailable, see test_pure_core): artifacts, geometry,
hand_frame, image_encoding, input_files, video_io, cli_exit, topics, tf_buffer, plan_record.
ROS part (rclpy / message types): ros_node, ros_conversions, tf_listener, plan_archive.
"""
