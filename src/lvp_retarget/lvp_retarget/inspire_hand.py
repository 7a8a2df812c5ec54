"""The project's Inspire RH56 hand description: kinematic facts, actuators and URDF writer.

The kinematics (joint origins, axes, limits, mimic couplings, fingertip offsets) are the facts
of the Inspire RH56 hand as published in the dex-urdf model (MIT); link names and joint names
match that model so dex-retargeting configs written for it apply unchanged. Collision geometry
is the project's own: one box per phalanx and a box + cylinder palm, no meshes.

Frames: `base` is the hand's root (the frame dex-retargeting's Inspire configs retarget in);
`hand_base_link` hangs below it, fingers along its -y (right hand), metres and radians.

Regenerate the shipped files with `python -m lvp_retarget.inspire_hand`.
"""

from __future__ import annotations

import enum
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

PACKAGE_NAME = 'lvp_retarget'


class HandSide(str, enum.Enum):
    RIGHT = 'right'
    LEFT = 'left'


class DescriptionError(ValueError):
    """The hand description cannot be found or is inconsistent."""


@dataclass(frozen=True)
class Mimic:
    """q_joint = multiplier * q_source + offset (radians)."""

    source: str
    multiplier: float
    offset: float


@dataclass(frozen=True)
class JointSpec:
    """One URDF joint: origin in the parent link frame, axis in the child frame, limits (rad)."""

    name: str
    parent: str
    child: str
    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float]
    axis: tuple[float, float, float] = (0.0, 0.0, 1.0)
    lower: float = 0.0
    upper: float = 0.0
    mimic: Mimic | None = None


@dataclass(frozen=True)
class Actuator:
    """One of the hand's 6 linear actuators and its calibration: the command c in [0, 1]
    (1 = open) puts `joint` at closed_position + c * (open_position - closed_position) rad,
    so c = (closed_position - q) / (closed_position - open_position), clipped to [0, 1]."""

    name: str
    joint: str
    open_position: float
    """rad of `joint` at command 1 (open)."""
    closed_position: float
    """rad of `joint` at command 0 (closed)."""


FINGERS = ('thumb', 'index', 'middle', 'ring', 'pinky')
TIP_LINKS = tuple(f'{finger}_tip' for finger in FINGERS)
ROOT_LINK = 'base'

INSPIRE_ACTUATORS = (
    Actuator('little', 'pinky_proximal_joint', 0.0, 1.7),
    Actuator('ring', 'ring_proximal_joint', 0.0, 1.7),
    Actuator('middle', 'middle_proximal_joint', 0.0, 1.7),
    Actuator('index', 'index_proximal_joint', 0.0, 1.7),
    Actuator('thumb_bend', 'thumb_proximal_pitch_joint', 0.0, 0.5),
    Actuator('thumb_rotation', 'thumb_proximal_yaw_joint', -0.1, 1.3),
)
"""The RH56's actuators in its order (ANGLE_SET registers 0..5, the order of Unitree's
rt/inspire/cmd per hand) with the calibration Unitree publishes for the Inspire DFX on the G1:
unitreerobotics/xr_teleoperate, teleop/robot_control/robot_hand_inspire.py (main branch, v1.1+),
which maps the proximal joint angle q of fingers 0..1.7 rad, thumb bend (pitch) 0..0.5 rad and
thumb rotation (yaw) -0.1..1.3 rad to the command (max - q) / (max - min), 1 = open: the same
formula and direction as `Actuator`. Those ranges are the joint limits of Unitree's own Inspire
URDF (xr_teleoperate assets/inspire_hand); this model's (`_FLEX`, the thumb joints) are
narrower, so a finger at its 1.47 rad limit commands 0.135, and the simulator clips commanded
angles to them. Native 1000 = open, 0 = closed."""

INSPIRE_NATIVE_MAX = 1000

