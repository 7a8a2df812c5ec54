# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""The MuJoCo tabletop world: table, graspable objects, a button, lights and an RGB-D camera.

Frames. The MuJoCo world frame is the *table frame*: z up, x from the robot's side of the table
towards the camera across the table, y to the robot's left. Its origin is on the table top, on
the table's centre line, `robot_mount_inset` metres in from the table's back (robot-side) edge:
where a Franka is bolted down. The table top lies at z = `table_top_z` (0 by default); the floor
at `table_top_z - table_height`. The scene camera faces the robot from the front of the table,
looking down at the workspace; its pose and intrinsics are read back from the compiled model.

The robot base frame (`base_link`, the frame the pipeline plans in) is `WorldConfig.robot_mount`
in the table frame: the identity for the Franka (its base on the table top), the pelvis of a G1
standing behind the table's back edge (the layouts: lvp_sim.world_layout, re-exported here).
Object placements, `SceneState` poses and task regions are in the table frame;
`World.camera_to_robot_base()` and `SceneRenderer.observation()` give the camera in the robot
base frame.

A robot is inserted with `build_world(config, robot_mjcf=...)`: its MJCF (text, a file path or an
`mujoco.MjSpec`) is attached at the `robot_mount` site (at `robot_mount`) with the prefix
`robot/`; the world itself holds no robot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np
from lvp_common.artifacts import CameraIntrinsics, Observation
from lvp_common.geometry import Pose
from scipy.spatial.transform import Rotation

from lvp_sim.fixtures_articulated import fixtures_mjcf
from lvp_sim.hand_model import HAND_GEOM_GROUP, HandConfig, hand_mjcf
from lvp_sim.world_layout import (
    CAMERA_POSES,
    G1_PELVIS_HEIGHT,
    SIM_LAYOUTS,
    CameraConfig,
    WorldConfig,
    WorldError,
    camera_pose,
    world_config_for,
)

OPTICAL_FROM_MUJOCO_CAMERA = np.diag([1.0, -1.0, -1.0])
"""MuJoCo/OpenGL cameras look down -z with y up; REP 103 optical frames look down +z, y down."""

ROBOT_PREFIX = 'robot/'
ROBOT_MOUNT_SITE = 'robot_mount'
OBJECT_BODIES = ('cube', 'cup')
"""Free-floating graspable objects, by body name."""
BUTTON_JOINT = 'button_press'
"""The button cap's slide joint (m, 0 = up, negative = pushed down). The cap is gravity
compensated and does not collide with its own base (it sinks into it when pressed), so only a
push moves it: damping and friction loss hold it where it was pushed (it latches), and a stiff
travel limit (4 ms) keeps a hard push within a fraction of a millimetre of the 10 mm travel.
Without these the cap rested on its base, 1.4 mm above the joint's upper limit (reading
-1.4 mm of press), and with that contact removed gravity pulled it to the bottom within a
second."""
BUTTON_TRAVEL = 0.01
GRASP_CONTACT = 'condim="4" solref="0.005 1" solimp="0.95 0.99 0.001"'
"""Contact of the graspable objects: torsional friction (condim 4) so a pinched object does not
spin out, and stiff contacts (5 ms time constant, impedance 0.95-0.99) so a 70 N grasp sinks
< 0.5 mm into a 0.1 kg cube (the default 20 ms let it sink 3.6 mm per side)."""
BUTTON_CAP_HALF_HEIGHT = 0.008


def _vec(values) -> str:
    return ' '.join(f'{float(v):.10g}' for v in values)


def _quat_wxyz(rotation: np.ndarray) -> str:
    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return _vec((w, x, y, z))


