"""LVP video planner: Wan 2.1 I2V sampling with diffusion forcing and history guidance."""
