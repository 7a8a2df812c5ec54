"""Publish hand commands (Inspire joints + actuators, or gripper events) for each hand track.

Subscribes to the hand track (or the wrist trajectory's finger keypoints) and publishes one
latched `lvp_interfaces/HandCommands` per input; the retargeting itself is lvp_retarget's core.
"""

from __future__ import annotations

from lvp_common.artifacts import ArtifactError, Handedness, HandTrack, WristTrajectory
from lvp_common.ros.conversions import (
    hand_commands_to_msg,
    hand_track_from_msg,
    make_header,
    wrist_trajectory_from_msg,
)
from lvp_common.ros.node import LATCHED, describe, run_node
from rclpy.node import Node

from lvp_common import topics
from lvp_interfaces.msg import HandCommands as HandCommandsMsg
from lvp_interfaces.msg import HandTrack as HandTrackMsg
from lvp_interfaces.msg import WristTrajectory as WristTrajectoryMsg
from lvp_retarget.dexterous import (
    DexterousRetargetConfig,
    DexterousRetargeter,
    RetargetError,
    RetargetingMethod,
)
from lvp_retarget.gripper import GripperRetargetConfig, GripperRetargetError, retarget_gripper
from lvp_retarget.inspire_hand import DescriptionError


class RetargetNode(Node):
    """Turn each incoming hand track / wrist trajectory into HandCommands."""

    def __init__(self, **node_options) -> None:
        super().__init__('retarget', **node_options)
        d, g = DexterousRetargetConfig(), GripperRetargetConfig()
        declare = self.declare_parameter
        declare('embodiment', 'dexterous', describe("'dexterous' (Inspire) or 'gripper'"))
        declare('input', 'hand_track', describe("'hand_track' or 'wrist_trajectory'"))
        declare('handedness', '', describe("'left'/'right'; '' = the track's own (wrist "
                                            "trajectories default to right)"))
        declare('method', d.method.value, describe("'vector' or 'dexpilot'"))
        declare('urdf_path', '', describe("robot hand URDF; '' = the shipped Inspire hand"))
        declare('scaling_factor', d.scaling_factor, describe('robot/human hand size'))
        declare('low_pass_alpha', d.low_pass_alpha, describe('output filter, 1 = off'))
        declare('max_joint_speed', d.max_joint_speed, describe('joint speed bound, rad/s'))
        declare('close_aperture', g.close_aperture, describe('gripper closes below, m'))
        declare('open_aperture', g.open_aperture, describe('gripper opens above, m'))
        declare('min_state_duration', g.min_state_duration,
                describe('shortest gripper state that counts, s'))
        self._retargeters: dict[tuple, DexterousRetargeter] = {}
        self._pub = self.create_publisher(HandCommandsMsg, topics.HAND_COMMANDS, LATCHED)
        if self._str('input') == 'wrist_trajectory':
            self.create_subscription(WristTrajectoryMsg, topics.WRIST_TRAJECTORY_BASE,
                                     self._on_wrist_trajectory, LATCHED)
        else:
            self.create_subscription(HandTrackMsg, topics.HAND_TRACK, self._on_hand_track,
                                     LATCHED)

    def _str(self, name: str) -> str:
        return self.get_parameter(name).get_parameter_value().string_value

    def _float(self, name: str) -> float:
        return self.get_parameter(name).get_parameter_value().double_value

    def _int(self, name: str) -> int:
        return self.get_parameter(name).get_parameter_value().integer_value

    def _dexterous_config(self) -> DexterousRetargetConfig:
        return DexterousRetargetConfig(
            method=RetargetingMethod(self._str('method')), urdf_path=self._str('urdf_path'),
            scaling_factor=self._float('scaling_factor'),
            low_pass_alpha=self._float('low_pass_alpha'),
            max_joint_speed=self._float('max_joint_speed'))

    def _gripper_config(self) -> GripperRetargetConfig:
        return GripperRetargetConfig(
            close_aperture=self._float('close_aperture'),
            open_aperture=self._float('open_aperture'),
            min_state_duration=self._float('min_state_duration'))

    def _on_hand_track(self, msg: HandTrackMsg) -> None:
        try:
            track: HandTrack = hand_track_from_msg(msg)
        except (ArtifactError, ValueError) as exc:
            self.get_logger().error(f'ignoring a malformed hand track: {exc}')
            return
        self._publish(track.times, track.keypoints_m, track.handedness, msg.header.stamp)

    def _on_wrist_trajectory(self, msg: WristTrajectoryMsg) -> None:
        try:
            trajectory: WristTrajectory = wrist_trajectory_from_msg(msg)
        except (ArtifactError, ValueError) as exc:
            self.get_logger().error(f'ignoring a malformed wrist trajectory: {exc}')
            return
        if trajectory.finger_keypoints is None:
            self.get_logger().error('wrist trajectory has no finger keypoints: nothing to '
                                    'retarget')
            return
        self._publish(trajectory.times, trajectory.finger_keypoints, Handedness.RIGHT,
                      msg.header.stamp)

    def _publish(self, times, keypoints, track_side: Handedness, stamp) -> None:
        side = Handedness(self._str('handedness') or track_side)
        try:
            if self._str('embodiment') == 'gripper':
                result = retarget_gripper(times, keypoints, self._gripper_config())
                msg = hand_commands_to_msg(None, result.events)
            else:
                commands = self._retargeter(side).retarget_sequence(times, keypoints)
                msg = hand_commands_to_msg(commands)
        except (RetargetError, GripperRetargetError, DescriptionError, ArtifactError,
                ValueError) as exc:
            self.get_logger().error(f'retargeting failed: {exc}')
            return
        msg.header = make_header('', stamp)
        msg.joint_trajectory.header = msg.header
        self._pub.publish(msg)
        self.get_logger().info(f'published hand commands for {len(times)} frames '
                               f'({self._str("embodiment")}, {side.value} hand)')

    def _retargeter(self, side: Handedness) -> DexterousRetargeter:
        config = self._dexterous_config()
        key = (side, config)
        if key not in self._retargeters:
            self._retargeters[key] = DexterousRetargeter(side, config)
        return self._retargeters[key]



def main(args: list[str] | None = None) -> None:
    run_node(RetargetNode, args)


if __name__ == '__main__':
    main()
