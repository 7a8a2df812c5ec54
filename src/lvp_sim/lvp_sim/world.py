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
standing behind the table's back edge (`standing_behind_table_layout`). Object placements,
`SceneState` poses and task regions are in the table frame; `World.camera_to_robot_base()` and
`SceneRenderer.observation()` give the camera in the robot base frame.

A robot is inserted with `build_world(config, robot_mjcf=...)`: its MJCF (text, a file path or an
`mujoco.MjSpec`) is attached at the `robot_mount` site (at `robot_mount`) with the prefix
`robot/`; the world itself holds no robot.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import mujoco
import numpy as np
from lvp_common.artifacts import CameraIntrinsics, Observation
from lvp_common.geometry import Pose, look_rotation
from lvp_exec.embodiment_hardware import UnknownHardwareError, hardware_named
from scipy.spatial.transform import Rotation

from lvp_sim.fixtures_articulated import DrawerConfig, WipePatchConfig, fixtures_mjcf
from lvp_sim.hand_model import HAND_GEOM_GROUP, HandConfig, hand_mjcf

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


G1_PELVIS_HEIGHT = 0.793
"""Height (m) of the G1 pelvis origin above the floor with straight legs (soles on the floor):
0.757 m pelvis -> ankle roll joint in the URDF plus ~0.036 m ankle -> sole."""


class WorldError(ValueError):
    """The world cannot be built as configured (bad placement, bad robot MJCF)."""


@dataclass(frozen=True)
class CameraConfig:
    """The scene camera: looks at `target` (base frame, m) from `distance` m away.

    azimuth_deg: direction from the target to the camera about base z; 0 = in front of the table
    (+x, facing the robot). elevation_deg: angle above the table plane. fovy_deg: vertical field
    of view (MuJoCo's convention); 45 deg at 480 rows gives f = 579.4 px.
    """

    target: tuple[float, float, float] = (0.45, 0.0, 0.05)
    distance: float = 0.72
    azimuth_deg: float = 0.0
    elevation_deg: float = 40.0
    fovy_deg: float = 45.0
    width: int = 832
    height: int = 480
    name: str = 'scene_camera'

    def __post_init__(self) -> None:
        if not 0.1 <= self.distance <= 5.0:
            raise WorldError(f'CameraConfig.distance must lie in [0.1, 5] m, got {self.distance}')
        if not 5.0 <= self.elevation_deg <= 85.0:
            raise WorldError(f'CameraConfig.elevation_deg must lie in [5, 85], '
                             f'got {self.elevation_deg}')
        if not 10.0 <= self.fovy_deg <= 120.0:
            raise WorldError(f'CameraConfig.fovy_deg must lie in [10, 120], got {self.fovy_deg}')
        if self.width < 16 or self.height < 16:
            raise WorldError(f'CameraConfig: image {self.width}x{self.height} is too small')

    def position(self) -> np.ndarray:
        """Return the camera centre in the base frame (m)."""
        az, el = np.radians(self.azimuth_deg), np.radians(self.elevation_deg)
        offset = self.distance * np.array([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az),
                                           np.sin(el)])
        return np.asarray(self.target) + offset

    def optical_rotation(self) -> np.ndarray:
        """Return the optical frame's rotation in the base frame (z forward, y down)."""
        forward = np.asarray(self.target) - self.position()
        return look_rotation(forward, up_hint=(0.0, 0.0, -1.0))


CAMERA_POSES: dict[str, CameraConfig] = {
    'front': CameraConfig(),
    'front_right_high': CameraConfig(azimuth_deg=20.0, elevation_deg=52.0, distance=0.7),
    'front_left_low': CameraConfig(azimuth_deg=-15.0, elevation_deg=32.0, distance=0.8),
}
"""Named scene-camera poses of the benchmarks, looking at the Franka layout's workspace
((0.45, 0, 0.05) in the table frame): `front` is the layout's own camera (0.72 m, 40 deg
elevation, facing the robot); `front_right_high` 20 deg to the right (towards the table frame's
+y), 52 deg elevation, 0.70 m; `front_left_low` 15 deg to the left, 32 deg elevation, 0.80 m.
`camera_pose(name, layout)` aims one at another layout's camera target."""


def camera_pose(name: str, layout: WorldConfig | None = None) -> CameraConfig:
    """Return the named pose of `CAMERA_POSES`, aimed at `layout`'s camera target if given."""
    if name not in CAMERA_POSES:
        raise WorldError(f'unknown camera pose {name!r}; expected one of {tuple(CAMERA_POSES)}')
    pose = CAMERA_POSES[name]
    return pose if layout is None else replace(pose, target=layout.camera.target)


