"""Keep an action goal's feedback flowing while the server works, as a sign of life.

DDS notices a killed server process only after its lease (~20 s with Fast DDS), so clients
(plan_and_execute) judge a planner by the age of its last feedback; a planner busy in one long
step (a denoising step, a render) would look dead without this.
"""

from __future__ import annotations

import threading
from typing import Any

HEARTBEAT_PERIOD_S = 1.0
"""Seconds between repeats of the latest feedback; clients allow several periods of silence."""


class FeedbackHeartbeat:
    """Publish a goal's latest feedback now and then every `period_s` until the block ends."""

    def __init__(self, goal_handle: Any, feedback: Any,
                 period_s: float = HEARTBEAT_PERIOD_S) -> None:
        self._handle = goal_handle
        self._feedback = feedback
        self._period_s = period_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='feedback-heartbeat')

    def publish(self, feedback: Any) -> None:
        """Publish `feedback` and repeat it from now on."""
        with self._lock:
            self._feedback = feedback
            self._handle.publish_feedback(feedback)

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            with self._lock:
                if self._handle.is_active:
                    self._handle.publish_feedback(self._feedback)

    def __enter__(self) -> FeedbackHeartbeat:
        self.publish(self._feedback)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
