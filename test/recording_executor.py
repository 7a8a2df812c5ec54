"""The MuJoCo sim executor, recording every request it is asked to run (shared by the tests
that check what reaches the robot: pipeline safety, plan court, closed loop)."""

from __future__ import annotations

from typing import Any


class RecordingExecutor:
    """Run requests on lvp_sim's MuJoCo executor in `world` and keep them in `requests`."""

    def __init__(self, world: Any) -> None:
        from lvp_sim.mujoco_executor import MujocoExecutor

        self.sim = MujocoExecutor(world_config=world)
        self.name = self.sim.name
        self.world_config = world
        self.requests: list = []

    def start_positions(self, robot: Any) -> Any:
        return self.sim.start_positions(robot)

    def execute(self, request: Any) -> Any:
        self.requests.append(request)
        return self.sim.execute(request)
