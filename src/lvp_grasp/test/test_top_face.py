"""Top-down grasps from the visible top face of single-view clouds."""

import numpy as np
import pytest
from lvp_common.artifacts import PointCloud
from lvp_grasp.antipodal import AntipodalGraspDetector
from lvp_grasp.detector import GraspError, GraspRequest
from lvp_grasp.franka_hand import FrankaHandModel, points_in_box
from lvp_grasp.synthetic_scenes import box_on_table, table
from lvp_grasp.top_face import TopFaceGraspDetector, table_height
from scipy.spatial.transform import Rotation

DETECTOR = TopFaceGraspDetector()


def single_view_box(size, yaw: float, centre_xy, table_z: float = 0.0, noise: float = 0.0,
                    seed: int = 0) -> PointCloud:
    """A box on a table seen from the front-above (+x side): top and +x face only."""
    points, normals = box_on_table(size, spacing=0.003)
    visible = (normals[:, 2] > 0.5) | (normals[:, 0] > 0.5)
    box = points[visible]
    rot = Rotation.from_euler('z', yaw)
    box = rot.apply(box)
    top, _ = table(0.4, 0.004)
    # the table is hidden under the box
    inside = np.all(np.abs(rot.inv().apply(top)[:, :2]) <= np.asarray(size[:2]) / 2, axis=1)
    pts = np.concatenate([box, top[~inside]])
    pts[:, :2] += np.asarray(centre_xy)
    pts[:, 2] += table_z
    if noise:
        pts = pts + np.random.default_rng(seed).normal(scale=noise, size=pts.shape)
    return PointCloud(pts, 'base_link')


def test_table_height_is_the_densest_layer():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(0.3, 0.0005, 2000), rng.uniform(0.3, 0.36, 800)])
    assert table_height(z) == pytest.approx(0.3, abs=0.0015)


@pytest.mark.parametrize('yaw', [0.0, 0.4, -0.9])
def test_box_grasp_closes_across_the_short_side(yaw):
    size = (0.04, 0.065, 0.05)
    cloud = single_view_box(size, yaw, (0.5, 0.1), table_z=-0.2, noise=0.001)
    grasps = DETECTOR.detect(cloud, GraspRequest(np.array([0.52, 0.12, -0.14])))
    assert grasps, 'no grasp on a 4 cm wide box'
    best = grasps[0]
    # centre of the box in x-y; fingertips as deep as the palm allows (4.5 cm fingers, palm
    # 8 mm above the 5 cm top), pad centre half a finger above the tips
    assert np.linalg.norm(best.pose.position[:2] - [0.5, 0.1]) < 0.004
    assert best.pose.position[2] - best.depth == pytest.approx(-0.2 + 0.013, abs=0.004)
    assert best.pose.position[2] == pytest.approx(-0.2 + 0.0355, abs=0.004)
    assert best.width == pytest.approx(0.04, abs=0.004)
    rot = best.pose.rotation
    assert rot[:, 2] == pytest.approx([0.0, 0.0, -1.0], abs=1e-9)  # pointing down
    short_axis = Rotation.from_euler('z', yaw).apply([1.0, 0.0, 0.0])
    assert abs(float(np.dot(rot[:, 1], short_axis))) > np.cos(np.radians(4.0))
    # the Franka hand model at that pose touches no point of the cloud
    local = best.pose.inverse().transform_points(cloud.points)
    for box in FrankaHandModel().boxes(best.depth):
        assert not points_in_box(local, box).any()
    # the fingertips stay above the table
    assert best.pose.position[2] - best.depth > -0.2


def test_antipodal_finds_nothing_where_the_top_face_does():
    """The reason this detector exists: one side face of the box is never seen."""
    cloud = single_view_box((0.05, 0.05, 0.05), 0.0, (0.45, 0.0))
    request = GraspRequest(np.array([0.45, 0.0, 0.04]), approach=np.array([0.0, 0.0, -1.0]))
    assert AntipodalGraspDetector().detect(cloud, request) == ()
    assert DETECTOR.detect(cloud, request)


def test_too_wide_object_and_bare_table_give_no_grasp():
    wide = single_view_box((0.1, 0.12, 0.05), 0.0, (0.0, 0.0))
    assert DETECTOR.detect(wide, GraspRequest(np.array([0.0, 0.0, 0.05]))) == ()
    bare = PointCloud(table(0.4)[0], 'base_link')
    assert DETECTOR.detect(bare, GraspRequest(np.array([0.0, 0.0, 0.02]))) == ()


def test_nearest_object_is_chosen():
    a = single_view_box((0.04, 0.04, 0.05), 0.0, (0.0, 0.0)).points
    b = single_view_box((0.04, 0.04, 0.08), 0.0, (0.0, 0.09)).points
    cloud = PointCloud(np.concatenate([a, b[b[:, 2] > 0.001]]), 'base_link')
    near_b = DETECTOR.detect(cloud, GraspRequest(np.array([0.0, 0.08, 0.07])))
    near_a = DETECTOR.detect(cloud, GraspRequest(np.array([0.005, -0.01, 0.05])))
    assert near_b and near_a
    assert np.linalg.norm(near_b[0].pose.position[:2] - [0.0, 0.09]) < 0.004
    assert np.linalg.norm(near_a[0].pose.position[:2] - [0.0, 0.0]) < 0.004


def test_contact_point_is_required():
    with pytest.raises(GraspError, match='contact point'):
        DETECTOR.detect(PointCloud(np.zeros((10, 3)), 'base_link'), GraspRequest())
