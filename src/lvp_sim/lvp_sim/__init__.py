"""MuJoCo tabletop world, synthetic hand demonstrations with ground truth, task checks."""
