# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""Scripted synthetic demonstrations: the procedural hand does a task in the tabletop world.

Each task is a few wrist/finger keyframes joined by minimum-jerk segments (SLERP for the wrist
orientation), rendered from the scene camera at the plan's size and rate, with exact ground
truth per frame. Objects move kinematically: a grasped cube keeps its pose relative to the wrist
from the moment the fingers close (no physical grasp), a pushed cube follows the wrist's
horizontal motion while the fingertips touch it, and the button travels with the fingertip
and stays down (it latches). The seed varies object placement, the start pose and the timing.

The scripts are in `demonstrations_tabletop` (lift, push, press, pinch-and-place) and
`demonstrations_articulated` (drawer, wipe), built from `demonstration_keyframes`.

The observation is the initial scene with the hand hidden: what the robot's camera sees before
anyone acts. The plan's first frame shows the hand at its start pose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
from lvp_common.artifacts import (
    NUM_HAND_KEYPOINTS,
    CameraIntrinsics,
    Handedness,
    Observation,
    PlanSource,
    VideoPlan,
)
from lvp_common.geometry import Pose, as_array, continuous_quaternions
from lvp_common.video_io import write_video
from scipy.spatial.transform import Rotation

from lvp_sim.demonstration_keyframes import (
    DemonstrationError,
    Variation,
    kp_index,
    sample_keyframes,
    timeline,
)
from lvp_sim.demonstrations_articulated import ARTICULATED_SCRIPTS
from lvp_sim.demonstrations_tabletop import TABLETOP_SCRIPTS
from lvp_sim.fixtures_articulated import fixture_state, fixtures_for_task, jitter_fixtures
from lvp_sim.hand_model import JOINT_NAMES, HandConfig, HandRig
from lvp_sim.tasks import (
    SceneState,
    TaskOutcome,
    TaskSpec,
    evaluate_task,
    read_scene_state,
)
from lvp_sim.world import (
    BUTTON_JOINT,
    CameraConfig,
    SceneRenderer,
    WorldConfig,
    build_world,
)

TASK_PROMPTS = {
    'reach_grasp_lift': 'pick up the green cube',
    'push': 'push the green cube onto the yellow square',
    'press': 'press the red button',
    'pinch_and_place': 'put the green cube on the yellow square',
    'open_drawer': 'open the drawer',
    'wipe': 'wipe the dirt off the white board',
}
"""Task name -> the sentence a planner would be given."""
TASK_NAMES = tuple(TASK_PROMPTS)
SCENE_OBJECTS = ('cube', 'cup', 'button')
"""Bodies whose poses the ground truth records, in this order."""




@dataclass(frozen=True)
class DemonstrationConfig:
    """Which task, how many frames at what rate, the world layout, the camera, the hand, the seed.

    world: the base layout (robot placement, table, objects, camera) the seed varies; the
    default is the Franka layout, `lvp_sim.world.world_config_for('g1_inspire')` the G1's.
    camera: overrides the layout's camera when given. jitter: scale of the seed's variations
    (object placement +-2 cm, start pose +-2 cm, timing +-6 %); 0 gives the nominal scene and
    motion for every seed.
    """

    task: str = 'reach_grasp_lift'
    seed: int = 0
    num_frames: int = 49
    fps: float = 16.0
    camera: CameraConfig | None = None
    hand: HandConfig = field(default_factory=HandConfig)
    jitter: float = 1.0
    world: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.task not in TASK_PROMPTS:
            raise DemonstrationError(f'unknown task {self.task!r}; known: {TASK_NAMES}')
        if self.num_frames < 8:
            raise DemonstrationError(f'DemonstrationConfig.num_frames must be >= 8, '
                                     f'got {self.num_frames}')
        if not np.isfinite(self.fps) or self.fps <= 0.0:
            raise DemonstrationError(f'DemonstrationConfig.fps must be positive, got {self.fps}')
        if not 0.0 <= self.jitter <= 2.0:
            raise DemonstrationError(f'DemonstrationConfig.jitter must lie in [0, 2], '
                                     f'got {self.jitter}')