# Link masses (kg) of the RH56 model; the inertia tensors are the project's own (solid boxes).
_LINK_MASSES = {
    'hand_base_link': 0.14143, 'thumb_proximal_base': 0.0018869,
    'thumb_proximal': 0.0066075, 'thumb_intermediate': 0.0037847, 'thumb_distal': 0.0033441,
    'index_proximal': 0.0042403, 'index_intermediate': 0.0045683,
    'middle_proximal': 0.0042403, 'middle_intermediate': 0.0050396,
    'ring_proximal': 0.0042403, 'ring_intermediate': 0.0045683,
    'pinky_proximal': 0.0042403, 'pinky_intermediate': 0.0035996,
}

_FLEX = (1.47, (-0.04545, 1.56), 1.06399, -0.04545)
"""Finger flexion: proximal upper limit, intermediate limits, mimic multiplier and offset."""


def _finger_joints(side: HandSide) -> list[JointSpec]:
    s = 1.0 if side is HandSide.RIGHT else -1.0
    axis = (0.0, 0.0, s)
    # Knuckle origins in hand_base_link (right hand; the left hand mirrors z) and roll angles.
    knuckles = {
        'index': ((0.00028533, -0.13653, -0.032268), -3.1067, -0.034907),
        'middle': ((0.00028533, -0.1371, -0.01295), -3.1416, 0.0),
        'ring': ((0.00028533, -0.13691, 0.0062872), 3.0892, 0.05236),
        'pinky': ((0.00028533, -0.13571, 0.025488), 3.0369, 0.10472),
    }
    intermediate = {'index': (-0.0026138, 0.032026, -0.001)}
    tips = {'index': (-0.0008, 0.045, -0.005), 'middle': (-0.001, 0.048, -0.005),
            'ring': (-0.0008, 0.045, -0.005), 'pinky': (-0.0008, 0.037, -0.005)}
    upper, (mid_lower, mid_upper), mult, offset = _FLEX
    joints = []
    for finger, (xyz, roll_right, roll_left) in knuckles.items():
        mid = intermediate.get(finger, (-0.0024229, 0.032041, -0.001))
        tip = tips[finger]
        joints += [
            JointSpec(f'{finger}_proximal_joint', 'hand_base_link', f'{finger}_proximal',
                      (xyz[0], xyz[1], s * xyz[2]),
                      (roll_right if s > 0 else roll_left, 0.0, 0.0), axis, 0.0, upper),
            JointSpec(f'{finger}_intermediate_joint', f'{finger}_proximal',
                      f'{finger}_intermediate', (mid[0], s * mid[1], mid[2]), (0.0, 0.0, 0.0),
                      axis, mid_lower, mid_upper,
                      Mimic(f'{finger}_proximal_joint', mult, offset)),
            JointSpec(f'{finger}_tip_joint', f'{finger}_intermediate', f'{finger}_tip',
                      (tip[0], s * tip[1], tip[2]), (0.0, 0.0, 0.0)),
        ]
    return joints


def _thumb_joints(side: HandSide) -> list[JointSpec]:
    s = 1.0 if side is HandSide.RIGHT else -1.0
    if side is HandSide.RIGHT:
        pitch_xyz, pitch_rpy = (-0.0088099, 0.010892, -0.00925), (1.5708, 0.0, 2.8587)
    else:
        pitch_xyz, pitch_rpy = (0.0099867, 0.0098242, -0.0089), (-1.5708, 0.0, 0.16939)
    return [
        JointSpec('thumb_proximal_yaw_joint', 'hand_base_link', 'thumb_proximal_base',
                  (-0.01696, -0.0691, -s * 0.02045), (1.5708, -1.5708, 0.0),
                  (0.0, 0.0, -s), 0.0, 1.308),
        JointSpec('thumb_proximal_pitch_joint', 'thumb_proximal_base', 'thumb_proximal',
                  pitch_xyz, pitch_rpy, (0.0, 0.0, s), 0.0, 0.6),
        JointSpec('thumb_intermediate_joint', 'thumb_proximal', 'thumb_intermediate',
                  (0.04407, s * 0.034553, -0.0008), (0.0, 0.0, 0.0), (0.0, 0.0, s), 0.0, 0.8,
                  Mimic('thumb_proximal_pitch_joint', 1.334, 0.0)),
        JointSpec('thumb_distal_joint', 'thumb_intermediate', 'thumb_distal',
                  (0.020248, s * 0.010156, -0.0012), (0.0, 0.0, 0.0), (0.0, 0.0, s), 0.0, 0.4,
                  Mimic('thumb_proximal_pitch_joint', 0.667, 0.0)),
        JointSpec('thumb_tip_joint', 'thumb_distal', 'thumb_tip',
                  (0.0202, s * 0.0140, -0.006), (0.0, 0.0, 0.0)),
    ]


