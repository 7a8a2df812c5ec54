"""`lvp replay ARCHIVE`: re-run IK -> timing -> safety -> execution from a plan archive on the
sim or a robot backend (no model, no tracking)."""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from lvp_common.artifacts import PlanSource
from lvp_common.cli_exit import CliError
from lvp_exec.backends import (
    ROBOT_BACKEND_EMBODIMENT,
    BackendOptions,
    ExecutionSetupError,
    add_backend_arguments,
    backend_options_from_args,
    check_backend_fits,
    close_executor,
    make_executor,
    resolve_arm_model,
)

from lvp_bringup.cli_common import (
    SIM_RENDER_FPS,
    StageBars,
    out_dir,
    task_check,
    world_from_metadata,
)
from lvp_bringup.embodiments import embodiment_names, is_embodiment
from lvp_bringup.pipeline import (
    EeMapping,
    ErrorCode,
    PipelineConfig,
    PipelineResult,
    StageError,
    run_motion,
)
from lvp_bringup.report import RunSummary, write_report


def read_replay(archive: str | Path):
    """Read an archive to replay: (PlanRecord, EeMapping); StageError if it cannot be."""
    from lvp_common.ros.plan_archive import read_plan_archive

    if not Path(archive).exists():
        raise StageError('validation', ErrorCode.INVALID_GOAL,
                         f'plan archive not found: {archive}')
    try:
        record = read_plan_archive(archive)
    except (OSError, ValueError, KeyError, TypeError) as exc:  # PlanArchiveError, bad JSON
        raise StageError('validation', ErrorCode.INVALID_GOAL,
                         f'{archive}: not a readable plan archive: {exc}') from exc
    meta = record.metadata.get('ee_mapping')
    if record.wrist_base is None or not isinstance(meta, dict):
        raise StageError('validation', ErrorCode.INVALID_GOAL,
                         f'{archive} holds no base-frame wrist path or EE mapping to replay')
    try:
        mapping = EeMapping.from_metadata(meta)
    except (KeyError, TypeError, ValueError) as exc:
        raise StageError('validation', ErrorCode.INVALID_GOAL,
                         f'{archive}: malformed ee_mapping metadata ({type(exc).__name__}: '
                         f'{exc})') from exc
    if not is_embodiment(mapping.embodiment):
        raise StageError('validation', ErrorCode.INVALID_GOAL,
                         f'{archive}: ee_mapping names embodiment {mapping.embodiment!r}; '
                         f'expected one of {", ".join(embodiment_names())}')
    return record, mapping


def replay_executor(record, mapping: EeMapping, backend: str = 'sim',
                    options: BackendOptions | None = None):
    """The executor an archive is replayed on; refuse a backend for another embodiment.

    The sim runs in the archived lvp_sim world (else the embodiment's layout), rendered.
    Raises StageError (INVALID_GOAL: wrong embodiment; EXECUTION_FAILED: the backend cannot be
    set up) before anything connects to a robot.
    """
    options = options or BackendOptions()
    try:
        check_backend_fits(backend, mapping.embodiment)
    except ExecutionSetupError as exc:
        raise StageError('validation', ErrorCode.INVALID_GOAL,
                         f'{exc}: this archive is a {mapping.embodiment} plan; replay it with '
                         f'--backend sim or --backend {_backend_for(mapping.embodiment)}'
                         ) from exc
    if backend == 'sim':
        world = record.metadata.get('sim_world')
        try:
            sim_world = world_from_metadata(world) if isinstance(world, dict) else None
        except (KeyError, TypeError, ValueError) as exc:
            raise StageError('validation', ErrorCode.INVALID_GOAL,
                             f'malformed sim_world metadata in the archive ('
                             f'{type(exc).__name__}: {exc})') from exc
        options = replace(options, sim_render_fps=SIM_RENDER_FPS, sim_world=sim_world)
    try:
        return make_executor(backend, mapping.embodiment, options)
    except ExecutionSetupError as exc:
        raise StageError('executing', ErrorCode.EXECUTION_FAILED, str(exc)) from exc


def _backend_for(embodiment: str) -> str:
    robots = [b for b, e in ROBOT_BACKEND_EMBODIMENT.items() if e == embodiment]
    return robots[0] if robots else 'sim'


def replay_record(record, mapping: EeMapping, executor=None, plan_only: bool = False,
                  progress=None, should_stop=None, arm_model: str = '') -> PipelineResult:
    """Re-run IK -> timing -> safety -> execution on `executor` from a record's wrist path.

    The trajectory starts at the executor's current joint state (the sim: the robot's home,
    where an archived plan started too). No model, no tracking. arm_model: the Franka arm
    planned for ('' = the one the executor drives; the Panda without one).
    """
    result = PipelineResult(embodiment=record.embodiment or mapping.embodiment,
                            plan=record.plan, observation=record.observation,
                            hand_track=record.hand_track, wrist_base=record.wrist_base,
                            wrist_base_raw=record.wrist_base_raw,
                            gripper_events=record.gripper_events, grasp_plan=record.grasps,
                            hand_commands=record.hand_commands)
    config = PipelineConfig(plan_only=plan_only, executor=executor, arm_model=arm_model)
    if should_stop is not None:
        config.should_stop = should_stop
    run_motion(result, record.wrist_base, mapping, config, progress=progress)
    return result


