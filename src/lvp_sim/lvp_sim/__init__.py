"""MuJoCo tabletop world, synthetic hand demonstrations with ground truth, task checks.

Offscreen rendering needs an OpenGL backend without a display: MuJoCo reads `MUJOCO_GL` when it
is first imported, so it is set to `egl` (Mesa) here unless the user chose one (`osmesa` works
too with libosmesa6).
"""

import os

os.environ.setdefault('MUJOCO_GL', 'egl')
