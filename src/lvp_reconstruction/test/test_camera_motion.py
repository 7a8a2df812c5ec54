import cv2
import numpy as np
import pytest
from lvp_common.artifacts import CameraIntrinsics
from lvp_common.geometry import Pose
from lvp_reconstruction.camera_motion import (
    CameraMotionError,
    CameraTrajectory,
    estimate_camera_motion,
    hand_mask,
    to_first_camera,
)
from lvp_reconstruction.synthetic_hand import make_track, wrist_path
from scipy.spatial.transform import Rotation

W, H, N = 416, 240, 16


def _texture(rng: np.random.Generator) -> np.ndarray:
    """A wall with blobs and edges: plenty of corners to track."""
    tex = rng.integers(60, 200, (H // 8, W // 8, 3)).astype(np.uint8)
    tex = cv2.resize(tex, (W, H), interpolation=cv2.INTER_NEAREST)
    for _ in range(60):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        cv2.circle(tex, (x, y), int(rng.integers(3, 15)), c, -1)
    return cv2.GaussianBlur(tex, (3, 3), 0)


def _video(rotate_deg: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray, CameraIntrinsics]:
    """Render the wall through a camera panning by up to rotate_deg, with a moving hand on it."""
    rng = np.random.default_rng(seed)
    intr = CameraIntrinsics.from_fov(W, H, 60.0, assumed=False)
    seq = wrist_path(N, intrinsics=intr)
    track = make_track(seq, pixel_noise_px=0.0, metric_noise_m=0.0)
    wall = _texture(rng)
    k = intr.matrix
    frames = []
    for i in range(N):
        rot = Rotation.from_euler('yx', [rotate_deg * i / (N - 1), 0.3 * rotate_deg * i / N],
                                  degrees=True).as_matrix()
        hom = k @ rot @ np.linalg.inv(k)
        img = cv2.warpPerspective(wall, hom, (W, H), borderMode=cv2.BORDER_REFLECT)
        hull = cv2.convexHull(np.round(track.keypoints_px[i]).astype(np.int32))
        cv2.fillConvexPoly(img, hull, (220, 170, 140))  # the hand, moving across the wall
        noise = rng.normal(0.0, 2.0, img.shape)
        frames.append(np.clip(img + noise, 0, 255).astype(np.uint8))
    return np.stack(frames), track.keypoints_px, intr


def test_static_camera_with_moving_hand_is_not_flagged():
    frames, keypoints, intr = _video(0.0)
    report = estimate_camera_motion(frames, keypoints, intr)
    print(f'static: up to {report.max_displacement_px:.2f} px, {report.max_rotation_deg:.3f} deg')
    assert not report.moving
    assert report.max_displacement_px < 2.0 and report.unmeasured_pairs == 0


def test_panning_camera_is_flagged_with_its_rotation():
    frames, keypoints, intr = _video(4.0)
    report = estimate_camera_motion(frames, keypoints, intr)
    truth = np.degrees(Rotation.from_euler('yx', [4.0, 0.3 * 4.0 * (N - 1) / N],
                                           degrees=True).magnitude())
    print(f'panning: up to {report.max_displacement_px:.1f} px, {report.max_rotation_deg:.2f} '
          f'deg (truth {truth:.2f} deg)')
    assert report.moving
    assert report.rotation_deg[-1] == pytest.approx(truth, abs=0.3)


def test_hand_mask_covers_hand_and_forearm():
    kp = np.zeros((21, 2))
    kp[:, 0] = np.linspace(180, 220, 21)
    kp[:, 1] = np.linspace(140, 80, 21)
    kp[0] = (200, 150)
    kp[9] = (200, 90)
    mask = hand_mask((H, W), kp)
    assert mask[120, 200] == 255 and mask[H - 1, 200] == 255  # palm, forearm to the border
    assert mask[20, 20] == 0 and mask[120, 400] == 0


def test_external_trajectory_expresses_poses_in_the_first_camera():
    rng = np.random.default_rng(2)
    cams = tuple(Pose(rng.normal(0, 0.1, 3), Rotation.from_rotvec(rng.normal(0, 1.0, 3)).as_quat())
                 for i in range(5))
    world_p = rng.normal(0, 0.3, (5, 3))
    world_q = Rotation.from_rotvec(rng.normal(0, 1.0, (5, 3))).as_quat()
    local = [c.inverse() @ Pose(p, q) for c, p, q in zip(cams, world_p, world_q)]
    p, q = to_first_camera(CameraTrajectory(cams), np.stack([x.position for x in local]),
                           np.stack([x.quaternion for x in local]))
    expected = [cams[0].inverse() @ Pose(wp, wq) for wp, wq in zip(world_p, world_q)]
    assert p == pytest.approx(np.stack([e.position for e in expected]))
    dots = np.abs(np.sum(q * np.stack([e.quaternion for e in expected]), axis=1))
    assert dots == pytest.approx(1.0)
    with pytest.raises(CameraMotionError, match='intrinsics'):
        CameraTrajectory(cams, intrinsics=(CameraIntrinsics.from_fov(W, H, 60.0),) * 2)
