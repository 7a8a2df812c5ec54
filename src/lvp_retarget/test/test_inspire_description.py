"""The project's Inspire hand URDFs against the reference model (pinocchio forward kinematics)."""

from pathlib import Path

import numpy as np
import pinocchio as pin  # pyright: ignore[reportMissingImports]
import pytest
from lvp_retarget.inspire_hand import (
    INSPIRE_ACTUATORS,
    TIP_LINKS,
    HandSide,
    InspireKinematics,
    inspire_urdf_path,
    inspire_urdf_xml,
    mimic_positions,
)


def _tip_positions(model, data, joint_values: dict[str, float]) -> np.ndarray:
    q = pin.neutral(model)
    for name, value in joint_values.items():
        joint = model.joints[model.getJointId(name)]
        q[joint.idx_q] = value
    pin.framesForwardKinematics(model, data, q)
    return np.stack([data.oMf[model.getFrameId(tip)].translation for tip in TIP_LINKS])


@pytest.mark.parametrize('side', list(HandSide))
def test_fingertips_match_reference_over_joint_range(side: HandSide, shared_data: Path) -> None:
    reference = shared_data / 'robots' / 'inspire_hand' / f'inspire_hand_{side.value}.urdf'
    ours = pin.buildModelFromUrdf(str(inspire_urdf_path(side)))
    ref = pin.buildModelFromUrdf(str(reference))
    assert sorted(ours.names) == sorted(ref.names)
    rng = np.random.default_rng(7)
    ours_data, ref_data = ours.createData(), ref.createData()
    worst = 0.0
    for _ in range(200):
        actuated = {a.joint: rng.uniform(a.open_position, a.closed_position)
                    for a in INSPIRE_ACTUATORS}
        values = mimic_positions(side, actuated)
        delta = _tip_positions(ours, ours_data, values) - _tip_positions(ref, ref_data, values)
        worst = max(worst, float(np.abs(delta).max()))
    assert worst < 1e-3, f'fingertip mismatch {worst * 1e3:.3f} mm'


@pytest.mark.parametrize('side', list(HandSide))
def test_joint_limits_and_mimics_match_reference(side: HandSide, shared_data: Path) -> None:
    reference = shared_data / 'robots' / 'inspire_hand' / f'inspire_hand_{side.value}.urdf'
    ours = pin.buildModelFromUrdf(str(inspire_urdf_path(side)))
    ref = pin.buildModelFromUrdf(str(reference))
    for name in ref.names[1:]:
        a, b = ours.getJointId(name), ref.getJointId(name)
        qa, qb = ours.joints[a].idx_q, ref.joints[b].idx_q
        assert ours.lowerPositionLimit[qa] == pytest.approx(ref.lowerPositionLimit[qb])
        assert ours.upperPositionLimit[qa] == pytest.approx(ref.upperPositionLimit[qb])
    ref_text = reference.read_text()
    ours_text = inspire_urdf_path(side).read_text()
    assert ours_text.count('<mimic ') == ref_text.count('<mimic ') == 6


@pytest.mark.parametrize('side', list(HandSide))
def test_shipped_urdf_is_generated_output(side: HandSide) -> None:
    assert inspire_urdf_path(side).read_text() == inspire_urdf_xml(side), (
        'regenerate with: python -m lvp_retarget.inspire_hand')


@pytest.mark.parametrize('side', list(HandSide))
def test_collision_geometry_is_primitive_only(side: HandSide) -> None:
    text = inspire_urdf_path(side).read_text()
    assert '<mesh' not in text
    model = pin.buildModelFromUrdf(str(inspire_urdf_path(side)))
    geometry = pin.buildGeomFromUrdf(model, str(inspire_urdf_path(side)),
                                     pin.GeometryType.COLLISION)
    assert geometry.ngeoms == 14


@pytest.mark.parametrize('side', list(HandSide))
def test_palm_corners_are_the_urdf_palm_box(side: HandSide) -> None:
    path = str(inspire_urdf_path(side))
    model = pin.buildModelFromUrdf(path)
    geometry = pin.buildGeomFromUrdf(model, path, pin.GeometryType.COLLISION)
    data = model.createData()
    pin.framesForwardKinematics(model, data, pin.neutral(model))
    palm = next(g for g in geometry.geometryObjects
                if model.frames[g.parentFrame].name == 'hand_base_link'
                and type(g.geometry).__name__ == 'Box')
    placement = data.oMi[palm.parentJoint] * palm.placement
    half = np.asarray(palm.geometry.halfSide)
    corners = np.array([placement.act(half * np.array([a, b, c]))
                        for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)])
    got = InspireKinematics(side).palm_corners()
    assert got.shape == (8, 3)
    distances = np.linalg.norm(got[:, None, :] - corners[None, :, :], axis=2)
    assert np.all(distances.min(axis=1) < 1e-6) and np.all(distances.min(axis=0) < 1e-6)


@pytest.mark.parametrize('side', list(HandSide))
def test_loads_in_mujoco_with_mimic_couplings(side: HandSide) -> None:
    mujoco = pytest.importorskip('mujoco')
    model = mujoco.MjModel.from_xml_path(str(inspire_urdf_path(side)))
    assert model.njnt == 12 and model.neq == 6 and model.ngeom == 14