def inspire_joints(side: HandSide | str) -> tuple[JointSpec, ...]:
    """Return every joint of the Inspire hand of `side`, root first."""
    side = HandSide(side)
    root = JointSpec('base_joint', ROOT_LINK, 'hand_base_link', (0.0, 0.0, 0.0),
                     (-1.5707963, 0.0, 3.14159))
    return (root, *_thumb_joints(side), *_finger_joints(side))


def mimic_positions(side: HandSide | str, actuated: dict[str, float]) -> dict[str, float]:
    """Expand actuated joint positions (rad) to every movable joint, mimic couplings applied."""
    full = dict(actuated)
    for joint in inspire_joints(side):
        if joint.mimic is not None:
            full[joint.name] = joint.mimic.multiplier * full.get(
                joint.mimic.source, 0.0) + joint.mimic.offset
    return full


class InspireKinematics:
    """Forward kinematics of the Inspire hand (pinocchio on the shipped URDF): fingertip
    positions in the hand's `base` frame for given joint positions."""

    def __init__(self, side: HandSide | str) -> None:
        import pinocchio as pin  # pyright: ignore[reportMissingImports]

        self.side = HandSide(side)
        self._pin = pin
        self._model = pin.buildModelFromUrdf(str(inspire_urdf_path(self.side)))
        self._data = self._model.createData()
        self._tips = [self._model.getFrameId(link) for link in TIP_LINKS]

    def palm_corners(self) -> np.ndarray:
        """Return the 8 corners (8, 3) of the palm's collision box in `base` (m): the rigid
        part of the hand (the fingers' points are `tip_positions`)."""
        pin = self._pin
        palm = next(g for g in _link_geometry(inspire_joints(self.side))['hand_base_link']
                    if isinstance(g, _Box))
        box = pin.SE3(Rotation.from_euler('xyz', palm.rpy).as_matrix(), np.asarray(palm.xyz))
        placement = self._model.frames[self._model.getFrameId('hand_base_link')].placement
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
        local = signs * (0.5 * np.asarray(palm.size))
        to_base = placement * box
        return local @ to_base.rotation.T + to_base.translation

    def tip_positions(self, joint_names, joint_positions) -> np.ndarray:
        """Return the five fingertips (thumb, index, middle, ring, pinky) (5, 3) in `base` (m).

        `joint_positions` (rad) for `joint_names`; mimic joints left out follow their source.
        """
        full = mimic_positions(self.side, dict(zip(joint_names, map(float, joint_positions))))
        q = np.zeros(self._model.nq)
        for name, value in full.items():
            if not self._model.existJointName(name):
                raise DescriptionError(f'the Inspire hand has no joint {name!r}')
            q[self._model.idx_qs[self._model.getJointId(name)]] = value
        self._pin.forwardKinematics(self._model, self._data, q)
        self._pin.updateFramePlacements(self._model, self._data)
        return np.array([self._data.oMf[f].translation for f in self._tips])


# ---------------------------------------------------------------- collision geometry

