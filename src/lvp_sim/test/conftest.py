"""Select a headless OpenGL backend before any test module imports mujoco."""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')
