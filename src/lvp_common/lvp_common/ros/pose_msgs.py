"""geometry_msgs points, quaternions (x, y, z, w), poses and transforms to and from numpy."""

from __future__ import annotations

import numpy as np
from geometry_msgs.msg import Point, Quaternion, Vector3
from geometry_msgs.msg import Pose as PoseMsg
from geometry_msgs.msg import Transform as TransformMsg

from lvp_common.geometry import Pose


def point_msg(xyz) -> Point:
    return Point(x=float(xyz[0]), y=float(xyz[1]), z=float(xyz[2]))


def points_to_array(points) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in points], dtype=np.float64).reshape(-1, 3)


def quaternion_msg(xyzw) -> Quaternion:
    return Quaternion(x=float(xyzw[0]), y=float(xyzw[1]), z=float(xyzw[2]), w=float(xyzw[3]))


def quaternion_to_array(q: Quaternion) -> np.ndarray:
    return np.array([q.x, q.y, q.z, q.w])


def pose_to_msg(pose: Pose) -> PoseMsg:
    return PoseMsg(position=point_msg(pose.position), orientation=quaternion_msg(pose.quaternion))


def pose_from_msg(msg: PoseMsg) -> Pose:
    return Pose(points_to_array([msg.position])[0], quaternion_to_array(msg.orientation))


def pose_to_transform_msg(pose: Pose) -> TransformMsg:
    p = pose.position
    return TransformMsg(translation=Vector3(x=float(p[0]), y=float(p[1]), z=float(p[2])),
                        rotation=quaternion_msg(pose.quaternion))


def pose_from_transform_msg(msg: TransformMsg) -> Pose:
    t = msg.translation
    return Pose(np.array([t.x, t.y, t.z]), quaternion_to_array(msg.rotation))
