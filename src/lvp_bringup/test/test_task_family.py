"""The task family is read from the hand's motion (with the sentence removed), the sentence only
breaking ties; on a rendered demonstration per family the whole pipeline reads it from the plan."""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import dataclasses  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from lvp_bringup.embodiments.task_family import (  # noqa: E402
    TaskFamily,
    TaskFamilyError,
    classify_task_family,
    family_from_sentence,
)
from lvp_bringup.embodiments.task_motion import PushMotion, on_plane, push_path  # noqa: E402
from lvp_common.artifacts import WristTrajectory  # noqa: E402

TIMES = np.arange(49) / 16.0


def _hand(pointing: bool) -> np.ndarray:
    """21 wrist-frame keypoints (m): fingers along +y, thumb on +x; the index extended past
    curled fingers when pointing, all fingers alike otherwise."""
    kp = np.zeros((21, 3))
    for finger, x in zip(range(5), (0.04, 0.02, 0.0, -0.02, -0.04)):
        for joint in range(4):
            kp[1 + 4 * finger + joint] = (x, 0.03 + 0.02 * joint, 0.0)
    kp[9] = (0.0, 0.09, 0.0)  # middle MCP
    if pointing:
        kp[8] = (0.02, 0.18, 0.0)  # index tip far out
        kp[12] = kp[16] = kp[20] = (0.0, 0.08, 0.03)  # curled
    else:
        kp[8], kp[12] = (0.02, 0.17, 0.0), (0.0, 0.18, 0.0)
    return kp


def _path(grasp_points: np.ndarray, pointing: bool = False) -> WristTrajectory:
    """A palm-down wrist path whose thumb/index/middle tip centroid follows `grasp_points`."""
    kp = np.repeat(_hand(pointing)[None], len(grasp_points), axis=0)
    quats = np.tile([1.0, 0.0, 0.0, 0.0], (len(grasp_points), 1))  # palm down: z -> -z
    from scipy.spatial.transform import Rotation

    tip = Rotation.from_quat(quats[0]).apply(kp[0, [4, 8, 12]].mean(axis=0))
    return WristTrajectory(TIMES[:len(grasp_points)], grasp_points - tip, quats, 'base',
                           True, kp)


def _segments(*keys: tuple[float, tuple[float, float, float]]) -> np.ndarray:
    """Grasp points through (time, point) keys, linear between them."""
    times = [k[0] for k in keys]
    pts = np.array([k[1] for k in keys])
    return np.stack([np.interp(TIMES, times, pts[:, i]) for i in range(3)], axis=1)


CONTACT = 1.0
DEMOS = {
    TaskFamily.LIFT: _segments((0, (0.4, 0.1, 0.15)), (1.0, (0.45, 0.0, 0.03)),
                               (1.4, (0.45, 0.0, 0.03)), (2.2, (0.46, 0.01, 0.15)),
                               (3.0, (0.46, 0.01, 0.15))),
    TaskFamily.PLACE: _segments((0, (0.4, 0.1, 0.15)), (1.0, (0.45, 0.0, 0.03)),
                                (1.3, (0.45, 0.0, 0.03)), (1.7, (0.45, -0.05, 0.12)),
                                (2.2, (0.45, -0.17, 0.03)), (2.5, (0.45, -0.17, 0.03)),
                                (3.0, (0.45, -0.15, 0.15))),
    TaskFamily.PUSH: _segments((0, (0.45, 0.15, 0.15)), (1.0, (0.45, 0.05, 0.03)),
                               (2.2, (0.45, -0.13, 0.03)), (3.0, (0.45, -0.1, 0.12))),
    TaskFamily.PRESS: _segments((0, (0.4, 0.1, 0.15)), (1.0, (0.45, 0.0, 0.03)),
                                (1.4, (0.45, 0.0, 0.02)), (2.2, (0.45, 0.02, 0.12)),
                                (3.0, (0.45, 0.02, 0.12))),
}


