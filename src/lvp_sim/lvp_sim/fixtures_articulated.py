# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""Task fixtures of the tabletop world: a cabinet with a drawer, and a dirty patch to wipe.

Both are optional parts of `WorldConfig` (`drawer`, `wipe_patch`), added by
`fixtures_for_task` for the tasks that need them, and keep their state in the MuJoCo state
(`qpos`), so `lvp_sim.tasks.read_scene_state` reads it at the end of a demonstration or of a
robot's execution alike.

Drawer. A fixed cabinet (open towards the robot, -x of the table frame) holds a drawer on a slide
joint (`DRAWER_JOINT`, metres, 0 = closed, positive = pulled out towards the robot, up to
`travel`). A square bar handle stands `handle_standoff` in front of the drawer's front panel,
level, along y: a parallel gripper can take it from above across its 2 cm, a hand can hook
its fingers behind it. Damping and friction loss keep the drawer where it was left (a pull
must overcome `friction_n` N); the cabinet is low (`cabinet_height`) so the scene camera, across
the table, sees the handle over it.

Wipe patch. A low board (`board_height` above the table, so the fingers that wipe it keep clear
of the table itself) carries a grid of brown "dirt" cells, each a thin tile on a vertical slide
joint that stands `raise_height` proud of the board. A touch that pushes on a cell with more than
`friction_n` N slides it down into the board, where it stays (friction loss, no spring): it
disappears from view and counts as wiped. Coverage = the fraction of cells pushed down more
than half of `raise_height` (`wipe_coverage`). The cells collide with nothing but what touches
them from above (they are excluded from the board and do not collide with each other; their
conaffinity 3 meets the world's contype 1 and lvp_exec's robot contype 2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

DRAWER_JOINT = 'drawer_slide'
DRAWER_BODY = 'drawer'
HANDLE_GEOM = 'drawer_handle'
WIPE_BOARD_BODY = 'wipe_board'
WIPE_CELL_PREFIX = 'wipe_cell_'
"""Cell bodies, joints and geoms are named `wipe_cell_<row>_<col>` (+ `_slide` for joints)."""

DRAWER_TASKS = ('open_drawer',)
WIPE_TASKS = ('wipe',)


class FixtureError(ValueError):
    """A fixture cannot be built as configured."""


@dataclass(frozen=True)
class DrawerConfig:
    """A cabinet with a drawer that opens towards the robot (table frame, metres).

    handle_xy / handle_height: centre of the handle bar with the drawer closed (height above
    the table top). The cabinet's front face lies `handle_standoff` + `panel_thickness` behind
    the handle (+x); the cabinet is `cabinet_width` (y) x `cabinet_depth` (x) x
    `cabinet_height`. travel: how far the drawer can be pulled out. friction_n / damping: the
    slide's friction loss (N) and viscous damping (N s/m).
    """

    handle_xy: tuple[float, float] = (0.40, 0.04)
    handle_height: float = 0.06
    handle_standoff: float = 0.06
    handle_length: float = 0.10
    handle_thickness: float = 0.02
    panel_thickness: float = 0.012
    cabinet_width: float = 0.16
    cabinet_depth: float = 0.20
    cabinet_height: float = 0.10
    travel: float = 0.16
    friction_n: float = 1.0
    damping: float = 4.0

    def __post_init__(self) -> None:
        sizes = (self.handle_height, self.handle_standoff, self.handle_length,
                 self.handle_thickness, self.panel_thickness, self.cabinet_width,
                 self.cabinet_depth, self.cabinet_height, self.travel)
        if min(sizes) <= 0.0 or self.friction_n < 0.0 or self.damping < 0.0:
            raise FixtureError(f'DrawerConfig: sizes must be positive and friction/damping '
                               f'non-negative, got {self}')
        if not 0.03 <= self.handle_height <= self.cabinet_height - 0.01:
            raise FixtureError(f'DrawerConfig.handle_height {self.handle_height} m must lie '
                               f'between 0.03 m and the cabinet top - 1 cm')
        if self.travel > 0.9 * self.cabinet_depth:
            raise FixtureError(f'DrawerConfig.travel {self.travel} m exceeds 90 % of the '
                               f'cabinet depth {self.cabinet_depth} m')

    @property
    def front_x(self) -> float:
        """x of the cabinet's front face (the closed drawer's front panel's back)."""
        return self.handle_xy[0] + self.handle_standoff + self.panel_thickness

    @property
    def pull_direction(self) -> np.ndarray:
        """Unit vector (table frame) the drawer moves along when opened."""
        return np.array([-1.0, 0.0, 0.0])

    def handle_position(self, opening: float = 0.0) -> np.ndarray:
        """Centre of the handle bar (table frame, table top at z = 0) at `opening` m."""
        return (np.array([*self.handle_xy, self.handle_height])
                + opening * self.pull_direction)


@dataclass(frozen=True)
class WipePatchConfig:
    """A board on the table whose top carries `rows` x `cols` dirt cells (table frame, metres).

    centre_xy: the patch's centre; size_x / size_y: the patch (the board is `margin` larger on
    every side); board_height: the board top above the table; raise_height: how far a dirty
    cell stands proud of the board; friction_n: the push (N) that slides a cell down.
    """

    centre_xy: tuple[float, float] = (0.45, 0.04)
    size_x: float = 0.08
    size_y: float = 0.14
    rows: int = 4
    cols: int = 7
    board_height: float = 0.03
    margin: float = 0.03
    raise_height: float = 0.002
    friction_n: float = 0.3

    def __post_init__(self) -> None:
        if min(self.size_x, self.size_y, self.board_height, self.raise_height) <= 0.0:
            raise FixtureError(f'WipePatchConfig: sizes must be positive, got {self}')
        if self.rows < 1 or self.cols < 1 or self.rows * self.cols > 400:
            raise FixtureError(f'WipePatchConfig: {self.rows} x {self.cols} cells; expected '
                               f'1..400 cells')
        if self.margin < 0.0 or self.friction_n < 0.0:
            raise FixtureError('WipePatchConfig: margin and friction_n must be >= 0')

    @property
    def top_z(self) -> float:
        """Height (m above the table top) of a dirty cell's top surface."""
        return self.board_height + self.raise_height

    def cell_names(self) -> list[str]:
        return [f'{WIPE_CELL_PREFIX}{r}_{c}' for r in range(self.rows) for c in range(self.cols)]

    def cell_centres(self) -> np.ndarray:
        """Cell centres (rows * cols, 2) in the table frame's x-y, row-major."""
        dx, dy = self.size_x / self.rows, self.size_y / self.cols
        x0 = self.centre_xy[0] - self.size_x / 2.0 + dx / 2.0
        y0 = self.centre_xy[1] - self.size_y / 2.0 + dy / 2.0
        return np.array([(x0 + r * dx, y0 + c * dy) for r in range(self.rows)
                         for c in range(self.cols)])

    def cell_half_sizes(self) -> tuple[float, float]:
        return self.size_x / self.rows / 2.0, self.size_y / self.cols / 2.0


def _v(values) -> str:
    return ' '.join(f'{float(v):.6g}' for v in values)


def drawer_mjcf(config: DrawerConfig, top: float) -> tuple[str, str]:
    """Return (worldbody XML, contact XML) of the cabinet and its drawer; `top` = table top z."""
    c = config
    wall = 0.008
    hw, hd, hh = c.cabinet_width / 2.0, c.cabinet_depth / 2.0, c.cabinet_height / 2.0
    cx = c.front_x + hd
    cy = c.handle_xy[1]
    # Drawer box inside the cabinet (3 mm clearance), in the drawer body's frame = cabinet centre.
    dw, dd = hw - wall - 0.003, hd - wall - 0.003
    floor_z, box_top = -hh + wall + 0.003, hh - wall - 0.012
    dh = (box_top - floor_z) / 2.0
    dz = (box_top + floor_z) / 2.0
    front = -hd - c.panel_thickness / 2.0
    handle_x = -hd - c.panel_thickness - c.handle_standoff
    handle_z = top + c.handle_height - (top + hh)
    post_len = c.handle_standoff / 2.0
    t = c.handle_thickness / 2.0
    body = f"""
    <body name="cabinet" pos="{_v((cx, cy, top + hh))}">
      <geom name="cabinet_top" type="box" material="cabinet" size="{_v((hd, hw, wall / 2))}"
            pos="0 0 {hh - wall / 2:.6g}"/>
      <geom name="cabinet_bottom" type="box" material="cabinet" size="{_v((hd, hw, wall / 2))}"
            pos="0 0 {-hh + wall / 2:.6g}"/>
      <geom name="cabinet_left" type="box" material="cabinet" size="{_v((hd, wall / 2, hh))}"
            pos="0 {hw - wall / 2:.6g} 0"/>
      <geom name="cabinet_right" type="box" material="cabinet" size="{_v((hd, wall / 2, hh))}"
            pos="0 {-hw + wall / 2:.6g} 0"/>
      <geom name="cabinet_back" type="box" material="cabinet" size="{_v((wall / 2, hw, hh))}"
            pos="{hd - wall / 2:.6g} 0 0"/>
      <body name="{DRAWER_BODY}">
        <joint name="{DRAWER_JOINT}" type="slide" axis="-1 0 0" range="0 {c.travel:.6g}"
               damping="{c.damping:.6g}" frictionloss="{c.friction_n:.6g}"
               solreflimit="0.01 1"/>
        <geom name="drawer_front" type="box" material="drawer" mass="0.3"
              size="{_v((c.panel_thickness / 2, hw - 0.002, hh - 0.006))}"
              pos="{front:.6g} 0 0"/>
        <geom name="drawer_floor" type="box" material="drawer" mass="0.2"
              size="{_v((dd, dw, 0.003))}" pos="0 0 {floor_z + 0.003:.6g}"/>
        <geom name="drawer_side_l" type="box" material="drawer" mass="0.05"
              size="{_v((dd, 0.003, dh))}" pos="0 {dw - 0.003:.6g} {dz:.6g}"/>
        <geom name="drawer_side_r" type="box" material="drawer" mass="0.05"
              size="{_v((dd, 0.003, dh))}" pos="0 {-dw + 0.003:.6g} {dz:.6g}"/>
        <geom name="drawer_back" type="box" material="drawer" mass="0.05"
              size="{_v((0.003, dw, dh))}" pos="{dd - 0.003:.6g} 0 {dz:.6g}"/>
        <geom name="{HANDLE_GEOM}" type="box" material="handle" mass="0.05"
              size="{_v((t, c.handle_length / 2, t))}" pos="{_v((handle_x, 0, handle_z))}"
              friction="1.2 0.005 0.0001" condim="4" solref="0.005 1"
              solimp="0.95 0.99 0.001"/>
        <geom name="drawer_handle_post_l" type="box" material="handle" mass="0.01"
              size="{_v((post_len, 0.006, 0.006))}"
              pos="{_v((handle_x + post_len, c.handle_length / 2 - 0.006, handle_z))}"/>
        <geom name="drawer_handle_post_r" type="box" material="handle" mass="0.01"
              size="{_v((post_len, 0.006, 0.006))}"
              pos="{_v((handle_x + post_len, -c.handle_length / 2 + 0.006, handle_z))}"/>
      </body>
    </body>"""
    contact = ('<exclude body1="cabinet" body2="drawer"/>'
               '<exclude body1="table" body2="drawer"/>')
    return body, contact


def wipe_patch_mjcf(config: WipePatchConfig, top: float) -> tuple[str, str]:
    """Return (worldbody XML, contact XML) of the board and its dirt cells."""
    c = config
    bx, by = c.size_x / 2.0 + c.margin, c.size_y / 2.0 + c.margin
    hx, hy = c.cell_half_sizes()
    # A cell is a tile of 2 x raise_height whose top stands raise_height above the board.
    hz = c.raise_height
    cells, excludes = [], []
    for name, (x, y) in zip(c.cell_names(), c.cell_centres()):
        cells.append(
            f'<body name="{name}" pos="{_v((x - c.centre_xy[0], y - c.centre_xy[1], hz))}" '
            f'gravcomp="1"><joint name="{name}_slide" type="slide" axis="0 0 1" '
            f'range="{-c.raise_height:.6g} 0" damping="2" frictionloss="{c.friction_n:.6g}" '
            f'solreflimit="0.004 1"/>'
            f'<geom name="{name}" type="box" size="{_v((hx - 0.0005, hy - 0.0005, hz))}" '
            f'material="dirt" mass="0.005" contype="0" conaffinity="3" '
            f'friction="0.3 0.005 0.0001"/></body>')
        excludes.append(f'<exclude body1="{WIPE_BOARD_BODY}" body2="{name}"/>')
    body = f"""
    <body name="{WIPE_BOARD_BODY}" pos="{_v((*c.centre_xy, top + c.board_height))}">
      <geom name="wipe_board" type="box" material="board" size="{_v((bx, by, c.board_height / 2))}"
            pos="0 0 {-c.board_height / 2:.6g}" friction="0.4 0.005 0.0001"/>
      {''.join(cells)}
    </body>"""
    return body, ''.join(excludes)


FIXTURE_MATERIALS = """
    <material name="cabinet" rgba="0.72 0.58 0.42 1" specular="0.1" shininess="0.1"/>
    <material name="drawer" rgba="0.82 0.7 0.52 1" specular="0.1" shininess="0.1"/>
    <material name="handle" rgba="0.15 0.15 0.17 1" specular="0.4" shininess="0.4"/>
    <material name="board" rgba="0.92 0.92 0.9 1" specular="0.05"/>
    <material name="dirt" rgba="0.45 0.3 0.15 1" specular="0.0"/>
"""


def fixtures_mjcf(drawer: DrawerConfig | None, patch: WipePatchConfig | None,
                  top: float) -> tuple[str, str, str]:
    """Return (assets, worldbody, contact) XML of the configured fixtures ('' when none)."""
    parts = [drawer_mjcf(drawer, top) if drawer is not None else ('', ''),
             wipe_patch_mjcf(patch, top) if patch is not None else ('', '')]
    assets = FIXTURE_MATERIALS if (drawer is not None or patch is not None) else ''
    return assets, ''.join(p[0] for p in parts), ''.join(p[1] for p in parts)


def drawer_opening(model, data) -> float | None:
    """The drawer's opening (m, 0 = closed), or None if the world has no drawer."""
    import mujoco

    jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, DRAWER_JOINT)
    return None if jid < 0 else float(data.qpos[model.jnt_qposadr[jid]])


