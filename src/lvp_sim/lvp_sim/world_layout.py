"""Where things stand in the MuJoCo tabletop world: the table, the robot's mount, the objects,
the scene camera (`WorldConfig`, `CameraConfig`), and each embodiment's layout.

All placements are in the table frame (lvp_sim.world: z up, x from the robot's side of the table
towards the camera, y to the robot's left; origin on the table top, `robot_mount_inset` in from
the robot-side edge). `WorldConfig.robot_mount` is the robot base frame in it: the identity for
the Franka (`table_top_mount_layout`), the pelvis of a G1 standing behind the table's back edge
(`standing_behind_table_layout`). An embodiment's hardware spec names its layout
(`EmbodimentHardware.sim_layout`, a key of `SIM_LAYOUTS`); `world_config_for(embodiment)` builds
it. lvp_sim.world compiles a layout into a MuJoCo model.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np
from lvp_common.geometry import Pose, look_rotation
from lvp_exec.embodiment_hardware import UnknownHardwareError, hardware_named

from lvp_sim.fixtures_articulated import DrawerConfig, WipePatchConfig

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
    place_offset_xy: where pinch_and_place's set-down square lies from the cube (m, table
    frame; `for_task`); None: at the target region, where the push goes.
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
    place_offset_xy: tuple[float, float] | None = None

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

    def for_task(self, task: str) -> WorldConfig:
        """The layout for `task`: a pinch_and_place's target region at `place_offset_xy` from
        the cube when the layout sets one; otherwise unchanged."""
        if task != 'pinch_and_place' or self.place_offset_xy is None:
            return self
        x, y = (float(c + d) for c, d in zip(self.cube_xy, self.place_offset_xy, strict=True))
        return replace(self, target_region_xy=(x, y))

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
    camera looks at that workspace from across the table. A pinch_and_place sets the cube down
    12 cm to the robot's right of where it lay: 12 cm further out (the push's target region,
    47 cm before the pelvis) no top-down pinch of the Inspire reaches at table height."""
    table_height = 0.70
    mount = Pose(np.array([-0.22, 0.0, G1_PELVIS_HEIGHT - table_height]),
                 np.array([0.0, 0.0, 0.0, 1.0]))
    camera = CameraConfig(target=(0.12, -0.1, 0.05), distance=0.72, elevation_deg=40.0)
    return WorldConfig(table_height=table_height, robot_mount=mount,
                       cube_xy=(0.11, -0.12), cup_xy=(0.22, -0.36), button_xy=(0.04, 0.0),
                       target_region_xy=(0.23, -0.12), camera=camera,
                       hand_approach_yaw=np.pi / 2.0, place_offset_xy=(0.0, -0.12))


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