def world_mjcf(config: WorldConfig, hand: HandConfig | None = None) -> str:
    """Return the world's MJCF (without a robot); with the hand if `hand` is given."""
    cam = config.camera
    top = config.table_top_z
    x_min = -config.robot_mount_inset
    table_cx = x_min + config.table_length / 2.0
    thick = 0.04
    floor_z = top - config.table_height
    wall_x = x_min - config.wall_distance
    cam_rot = cam.optical_rotation() @ OPTICAL_FROM_MUJOCO_CAMERA
    cube_h = config.cube_half_size
    cube_rot = Rotation.from_euler('z', config.cube_yaw).as_matrix()
    cup_r, cup_hh = config.cup_radius, config.cup_height / 2.0
    bx, by = config.button_xy
    rx, ry = config.target_region_xy
    rs = config.target_region_half_size
    hand_assets, hand_body = hand_mjcf(hand) if hand is not None else ('', '')
    fixture_assets, fixture_body, fixture_contact = fixtures_mjcf(config.drawer,
                                                                  config.wipe_patch, top)
    mount = config.robot_mount
    offw = max(cam.width, 640)
    offh = max(cam.height, 480)
    return f"""
<mujoco model="lvp_tabletop">
  <compiler angle="radian" autolimits="true"/>
  <option timestep="0.002" gravity="0 0 -9.81"/>
  <visual>
    <global offwidth="{offw}" offheight="{offh}"/>
    <headlight ambient="0.5 0.5 0.5" diffuse="0.6 0.6 0.6" specular="0.05 0.05 0.05"/>
    <quality shadowsize="0"/>
    <map znear="0.01" zfar="20"/>
  </visual>
  <asset>
    <material name="table" rgba="0.6 0.6 0.6 1" specular="0.1" shininess="0.1"/>
    <material name="wall" rgba="0.55 0.62 0.72 1" specular="0.05" shininess="0.05"/>
    <material name="floor" rgba="0.42 0.42 0.44 1" specular="0.05"/>
    <material name="cube" rgba="0.15 0.55 0.25 1" specular="0.2" shininess="0.2"/>
    <material name="cup" rgba="0.25 0.4 0.8 1" specular="0.3" shininess="0.3"/>
    <material name="button" rgba="0.85 0.12 0.1 1" specular="0.3"/>
    <material name="button_base" rgba="0.2 0.2 0.22 1" specular="0.1"/>
    <material name="target_region" rgba="0.95 0.85 0.2 1" specular="0.0"/>
    {hand_assets}
    {fixture_assets}
  </asset>
  <worldbody>
    <light name="key" directional="true" castshadow="false" pos="1.6 0.4 1.6"
           dir="{_vec(np.array(cam.target) - np.array([1.6, 0.4, 1.6]))}"
           diffuse="0.3 0.3 0.3" specular="0.1 0.1 0.1"/>
    <light name="fill" directional="true" castshadow="false" pos="0.4 -1.2 1.0"
           dir="{_vec(np.array(cam.target) - np.array([0.4, -1.2, 1.0]))}"
           diffuse="0.1 0.1 0.1" specular="0 0 0"/>
    <geom name="floor" type="plane" size="4 4 0.1" pos="0 0 {floor_z:.6g}" material="floor"/>
    <geom name="wall" type="box" size="0.02 3 1.5" pos="{wall_x:.6g} 0 {floor_z + 1.5:.6g}"
          material="wall"/>
    <body name="table" pos="{table_cx:.6g} 0 {top - thick / 2:.6g}">
      <geom name="table_top" type="box" material="table"
            size="{config.table_length / 2:.6g} {config.table_width / 2:.6g} {thick / 2:.6g}"/>
      <geom name="table_base" type="box" material="table" rgba="0.5 0.5 0.5 1"
            size="{config.table_length / 2 - 0.05:.6g} {config.table_width / 2 - 0.05:.6g}
                  {(config.table_height - thick) / 2:.6g}"
            pos="0 0 {-config.table_height / 2:.6g}"/>
    </body>
    <site name="{ROBOT_MOUNT_SITE}" pos="{_vec(mount.position)}"
          quat="{_quat_wxyz(mount.rotation)}" size="0.01" rgba="0 0 0 0"/>
    <geom name="target_region" type="box" contype="0" conaffinity="0" material="target_region"
          size="{rs:.6g} {rs:.6g} 0.0005" pos="{rx:.6g} {ry:.6g} {top + 0.0005:.6g}"/>
    <body name="cube" pos="{config.cube_xy[0]:.6g} {config.cube_xy[1]:.6g} {top + cube_h:.6g}"
          quat="{_quat_wxyz(cube_rot)}">
      <freejoint name="cube_free"/>
      <geom name="cube" type="box" size="{cube_h:.6g} {cube_h:.6g} {cube_h:.6g}" mass="0.1"
            material="cube" friction="1.0 0.005 0.0001" {GRASP_CONTACT}/>
    </body>
    <body name="cup" pos="{config.cup_xy[0]:.6g} {config.cup_xy[1]:.6g} {top + cup_hh:.6g}">
      <freejoint name="cup_free"/>
      <geom name="cup" type="cylinder" size="{cup_r:.6g} {cup_hh:.6g}" mass="0.15"
            material="cup" friction="1.0 0.005 0.0001" {GRASP_CONTACT}/>
      <geom name="cup_rim" type="cylinder" size="{cup_r * 0.8:.6g} 0.001"
            pos="0 0 {cup_hh:.6g}" rgba="0.12 0.18 0.4 1" contype="0" conaffinity="0"
            mass="0"/>
    </body>
    <body name="button_base" pos="{bx:.6g} {by:.6g} {top + 0.01:.6g}">
      <geom name="button_base" type="box" size="0.035 0.035 0.01" material="button_base"/>
      <body name="button" pos="0 0 0.016" gravcomp="1">
        <joint name="{BUTTON_JOINT}" type="slide" axis="0 0 1" range="{-BUTTON_TRAVEL} 0"
               damping="5" frictionloss="0.5" solreflimit="0.004 1"/>
        <geom name="button_cap" type="cylinder" size="0.02 {BUTTON_CAP_HALF_HEIGHT}"
              material="button" mass="0.02"/>
      </body>
    </body>
    <camera name="{cam.name}" mode="fixed" pos="{_vec(cam.position())}"
            quat="{_quat_wxyz(cam_rot)}" fovy="{cam.fovy_deg:.6g}"/>
    {fixture_body}
    {hand_body}
  </worldbody>
  <contact>
    <exclude body1="button_base" body2="button"/>
    {fixture_contact}
  </contact>
</mujoco>
"""


