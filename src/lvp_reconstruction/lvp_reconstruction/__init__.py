"""Metric 4D wrist trajectory and scene point cloud from a hand track."""