@dataclass(frozen=True)
class DemonstrationGroundTruth:
    """Exact per-frame state of a synthetic demonstration (T frames).

    Every `_base` quantity (and object_positions/quaternions, camera_to_base) is in the robot
    base frame of the demonstration's layout (`WorldConfig.robot_mount`: the Panda base, the G1
    pelvis), not the table frame.

    keypoints_px (T, 21, 2) pixels; keypoints_camera (T, 21, 3) metres in the camera optical
    frame; keypoints_base (T, 21, 3) metres in the robot base frame; MediaPipe landmark order.
    in_image (T, 21): the keypoint projects inside the image. wrist_positions/quaternions: the
    hand frame (origin at the wrist landmark, +y to the fingers, +x to the thumb for a right
    hand, +z palm normal) in the base frame (`_base`) and the optical frame (`_camera`).
    joint_angles (T, 20) radians in `joint_names` order. grasp_aperture (T,) thumb tip to index
    tip, metres. contact (T,): the hand is touching the task's object. object_positions
    (T, K, 3) and object_quaternions (T, K, 4) in the base frame for `object_names`;
    button_travel (T,) metres (0 up, negative pressed). fixture_state (T,): the drawer's
    opening (m, open_drawer) or the wiped fraction of the dirt patch (wipe); zeros otherwise.
    """

    times: np.ndarray
    keypoints_px: np.ndarray
    keypoints_camera: np.ndarray
    keypoints_base: np.ndarray
    in_image: np.ndarray
    wrist_positions_base: np.ndarray
    wrist_quaternions_base: np.ndarray
    wrist_positions_camera: np.ndarray
    wrist_quaternions_camera: np.ndarray
    joint_names: tuple[str, ...]
    joint_angles: np.ndarray
    grasp_aperture: np.ndarray
    contact: np.ndarray
    object_names: tuple[str, ...]
    object_positions: np.ndarray
    object_quaternions: np.ndarray
    button_travel: np.ndarray
    handedness: Handedness
    intrinsics: CameraIntrinsics
    camera_to_base: Pose
    fixture_state: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(as_array(self.times, (None,), 'times'))
        if self.fixture_state is None:
            object.__setattr__(self, 'fixture_state', np.zeros(n))
        k, j, o = NUM_HAND_KEYPOINTS, len(self.joint_names), len(self.object_names)
        shapes = {
            'keypoints_px': (n, k, 2), 'keypoints_camera': (n, k, 3), 'keypoints_base': (n, k, 3),
            'wrist_positions_base': (n, 3), 'wrist_quaternions_base': (n, 4),
            'wrist_positions_camera': (n, 3), 'wrist_quaternions_camera': (n, 4),
            'joint_angles': (n, j), 'grasp_aperture': (n,), 'object_positions': (n, o, 3),
            'object_quaternions': (n, o, 4), 'button_travel': (n,), 'fixture_state': (n,),
        }
        for name, shape in shapes.items():
            object.__setattr__(self, name, as_array(getattr(self, name), shape,
                                                    f'DemonstrationGroundTruth.{name}'))
        for name, shape in (('in_image', (n, k)), ('contact', (n,))):
            object.__setattr__(self, name, as_array(getattr(self, name), shape,
                                                    f'DemonstrationGroundTruth.{name}',
                                                    dtype=bool))
        object.__setattr__(self, 'handedness', Handedness(self.handedness))

    @property
    def num_frames(self) -> int:
        return len(self.times)

    def arrays(self) -> dict[str, np.ndarray]:
        """Return every per-frame field as a named array (for saving as .npz)."""
        names = ('times', 'keypoints_px', 'keypoints_camera', 'keypoints_base', 'in_image',
                 'wrist_positions_base', 'wrist_quaternions_base', 'wrist_positions_camera',
                 'wrist_quaternions_camera', 'joint_angles', 'grasp_aperture', 'contact',
                 'object_positions', 'object_quaternions', 'button_travel', 'fixture_state')
        out = {name: np.asarray(getattr(self, name)) for name in names}
        out['camera_matrix'] = self.intrinsics.matrix
        out['camera_to_base'] = self.camera_to_base.as_matrix()
        return out


