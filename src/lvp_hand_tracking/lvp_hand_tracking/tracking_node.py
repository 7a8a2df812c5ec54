"""ROS 2 node: VideoPlan in, HandTrack and a skeleton MarkerArray out (a thin adapter)."""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point
from lvp_common.artifacts import CAMERA_OPTICAL_FRAME, HandTrack
from lvp_common.ros.conversions import (
    hand_track_to_msg,
    make_header,
    point_msg,
    time_to_seconds,
    video_plan_from_msg,
)
from lvp_common.ros.node import LATCHED, describe, run_node
from lvp_common.topics import HAND_MARKERS, HAND_TRACK, VIDEO_PLAN
from rclpy.node import Node
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from lvp_hand_tracking.association import AssociationConfig
from lvp_hand_tracking.estimator import BackendError
from lvp_hand_tracking.hand_skeleton import HAND_BONES
from lvp_hand_tracking.mediapipe_backend import MediaPipeConfig, MediaPipeHandBackend
from lvp_hand_tracking.model_assets import ModelAssetError
from lvp_hand_tracking.tracker import (
    HandednessUnknownError,
    HandTracker,
    LongGapError,
    NoHandFoundError,
    TrackerConfig,
)
from lvp_interfaces.msg import HandTrack as HandTrackMsg
from lvp_interfaces.msg import VideoPlan as VideoPlanMsg

_MP, _TRACK = MediaPipeConfig(), TrackerConfig()
PARAMETERS: dict[str, tuple[Any, str]] = {
    'model_path': ('', 'hand_landmarker.task; empty = the cached one (built on first use)'),
    'num_hands': (_MP.num_hands, 'most hands detected per frame'),
    'running_mode': (_MP.running_mode, "MediaPipe running mode: 'video' or 'image'"),
    'min_detection_confidence': (_MP.min_detection_confidence, 'palm detector threshold'),
    'min_presence_confidence': (_MP.min_presence_confidence, 'hand presence threshold'),
    'min_tracking_confidence': (_MP.min_tracking_confidence, 'VIDEO-mode tracking threshold'),
    'labels_assume_mirrored_input': (_MP.labels_assume_mirrored_input,
                                     "swap MediaPipe's Left/Right labels (selfie input)"),
    'more_hands_check_stride': (_MP.more_hands_check_stride,
                                'VIDEO mode: track one hand, look for more every this many '
                                'frames (0: track num_hands from the first frame)'),
    'max_gap_frames': (_TRACK.max_gap_frames, 'fill gaps up to this many frames'),
    'min_detected_fraction': (_TRACK.min_detected_fraction,
                              'reject a plan with the hand in fewer frames than this'),
    'long_gap_policy': (_TRACK.long_gap_policy, "longer gaps: 'split' or 'error'"),
    'handedness': ('', "'left'/'right' selects that hand (refused when absent); empty = "
                   'the best-covering hand, its side from the plan metadata or the vote'),
    'camera_frame': (CAMERA_OPTICAL_FRAME, 'frame_id when the plan header has none'),
}


def skeleton_markers(track: HandTrack, frame_id: str, stamp: Time) -> MarkerArray:
    """Return one LINE_LIST skeleton per frame, hand-centred (wrist at the frame's origin).

    The hand's absolute position is lvp_reconstruction's output; here each frame's shape and
    orientation are drawn at the origin of `frame_id`, green when detected, orange when filled,
    more opaque later in the clip. Marker stamps are the plan stamp plus the frame time.
    """
    start = time_to_seconds(stamp)
    markers = [Marker(header=make_header(frame_id, stamp), ns='hand_skeleton',
                      action=Marker.DELETEALL)]
    n = track.num_frames
    for t in range(n):
        detected = bool(track.detected[t])
        color = ColorRGBA(r=0.15 if detected else 1.0, g=0.85 if detected else 0.6, b=0.15,
                          a=0.25 + 0.75 * (t + 1) / n)
        points: list[Point] = []
        for a, b in HAND_BONES:
            points.extend((point_msg(track.keypoints_m[t, a]), point_msg(track.keypoints_m[t, b])))
        marker = Marker(header=make_header(frame_id, start + float(track.times[t])),
                        ns='hand_skeleton', id=t, type=Marker.LINE_LIST, action=Marker.ADD,
                        points=points, color=color)
        marker.pose.orientation.w = 1.0
        marker.scale.x = 0.004
        markers.append(marker)
    return MarkerArray(markers=markers)


class HandTrackingNode(Node):
    """Track the acting hand in each video plan received and publish the track."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('hand_tracking', **kwargs)
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default, describe(description))
        p: dict[str, Any] = {name: self.get_parameter(name).value for name in PARAMETERS}
        backend = MediaPipeHandBackend(MediaPipeConfig(
            model_path=p['model_path'], num_hands=p['num_hands'],
            running_mode=p['running_mode'],
            min_detection_confidence=p['min_detection_confidence'],
            min_presence_confidence=p['min_presence_confidence'],
            min_tracking_confidence=p['min_tracking_confidence'],
            labels_assume_mirrored_input=p['labels_assume_mirrored_input'],
            more_hands_check_stride=p['more_hands_check_stride']))
        self._tracker = HandTracker(TrackerConfig(
            max_gap_frames=p['max_gap_frames'], min_detected_fraction=p['min_detected_fraction'],
            long_gap_policy=p['long_gap_policy'], association=AssociationConfig()), backend)
        self._handedness: str | None = p['handedness'] or None
        self._camera_frame: str = p['camera_frame']
        self._track_pub = self.create_publisher(HandTrackMsg, HAND_TRACK, LATCHED)
        self._marker_pub = self.create_publisher(MarkerArray, HAND_MARKERS, LATCHED)
        self.create_subscription(VideoPlanMsg, VIDEO_PLAN, self._on_plan, LATCHED)
        self.get_logger().info(f'hand tracking ready (model {backend.model_path})')

    def _on_plan(self, msg: VideoPlanMsg) -> None:
        frame_id = msg.header.frame_id or self._camera_frame
        try:
            plan = video_plan_from_msg(msg)
            result = self._tracker.track_plan(plan, self._handedness)
        except (NoHandFoundError, LongGapError, HandednessUnknownError, BackendError,
                ValueError) as exc:
            self.get_logger().error(f'no hand track for this plan: {exc}')
            return
        track = result.track
        header = make_header(frame_id, msg.header.stamp)
        self._track_pub.publish(hand_track_to_msg(track, header))
        self._marker_pub.publish(skeleton_markers(track, frame_id, msg.header.stamp))
        gaps = ', '.join(f'{g.start_frame}..{g.end_frame - 1}' for g in result.long_gaps)
        self.get_logger().info(
            f'{track.handedness.value} hand in {result.frames_with_hand}/{result.num_frames} '
            f'frames; track of {track.num_frames} frames' + (f'; left out: {gaps}' if gaps
                                                              else ''))

    def destroy_node(self) -> None:
        self._tracker.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> None:
    """Run the hand tracking node until shutdown."""
    try:
        run_node(HandTrackingNode, args)
    except ModelAssetError as exc:
        print(f'hand_tracking: {exc}')
        raise SystemExit(1) from exc


if __name__ == '__main__':
    main()