@dataclass(frozen=True)
class _Box:
    size: tuple[float, float, float]
    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class _Cylinder:
    radius: float
    length: float
    xyz: tuple[float, float, float]
    rpy: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _segment_box(start, end, thickness: float, width: float) -> _Box:
    """Box spanning start->end (its local x), `width` along the link's z (the joint axis)."""
    p0, p1 = np.asarray(start, dtype=float), np.asarray(end, dtype=float)
    x = p1 - p0
    length = float(np.linalg.norm(x))
    x /= length
    z = np.array([0.0, 0.0, 1.0]) - x[2] * x
    z /= np.linalg.norm(z)
    rot = np.stack([x, np.cross(z, x), z], axis=1)
    rpy = Rotation.from_matrix(rot).as_euler('xyz')
    mid = 0.5 * (p0 + p1)
    return _Box((length, thickness, width), (mid[0], mid[1], mid[2]),
                (float(rpy[0]), float(rpy[1]), float(rpy[2])))


_PHALANX_THICKNESS = 0.015
_PHALANX_WIDTH = 0.014
_THUMB_THICKNESS = 0.02
_THUMB_WIDTH = 0.016
_JOINT_OVERLAP = 0.004
"""Each phalanx box starts this far behind its joint: the knuckles' rounded ends overlap."""
# Centre-line height of each chain above its joint frames' xy plane (link z, metres).
_FINGER_CENTRE_Z = -0.005
_THUMB_CENTRE_Z = -0.007


def _link_geometry(joints: tuple[JointSpec, ...]) -> dict[str, list]:
    # Every link below the palm has exactly one child joint: the next joint or the tip.
    child_of = {j.parent: j for j in joints if j.parent not in (ROOT_LINK, 'hand_base_link')}
    geometry: dict[str, list] = {
        # Wrist flange (axis along y) and palm; fingers leave the palm at y ~ -0.137.
        'hand_base_link': [
            _Cylinder(0.028, 0.027, (0.0, -0.0135, 0.0), (1.5707963, 0.0, 0.0)),
            _Box((0.0365, 0.101, 0.082), (-0.00275, -0.0775, 0.0)),
        ],
    }
    for link, joint in child_of.items():
        end = np.asarray(joint.xyz)
        if link == 'thumb_proximal_base':
            geometry[link] = [_segment_box((0.0, 0.0, end[2]), end, 0.012, 0.014)]
            continue
        thumb = link.startswith('thumb')
        centre_z = _THUMB_CENTRE_Z if thumb else _FINGER_CENTRE_Z
        start = np.array([0.0, 0.0, centre_z])
        stop = np.array([end[0], end[1], centre_z])
        direction = (stop - start) / np.linalg.norm(stop - start)
        start -= _JOINT_OVERLAP * direction
        if joint.name.endswith('tip_joint'):
            # Distal pads end just past the tip point.
            stop += 0.003 * direction
        geometry[link] = [_segment_box(start, stop, _THUMB_THICKNESS if thumb else
                                       _PHALANX_THICKNESS, _THUMB_WIDTH if thumb else
                                       _PHALANX_WIDTH)]
    return geometry


def _box_inertia(mass: float, size: tuple[float, float, float]) -> tuple[float, float, float]:
    a, b, c = size
    return (mass * (b * b + c * c) / 12.0, mass * (a * a + c * c) / 12.0,
            mass * (a * a + b * b) / 12.0)


def _fmt(values) -> str:
    return ' '.join(f'{float(v):.7g}' for v in values)