@dataclass(frozen=True)
class SyntheticDemonstration:
    """A rendered demonstration: the plan, the initial observation, ground truth and the task.

    task_spec, initial_state and final_state are the inputs of the task's success predicate
    (table frame, as every SceneState); outcome is that predicate on the demonstration's own
    final state. world_config is the layout with the seed's variations applied.
    """

    task: str
    plan: VideoPlan
    observation: Observation
    ground_truth: DemonstrationGroundTruth
    task_spec: TaskSpec
    initial_state: SceneState
    final_state: SceneState
    outcome: TaskOutcome
    world_config: WorldConfig


def _world_config(config: DemonstrationConfig, var: Variation) -> WorldConfig:
    base = config.world if config.camera is None else replace(config.world,
                                                                camera=config.camera)
    base = fixtures_for_task(config.task, base.for_task(config.task))
    cube = np.asarray(base.cube_xy) + var.uniform(0.02, 2)
    yaw = float(var.uniform(0.2))
    button = np.asarray(base.button_xy) + var.uniform(0.02, 2)
    # The target region keeps its offset from the cube of the base layout.
    target = cube + (np.asarray(base.target_region_xy) - np.asarray(base.cube_xy))
    varied = replace(base, cube_xy=(float(cube[0]), float(cube[1])), cube_yaw=yaw,
                     button_xy=(float(button[0]), float(button[1])),
                     target_region_xy=(float(target[0]), float(target[1])))
    return jitter_fixtures(varied, lambda: var.uniform(0.02, 2))


SCRIPTS = {**TABLETOP_SCRIPTS, **ARTICULATED_SCRIPTS}
"""Task name -> (script maker, keyframe times as fractions of the clip), every task's."""


