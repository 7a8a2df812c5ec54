"""Arm IK along the wrist path, time parameterization, safety checks and execution backends."""