def _load_robot_spec(robot_mjcf: str | mujoco.MjSpec) -> mujoco.MjSpec:
    if isinstance(robot_mjcf, mujoco.MjSpec):
        return robot_mjcf
    text = robot_mjcf.lstrip()
    try:
        if text.startswith('<'):
            return mujoco.MjSpec.from_string(robot_mjcf)
        return mujoco.MjSpec.from_file(str(Path(robot_mjcf)))
    except (ValueError, RuntimeError) as exc:
        raise WorldError(f'cannot load robot MJCF {robot_mjcf[:80]!r}: {exc}') from exc


@dataclass
class World:
    """A compiled tabletop world: model, data and the camera read back from the model."""

    config: WorldConfig
    model: mujoco.MjModel
    data: mujoco.MjData
    hand: HandConfig | None
    has_robot: bool

    @property
    def camera_id(self) -> int:
        return mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, self.config.camera.name)

    def intrinsics(self, width: int | None = None, height: int | None = None) -> CameraIntrinsics:
        """Return the scene camera's pinhole model (pixel centres at integers, as OpenCV), for
        its image size or for a `width` x `height` rendering of the same view."""
        cam = self.config.camera
        width = cam.width if width is None else width
        height = cam.height if height is None else height
        fovy = float(self.model.cam_fovy[self.camera_id])
        f = 0.5 * height / np.tan(np.radians(fovy) / 2.0)
        return CameraIntrinsics(f, f, (width - 1) / 2.0, (height - 1) / 2.0, width, height,
                                assumed=False)

    def camera_to_world(self) -> Pose:
        """Return the camera optical frame's pose in the table frame (from the compiled model)."""
        mujoco.mj_kinematics(self.model, self.data)
        cid = self.camera_id
        rot = self.data.cam_xmat[cid].reshape(3, 3) @ OPTICAL_FROM_MUJOCO_CAMERA
        return Pose.from_rotation_matrix(self.data.cam_xpos[cid].copy(), rot)

    def camera_to_robot_base(self) -> Pose:
        """Return the camera optical frame's pose in the robot base frame (`robot_mount`)."""
        return self.config.robot_mount.inverse() @ self.camera_to_world()

    def camera_to_base(self) -> Pose:
        """Return the camera optical frame's pose in the robot base frame (the observation's
        extrinsic; equal to `camera_to_world` for the Franka layout)."""
        return self.camera_to_robot_base()

    def world_to_robot_base(self) -> Pose:
        """Return the transform that maps table-frame points into the robot base frame."""
        return self.config.robot_mount.inverse()

    def body_pose(self, name: str) -> Pose:
        """Return a body's pose in the table frame (after the last forward pass)."""
        bid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        if bid < 0:
            raise WorldError(f'no body named {name!r} in the world')
        return Pose(self.data.xpos[bid].copy(), np.roll(self.data.xquat[bid], -1))

    def joint_qpos_address(self, name: str) -> int:
        """Return the qpos index of a joint by name."""
        jid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)
        if jid < 0:
            raise WorldError(f'no joint named {name!r} in the world')
        return int(self.model.jnt_qposadr[jid])

    def set_free_body_pose(self, name: str, pose: Pose) -> None:
        """Place a free-jointed body (table frame) in qpos; call forward afterwards."""
        adr = self.joint_qpos_address(f'{name}_free')
        x, y, z, w = pose.quaternion
        self.data.qpos[adr:adr + 7] = [*pose.position, w, x, y, z]


