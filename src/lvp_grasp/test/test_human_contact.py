"""The human's contact point, time and approach direction from a demonstration."""

import numpy as np
import pytest
from lvp_common.artifacts import GripperAction, GripperEvent, WristTrajectory
from lvp_grasp.detector import GraspError
from lvp_grasp.human_contact import HumanContactConfig, contact_time, find_human_contact
from lvp_grasp.planning import grasp_plan_from_demonstration
from lvp_grasp.synthetic_scenes import bar_above_table, scene_cloud, table

IDENTITY = np.array([0.0, 0.0, 0.0, 1.0])
EVENTS = (GripperEvent(1.25, GripperAction.CLOSE, 0.0),
          GripperEvent(1.9, GripperAction.OPEN, 0.08))


def _reach_down(n: int = 33, fps: float = 16.0, close_frame: int = 20) -> WristTrajectory:
    """A wrist that descends onto a bar at z = 0.12 m, pinching at `close_frame`, then lifts."""
    times = np.arange(n) / fps
    z = np.interp(times, [0.0, close_frame / fps, (close_frame + 6) / fps, times[-1]],
                  [0.35, 0.2, 0.2, 0.3])
    positions = np.stack([np.zeros(n), np.zeros(n), z], axis=1)
    # Fingertips 8 cm below the wrist (wrist frame = base frame axes), closing at close_frame.
    kp = np.zeros((n, 21, 3))
    kp[:, 9] = [0.0, 0.0, -0.09]
    gap = np.interp(np.arange(n), [0, close_frame, n - 1], [0.08, 0.01, 0.01])
    kp[:, 4] = np.stack([np.zeros(n), -gap / 2, np.full(n, -0.08)], axis=1)
    kp[:, 8] = np.stack([np.zeros(n), gap / 2, np.full(n, -0.08)], axis=1)
    return WristTrajectory(times=times, positions=positions,
                           quaternions=np.tile(IDENTITY, (n, 1)), frame_id='base_link',
                           finger_keypoints=kp)


def test_contact_from_the_close_event() -> None:
    trajectory = _reach_down()
    events = EVENTS
    contact = find_human_contact(trajectory, events)
    assert contact.time == 1.25
    np.testing.assert_allclose(contact.point, [0.0, 0.0, 0.12], atol=1e-9)
    assert contact.approach is not None
    np.testing.assert_allclose(contact.approach, [0.0, 0.0, -1.0], atol=1e-9)
    assert contact.frame_id == 'base_link'


def test_contact_time_without_events_is_when_the_pinch_has_mostly_closed() -> None:
    trajectory = _reach_down()
    # the gap closes 0.08 -> 0.01 m linearly over frames 0..20: 75 % of the way at frame 15
    assert contact_time(trajectory) == pytest.approx(15 / 16.0)
    assert contact_time(trajectory, closing_fraction=1.0) == pytest.approx(20 / 16.0)


def test_contact_time_ignores_a_late_minimum_in_the_hold() -> None:
    """Holding an object the fingers settle a little further during the lift: the contact is
    when the hand closed, not at that later, slightly smaller gap."""
    base = _reach_down()
    kp = base.finger_keypoints.copy()  # type: ignore[union-attr]
    settle = np.linspace(0.0, 0.002, base.num_frames - 20)
    kp[20:, 4, 1] += settle / 2
    kp[20:, 8, 1] -= settle / 2
    trajectory = WristTrajectory(base.times, base.positions, base.quaternions, 'base_link',
                                 finger_keypoints=kp)
    assert np.argmin(np.linalg.norm(kp[:, 4] - kp[:, 8], axis=1)) == base.num_frames - 1
    assert contact_time(trajectory) == pytest.approx(15 / 16.0, abs=0.04)


def test_still_wrist_approaches_along_the_fingers() -> None:
    base = _reach_down()
    trajectory = WristTrajectory(times=base.times, positions=np.zeros((base.num_frames, 3)),
                                 quaternions=base.quaternions, frame_id='base_link',
                                 finger_keypoints=base.finger_keypoints)
    contact = find_human_contact(trajectory, config=HumanContactConfig(min_approach_travel=0.01))
    assert contact.approach is not None
    np.testing.assert_allclose(contact.approach, [0.0, 0.0, -1.0], atol=1e-9)


def test_no_close_and_no_fingers_is_an_error() -> None:
    base = _reach_down()
    trajectory = WristTrajectory(times=base.times, positions=base.positions,
                                 quaternions=base.quaternions, frame_id='base_link')
    with pytest.raises(GraspError, match='close event'):
        find_human_contact(trajectory)


def test_grasp_plan_from_demonstration() -> None:
    cloud, _ = scene_cloud(table(), bar_above_table(), noise=0.0005)
    events = EVENTS
    plan = grasp_plan_from_demonstration(cloud, _reach_down(), events, max_candidates=3)
    assert (plan.close_time, plan.open_time) == (1.25, 1.9)
    best = plan.candidates[0]
    assert np.linalg.norm(best.pose.position - [0.0, 0.0, 0.12]) < 0.02
    assert best.pose.rotation[:, 2] @ [0.0, 0.0, -1.0] > 0.9
    other_frame = scene_cloud(table(), frame_id='camera_color_optical_frame')[0]
    with pytest.raises(GraspError, match='camera_color_optical_frame'):
        grasp_plan_from_demonstration(other_frame, _reach_down(), events)
