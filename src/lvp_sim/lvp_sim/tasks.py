# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""Task success predicates on the simulated scene's state (object poses, button travel).

A predicate compares the state at the start of a task with the state at its end, so it applies
equally to the end of a synthetic demonstration and to the end of a robot's execution in the same
world. Positions are metres in the robot base frame.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import mujoco
import numpy as np
from lvp_common.geometry import Pose

from lvp_sim.fixtures_articulated import drawer_opening, wipe_coverage
from lvp_sim.world import BUTTON_JOINT, OBJECT_BODIES, World


class TaskError(ValueError):
    """A task specification or scene state is inconsistent."""


class TaskKind(str, enum.Enum):
    LIFT = 'lift'
    PUSH_TO_REGION = 'push_to_region'
    PLACE_IN_REGION = 'place_in_region'
    PRESS = 'press'
    OPEN_DRAWER = 'open_drawer'
    WIPE = 'wipe'


@dataclass(frozen=True)
class TaskSpec:
    """What success means for one task.

    lift: `object_name` ends at least `lift_height` m above where it started.
    push_to_region: its centre ends inside the square region (`region_xy` centre,
    `region_half_size` m) and it stays on the table (rose less than `lift_height`).
    place_in_region: its centre ends inside the region and it rests on the table: its height
    is within `rest_tolerance` m of its starting (resting) height, so an object still held
    above the region fails. Initial and final states cannot tell a place from a push: a
    cube pushed into the region passes too (the demonstration's ground truth shows the lift).
    press: the button joint travelled at least `press_depth` m down.
    open_drawer: the drawer ends at least `open_distance` m further out than it started (6 cm
    by default: about a third of its 16 cm travel, twice a hand's width of grip room; a
    drawer nudged by a slipping grasp moves 1-2 cm).
    wipe: at least `min_coverage` of the patch's dirt cells end wiped (0.8 by default: a
    wipe that misses one edge row of the 4 x 7 cells reaches 0.75 and fails).
    """

    name: str
    kind: TaskKind
    object_name: str = 'cube'
    lift_height: float = 0.05
    region_xy: tuple[float, float] = (0.0, 0.0)
    region_half_size: float = 0.05
    press_depth: float = 0.004
    rest_tolerance: float = 0.005
    open_distance: float = 0.06
    min_coverage: float = 0.8

    def __post_init__(self) -> None:
        object.__setattr__(self, 'kind', TaskKind(self.kind))
        if min(self.lift_height, self.region_half_size, self.press_depth,
               self.rest_tolerance, self.open_distance, self.min_coverage) <= 0.0:
            raise TaskError(f'TaskSpec {self.name!r}: thresholds must be positive')
        if self.min_coverage > 1.0:
            raise TaskError(f'TaskSpec {self.name!r}: min_coverage {self.min_coverage} is a '
                            f'fraction (<= 1)')


@dataclass(frozen=True)
class SceneState:
    """Poses of the scene's movable bodies (base frame) and the button travel (m, <= 0);
    the drawer's opening (m, 0 = closed) and the wiped fraction of the dirt patch (0 for a
    world without them)."""

    object_poses: dict[str, Pose] = field(default_factory=dict)
    button_travel: float = 0.0
    drawer_opening: float = 0.0
    wipe_coverage: float = 0.0


@dataclass(frozen=True)
class TaskOutcome:
    """Whether a task succeeded, the measured quantity, its threshold and a readable reason."""

    success: bool
    measured: float
    threshold: float
    message: str


def read_scene_state(world: World) -> SceneState:
    """Return the current state of the world's objects and button (after a forward pass)."""
    mujoco.mj_kinematics(world.model, world.data)
    poses = {name: world.body_pose(name) for name in OBJECT_BODIES}
    travel = float(world.data.qpos[world.joint_qpos_address(BUTTON_JOINT)])
    opening = drawer_opening(world.model, world.data)
    coverage = wipe_coverage(world.model, world.data, world.config.wipe_patch)
    return SceneState(poses, travel, 0.0 if opening is None else opening, coverage)


