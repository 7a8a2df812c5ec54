"""The simulated end effector's actuator targets at each physics step, from the commands of an
execution request: Franka finger widths from GripperEvents (rate limited), Inspire joint angles
from normalized HandCommands. Used by lvp_sim.mujoco_executor."""

from __future__ import annotations

import numpy as np
from lvp_common.artifacts import GripperEvent, HandCommands
from lvp_retarget.inspire_hand import INSPIRE_ACTUATORS

from lvp_sim.mujoco_model import FRANKA_FINGER_RANGE, SimulationError


def interpolate(times: np.ndarray, samples: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Linearly interpolate samples (N, J) at query times (M,), held beyond the ends."""
    return np.stack([np.interp(query, times, samples[:, j]) for j in range(samples.shape[1])],
                    axis=1)


def finger_targets(events: tuple[GripperEvent, ...], step_times: np.ndarray,
                   initial_width: float, speed: float,
                   resting_width: float | None = None) -> np.ndarray:
    """Return each Franka finger's target (S, 2), m: the events' widths, rate limited, from
    `initial_width` (the fingers' commanded width at the start); before the first event the
    gripper goes to `resting_width` (default: stays at initial_width)."""
    low, high = FRANKA_FINGER_RANGE
    desired = np.full(len(step_times), initial_width if resting_width is None else resting_width)
    for event in sorted(events, key=lambda e: e.time):
        # OPEN and CLOSE both go to their width (CLOSE 0 = until contact, force limited).
        desired[step_times >= event.time] = np.clip(event.width, 2.0 * low, 2.0 * high)
    commanded = np.empty_like(desired)
    width = initial_width
    max_change = speed * (step_times[1] - step_times[0]) if len(step_times) > 1 else np.inf
    for i, goal in enumerate(desired):
        width += float(np.clip(goal - width, -max_change, max_change))
        commanded[i] = width
    return np.repeat(commanded[:, None] / 2.0, 2, axis=1)


def inspire_targets(commands: HandCommands | None, step_times: np.ndarray) -> np.ndarray:
    """Return the Inspire actuated joints' targets (S, 6), rad, from normalized commands."""
    open_ = np.array([a.open_position for a in INSPIRE_ACTUATORS])
    closed = np.array([a.closed_position for a in INSPIRE_ACTUATORS])
    if commands is None:
        normalized = np.ones((len(step_times), len(INSPIRE_ACTUATORS)))
    else:
        names = [a.name for a in INSPIRE_ACTUATORS]
        missing = set(names) - set(commands.actuator_names)
        if missing:
            raise SimulationError(f'HandCommands lack Inspire actuators {sorted(missing)}; '
                                  f'they have {commands.actuator_names}')
        columns = [commands.actuator_names.index(n) for n in names]
        normalized = interpolate(commands.times, commands.normalized[:, columns], step_times)
    return closed + normalized * (open_ - closed)