@dataclass(frozen=True, eq=False)
class WorldConfig:
    """Table, robot placement, object placements (table frame, m) and the camera.

    Object positions are (x, y) on the table top; yaw in radians about the table's z. The target
    region (for pushing) is a flat yellow square drawn on the table, with no collision.
    robot_mount: the robot base frame's pose in the table frame (m, quaternion x, y, z, w); the
    identity puts a Franka base on the table top at the table frame's origin.
    hand_approach_yaw: how lvp_sim's demonstrator hand approaches the objects (rad about the
    table's z): 0 = from the robot's left (+y), fingers to its right (the Franka layout);
    pi/2 = from the robot's side of the table, fingers pointing away from the robot, where a
    short arm (the G1's) can follow it.
    drawer / wipe_patch: the optional task fixtures of `lvp_sim.fixtures_articulated` (a
    cabinet with a drawer; a board with dirt cells), absent by default.
    """

    table_top_z: float = 0.0
    table_height: float = 0.75
    table_length: float = 1.0
    table_width: float = 1.3
    robot_mount_inset: float = 0.1
    wall_distance: float = 0.45
    cube_xy: tuple[float, float] = (0.45, 0.04)
    cube_yaw: float = 0.0
    cube_half_size: float = 0.025
    cup_xy: tuple[float, float] = (0.58, -0.3)
    cup_radius: float = 0.035
    cup_height: float = 0.09
    button_xy: tuple[float, float] = (0.34, 0.15)
    target_region_xy: tuple[float, float] = (0.45, -0.14)
    target_region_half_size: float = 0.05
    camera: CameraConfig = field(default_factory=CameraConfig)
    robot_mount: Pose = field(default_factory=Pose.identity)
    hand_approach_yaw: float = 0.0
    drawer: DrawerConfig | None = None
    wipe_patch: WipePatchConfig | None = None

    def __post_init__(self) -> None:
        if self.table_height <= 0.05:
            raise WorldError(f'WorldConfig.table_height must exceed 0.05 m, '
                             f'got {self.table_height}')
        x_min = -self.robot_mount_inset
        x_max = x_min + self.table_length
        half_w = self.table_width / 2.0
        for name in ('cube_xy', 'cup_xy', 'button_xy', 'target_region_xy'):
            x, y = getattr(self, name)
            if not (x_min < x < x_max and -half_w < y < half_w):
                raise WorldError(f'WorldConfig.{name} = {(x, y)} is off the table '
                                 f'(x in ({x_min}, {x_max}), y in ({-half_w}, {half_w}))')
        if self.cube_half_size <= 0.0 or self.cup_radius <= 0.0 or self.cup_height <= 0.0:
            raise WorldError('WorldConfig: object sizes must be positive')
        if not isinstance(self.robot_mount, Pose):
            raise WorldError(f'WorldConfig.robot_mount must be a lvp_common Pose, '
                             f'got {type(self.robot_mount).__name__}')

    def _key(self) -> tuple:
        # Pose holds arrays: compare and hash the mount by its numbers.
        mount = self.robot_mount
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != 'robot_mount') + (
            tuple(mount.position.tolist()), tuple(mount.quaternion.tolist()))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, WorldConfig) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def floor_z(self) -> float:
        """Return the floor height (m) in the table frame."""
        return self.table_top_z - self.table_height

    def table_top_in_robot_base(self) -> float:
        """Return the table-top plane's height (m) in the robot base frame (upright mount)."""
        return float(self.robot_mount.inverse().transform_points(
            np.array([0.0, 0.0, self.table_top_z]))[2])


def table_top_mount_layout() -> WorldConfig:
    """A Franka's layout: its base on the table top at the table frame's origin (the default
    `WorldConfig`)."""
    return WorldConfig()


def standing_behind_table_layout() -> WorldConfig:
    """A G1's layout: standing behind the table's back edge, pelvis 0.793 m above the floor
    (soles on the floor), at a 0.70 m table (top 9 cm below the pelvis); the objects lie in front
    of its right shoulder, within its short arm's reach (~0.45 m shoulder to wrist), and the
    camera looks at that workspace from across the table."""
    table_height = 0.70
    mount = Pose(np.array([-0.22, 0.0, G1_PELVIS_HEIGHT - table_height]),
                 np.array([0.0, 0.0, 0.0, 1.0]))
    camera = CameraConfig(target=(0.12, -0.1, 0.05), distance=0.72, elevation_deg=40.0)
    return WorldConfig(table_height=table_height, robot_mount=mount,
                       cube_xy=(0.11, -0.12), cup_xy=(0.22, -0.36), button_xy=(0.04, 0.0),
                       target_region_xy=(0.23, -0.12), camera=camera,
                       hand_approach_yaw=np.pi / 2.0)


SIM_LAYOUTS = {'table_top_mount': table_top_mount_layout,
               'standing_behind_table': standing_behind_table_layout}
"""The world layouts by the name an embodiment's hardware spec gives (`sim_layout`)."""


def world_config_for(embodiment: str) -> WorldConfig:
    """Return the world layout of an embodiment: where the robot stands and the objects lie
    (its hardware spec's `sim_layout`, lvp_exec.embodiment_hardware, in `SIM_LAYOUTS`)."""
    try:
        layout = hardware_named(embodiment).sim_layout
    except UnknownHardwareError as exc:
        raise WorldError(str(exc)) from None
    if layout not in SIM_LAYOUTS:
        raise WorldError(f'embodiment {embodiment!r} stands in the layout {layout!r}, which is '
                         f'not one of {tuple(SIM_LAYOUTS)}')
    return SIM_LAYOUTS[layout]()


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
