"""TransformBuffer: lookups through the frame tree, errors that name the frames, updates."""

from __future__ import annotations

import numpy as np
import pytest
from lvp_common.geometry import Pose, rotation_angle_between
from lvp_common.tf_buffer import TransformBuffer, TransformLookupError
from scipy.spatial.transform import Rotation


def pose(xyz, euler_deg) -> Pose:
    return Pose(np.array(xyz, dtype=float),
                Rotation.from_euler('xyz', euler_deg, degrees=True).as_quat())


# world -> base_link -> camera_link -> camera_optical, and world -> table -> cube (a sibling
# branch): each pose is the child's pose in its parent.
LINKS = {
    ('world', 'base_link'): pose([0.5, -0.2, 0.0], [0.0, 0.0, 30.0]),
    ('base_link', 'camera_link'): pose([0.1, 0.4, 0.9], [0.0, 40.0, -60.0]),
    ('camera_link', 'camera_optical'): pose([0.0, 0.015, 0.0], [-90.0, 0.0, -90.0]),
    ('world', 'table'): pose([1.0, 0.3, 0.7], [0.0, 0.0, -15.0]),
    ('table', 'cube'): pose([0.05, -0.1, 0.03], [10.0, 0.0, 80.0]),
}


def matrix(parent: str, child: str) -> np.ndarray:
    return LINKS[(parent, child)].as_matrix()


@pytest.fixture
def tree() -> TransformBuffer:
    buffer = TransformBuffer()
    for (parent, child), link in LINKS.items():
        buffer.set_transform(parent, child, link, static=True)
    return buffer


def assert_pose(actual: Pose, expected: np.ndarray) -> None:
    assert actual.position == pytest.approx(expected[:3, 3], abs=1e-12)
    assert np.allclose(actual.rotation, expected[:3, :3], atol=1e-12)


def test_chain_of_three_links(tree):
    # base_link <- camera_optical: two links; world <- camera_optical: three
    assert_pose(tree.lookup('base_link', 'camera_optical'),
                matrix('base_link', 'camera_link') @ matrix('camera_link', 'camera_optical'))
    expected = (matrix('world', 'base_link') @ matrix('base_link', 'camera_link')
                @ matrix('camera_link', 'camera_optical'))
    assert_pose(tree.lookup('world', 'camera_optical'), expected)
    # the lookup maps points of the source frame into the target frame
    point = np.array([0.1, -0.2, 1.5])
    mapped = tree.lookup('world', 'camera_optical').transform_points(point[None])[0]
    assert mapped == pytest.approx((expected @ [*point, 1.0])[:3], abs=1e-12)


def test_inverse_direction(tree):
    forward = (matrix('world', 'base_link') @ matrix('base_link', 'camera_link')
               @ matrix('camera_link', 'camera_optical'))
    assert_pose(tree.lookup('camera_optical', 'world'), np.linalg.inv(forward))
    assert_pose(tree.lookup('camera_link', 'base_link'),
                np.linalg.inv(matrix('base_link', 'camera_link')))
    both = tree.lookup('camera_optical', 'world') @ tree.lookup('world', 'camera_optical')
    assert both.position == pytest.approx(np.zeros(3), abs=1e-12)
    assert rotation_angle_between(both.quaternion, [0.0, 0.0, 0.0, 1.0])[0] < 1e-9


def test_sibling_branches_through_the_common_ancestor(tree):
    world_camera = (matrix('world', 'base_link') @ matrix('base_link', 'camera_link')
                    @ matrix('camera_link', 'camera_optical'))
    world_cube = matrix('world', 'table') @ matrix('table', 'cube')
    assert_pose(tree.lookup('camera_optical', 'cube'), np.linalg.inv(world_camera) @ world_cube)
    assert_pose(tree.lookup('cube', 'camera_optical'), np.linalg.inv(world_cube) @ world_camera)
    # the common ancestor is base_link here, not the root
    assert_pose(tree.lookup('camera_optical', 'base_link'),
                np.linalg.inv(matrix('base_link', 'camera_link')
                              @ matrix('camera_link', 'camera_optical')))


def test_same_frame_is_identity_and_frames_are_listed(tree):
    assert_pose(tree.lookup('cube', 'cube'), np.eye(4))
    assert tree.frames == ('base_link', 'camera_link', 'camera_optical', 'cube', 'table', 'world')
    link = tree.link('camera_optical')
    assert link is not None and link.parent == 'camera_link' and link.static
    assert tree.link('world') is None
    assert tree.can_lookup('cube', 'base_link') and not tree.can_lookup('cube', 'nowhere')


