"""Wipe a surface: keep the fingers on it along the demonstrated strokes (G1 + Inspire).

A wiping hand lies flat on a surface and sweeps back and forth over it. What the robot must
keep is the contact: its fingers on the surface, pressed lightly, along the strokes; the
reconstructed hand's height (its monocular depth errs by centimetres) must not decide it.

1. Whether the demonstration wipes (`wipe_stretch`): from the first to the last frame the
   hand's fingertips are within `LOW` of their low level; their horizontal path then is at least
   `MIN_STROKE_PATH` long and goes back and forth (path at least `BACK_AND_FORTH` times its
   span). A push slides one way; a lift or a place leaves the surface.
2. The surface: where the camera ray through the fingertips (mid-stretch) first meets the
   scene cloud (`open_articulated.ray_anchor`): its height.
3. The passes (`raster`): the fingertips' centroid (index to little) moved along its camera
   rays onto the surface gives the strokes; the human's flat fingers wiped a band across the
   fingers over the strokes' extent, as deep along the fingers as they lie on the surface
   (tips to PIP joints) behind the tips' outermost. The Inspire touches with its fingertips
   only, so the robot covers that band in passes `PASS_PITCH` apart at `WIPE_SPEED`, from the
   human's first contact on (the strokes' region and direction are the human's, the number of
   passes the robot's own).
4. The EE path (`guide_wipe`): the hand level and palm down, its fingers along the human's
   (horizontal) at mid-stretch, pitched fingers-down by `FINGER_PITCH` (`level_mount`), the
   Inspire's fingers held open (straight), and its four fingertips' centroid follows the
   passes `PRESS` below the surface (the position controller then presses them on it);
   before, the embodiment's approach shifted onto the first pass point, ending above it,
   where the hand turns into that orientation and comes straight down; after the last pass,
   straight up by `LIFT_HEIGHT`.

Stored in `EeMapping.wipe`: (mount height m, hold quaternion x, y, z, w, then t, x, y per
pass sample), so a replay re-makes the path.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from lvp_common.artifacts import WristTrajectory
from lvp_common.geometry import continuous_quaternions
from scipy.spatial.transform import Rotation

from lvp_bringup.embodiments.ee_mapping import EeMapping, descend_onto

WIPE_FAMILY = 'wipe'
"""`EeMapping.family` of a wipe."""
WIPE_VERBS = ('wipe', 'clean', 'scrub', 'polish', 'mop', 'dust')
LOW = 0.03
LOW_PERCENTILE = 20.0
MOSTLY_LOW = 0.6
"""The fingertips are on the surface from the first to the last frame within LOW (m) of their
LOW_PERCENTILE height, and within it at least MOSTLY_LOW of the frames."""
MIN_STROKE_PATH = 0.2
"""Least horizontal path (m) of the fingertips on the surface for a wipe."""
BACK_AND_FORTH = 1.8
"""A wipe's path on the surface is at least this many times its span (a push: ~1)."""
PRESS = 0.006
"""The Inspire's fingertip centroid is commanded this far (m) below the surface."""
FINGER_PITCH = 0.35
"""The G1 hand mount is pitched fingers-down by this (rad) from the human's flat hand: the
Inspire's fingertips meet the surface with the wrist higher (a flat hand at the table is
beyond the G1 arm's reach)."""
LIFT_HEIGHT = 0.08
LIFT_TIME = 0.8
TURN_TIME = 0.8
ABOVE_SURFACE = 0.06
REACH_ABOVE_TIME = 0.4
"""The approach leaves the embodiment's path REACH_ABOVE_TIME + TURN_TIME (s) before the first
pass, is ABOVE_SURFACE (m) over its first point TURN_TIME before it, turns into the held
orientation there (over 0.6 TURN_TIME) and comes straight down."""
PASS_PITCH = 0.015
"""Distance (m) between the robot's passes: the Inspire's fingertips, not a flat hand, touch,
a band about 2 cm wide (its little finger is shorter than the others)."""
WIPE_SPEED = 0.2
"""The robot's fingertips move over the surface at this speed (m/s)."""
FINGER_TIPS = (8, 12, 16, 20)
"""MediaPipe landmarks of the index, middle, ring and little fingertips."""