def _object(state: SceneState, name: str) -> Pose:
    if name not in state.object_poses:
        raise TaskError(f'scene state has no object {name!r}; it has '
                        f'{sorted(state.object_poses)}')
    return state.object_poses[name]


def evaluate_task(spec: TaskSpec, initial: SceneState, final: SceneState) -> TaskOutcome:
    """Decide whether `final` satisfies the task, relative to `initial`."""
    if spec.kind is TaskKind.PRESS:
        depth = 0.0 - final.button_travel  # an untouched button reads 0.0, not -0.0
        ok = depth >= spec.press_depth
        return TaskOutcome(ok, depth, spec.press_depth,
                           f'button pressed {depth * 1000:.1f} mm '
                           f'(needs {spec.press_depth * 1000:.1f} mm)')
    if spec.kind is TaskKind.OPEN_DRAWER:
        opened = final.drawer_opening - initial.drawer_opening
        return TaskOutcome(opened >= spec.open_distance, opened, spec.open_distance,
                           f'drawer opened {opened * 100:.1f} cm '
                           f'(needs {spec.open_distance * 100:.1f} cm)')
    if spec.kind is TaskKind.WIPE:
        covered = final.wipe_coverage
        return TaskOutcome(covered >= spec.min_coverage, covered, spec.min_coverage,
                           f'{covered * 100:.0f} % of the patch wiped '
                           f'(needs {spec.min_coverage * 100:.0f} %)')
    start = _object(initial, spec.object_name).position
    end = _object(final, spec.object_name).position
    rise = float(end[2] - start[2])
    if spec.kind is TaskKind.LIFT:
        return TaskOutcome(rise >= spec.lift_height, rise, spec.lift_height,
                           f'{spec.object_name} rose {rise * 100:.1f} cm '
                           f'(needs {spec.lift_height * 100:.1f} cm)')
    offset = np.abs(end[:2] - np.asarray(spec.region_xy))
    distance = float(offset.max())
    where = (f'{spec.object_name} centre {distance * 100:.1f} cm from the region centre '
             f'(Chebyshev; inside within {spec.region_half_size * 100:.1f} cm)')
    if spec.kind is TaskKind.PLACE_IN_REGION:
        resting = abs(rise) <= spec.rest_tolerance
        return TaskOutcome(distance <= spec.region_half_size and resting, distance,
                           spec.region_half_size,
                           f'{where}, {rise * 1000:+.1f} mm from its resting height '
                           f'({"resting" if resting else "not resting"}: within '
                           f'{spec.rest_tolerance * 1000:.0f} mm)')
    inside = distance <= spec.region_half_size and rise < spec.lift_height
    return TaskOutcome(inside, distance, spec.region_half_size,
                       f'{where}, rose {rise * 100:.1f} cm')


TASK_KINDS = {'reach_grasp_lift': TaskKind.LIFT, 'push': TaskKind.PUSH_TO_REGION,
              'pinch_and_place': TaskKind.PLACE_IN_REGION, 'press': TaskKind.PRESS,
              'open_drawer': TaskKind.OPEN_DRAWER, 'wipe': TaskKind.WIPE}
"""lvp_sim task name -> the kind of its success predicate."""


def task_spec_for(task: str, world) -> TaskSpec:
    """The success predicate of lvp_sim task `task` in the layout `world` (an lvp_sim
    WorldConfig: its target region), as the task's demonstration defines it."""
    if task not in TASK_KINDS:
        raise TaskError(f'unknown task {task!r}; known: {tuple(TASK_KINDS)}')
    kind = TASK_KINDS[task]
    if kind in (TaskKind.PUSH_TO_REGION, TaskKind.PLACE_IN_REGION):
        return TaskSpec(task, kind, 'cube', region_xy=tuple(world.target_region_xy),
                        region_half_size=world.target_region_half_size)
    return TaskSpec(task, kind, 'cube')
