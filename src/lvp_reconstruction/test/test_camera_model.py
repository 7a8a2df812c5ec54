import numpy as np
import pytest
from lvp_common.artifacts import CameraIntrinsics
from lvp_reconstruction.camera_model import (
    CameraModelConfig,
    CameraModelError,
    intrinsics_from_matrix,
    rescale_intrinsics,
    resolve_intrinsics,
    undistort_pixels,
)


def test_default_field_of_view_is_flagged_assumed():
    intr = resolve_intrinsics(None, 832, 480, CameraModelConfig(default_horizontal_fov_deg=60.0))
    assert intr.assumed
    assert intr.fx == pytest.approx(416.0 / np.tan(np.radians(30.0)))
    assert intr.fy == intr.fx
    assert (intr.cx, intr.cy) == (415.5, 239.5)


def test_measured_intrinsics_rescaled_to_the_video_size():
    measured = intrinsics_from_matrix([600.0, 0, 639.5, 0, 600.0, 359.5, 0, 0, 1], 1280, 720)
    intr = resolve_intrinsics(measured, 832, 468)
    assert not intr.assumed
    assert intr.fx == pytest.approx(600.0 * 832 / 1280)
    assert intr.cx == pytest.approx(415.5)
    assert intr.cy == pytest.approx(233.5)
    # A point at the principal point stays there; projection commutes with the resize.
    point = np.array([[0.1, -0.05, 0.7]])
    big = measured.project(point)[0]
    small = intr.project(point)[0]
    assert small == pytest.approx((big + 0.5) * 832 / 1280 - 0.5)


def test_crop_like_aspect_change_is_refused():
    measured = CameraIntrinsics.from_fov(640, 480, 60.0, assumed=False)
    with pytest.raises(CameraModelError, match='aspect ratio'):
        rescale_intrinsics(measured, 832, 480)


def test_non_pinhole_matrix_is_refused():
    with pytest.raises(CameraModelError, match='skew-free'):
        intrinsics_from_matrix([600.0, 3.0, 320, 0, 600.0, 240, 0, 0, 1], 640, 480)


def test_undistort_without_distortion_is_identity():
    intr = CameraIntrinsics.from_fov(640, 480, 60.0)
    px = np.array([[10.0, 20.0], [300.0, 200.0]])
    assert np.array_equal(undistort_pixels(px, intr), px)