def sentence_wipes(prompts: tuple[str, ...]) -> bool:
    """Whether the task sentence names a wipe (wipe, clean, scrub ...)."""
    words = ' '.join(prompts).lower().replace(',', ' ').split()
    return any(w.startswith(WIPE_VERBS) for w in words)


def fingertip_points(wrist: WristTrajectory) -> np.ndarray:
    """The index-to-little fingertips' centroid (T, 3) in the path's frame."""
    if wrist.finger_keypoints is None:
        raise ValueError('the wrist path has no finger keypoints: no fingertips to wipe with')
    rot = Rotation.from_quat(wrist.quaternions)
    return wrist.positions + rot.apply(wrist.finger_keypoints[:, FINGER_TIPS].mean(axis=1))


def _path_and_span(xy: np.ndarray) -> tuple[float, float]:
    path = float(np.sum(np.linalg.norm(np.diff(xy, axis=0), axis=1)))
    span = float(np.max(np.linalg.norm(xy[:, None] - xy[None], axis=2))) if len(xy) > 1 else 0.0
    return path, span


def wipe_stretch(wrist: WristTrajectory, prompts: tuple[str, ...] = ()) -> tuple[int, int] | None:
    """The frames (first, last) during which the hand wipes, or None (see step 1). With a path
    of half MIN_STROKE_PATH the sentence decides."""
    if wrist.finger_keypoints is None or wrist.num_frames < 4:
        return None
    tips = fingertip_points(wrist)
    # The reconstructed height wanders by centimetres along a stroke: on the surface is from
    # the first to the last frame near the hand's low level (not one contiguous stretch).
    on = np.flatnonzero(tips[:, 2] <= np.percentile(tips[:, 2], LOW_PERCENTILE) + LOW)
    a, b = int(on[0]), int(on[-1])
    if b - a < 3 or len(on) < MOSTLY_LOW * (b - a + 1):
        return None  # it left the surface in between (a pick and place, a lift)
    path, span = _path_and_span(tips[a:b + 1, :2])
    if span < 1e-3 or path < BACK_AND_FORTH * span:
        return None
    if path >= MIN_STROKE_PATH or (path >= 0.5 * MIN_STROKE_PATH and sentence_wipes(prompts)):
        return a, b
    return None


def plan_wipe(wrist: WristTrajectory, cloud, camera: np.ndarray,
              prompts: tuple[str, ...]) -> tuple[int, int, float, np.ndarray] | None:
    """(first, last frame, surface height m, stroke points (N, 3) on the surface) or None."""
    from lvp_bringup.embodiments.open_articulated import ray_anchor
    from lvp_bringup.embodiments.task_motion import on_plane

    stretch = wipe_stretch(wrist, prompts)
    if stretch is None or cloud is None:
        return None
    a, b = stretch
    tips = fingertip_points(wrist)
    surface = None
    for k in np.linspace(a, b, 5).astype(int):
        hit = ray_anchor(cloud, camera, tips[k])
        if hit is not None:
            surface = hit[2] if surface is None else min(surface, hit[2])
    if surface is None:
        return None
    strokes = on_plane(tips[a:b + 1], camera, float(surface))
    return a, b, float(surface), strokes