def build_world(config: WorldConfig | None = None,
                robot_mjcf: str | mujoco.MjSpec | None = None,
                hand: HandConfig | None = None) -> World:
    """Compile the tabletop world; attach a robot (MJCF text, file path or MjSpec) at its mount.

    The robot's names get the prefix `robot/`; its root body sits at the `robot_mount` site
    (`config.robot_mount` in the table frame). `hand` adds the procedural demonstrator hand.
    """
    config = config or WorldConfig()
    xml = world_mjcf(config, hand)
    try:
        spec = mujoco.MjSpec.from_string(xml)
    except ValueError as exc:
        raise WorldError(f'world MJCF does not compile: {exc}') from exc
    if robot_mjcf is not None:
        robot = _load_robot_spec(robot_mjcf)
        mount = spec.site(ROBOT_MOUNT_SITE)
        try:
            spec.attach(robot, prefix=ROBOT_PREFIX, site=mount)
        except (ValueError, RuntimeError) as exc:
            raise WorldError(f'cannot attach the robot at {ROBOT_MOUNT_SITE}: {exc}') from exc
    try:
        model = spec.compile()
    except ValueError as exc:
        raise WorldError(f'world does not compile: {exc}') from exc
    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    return World(config, model, data, hand, robot_mjcf is not None)


class SceneRenderer:
    """Render RGB, depth (m) and geom segmentation from the scene camera, offscreen."""

    def __init__(self, world: World, scale: float = 1.0) -> None:
        """Render at the camera's image size times `scale` (same view: the aspect is kept)."""
        cam = world.config.camera
        self.world = world
        if not 0.05 <= scale <= 1.0:
            raise WorldError(f'SceneRenderer scale must lie in [0.05, 1], got {scale}')
        self._renderer = mujoco.Renderer(world.model, max(round(cam.height * scale), 8),
                                         max(round(cam.width * scale), 8))
        self._with_hand = mujoco.MjvOption()
        self._without_hand = mujoco.MjvOption()
        self._without_hand.geomgroup[HAND_GEOM_GROUP] = 0

    def _update(self, show_hand: bool) -> None:
        option = self._with_hand if show_hand else self._without_hand
        self._renderer.update_scene(self.world.data, camera=self.world.config.camera.name,
                                    scene_option=option)

    def rgb(self, show_hand: bool = True) -> np.ndarray:
        """Return the colour image (H, W, 3) uint8 of the current state."""
        self._update(show_hand)
        return self._renderer.render().copy()

    def depth(self, show_hand: bool = True) -> np.ndarray:
        """Return depth along the optical axis (H, W) float32 metres, NaN where nothing is hit."""
        self._update(show_hand)
        self._renderer.enable_depth_rendering()
        try:
            depth = self._renderer.render().astype(np.float32)
        finally:
            self._renderer.disable_depth_rendering()
        far = 0.99 * self.world.model.vis.map.zfar * self.world.model.stat.extent
        depth[(depth <= 0.0) | (depth >= far)] = np.nan
        return depth

    def geom_ids(self, show_hand: bool = True) -> np.ndarray:
        """Return the geom id seen at each pixel (H, W) int32, -1 for the background."""
        self._update(show_hand)
        self._renderer.enable_segmentation_rendering()
        try:
            seg = self._renderer.render()
        finally:
            self._renderer.disable_segmentation_rendering()
        ids = seg[:, :, 0].astype(np.int32)
        ids[seg[:, :, 1] != int(mujoco.mjtObj.mjOBJ_GEOM)] = -1
        return ids

    def observation(self, show_hand: bool = False, stamp: float = 0.0) -> Observation:
        """Return the camera's RGB-D observation of the current state (hand hidden by default);
        camera_to_base is in the robot base frame."""
        return Observation(rgb=self.rgb(show_hand), depth=self.depth(show_hand),
                           intrinsics=self.world.intrinsics(self._renderer.width,
                                                            self._renderer.height),
                           camera_to_base=self.world.camera_to_robot_base(), stamp=stamp)

    def close(self) -> None:
        """Free the OpenGL context."""
        self._renderer.close()

    def __enter__(self) -> SceneRenderer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# The layouts of lvp_sim.world_layout are re-exported: lvp_sim.world is the package's entry point.
__all__ = [
    'BUTTON_CAP_HALF_HEIGHT', 'BUTTON_JOINT', 'BUTTON_TRAVEL', 'CAMERA_POSES', 'G1_PELVIS_HEIGHT',
    'GRASP_CONTACT', 'OBJECT_BODIES', 'OPTICAL_FROM_MUJOCO_CAMERA', 'ROBOT_MOUNT_SITE',
    'ROBOT_PREFIX', 'SIM_LAYOUTS', 'CameraConfig', 'SceneRenderer', 'World', 'WorldConfig',
    'WorldError', 'build_world', 'camera_pose', 'world_config_for', 'world_mjcf']