def render_demonstration(config: DemonstrationConfig | None = None) -> SyntheticDemonstration:
    """Script, render and record one synthetic demonstration (deterministic per seed)."""
    config = config or DemonstrationConfig()
    var = Variation(config.seed, config.jitter)
    world_config = _world_config(config, var)
    world = build_world(world_config, hand=config.hand)
    model, data = world.model, world.data
    rig = HandRig(model, data)
    make_script, fractions = SCRIPTS[config.task]
    times = np.arange(config.num_frames) / config.fps
    script = make_script(world, timeline(fractions, float(times[-1]), var), var)
    intrinsics, camera_to_base = world.intrinsics(), world.camera_to_robot_base()
    base_to_camera = camera_to_base.inverse()
    world_to_base = world.world_to_robot_base()
    base_rotation = Rotation.from_quat(world_to_base.quaternion)
    object_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, n) for n in SCENE_OBJECTS]
    button_adr = world.joint_qpos_address(BUTTON_JOINT)

    frames, kp_base, wrists, angles, contact = [], [], [], [], []
    obj_pos, obj_quat, travel, fixture = [], [], [], []
    with SceneRenderer(world) as renderer:
        mujoco.mj_forward(model, data)
        initial_state = read_scene_state(world)
        observation = renderer.observation(show_hand=False)
        for t in times:
            hand = sample_keyframes(script.keys, float(t))
            rig.set_state(hand)
            mujoco.mj_kinematics(model, data)
            script.respond(float(t), hand, rig.keypoints())
            mujoco.mj_forward(model, data)
            frames.append(renderer.rgb())
            kp_base.append(world_to_base.transform_points(rig.keypoints()))
            wrists.append(world_to_base @ rig.wrist())
            angles.append(hand.joint_angles)
            lo, hi = script.contact_window
            contact.append(lo <= t <= hi)
            obj_pos.append(world_to_base.transform_points(data.xpos[object_ids]))
            obj_quat.append((base_rotation * Rotation.from_quat(
                np.roll(data.xquat[object_ids], -1, axis=1))).as_quat())
            travel.append(float(data.qpos[button_adr]))
            fixture.append(fixture_state(world))
        final_state = read_scene_state(world)

    kp_base_arr = np.stack(kp_base)
    kp_cam = base_to_camera.transform_points(kp_base_arr)
    kp_px = intrinsics.project(kp_cam.reshape(-1, 3)).reshape(len(times), NUM_HAND_KEYPOINTS, 2)
    in_image = ((kp_cam[..., 2] > 0.0) & (kp_px[..., 0] >= 0.0)
                & (kp_px[..., 0] <= intrinsics.width - 1) & (kp_px[..., 1] >= 0.0)
                & (kp_px[..., 1] <= intrinsics.height - 1))
    wrist_pos = np.stack([w.position for w in wrists])
    wrist_quat = continuous_quaternions(np.stack([w.quaternion for w in wrists]))
    cam_wrists = [base_to_camera @ w for w in wrists]
    thumb, index = kp_index('thumb_tip'), kp_index('index_tip')
    aperture = np.linalg.norm(kp_base_arr[:, thumb] - kp_base_arr[:, index], axis=1)
    truth = DemonstrationGroundTruth(
        times=times, keypoints_px=kp_px, keypoints_camera=kp_cam, keypoints_base=kp_base_arr,
        in_image=in_image, wrist_positions_base=wrist_pos, wrist_quaternions_base=wrist_quat,
        wrist_positions_camera=np.stack([w.position for w in cam_wrists]),
        wrist_quaternions_camera=continuous_quaternions(
            np.stack([w.quaternion for w in cam_wrists])),
        joint_names=JOINT_NAMES, joint_angles=np.stack(angles),
        grasp_aperture=aperture, contact=np.array(contact), object_names=SCENE_OBJECTS,
        object_positions=np.stack(obj_pos), object_quaternions=np.stack(obj_quat),
        button_travel=np.array(travel), handedness=config.hand.side, intrinsics=intrinsics,
        camera_to_base=camera_to_base, fixture_state=np.array(fixture))
    plan = VideoPlan(
        frames=np.stack(frames), fps=config.fps, prompts=(TASK_PROMPTS[config.task],),
        source=PlanSource.SYNTHETIC_DEMONSTRATION, seed=config.seed, model='lvp_sim',
        metadata={'task': config.task, 'handedness': config.hand.side.value,
                  'generator': 'lvp_sim.demonstrations'})
    outcome = evaluate_task(script.spec, initial_state, final_state)
    return SyntheticDemonstration(config.task, plan, observation, truth, script.spec,
                                  initial_state, final_state, outcome, world_config)


def save_demonstration(demo: SyntheticDemonstration, folder: str | Path) -> Path:
    """Write the plan video (mp4), ground truth (npz), observation (npz) and a summary (json)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    write_video(out / 'plan.mp4', demo.plan.frames, demo.plan.fps)
    arrays: dict[str, Any] = dict(demo.ground_truth.arrays())
    np.savez_compressed(out / 'ground_truth.npz', **arrays)
    obs = demo.observation
    np.savez_compressed(out / 'observation.npz', rgb=obs.rgb,
                        depth=obs.depth if obs.depth is not None else np.zeros(0),
                        camera_to_base=demo.ground_truth.camera_to_base.as_matrix(),
                        camera_matrix=demo.ground_truth.intrinsics.matrix)
    summary = {'task': demo.task, 'prompts': list(demo.plan.prompts), 'fps': demo.plan.fps,
               'num_frames': demo.plan.num_frames, 'seed': demo.plan.seed,
               'source': demo.plan.source.value, 'handedness': demo.ground_truth.handedness.value,
               'success': demo.outcome.success, 'outcome': demo.outcome.message,
               'joint_names': list(demo.ground_truth.joint_names),
               'object_names': list(demo.ground_truth.object_names)}
    (out / 'demonstration.json').write_text(json.dumps(summary, indent=2))
    return out