@pytest.mark.parametrize('family', list(TaskFamily))
def test_family_is_read_from_the_hand_without_a_sentence(family):
    wrist = _path(DEMOS[family], pointing=family is TaskFamily.PRESS)
    decision = classify_task_family(wrist, CONTACT)
    assert decision.family is family and not decision.from_sentence, decision.reason
    # A sentence naming another family does not overrule clear evidence.
    other = 'press the red button' if family is not TaskFamily.PRESS else 'pick up the cube'
    assert classify_task_family(wrist, CONTACT, (other,)).family is family


def test_the_sentence_breaks_a_tie_only():
    # A stroke just short of the push threshold: the hand alone says lift, the sentence push.
    short = _segments((0, (0.45, 0.15, 0.15)), (1.0, (0.45, 0.05, 0.03)),
                      (2.2, (0.45, -0.035, 0.03)), (3.0, (0.45, -0.015, 0.12)))
    wrist = _path(short)
    alone = classify_task_family(wrist, CONTACT)
    assert alone.family is TaskFamily.LIFT and 0.10 < alone.features['stroke'] < 0.13
    said = classify_task_family(wrist, CONTACT, ('push the cube onto the square',))
    assert said.family is TaskFamily.PUSH and said.from_sentence and 'ambiguous' in said.reason


def test_sentence_cues():
    assert family_from_sentence(('push the red button',)) is TaskFamily.PRESS
    assert family_from_sentence(('push the green cube onto the yellow square',)) is \
        TaskFamily.PUSH
    assert family_from_sentence(('put the cube on the square',)) is TaskFamily.PLACE
    assert family_from_sentence(('pick up the cube',)) is TaskFamily.LIFT
    assert family_from_sentence(('wave',)) is None


def test_a_path_without_fingers_is_refused():
    wrist = _path(DEMOS[TaskFamily.LIFT])
    with pytest.raises(TaskFamilyError, match='finger keypoints'):
        classify_task_family(dataclasses.replace(wrist, finger_keypoints=None), CONTACT)


def test_rays_meet_the_table_plane_and_a_push_is_straight():
    camera = np.array([1.0, 0.0, 0.5])
    hit = on_plane(np.array([[0.5, 0.1, 0.3]]), camera, 0.0)[0]
    assert hit[2] == pytest.approx(0.0) and np.allclose(
        np.cross(hit - camera, [0.5, 0.1, 0.3] - camera), 0.0, atol=1e-12)
    path = _path(DEMOS[TaskFamily.PUSH])
    push = PushMotion(np.array([0.0, -1.0, 0.0]), 0.15, 2.2, 1.0)
    shaped = push_path(path, 1.0, np.array([0.45, 0.06, 0.025]), push)
    k0, k1 = 16, int(np.argmin(np.abs(TIMES - 2.2)))
    assert np.allclose(shaped.positions[k0], [0.45, 0.06, 0.025])
    assert np.allclose(shaped.positions[k1], [0.45, -0.09, 0.025])
    assert np.allclose(shaped.positions[k0:k1 + 1, [0, 2]], [0.45, 0.025])  # straight, level
    assert np.all(np.diff(shaped.positions[k0:k1 + 1, 1]) <= 1e-12)  # one way
    assert np.all(shaped.positions[:k0, 2] >= 0.025 - 1e-9)  # comes down onto the start


TASK_FAMILY = {'reach_grasp_lift': TaskFamily.LIFT, 'push': TaskFamily.PUSH,
               'press': TaskFamily.PRESS, 'pinch_and_place': TaskFamily.PLACE}


@pytest.mark.parametrize('task', list(TASK_FAMILY))
def test_the_pipeline_reads_the_family_from_a_plan_without_its_sentence(task):
    from lvp_bringup.pipeline import PipelineConfig, StageError, run_pipeline
    from lvp_sim.demonstrations import DemonstrationConfig, render_demonstration
    from lvp_sim.world import world_config_for

    demo = render_demonstration(DemonstrationConfig(
        task=task, seed=6, world=world_config_for('franka_gripper')))
    plan = dataclasses.replace(demo.plan, prompts=())
    try:
        result = run_pipeline(demo.observation, plan, 'franka_gripper',
                              PipelineConfig(plan_only=True))
    except StageError as exc:  # a later stage (IK) may refuse: the family is read before it
        assert exc.result is not None
        result = exc.result
    assert result.mapping is not None
    assert result.mapping.family == TASK_FAMILY[task].value, result.messages
