"""Parallel-gripper grasp poses on the scene point cloud where the human grasps."""