def cell_travel(model, data, patch: WipePatchConfig) -> np.ndarray:
    """Each dirt cell's slide (m, 0 = dirty and proud, -raise_height = flush with the board)."""
    import mujoco

    out = np.zeros(patch.rows * patch.cols)
    for i, name in enumerate(patch.cell_names()):
        jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, f'{name}_slide')
        if jid < 0:
            raise FixtureError(f'the world has no dirt cell joint {name}_slide')
        out[i] = data.qpos[model.jnt_qposadr[jid]]
    return out


def wipe_coverage(model, data, patch: WipePatchConfig | None) -> float:
    """Fraction of the dirt cells wiped (pushed down over half their raise); 0 without a
    patch."""
    if patch is None:
        return 0.0
    travel = cell_travel(model, data, patch)
    return float(np.mean(travel <= -0.5 * patch.raise_height))


def fixture_state(world) -> float:
    """The drawer's opening (m) or the patch's wiped fraction of a built lvp_sim World; 0.0 for
    a world without fixtures."""
    opening = drawer_opening(world.model, world.data)
    if opening is not None:
        return opening
    return wipe_coverage(world.model, world.data, world.config.wipe_patch)


def fixtures_for_task(task: str, world):
    """Return `world` (a WorldConfig) with the fixture the task needs: the drawer's handle or the
    patch where the layout's cube lay (its workspace), the cube and the button moved out of the
    way (10 cm past the cup). Other tasks get `world` unchanged."""
    if task not in DRAWER_TASKS + WIPE_TASKS:
        return world
    cube = np.asarray(world.cube_xy, dtype=float)
    cup_x, cup_y = (float(v) for v in world.cup_xy)
    away = float(np.sign(cup_y - cube[1])) or -1.0
    aside = {'cube_xy': (cup_x, cup_y + 0.1 * away),
             'button_xy': (cup_x - 0.15, cup_y + 0.1 * away)}
    if task in DRAWER_TASKS:
        drawer = DrawerConfig(handle_xy=(float(cube[0]), float(cube[1])))
        return replace(world, drawer=drawer, **aside)
    # The patch is 8 cm along the demonstrator's fingers and 14 cm across them (its stroke).
    fingers_along_x = abs(np.sin(world.hand_approach_yaw)) >= 0.5
    patch = WipePatchConfig(centre_xy=(float(cube[0]), float(cube[1])),
                            size_x=0.08 if fingers_along_x else 0.14,
                            size_y=0.14 if fingers_along_x else 0.08,
                            rows=4 if fingers_along_x else 7, cols=7 if fingers_along_x else 4)
    return replace(world, wipe_patch=patch, **aside)


def jitter_fixtures(world, draw):
    """Return `world` with its fixtures moved by `draw()` (an (x, y) offset, m, table frame);
    `draw` is not called for a world without fixtures (the seed's other draws stay as they
    were)."""
    if world.drawer is None and world.wipe_patch is None:
        return world
    dx, dy = (float(v) for v in draw())
    if world.drawer is not None:
        x, y = world.drawer.handle_xy
        world = replace(world, drawer=replace(world.drawer, handle_xy=(x + dx, y + dy)))
    if world.wipe_patch is not None:
        x, y = world.wipe_patch.centre_xy
        world = replace(world, wipe_patch=replace(world.wipe_patch, centre_xy=(x + dx, y + dy)))
    return world