def test_missing_frames_are_named_with_the_known_ones(tree):
    with pytest.raises(TransformLookupError) as info:
        tree.lookup('base_link', 'camera_color_optical_frame')
    message = str(info.value)
    assert 'base_link <- camera_color_optical_frame' in message
    assert "'camera_color_optical_frame' is not a known frame" in message
    assert 'known frames: base_link, camera_link, camera_optical, cube, table, world' in message
    with pytest.raises(TransformLookupError, match="neither 'map' nor 'odom' is a known frame"):
        tree.lookup('map', 'odom')
    with pytest.raises(TransformLookupError, match='no transforms received yet'):
        TransformBuffer().lookup('base_link', 'camera')


def test_separate_trees_name_their_roots(tree):
    tree.set_transform('odom', 'robot', pose([1.0, 0.0, 0.0], [0.0, 0.0, 0.0]))
    with pytest.raises(TransformLookupError) as info:
        tree.lookup('robot', 'camera_optical')
    message = str(info.value)
    assert 'separate trees' in message
    assert "'robot' under root 'odom'" in message
    assert "'camera_optical' under root 'world'" in message


def test_long_known_frame_lists_are_cut_short():
    buffer = TransformBuffer()
    for k in range(30):
        buffer.set_transform('world', f'f{k:02d}', Pose.identity())
    with pytest.raises(TransformLookupError, match=r'f19 \(and 11 more\)'):
        buffer.lookup('world', 'camera')


def test_a_loop_is_reported_not_followed(tree):
    tree.set_transform('camera_optical', 'world', Pose.identity())
    with pytest.raises(TransformLookupError, match='loop'):
        tree.lookup('cube', 'base_link')


def test_static_and_dynamic_updates():
    buffer = TransformBuffer()
    calibration = pose([0.3, 0.0, 0.5], [0.0, 90.0, 0.0])
    buffer.set_transform('base_link', 'camera', calibration, stamp=1.0, static=True)
    # a moving frame elsewhere in the tree: the latest stamp wins, an older one is dropped
    assert buffer.set_transform('base_link', 'gripper', pose([0.4, 0.0, 0.2], [0, 0, 0]), 5.0)
    assert buffer.set_transform('base_link', 'gripper', pose([0.5, 0.0, 0.2], [0, 0, 0]), 6.0)
    assert not buffer.set_transform('base_link', 'gripper', pose([9.0, 0.0, 0.0], [0, 0, 0]),
                                    5.5)
    assert buffer.lookup('base_link', 'gripper').position == pytest.approx([0.5, 0.0, 0.2])
    # dynamic updates of one frame leave the static link of another alone
    assert_pose(buffer.lookup('base_link', 'camera'), calibration.as_matrix())
    assert_pose(buffer.lookup('gripper', 'camera'),
                np.linalg.inv(pose([0.5, 0.0, 0.2], [0, 0, 0]).as_matrix())
                @ calibration.as_matrix())
    # a republished static calibration replaces the old one, whatever its stamp
    corrected = pose([0.31, 0.0, 0.49], [0.0, 88.0, 0.0])
    assert buffer.set_transform('base_link', 'camera', corrected, stamp=0.0, static=True)
    assert_pose(buffer.lookup('base_link', 'camera'), corrected.as_matrix())
    link = buffer.link('camera')
    assert link is not None and link.static
    # a frame may be re-parented (the newest link defines its parent)
    buffer.set_transform('gripper', 'camera', pose([0.0, 0.0, 0.1], [0, 0, 0]), 7.0)
    link = buffer.link('camera')
    assert link is not None and link.parent == 'gripper' and not link.static
    assert buffer.lookup('base_link', 'camera').position == pytest.approx([0.5, 0.0, 0.3])


def test_bad_links_are_refused_and_a_leading_slash_is_dropped():
    buffer = TransformBuffer()
    with pytest.raises(ValueError, match='own parent'):
        buffer.set_transform('camera', 'camera', Pose.identity())
    with pytest.raises(ValueError, match='both frame names'):
        buffer.set_transform('', 'camera', Pose.identity())
    buffer.set_transform('/base_link', '/camera', pose([0.1, 0.0, 0.0], [0, 0, 0]))
    assert buffer.frames == ('base_link', 'camera')
    assert buffer.lookup('base_link', 'camera').position == pytest.approx([0.1, 0.0, 0.0])
