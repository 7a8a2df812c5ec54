"""ROS time, duration and header messages to and from seconds."""

from __future__ import annotations

import math

from builtin_interfaces.msg import Duration, Time
from std_msgs.msg import Header


def seconds_to_duration(seconds: float) -> Duration:
    sec = math.floor(seconds)
    return Duration(sec=int(sec), nanosec=int(round((seconds - sec) * 1e9)) % 1_000_000_000)


def duration_to_seconds(duration: Duration) -> float:
    return duration.sec + duration.nanosec * 1e-9


def seconds_to_time(seconds: float) -> Time:
    sec = math.floor(seconds)
    return Time(sec=int(sec), nanosec=int(round((seconds - sec) * 1e9)) % 1_000_000_000)


def time_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def make_header(frame_id: str = '', stamp: float | Time = 0.0) -> Header:
    return Header(frame_id=frame_id,
                  stamp=stamp if isinstance(stamp, Time) else seconds_to_time(stamp))
