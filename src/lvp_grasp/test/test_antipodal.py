"""Antipodal grasps on synthetic tabletop clouds, checked against the exact surface normals."""

import numpy as np
import pytest
from lvp_common.artifacts import GraspCandidate, PointCloud
from lvp_grasp.antipodal import AntipodalConfig, AntipodalGraspDetector, estimate_normals
from lvp_grasp.detector import GraspDetector, GraspError, GraspRequest, plan_grasps
from lvp_grasp.franka_hand import FrankaHandModel, points_in_box
from lvp_grasp.synthetic_scenes import (
    bar_above_table,
    box_on_table,
    cylinder_on_table,
    scene_cloud,
    table,
)

DETECTOR = AntipodalGraspDetector()
GRIPPER = FrankaHandModel()
MU = DETECTOR.config.friction_coefficient
DOWN = np.array([0.0, 0.0, -1.0])

SCENES = {
    'box': (box_on_table, np.array([0.025, 0.0, 0.06])),
    'cylinder': (cylinder_on_table, np.array([0.03, 0.0, 0.08])),
    'bar': (bar_above_table, np.array([0.0, 0.0, 0.12])),
}


def _check_grasp(grasp: GraspCandidate, points: np.ndarray, normals: np.ndarray) -> None:
    """Assert the grasp is collision-free, fits the gripper and is antipodal (true normals)."""
    rot, centre = grasp.pose.rotation, grasp.pose.position
    local = (points - centre) @ rot
    left, right, palm = GRIPPER.boxes(grasp.depth)
    for box in (left, right, palm):
        assert not points_in_box(local, box).any(), 'gripper collides with the cloud'
    between = points_in_box(local, GRIPPER.closing_region(grasp.depth))
    assert between.sum() >= 4
    y = local[between, 1]
    assert 0.0 < grasp.width <= GRIPPER.max_width
    assert y.max() - y.min() <= GRIPPER.max_width
    # The contacts: the points the closing pads meet first, with their exact surface normals.
    contact_normals = normals[between] @ rot
    cone = np.cos(np.arctan(MU))
    for side in (np.argmin(y), np.argmax(y)):
        assert abs(contact_normals[side, 1]) >= cone - 0.05, contact_normals[side]


@pytest.mark.parametrize('name', list(SCENES))
def test_grasps_on_objects_are_antipodal_collision_free_and_fit(name: str) -> None:
    make, contact = SCENES[name]
    cloud, normals = scene_cloud(table(), make(), noise=0.0005)
    grasps = DETECTOR.detect(cloud, GraspRequest(contact, DOWN, max_candidates=5))
    assert len(grasps) >= 3, name
    for grasp in grasps:
        _check_grasp(grasp, cloud.points, normals)
    scores = [g.score for g in grasps]
    assert scores == sorted(scores, reverse=True)
    # The best grasp is near the human's contact point.
    assert np.linalg.norm(grasps[0].pose.position - contact) < 0.05


def test_no_grasp_on_a_flat_table() -> None:
    cloud, _ = scene_cloud(table(), noise=0.0005)
    assert DETECTOR.detect(cloud, GraspRequest(np.zeros(3), DOWN)) == ()


def test_ranking_follows_the_human_approach() -> None:
    cloud, _ = scene_cloud(table(), bar_above_table(), noise=0.0005)
    contact = np.array([0.0, 0.0, 0.12])
    for approach in (DOWN, np.array([0.0, 1.0, 0.0])):
        best = DETECTOR.detect(cloud, GraspRequest(contact, approach, max_candidates=3))[0]
        assert best.pose.rotation[:, 2] @ approach > 0.8


def test_ranking_follows_the_contact_point() -> None:
    cloud, _ = scene_cloud(table(), bar_above_table(), noise=0.0005)
    for x in (-0.07, 0.07):
        contact = np.array([x, 0.0, 0.12])
        best = DETECTOR.detect(cloud, GraspRequest(contact, DOWN, max_candidates=1))[0]
        assert abs(best.pose.position[0] - x) < 0.02


def test_too_wide_object_gets_no_grasp() -> None:
    cloud, _ = scene_cloud(table(), box_on_table(size=(0.12, 0.12, 0.1)), noise=0.0005)
    grasps = DETECTOR.detect(cloud, GraspRequest(np.array([0.06, 0.0, 0.05]), DOWN))
    assert grasps == ()


def test_pca_normals_match_the_true_normals() -> None:
    from scipy.spatial import KDTree

    points, normals = cylinder_on_table()
    estimated = estimate_normals(points, KDTree(points), 16)
    side = normals[:, 2] == 0.0
    agreement = np.abs(np.einsum('ij,ij->i', estimated, normals))[side]
    assert np.median(agreement) > 0.99


def test_backend_protocol_and_plan() -> None:
    assert isinstance(DETECTOR, GraspDetector)
    cloud, _ = scene_cloud(table(), cylinder_on_table())
    plan = plan_grasps(cloud, DETECTOR, GraspRequest(np.array([0.03, 0.0, 0.08]), DOWN, 2),
                       close_time=1.2, open_time=2.5)
    assert plan.frame_id == 'base_link' and len(plan.candidates) == 2
    assert (plan.close_time, plan.open_time) == (1.2, 2.5)
    empty = PointCloud(points=np.zeros((0, 3)), frame_id='base_link')
    assert DETECTOR.detect(empty, GraspRequest()) == ()


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(GraspError, match='friction_coefficient'):
        AntipodalConfig(friction_coefficient=0.0)
    with pytest.raises(GraspError, match='depths'):
        AntipodalConfig(depths=(0.2,))
    with pytest.raises(GraspError, match='approach'):
        GraspRequest(approach=np.zeros(3))