def inspire_urdf_xml(side: HandSide | str) -> str:
    """Return the URDF text of the project's Inspire hand for `side`."""
    side = HandSide(side)
    joints = inspire_joints(side)
    geometry = _link_geometry(joints)
    robot = ET.Element('robot', name=f'inspire_hand_{side.value}')
    links = [ROOT_LINK] + [j.child for j in joints]
    for name in links:
        link = ET.SubElement(robot, 'link', name=name)
        shapes = geometry.get(name, [])
        mass = _LINK_MASSES.get(name)
        if mass is not None and shapes:
            main = shapes[-1]
            inertial = ET.SubElement(link, 'inertial')
            ET.SubElement(inertial, 'origin', xyz=_fmt(main.xyz), rpy=_fmt(main.rpy))
            ET.SubElement(inertial, 'mass', value=f'{mass:.7g}')
            size = main.size if isinstance(main, _Box) else (
                2 * main.radius, 2 * main.radius, main.length)
            ixx, iyy, izz = _box_inertia(mass, size)
            ET.SubElement(inertial, 'inertia', ixx=f'{ixx:.4e}', ixy='0', ixz='0',
                          iyy=f'{iyy:.4e}', iyz='0', izz=f'{izz:.4e}')
        for tag in ('visual', 'collision'):
            for shape in shapes:
                element = ET.SubElement(link, tag)
                ET.SubElement(element, 'origin', xyz=_fmt(shape.xyz), rpy=_fmt(shape.rpy))
                geom = ET.SubElement(element, 'geometry')
                if isinstance(shape, _Box):
                    ET.SubElement(geom, 'box', size=_fmt(shape.size))
                else:
                    ET.SubElement(geom, 'cylinder', radius=f'{shape.radius:.7g}',
                                  length=f'{shape.length:.7g}')
                if tag == 'visual':
                    material = ET.SubElement(element, 'material', name='inspire_grey')
                    ET.SubElement(material, 'color', rgba='0.75 0.75 0.78 1')
    for spec in joints:
        movable = spec.upper > spec.lower
        joint = ET.SubElement(robot, 'joint', name=spec.name,
                              type='revolute' if movable else 'fixed')
        ET.SubElement(joint, 'origin', xyz=_fmt(spec.xyz), rpy=_fmt(spec.rpy))
        ET.SubElement(joint, 'parent', link=spec.parent)
        ET.SubElement(joint, 'child', link=spec.child)
        if movable:
            ET.SubElement(joint, 'axis', xyz=_fmt(spec.axis))
            ET.SubElement(joint, 'limit', lower=f'{spec.lower:.7g}', upper=f'{spec.upper:.7g}',
                          effort='1', velocity='0.5')
        if spec.mimic is not None:
            ET.SubElement(joint, 'mimic', joint=spec.mimic.source,
                          multiplier=f'{spec.mimic.multiplier:.7g}',
                          offset=f'{spec.mimic.offset:.7g}')
    ET.indent(robot, space='  ')
    header = ('<?xml version="1.0" encoding="utf-8"?>\n'
              '<!-- Generated by lvp_retarget.inspire_hand: edit that module, not this file -->\n')
    return header + ET.tostring(robot, encoding='unicode') + '\n'


# ---------------------------------------------------------------- shipped files

def description_dir() -> Path:
    """Return the folder holding the shipped URDFs (source tree or installed share/)."""
    here = Path(__file__).resolve().parent
    candidates = [here.parent / 'description',
                  Path(sys.prefix) / 'share' / PACKAGE_NAME / 'description']
    # colcon installs the module under <prefix>/lib/pythonX.Y/site-packages/.
    if len(here.parents) > 3:
        candidates.append(here.parents[3] / 'share' / PACKAGE_NAME / 'description')
    try:
        from ament_index_python.packages import get_package_share_directory
        candidates.append(Path(get_package_share_directory(PACKAGE_NAME)) / 'description')
    except Exception:  # noqa: BLE001 - ament_index is optional outside a ROS install
        pass
    for candidate in candidates:
        if (candidate / 'inspire_hand_right.urdf').is_file():
            return candidate
    raise DescriptionError(
        f'Inspire hand URDFs not found in any of {[str(c) for c in candidates]}')


def inspire_urdf_path(side: HandSide | str) -> Path:
    """Return the path of the shipped URDF of the Inspire hand for `side`."""
    return description_dir() / f'inspire_hand_{HandSide(side).value}.urdf'


def main(argv: list[str] | None = None) -> int:
    """Write both URDFs into the source tree's description/ folder (or the folder given)."""
    args = sys.argv[1:] if argv is None else argv
    folder = Path(args[0]) if args else Path(__file__).resolve().parent.parent / 'description'
    folder.mkdir(parents=True, exist_ok=True)
    for side in HandSide:
        path = folder / f'inspire_hand_{side.value}.urdf'
        path.write_text(inspire_urdf_xml(side))
        print(path)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
