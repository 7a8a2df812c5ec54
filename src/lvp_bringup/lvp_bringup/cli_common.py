"""What the `lvp` subcommands share: progress bars, the output folder, the sim executor and
the lvp_sim metadata stored in archives (world, task) with the task check it allows."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from lvp_common.cli_exit import CliError, ExitCode, check_output_path
from lvp_common.geometry import Pose
from lvp_exec.backends import BackendOptions, make_executor

SIM_RENDER_FPS = 10.0
"""Frame rate (Hz) of the simulated execution video."""


class StageBars:
    """One tqdm bar per stage, fed by the pipeline's progress callback."""

    def __init__(self, enabled: bool) -> None:
        # bars redraw with '\r': on a redirected stderr every update would be a log line
        self.enabled = enabled and sys.stderr.isatty()
        self._bar = None
        self._stage = ''

    def __call__(self, stage: str, stage_progress: float, overall: float) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=100, desc=f'{stage:<14}', unit='%', leave=True,
                             bar_format='{desc} {percentage:3.0f}%|{bar}| {elapsed}')
        assert self._bar is not None
        self._bar.n = int(round(100 * stage_progress))
        self._bar.set_postfix_str(f'overall {100 * overall:.0f}%')
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None



OUTPUT_NAMES = ('plan_archive', 'report.html', 'plan.mp4', 'execution.mp4')
"""What the commands write into --out (none may be there already)."""


def out_dir(args) -> Path:
    """The output folder (not created yet); refuse one that cannot take this run's outputs.

    Checked before anything is planned or moves: a reused --out would otherwise be found
    only when the archive is written, after the robot moved.
    """
    stamp = time.strftime('%Y%m%d-%H%M%S')
    out = Path(args.out) if args.out else Path('out') / f'{args.command}-{stamp}'
    check_output_path(out, '--out', kind='dir')
    taken = [name for name in OUTPUT_NAMES if (out / name).exists()]
    if taken:
        raise CliError(ExitCode.INVALID_GOAL,
                       f'--out {out}: already holds {", ".join(taken)} from an earlier run; '
                       'give a new folder')
    return out



def world_to_metadata(world) -> dict:
    """An lvp_sim WorldConfig as JSON-able metadata (stored in the archive for replay)."""
    from dataclasses import fields

    out: dict = {}
    for f in fields(world):
        value = getattr(world, f.name)
        if f.name == 'camera':
            value = {g.name: getattr(value, g.name) for g in fields(value)}
        elif f.name == 'robot_mount':
            value = value.position.tolist() + value.quaternion.tolist()
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def world_from_metadata(meta: dict):
    """Rebuild the WorldConfig written by `world_to_metadata`."""
    from lvp_sim.world import CameraConfig, WorldConfig

    values: dict[str, Any] = {k: _tuples(v) for k, v in meta.items()}
    values['camera'] = CameraConfig(**{k: _tuples(v) for k, v in meta['camera'].items()})
    mount = np.asarray(meta['robot_mount'], dtype=np.float64)
    values['robot_mount'] = Pose(mount[:3], mount[3:])
    return WorldConfig(**values)


def _tuples(value: Any) -> Any:
    """JSON lists back to the tuples the dataclasses hold."""
    return tuple(value) if isinstance(value, list) else value


def task_to_metadata(spec) -> dict:
    """An lvp_sim TaskSpec as JSON-able metadata."""
    return {'name': spec.name, 'kind': spec.kind.value, 'object_name': spec.object_name,
            'lift_height': spec.lift_height, 'region_xy': list(spec.region_xy),
            'region_half_size': spec.region_half_size, 'press_depth': spec.press_depth}


def task_check(task_meta: dict | None, execution) -> str:
    """Run the task's success predicate on the simulated scene, or say why it is not run."""
    if execution is None or not hasattr(execution, 'final_state'):
        return 'task check: not evaluated (no simulated execution)'
    if task_meta is None:
        return ('task check: not evaluated (the plan is not an lvp_sim demonstration: the sim '
                'world is not the plan\'s scene, so there is no task predicate)')
    from lvp_sim.tasks import TaskSpec, evaluate_task

    spec = TaskSpec(**{k: _tuples(v) for k, v in task_meta.items()})
    outcome = evaluate_task(spec, execution.initial_state, execution.final_state)
    verdict = 'SUCCESS' if outcome.success else 'FAILED'
    return (f'task check ({spec.name}, MuJoCo, the demonstration\'s world): {verdict}: '
            f'{outcome.message}')


def sim_executor(world=None):
    """The MuJoCo executor in `world` (an lvp_sim WorldConfig; None = the embodiment's layout)."""
    return make_executor('sim', None, BackendOptions(sim_world=world,
                                                     sim_render_fps=SIM_RENDER_FPS))

