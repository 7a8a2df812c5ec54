"""Inspire hand finger commands and parallel-gripper events from the human hand."""
