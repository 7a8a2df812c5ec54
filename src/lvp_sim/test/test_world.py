# MuJoCo's bindings are compiled modules without stubs: pyright cannot see their attributes.
# pyright: reportAttributeAccessIssue=false
"""The tabletop world: camera model read back from MuJoCo, depth, robot insertion."""

import mujoco
import numpy as np
import pytest
from lvp_sim.world import (
    G1_PELVIS_HEIGHT,
    ROBOT_PREFIX,
    CameraConfig,
    SceneRenderer,
    WorldConfig,
    WorldError,
    build_world,
    world_config_for,
)

TINY_ROBOT = """
<mujoco model="tiny_arm">
  <worldbody>
    <body name="link0">
      <geom type="cylinder" size="0.05 0.05" pos="0 0 0.05"/>
      <body name="link1" pos="0 0 0.1">
        <joint name="joint1" type="hinge" axis="0 0 1"/>
        <geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03"/>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope='module')
def world():
    return build_world(WorldConfig())


def test_intrinsics_follow_the_model_field_of_view(world):
    k = world.intrinsics()
    assert not k.assumed
    assert (k.width, k.height) == (832, 480)
    assert k.fx == pytest.approx(240.0 / np.tan(np.radians(22.5)))
    assert k.fx == k.fy
    assert (k.cx, k.cy) == (415.5, 239.5)


def test_camera_optical_frame_looks_at_the_target(world):
    cam = world.config.camera
    pose = world.camera_to_base()
    assert pose.position == pytest.approx(cam.position(), abs=1e-6)
    target_cam = pose.inverse().transform_points(np.array(cam.target))
    assert target_cam[2] == pytest.approx(cam.distance, abs=1e-6)
    u, v = world.intrinsics().project(target_cam)[0]
    assert (u, v) == pytest.approx((415.5, 239.5), abs=1e-6)
    # REP 103: image y (down) points down in the base frame, image x to the base's +y here
    assert pose.rotation[2, 1] < -0.5
    assert pose.rotation[1, 0] == pytest.approx(1.0, abs=1e-6)


def test_depth_back_projects_the_table_onto_its_plane(world):
    with SceneRenderer(world) as renderer:
        obs = renderer.observation()
        ids = renderer.geom_ids(show_hand=False)
    table = mujoco.mj_name2id(world.model, mujoco.mjtObj.mjOBJ_GEOM, 'table_top')
    v, u = np.nonzero(ids == table)
    assert len(u) > 50_000
    k, depth = obs.intrinsics, obs.depth
    assert k is not None and depth is not None and obs.camera_to_base is not None
    z = depth[v, u].astype(np.float64)
    assert np.all(np.isfinite(z))
    points_cam = np.stack([(u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z], axis=1)
    points_base = obs.camera_to_base.transform_points(points_cam)
    assert np.median(np.abs(points_base[:, 2] - world.config.table_top_z)) < 1e-3
    assert np.percentile(np.abs(points_base[:, 2] - world.config.table_top_z), 95) < 3e-3


def test_cube_top_projects_where_depth_says(world):
    cube = world.body_pose('cube').position + np.array([0.0, 0.0, world.config.cube_half_size])
    pose, k = world.camera_to_base(), world.intrinsics()
    point_cam = pose.inverse().transform_points(cube)
    u, v = np.round(k.project(point_cam)[0]).astype(int)
    with SceneRenderer(world) as renderer:
        depth = renderer.depth(show_hand=False)
    assert depth[v, u] == pytest.approx(point_cam[2], abs=4e-3)


def test_robot_is_attached_at_the_base_origin(tmp_path):
    path = tmp_path / 'tiny_arm.xml'
    path.write_text(TINY_ROBOT)
    for source in (TINY_ROBOT, str(path)):
        world = build_world(WorldConfig(), robot_mjcf=source)
        assert world.has_robot
        assert world.body_pose(f'{ROBOT_PREFIX}link0').position == pytest.approx(np.zeros(3))
        assert world.joint_qpos_address(f'{ROBOT_PREFIX}joint1') >= 0


def test_bad_robot_and_bad_placement_raise():
    with pytest.raises(WorldError, match='robot MJCF'):
        build_world(WorldConfig(), robot_mjcf='<mujoco><worldbody><body></mujoco>')
    with pytest.raises(WorldError, match='off the table'):
        WorldConfig(cube_xy=(2.0, 0.0))
    with pytest.raises(WorldError, match='elevation'):
        CameraConfig(elevation_deg=90.0)


def test_franka_layout_is_the_default_world():
    layout = world_config_for('franka_gripper')
    assert layout == WorldConfig() and hash(layout) == hash(WorldConfig())
    assert layout != world_config_for('g1_inspire')
    assert layout.robot_mount.position == pytest.approx(np.zeros(3))
    assert layout.table_top_in_robot_base() == pytest.approx(0.0)
    world = build_world(layout)
    np.testing.assert_allclose(world.camera_to_robot_base().as_matrix(),
                               world.camera_to_world().as_matrix(), atol=1e-12)


def test_g1_layout_stands_the_pelvis_behind_the_table_with_feet_on_the_floor(tmp_path):
    layout = world_config_for('g1_inspire')
    pelvis = layout.robot_mount.position
    assert pelvis[0] < -layout.robot_mount_inset  # behind the table's back edge
    assert pelvis[2] - layout.floor_z == pytest.approx(G1_PELVIS_HEIGHT)
    assert layout.table_top_in_robot_base() == pytest.approx(-(G1_PELVIS_HEIGHT
                                                               - layout.table_height))
    path = tmp_path / 'tiny_arm.xml'
    path.write_text(TINY_ROBOT)
    world = build_world(layout, robot_mjcf=str(path))
    # The robot's root sits at the mount; the camera extrinsic is given in that frame.
    assert world.body_pose(f'{ROBOT_PREFIX}link0').position == pytest.approx(pelvis)
    expected = layout.robot_mount.inverse() @ world.camera_to_world()
    np.testing.assert_allclose(world.camera_to_base().as_matrix(), expected.as_matrix(),
                               atol=1e-12)
    cube = layout.robot_mount.inverse().transform_points(world.body_pose('cube').position)
    for scale in (1.0, 0.5):
        with SceneRenderer(world, scale=scale) as renderer:
            obs = renderer.observation()
            ids = renderer.geom_ids(show_hand=False)
        assert obs.rgb.shape == (round(480 * scale), round(832 * scale), 3)
        assert obs.camera_to_base is not None and obs.intrinsics is not None
        # The cube, seen through the base-frame extrinsic, lands on its own pixels.
        u, v = obs.intrinsics.project(obs.camera_to_base.inverse().transform_points(cube))[0]
        assert ids[int(round(v)), int(round(u))] == world.model.geom('cube').id


def test_unknown_embodiment_raises():
    with pytest.raises(WorldError, match='unknown embodiment'):
        world_config_for('spot_arm')


def test_the_g1_sets_a_pinched_cube_down_to_its_right_the_franka_at_the_push_region():
    """The G1's set-down square lies 12 cm to the robot's right of the cube (12 cm further out
    no top-down Inspire pinch reaches); its push keeps the region ahead; the Franka's layout
    names no place offset."""
    from lvp_sim.demonstrations import DemonstrationConfig, Variation, _world_config
    from lvp_sim.world import world_config_for

    g1 = world_config_for('g1_inspire')
    place = g1.for_task('pinch_and_place')
    np.testing.assert_allclose(np.subtract(place.target_region_xy, place.cube_xy), (0.0, -0.12))
    assert g1.for_task('push') == g1
    franka = world_config_for('franka_gripper')
    assert franka.for_task('pinch_and_place') == franka
    config = DemonstrationConfig(task='pinch_and_place', seed=3, world=g1)
    varied = _world_config(config, Variation(3, config.jitter))  # the seed's cube, same offset
    np.testing.assert_allclose(np.subtract(varied.target_region_xy, varied.cube_xy),
                               (0.0, -0.12), atol=1e-12)