def raster(strokes: np.ndarray, fingers: np.ndarray, footprint: float, start: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """The robot's passes over the band the human's fingers swept: (times (N,), points (N, 3)).

    `strokes` (N, 3): the human fingertip centroid on the surface; `fingers`: the horizontal
    unit direction of the human's fingers; `footprint` (m): how far back from the tips the
    human's fingers lie on the surface. The band runs across the fingers over the strokes'
    extent and along them from the tips' outermost back by `footprint`; the passes go across
    it `PASS_PITCH` apart, alternately one way and the other, at `WIPE_SPEED` from `start`
    (s)."""
    across = np.array([-fingers[1], fingers[0], 0.0])
    a = strokes @ across
    f = strokes @ fingers
    # Percentiles, not extremes: a stray reconstructed frame must not widen the band.
    lo = float(np.percentile(f, 10)) - footprint
    hi = float(np.percentile(f, 90)) + 0.5 * PASS_PITCH
    count = max(int(np.ceil((hi - lo - PASS_PITCH) / PASS_PITCH)) + 1, 1)
    offsets = np.linspace(hi - 0.5 * PASS_PITCH, lo + 0.5 * PASS_PITCH, count)
    height = float(np.mean(strokes[:, 2]))
    a0, a1 = float(np.percentile(a, 5)), float(np.percentile(a, 95))
    steps = max(int(np.ceil((a1 - a0) / 0.01)), 1)
    points = []
    for i, offset in enumerate(offsets):
        line = np.linspace(a0, a1, steps + 1)
        if i % 2:
            line = line[::-1]
        points.extend(offset * fingers + v * across + [0.0, 0.0, height] for v in line)
    points = np.asarray(points)
    gaps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    times = start + np.concatenate([[0.0], np.cumsum(gaps)]) / WIPE_SPEED
    return times, points


def open_hand_commands(commands, side: str):
    """The commands with every actuator at its open position throughout, the thumb's rotation
    too (retargeted, it swings the thumb under the palm, into the surface)."""
    from lvp_retarget.dexterous import grasp_commands

    return grasp_commands(commands, float(commands.times[-1]) + 1.0, side, keep=())


def level_mount(fingers: np.ndarray, pitch: float) -> Rotation:
    """The G1 hand-mount orientation of a level, palm-down hand whose fingers point along the
    horizontal unit `fingers`, pitched fingers-down by `pitch` (rad): mount x along the
    fingers, the palm (mount -y) facing down. Levelled, not the reconstructed hand's roll: a
    few degrees of roll lift one side of the fingertips off the surface."""
    c, s = np.cos(pitch), np.sin(pitch)
    x = np.array([c * fingers[0], c * fingers[1], -s])
    y = np.array([s * fingers[0], s * fingers[1], c])
    return Rotation.from_matrix(np.column_stack([x, y, np.cross(x, y)]))


def g1_wipe_stage(result, mapping: EeMapping) -> bool:
    """G1 + Inspire: when the demonstration wipes, set open-finger commands and the wipe
    mapping (`guide_wipe`) and return True; False (nothing changed) otherwise."""
    from lvp_retarget.inspire_hand import InspireKinematics

    wrist, rec, obs = result.wrist_base, result.reconstruction, result.observation
    if (wrist is None or rec is None or obs is None or obs.camera_to_base is None
            or result.hand_commands is None):
        return False
    prompts = result.plan.prompts if result.plan is not None else ()
    planned = plan_wipe(wrist, rec.point_cloud_base,
                        np.asarray(obs.camera_to_base.position, dtype=np.float64), prompts)
    if planned is None:
        return False
    a, b, surface, strokes = planned
    fingers = Rotation.from_quat(wrist.quaternions[(a + b) // 2]).apply([0.0, 1.0, 0.0])
    fingers = np.array([fingers[0], fingers[1], 0.0]) / max(np.hypot(*fingers[:2]), 1e-9)
    kp = wrist.finger_keypoints
    assert kp is not None
    # The human's fingers lie on the surface from the tips back to about the PIP joints.
    footprint = float(np.median(np.linalg.norm(
        kp[a:b + 1, [8, 12, 16, 20]].mean(axis=1) - kp[a:b + 1, [6, 10, 14, 18]].mean(axis=1),
        axis=1)))
    times, targets = raster(strokes, fingers, footprint, float(wrist.times[a]))
    side = 'left' if result.robot.name.startswith('g1_left') else 'right'
    commands = open_hand_commands(result.hand_commands, side)
    from lvp_exec.robots import INSPIRE_BASE_IN_MOUNT

    tips = InspireKinematics(side).tip_positions(commands.joint_names,
                                                 commands.joint_positions[0])
    tip_in_mount = INSPIRE_BASE_IN_MOUNT @ tips[1:5].mean(axis=0)
    hold = level_mount(fingers, FINGER_PITCH)
    mounts = targets - hold.apply(tip_in_mount) - np.array([0.0, 0.0, PRESS])
    samples = np.column_stack([times, mounts[:, :2]]).ravel()
    offset = mounts[0] - wrist.positions[a]
    result.hand_commands = commands
    result.mapping = replace(
        mapping, family=WIPE_FAMILY, contact_time=float(wrist.times[a]),
        path_offset=tuple(float(v) for v in offset),
        wipe=(float(mounts[0, 2]), *(float(v) for v in hold.as_quat()),
              *(float(v) for v in samples)),
        description=mapping.description + (
            f'; wipe: the band the human\'s fingers swept from t = {wrist.times[a]:.2f} s to '
            f'{wrist.times[b]:.2f} s on the surface at {surface:.3f} m (seen on the camera '
            f'ray through the fingertips) covered in passes {100 * PASS_PITCH:.1f} cm apart '
            f'at {100 * WIPE_SPEED:.0f} cm/s ({times[-1] - times[0]:.1f} s), the Inspire\'s '
            f'open fingertips {1000 * PRESS:.0f} mm below it, hand level, then up '
            f'{100 * LIFT_HEIGHT:.0f} cm'))
    result.messages.append(f'wipe: the hand wipes from {wrist.times[a]:.2f} s to '
                           f'{wrist.times[b]:.2f} s over a surface at {surface:.3f} m; the '
                           f'Inspire keeps its fingers open and on it along the strokes')
    return True


def guide_wipe(path: WristTrajectory, mapping: EeMapping) -> WristTrajectory:
    """Make an EE path (the embodiment's, shifted onto the first stroke point) follow
    `mapping.wipe`: the approach up to the first stroke point brought down onto it from above,
    the strokes at the stored height and orientation, then straight up (step 4)."""
    if not mapping.wipe:
        return path
    height = mapping.wipe[0]
    hold = np.asarray(mapping.wipe[1:5])
    samples = np.asarray(mapping.wipe[5:]).reshape(-1, 3)
    stroke_t, stroke_xy = samples[:, 0], samples[:, 1:]
    stroke = np.column_stack([stroke_xy, np.full(len(samples), height)])
    before = path.times < stroke_t[0]
    approach = np.vstack([path.positions[before], stroke[:1]])
    approach = descend_onto(approach, 0.06)[:-1]
    lift_t = stroke_t[-1] + np.array([0.5 * LIFT_TIME, LIFT_TIME])
    lift = stroke[-1] + np.outer([0.5, 1.0], [0.0, 0.0, LIFT_HEIGHT])
    times = np.concatenate([path.times[before], stroke_t, lift_t])
    positions = np.vstack([approach, stroke, lift])
    approach_q = path.quaternions[before]
    if len(approach_q):
        # Turn into the held orientation over the approach's last TURN_TIME (no jump at the
        # first pass point), as the G1 turns into a grasp.
        # From the approach's orientation where the turn begins (one rotation: the
        # reconstructed hand's own turns there are not followed).
        u = np.clip((path.times[before] - (stroke_t[0] - TURN_TIME)) / TURN_TIME, 0.0, 1.0)
        k = int(np.argmax(u > 0.0)) if np.any(u > 0.0) else len(u) - 1
        start = Rotation.from_quat(approach_q[max(k - 1, 0)])
        turn = (start.inv() * Rotation.from_quat(hold)).as_rotvec()
        turning = (start * Rotation.from_rotvec(u[:, None] * turn)).as_quat()
        approach_q = np.where((u > 0.0)[:, None], turning, approach_q)
        approach_q = continuous_quaternions(approach_q)
        if float(hold @ approach_q[-1]) < 0.0:
            hold = -hold  # the same rotation, on the side of the approach's quaternions
    quats = np.vstack([approach_q, np.repeat(hold[None], len(stroke_t) + 2, axis=0)])
    return WristTrajectory(times, positions, quats, path.frame_id, smoothed=path.smoothed)
