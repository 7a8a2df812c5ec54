"""lvp_common.hand_kinematics is the hand lvp_sim renders: landmarks, Jacobian, surface."""
# MuJoCo's bindings are compiled modules without stubs.
# pyright: reportAttributeAccessIssue=false

import mujoco
import numpy as np
import pytest
from lvp_common.artifacts import Handedness
from lvp_common.geometry import Pose
from lvp_common.hand_kinematics import (
    KEYPOINT_JOINTS,
    HandSurface,
    hand_keypoints,
    hand_keypoints_with_joints,
)
from lvp_sim.hand_model import HandConfig, HandRig, HandState, hand_mjcf


def _posed_hand(side: str, scale: float, q: np.ndarray):
    assets, body = hand_mjcf(HandConfig(side=Handedness(side), scale=scale))
    model = mujoco.MjModel.from_xml_string(
        f'<mujoco><asset>{assets}</asset><worldbody>{body}</worldbody></mujoco>')
    data = mujoco.MjData(model)
    rig = HandRig(model, data)
    rig.set_state(HandState(Pose(np.zeros(3), np.array([0.0, 0.0, 0.0, 1.0])), q))
    mujoco.mj_kinematics(model, data)
    return model, data, rig


@pytest.mark.parametrize('side', ['right', 'left'])
def test_landmarks_and_jacobian_match_the_rendered_hand(side):
    rng = np.random.default_rng(3)
    q = rng.uniform(-0.3, 1.0, 20)
    _, _, rig = _posed_hand(side, 1.1, q)
    kp, axes, origins = hand_keypoints_with_joints(q[None], 1.1, side)
    # MJCF numbers are written with 5 decimals: agreement to a few micrometres
    assert np.abs(kp[0] - rig.keypoints()).max() < 2e-5
    offsets = rng.normal(0.0, 0.005, (21, 3))
    kp, axes, origins = hand_keypoints_with_joints(q[None], 1.1, side, offsets)
    for j in range(20):
        dq = q.copy()
        dq[j] += 1e-6
        numeric = (hand_keypoints(dq[None], 1.1, side, offsets=offsets)[0] - kp[0]) / 1e-6
        analytic = np.cross(axes[0, j], kp[0] - origins[0, j]) * KEYPOINT_JOINTS[:, j, None]
        assert np.abs(numeric - analytic).max() < 1e-5


@pytest.mark.parametrize('side', ['right', 'left'])
def test_surface_capsules_lie_on_the_rendered_capsules(side):
    q = np.random.default_rng(4).uniform(0.0, 1.0, 20)
    model, data, _ = _posed_hand(side, 1.0, q)
    surface = HandSurface()
    verts = surface.vertices(q[None], 1.0, side)[0]
    capsules = [g for g in range(model.ngeom)
                if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CAPSULE]
    assert len(capsules) == 15
    # every capsule vertex is at the capsule's radius from the segment of some rendered capsule
    dist = np.full(len(verts), np.inf)
    for g in capsules:
        half, radius = model.geom_size[g][1], model.geom_size[g][0]
        axis = data.geom_xmat[g].reshape(3, 3)[:, 2]
        a, b = data.geom_xpos[g] - half * axis, data.geom_xpos[g] + half * axis
        s = np.clip((verts - a) @ (b - a) / np.dot(b - a, b - a), 0.0, 1.0)
        d = np.abs(np.linalg.norm(verts - (a + s[:, None] * (b - a)), axis=1) - radius)
        dist = np.minimum(dist, d)
    on_capsules = surface.owner[:, 0] >= 0
    assert np.median(dist[on_capsules]) < 1e-4 and dist[on_capsules].max() < 1e-3
    faces = surface.faces_for(side)
    assert faces.min() == 0 and faces.max() == len(verts) - 1
