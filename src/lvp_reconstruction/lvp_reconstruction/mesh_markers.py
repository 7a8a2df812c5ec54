"""RViz markers of a hand track's mesh (the fitted hand surface): TRIANGLE_LIST per frame.

Drawn like lvp_hand_tracking's skeleton markers: hand-centred (the wrist at the origin of the
camera frame, camera-aligned axes), a few frames of the clip (its start, middle and end by
default), more opaque later in the clip, shifted `offset_m` along the frame's x so the surface
sits next to the skeleton rather than inside it.
"""

from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from lvp_common.artifacts import HandTrack
from lvp_common.ros.conversions import make_header, time_to_seconds
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

MESH_NAMESPACE = 'hand_mesh'
SKIN = (0.87, 0.68, 0.55)


def mesh_frames(num_frames: int, max_meshes: int) -> np.ndarray:
    """Return the indices of the frames drawn: up to max_meshes, evenly spread, ends included."""
    if num_frames < 1 or max_meshes < 1:
        return np.zeros(0, dtype=int)
    return np.unique(np.round(np.linspace(0, num_frames - 1, min(num_frames, max_meshes)))
                     .astype(int))


def hand_mesh_markers(track: HandTrack, frame_id: str, stamp: Time, max_meshes: int = 3,
                      offset_m: float = 0.25) -> MarkerArray:
    """Return TRIANGLE_LIST markers of the track's mesh (an empty array if it has none).

    Ids 0.. in namespace `hand_mesh` (a later array replaces them by id); marker stamps are the
    plan stamp plus the frame's time, like the skeleton's.
    """
    if track.mesh is None:
        return MarkerArray(markers=[])
    start = time_to_seconds(stamp)
    faces = track.mesh.faces
    frames = mesh_frames(track.num_frames, max_meshes)
    markers = []
    for rank, t in enumerate(frames):
        triangles = track.mesh.vertices[t][faces].reshape(-1, 3) + [offset_m, 0.0, 0.0]
        marker = Marker(header=make_header(frame_id, start + float(track.times[t])),
                        ns=MESH_NAMESPACE, id=int(rank), type=Marker.TRIANGLE_LIST,
                        action=Marker.ADD,
                        points=[Point(x=float(x), y=float(y), z=float(z))
                                for x, y, z in triangles],
                        color=ColorRGBA(r=SKIN[0], g=SKIN[1], b=SKIN[2],
                                        a=0.35 + 0.65 * (rank + 1) / len(frames)))
        marker.pose.orientation.w = 1.0
        marker.scale.x = marker.scale.y = marker.scale.z = 1.0
        markers.append(marker)
    return MarkerArray(markers=markers)