def replay_archive(archive: str | Path, plan_only: bool = False, progress=None,
                   backend: str = 'sim', options: BackendOptions | None = None):
    """Re-run IK -> timing -> safety -> execution from an archive's wrist path and EE mapping.

    No model, no tracking; `backend` and `options` as in lvp_exec.backends (plan_only:
    no backend is set up). Returns (record, PipelineResult).
    """
    record, mapping = read_replay(archive)
    executor = None if plan_only else replay_executor(record, mapping, backend, options)
    try:
        return record, replay_record(record, mapping, executor, plan_only, progress)
    finally:
        if executor is not None:
            close_executor(executor)


class _StopOnInterrupt:
    """While active, Ctrl-C asks the executor to stop the robot (`should_stop`) instead of
    killing the process mid-motion; a second Ctrl-C interrupts as usual."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._previous: Any = None
        self._installed = False

    def __call__(self) -> bool:
        return self.requested.is_set()

    def _on_interrupt(self, _signum, _frame) -> None:
        self.requested.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print('lvp replay: Ctrl-C: stopping the robot (again to abort)', file=sys.stderr)

    def __enter__(self) -> _StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():  # signals: main thread only
            self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
            self._installed = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous if self._previous is not None
                          else signal.SIG_DFL)


def describe_execution(executor: Any, trajectory: Any, execution: Any,
                       wall_time: float | None = None) -> str:
    """One line on what `executor` did: wall time, the backend's own result, and the final
    joint error (rad, max over the arm's joints) where the backend reports one."""
    name = getattr(executor, 'name', type(executor).__name__)
    took = '' if wall_time is None else f' in {wall_time:.2f} s (wall)'
    head = f'executed on {name}{took}, a {trajectory.duration:.2f} s trajectory'
    if name == 'sim':
        final = float(np.max(np.abs(execution.tracking_errors[-1])))
        return (f'{head}; final joint error {final:.2e} rad (MuJoCo, the executed vs the '
                f'planned last sample)')
    if name == 'ros2_control':
        return f'{head}; {_ros2_control_outcome(executor, trajectory, execution)}'
    if name == 'unitree':
        arm = execution.arm
        return (f'{head}; {arm.published} rt/arm_sdk messages over {arm.plan.times[-1]:.2f} s '
                f'(weight ramped in, trajectory, ramped out), {execution.hand_commands_sent} '
                f'Inspire commands on rt/inspire/cmd; final joint error: not reported (arm_sdk '
                f'takes targets and confirms nothing)')
    return head


def _final_joint_error(executor: Any, trajectory: Any, execution: Any) -> str:
    """The arm's joint error at the end: from the first JointState after the result (the
    controller's feedback can arrive after its result, so its last message need not be the
    end); from that last feedback when no joint state comes."""
    from lvp_exec.execution import ExecutionError

    try:
        final = executor.read_joint_positions(tuple(trajectory.joint_names))
    except ExecutionError as exc:
        reason = str(exc)
    else:
        error = float(np.max(np.abs(final - trajectory.positions[-1])))
        return (f'final joint error {error:.2e} rad (joint states on '
                f'{executor.config.joint_states_topic} after the result vs the trajectory\'s end)')
    if not execution.feedback:
        return f'final joint error: not reported (no joint states: {reason}; no feedback)'
    last = execution.feedback[-1]
    names = executor.config.controller.joint_name_map
    index = {n: i for i, n in enumerate(last.joint_names)}
    wanted = [index.get(names.get(j, j)) for j in trajectory.joint_names]
    if None in wanted or len(last.actual) != len(last.joint_names):
        return (f'final joint error: not reported (no joint states: {reason}; the feedback '
                'names other joints)')
    error = float(np.max(np.abs(last.actual[wanted] - trajectory.positions[-1])))
    return (f'final joint error {error:.2e} rad (the controller\'s last feedback at t = '
            f'{last.time_from_start:.2f} s vs the trajectory\'s end; no joint states: {reason})')


def _ros2_control_outcome(executor: Any, trajectory: Any, execution: Any) -> str:
    parts = [f'{executor.config.controller.action_name}: {execution.trajectory.message} '
             f'({execution.duration:.2f} s from goal acceptance to the result)']
    parts.append(_final_joint_error(executor, trajectory, execution))
    gripper = ', '.join(r.message for r in execution.gripper)
    parts.append(gripper or 'no gripper action')
    return '; '.join(parts)


def cmd_replay(args) -> int:
    """`lvp replay ARCHIVE [--backend sim|ros2_control|unitree]`."""
    from lvp_common.video_io import write_video

    backend = args.backend
    out = out_dir(args)
    try:
        record, mapping = read_replay(args.archive)
        executor = (None if args.plan_only else
                    replay_executor(record, mapping, backend, backend_options_from_args(args)))
    except StageError as exc:
        raise CliError(exc.code, f'replay: {exc}; nothing executed') from exc
    bars = StageBars(not args.quiet)
    where = 'MuJoCo' if backend == 'sim' else f'the {backend} backend'
    if not args.plan_only:
        print(f'lvp replay: executing on {where}')
    try:
        with _StopOnInterrupt() as stop:
            # --plan-only has no executor: plan for the arm --backend / --arm-model name
            result = replay_record(record, mapping, executor, args.plan_only, bars, stop,
                                   arm_model=resolve_arm_model(args.arm_model, backend))
        outcome = (describe_execution(executor, result.trajectory, result.execution,
                                      result.timings.get('executing'))
                   if result.executed else None)
    except StageError as exc:
        bars.close()
        print(f'lvp replay: {exc}' + ('' if exc.stage == 'executing' else
                                      '; nothing executed'), file=sys.stderr)
        return int(exc.code)
    finally:
        bars.close()
        if executor is not None:
            close_executor(executor)
    source = record.plan.source if record.plan is not None else PlanSource.GENERATED
    summary = RunSummary(command='replay', plan_source=str(record.metadata.get(
        'plan_source', source.value)), plan_source_note=f'replayed from {args.archive} '
        f'(no model, no tracking) on {where}', task=' / '.join(record.prompts), status='ok',
        archive_path=str(args.archive))
    archived = record.joint_trajectory
    traj = result.trajectory
    if archived is not None and traj is not None:
        if archived.positions.shape == traj.positions.shape:
            diff = float(np.max(np.abs(archived.positions - traj.positions)))
            line = f'replayed joint trajectory vs archived: max difference {diff:.2e} rad'
        else:
            moved = float(np.max(np.abs(traj.positions[0] - archived.positions[0])))
            line = (f'replayed joint trajectory vs archived: {len(traj.times)} vs '
                    f'{len(archived.times)} samples (the replay starts from the robot\'s '
                    f'measured state, {moved:.3f} rad from the archived start)')
        summary.notes.append(line)
        print(line)
    if outcome is not None:
        summary.notes.append(outcome)
        print(outcome)
    videos = {}
    report_result = result
    if backend == 'sim':
        ex = result.execution
        if ex is not None and len(ex.frames):  # type: ignore[attr-defined]
            write_video(out / 'execution.mp4', ex.frames, ex.frame_rate)  # type: ignore
            videos['simulated execution'] = 'execution.mp4'
        if result.executed:
            task = record.metadata.get('sim_task')
            summary.task_check = task_check(task if isinstance(task, dict) else None, ex)
    else:
        # the report's execution section is MuJoCo's (frames, EE error): the robot's is above
        report_result = replace(result, execution=None)
        if result.executed:
            summary.task_check = (f'task check: not evaluated (executed on {backend}: the task '
                                  'predicate needs the simulated scene)')
    if args.plan_only:
        summary.status = 'ok (plan only: nothing executed)'
    if summary.task_check:
        print(summary.task_check)
    report = write_report(out / 'report.html', summary, report_result, videos)
    print('stage timings: ' + ', '.join(f'{k} {v:.2f} s' for k, v in result.timings.items()))
    print(f'status: {summary.status}')
    print(f'report: {report}')
    return 0



def add_replay(sub) -> None:
    p = sub.add_parser(
        'replay', help='re-execute an archived plan (sim, ros2_control or unitree)',
        description='Re-run IK -> timing -> safety -> execution from a plan archive\'s '
        'base-frame wrist path and EE mapping (no model, no tracking), starting at the '
        'robot\'s current joint state, on the MuJoCo sim (task check of an lvp_sim '
        'demonstration) or a robot: ros2_control drives a Franka plan, unitree a G1 plan; '
        'a backend for the other embodiment is refused before anything moves. Ctrl-C stops '
        'the robot. The options are the plan_and_execute node\'s parameters of the same names.')
    p.add_argument('archive', help='plan archive folder (rosbag2, MCAP)')
    p.add_argument('--plan-only', action='store_true',
                   help='stop after the safety filter: no backend is set up, nothing moves')
    p.add_argument('--out', help='output folder (default out/replay-<timestamp>)')
    p.add_argument('--quiet', action='store_true', help='no progress bars')
    add_backend_arguments(p)

