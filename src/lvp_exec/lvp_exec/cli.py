"""`lvp_exec PATH.npz --out motion.npz`: move a robot's end effector along a path, with a report.

    lvp_exec path.npz --out motion.npz [--path NAME] [--embodiment franka_gripper|g1_inspire]
        [--g1-side right|left] [--commands commands.npz] [--plan-only]
        [--backend sim|ros2_control|unitree] [backend options]
        [--video execution.mp4 | --no-video] [--fps 10]

PATH.npz holds EE targets in the robot base frame in lvp_reconstruct's `--out` layout (see
lvp_exec.motion_file): the `ee` path, else `base_smoothed`, else `base_raw` (`--path` picks
another). The poses are taken as the end effector's targets as they are (the Franka TCP, the G1
hand mount); the human-wrist -> robot mapping of the pipeline is `lvp replay`'s job. `--commands`
reads lvp_retarget's `--out` file: its gripper events (Franka) or Inspire commands (G1), on the
path's clock.

Stages: ik -> timing -> safety -> executing (skipped with --plan-only). Writes the timed joint
trajectory (`--out`) and, for a sim run, the scene camera's video of the execution (`--video`,
default: `--out` with .mp4). Ctrl-C while the robot moves stops it. Exit status: the table of
every lvp tool (lvp_common.cli_exit; ExecuteMotion's codes mapped onto it by name): 0 done,
1 bad input, 7 unreachable (ik/timing), 8 safety violation, 9 execution failed, 10 stopped,
64 usage error, 70 internal error (`--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault('MUJOCO_GL', 'egl')  # before anything imports mujoco (the sim backend)

import numpy as np  # noqa: E402
from lvp_common.artifacts import GripperEvent, HandCommands, WristTrajectory  # noqa: E402
from lvp_common.cli_exit import (  # noqa: E402
    CliArgumentParser,
    CliError,
    ExitCode,
    check_output_path,
    run_cli,
)

from lvp_exec.backends import (  # noqa: E402
    ExecutionSetupError,
    add_backend_arguments,
    backend_options_from_args,
    make_executor,
)
from lvp_exec.embodiment_hardware import (  # noqa: E402
    DEFAULT_EMBODIMENT,
    EMBODIMENTS,
    hardware_named,
    load_embodiment_robot,
)
from lvp_exec.motion import (  # noqa: E402
    MotionConfig,
    MotionError,
    MotionErrorCode,
    MotionRequest,
    MotionResult,
    error_code_for,
    execute_motion,
)
from lvp_exec.motion_file import (  # noqa: E402
    MotionFileError,
    load_commands_npz,
    load_ee_path_npz,
    save_motion_npz,
)
from lvp_exec.robots import RobotModel, RobotModelError  # noqa: E402

DEFAULT_FPS = 10.0
"""Frame rate (Hz) of the execution video."""


class InputError(ValueError):
    """A command-line input is missing, unreadable or inconsistent with the others."""


def exit_code_for(code: MotionErrorCode) -> ExitCode:
    """The tools' exit code of an ExecuteMotion result code (same name, PlanAndExecute value)."""
    return ExitCode[code.name]


def build_parser() -> argparse.ArgumentParser:
    """Return the command line parser of `lvp_exec`."""
    p = CliArgumentParser(
        prog='lvp_exec', description='Move a robot\'s end effector along a path: IK, TOPP-RA '
        'timing, the safety filter, then execution (MuJoCo by default); print what ran and '
        'where it stopped, write the joint trajectory.')
    p.add_argument('path', type=Path, help='EE targets in the robot base frame (.npz, '
                   'lvp_reconstruct\'s --out layout)')
    p.add_argument('--out', type=Path, required=True,
                   help='write the timed joint trajectory here (.npz)')
    p.add_argument('--path-name', metavar='NAME', dest='path_name',
                   help='which path of the file (default: ee, else base_smoothed, else base_raw)')
    p.add_argument('--embodiment', choices=EMBODIMENTS, default=DEFAULT_EMBODIMENT,
                   help='franka_gripper: the targets are the Franka hand\'s TCP; g1_inspire: '
                   'the G1 arm\'s hand mount (default franka_gripper)')
    p.add_argument('--g1-side', choices=('right', 'left'), default='right',
                   help='the G1 arm driven (default right)')
    p.add_argument('--commands', type=Path, help='lvp_retarget --out file: gripper events '
                   '(franka_gripper) or Inspire hand commands (g1_inspire), on the path\'s clock')
    p.add_argument('--plan-only', action='store_true',
                   help='stop after the safety filter: move nothing')
    add_backend_arguments(p)
    p.add_argument('--video', type=Path,
                   help='sim: write the scene camera\'s video of the execution here (.mp4; '
                   'default: --out with .mp4)')
    p.add_argument('--no-video', action='store_true', help='sim: render no video')
    p.add_argument('--fps', type=float, default=DEFAULT_FPS,
                   help=f'sim: video frame rate (default {DEFAULT_FPS:g})')
    return p


def read_inputs(args: argparse.Namespace) -> tuple[RobotModel, WristTrajectory, str,
                                                  tuple[GripperEvent, ...], HandCommands | None]:
    """Load the robot, the EE path (and its name) and the end-effector commands for it."""
    try:
        robot = load_embodiment_robot(args.embodiment, args.g1_side)
    except RobotModelError as exc:
        raise InputError(f'--embodiment {args.embodiment}: {exc}') from exc
    try:
        ee_path, name = load_ee_path_npz(args.path, args.path_name)
    except MotionFileError:
        raise
    except ValueError as exc:  # GeometryError: NaN, or a zero quaternion; index = (waypoint, i)
        raise InputError(f'{args.path}: the path\'s poses are not valid: {exc}') from exc
    except (zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f'{args.path}: not an .npz file ({exc})') from exc
    if ee_path.frame_id not in robot.base_frame_names:
        raise InputError(f'{args.path}: path {name!r} is in frame {ee_path.frame_id!r}; '
                         f'{args.embodiment} targets must be in the robot base frame '
                         f'({" or ".join(robot.base_frame_names)})')
    if ee_path.num_frames == 0:
        raise InputError(f'{args.path}: path {name!r} has no poses')
    events: tuple[GripperEvent, ...] = ()
    commands = None
    if args.commands is not None:
        try:
            hand, gripper = load_commands_npz(args.commands)
        except (zipfile.BadZipFile, EOFError) as exc:
            raise InputError(f'--commands {args.commands}: not an .npz file ({exc})') from exc
        if hardware_named(args.embodiment).takes_gripper_events:
            events = gripper
        else:
            if hand is None:
                raise InputError(f'--commands {args.commands}: no Inspire hand commands')
            commands = hand
    return robot, ee_path, name, events, commands


class _StopOnInterrupt:
    """While active, Ctrl-C asks the executor to stop the robot instead of killing the tool."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._previous: Any = None

    def __enter__(self) -> _StopOnInterrupt:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, lambda *_: self.requested.set())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def stage_lines(motion: MotionResult, backend: str) -> list[str]:
    """One line per stage that completed: what it produced and how long it took."""
    lines = []
    ms = {stage: 1000.0 * t for stage, t in motion.timings.items()}
    path = motion.joint_path
    if 'ik' in motion.passed and path is not None:
        lines.append(f'ik: {len(path.times)} waypoints solved, max residual '
                     f'{1000.0 * path.max_position_error:.2f} mm / '
                     f'{np.degrees(path.max_orientation_error):.2f} deg ({ms["ik"]:.0f} ms)')
    timed, trajectory = motion.timed, motion.trajectory
    if 'timing' in motion.passed and timed is not None and trajectory is not None:
        plan = float(timed.plan_times[-1] - timed.plan_times[0])
        lines.append(f'timing: {trajectory.duration:.2f} s trajectory, {len(trajectory.times)} '
                     f'samples (the path spans {plan:.2f} s of the plan; its last target is '
                     f'reached at t = {timed.waypoint_times[-1]:.2f} s) '
                     f'({ms["timing"]:.0f} ms)')
    if 'safety' in motion.passed:
        lines.append(f'safety: passed (joint limits, speeds, accelerations, workspace, table) '
                     f'({ms["safety"]:.0f} ms)')
    if 'executing' in motion.passed:
        lines.append(f'executing: done on {backend}: {_execution_summary(motion.execution)}')
    return lines


def _execution_summary(execution: Any) -> str:
    tracking = getattr(execution, 'max_tracking_error', None)
    if tracking is None:
        return 'the backend reported success'
    return (f'{execution.sim_seconds:.2f} s simulated in {execution.wall_seconds:.2f} s; '
            f'tracking error max {1000.0 * tracking:.2f} mrad (joints), '
            f'{1000.0 * execution.max_ee_error:.2f} mm (EE)')


def failure_lines(error: MotionError) -> list[str]:
    """Where the run stopped and why, with the offending joint/frame, time and value."""
    code = error_code_for(error)
    lines = [f'{error.stage}: FAILED ({code.name}): {error.message}']
    cause = error.__cause__
    details = [f'{name} {getattr(cause, name)}' for name in ('joint', 'frame')
               if getattr(cause, name, None)]
    if getattr(cause, 'time', None) is not None:
        details.append(f't = {cause.time:.3f} s')  # type: ignore[union-attr]
    for name in ('value', 'limit'):
        if getattr(cause, name, None) is not None:
            details.append(f'{name} {getattr(cause, name):.4f}')
    if getattr(cause, 'index', None) is not None:
        details.insert(0, f'waypoint {cause.index}')  # type: ignore[union-attr]
    if details:
        lines.append(f'  at: {", ".join(details)}')
    if error.stage != 'executing':
        lines.append('nothing executed')
    elif error.stopped:
        lines.append(f'the robot was stopped at t = {error.stopped_at or 0.0:.2f} s of the '
                     'trajectory and holds there')
    return lines


def run(args: argparse.Namespace) -> int:
    """Load the inputs named by `args`, run the stages, print the report, write the outputs."""
    check_output_path(args.out, '--out')
    video = None
    if args.backend == 'sim' and not args.plan_only and not args.no_video:
        video = args.video or args.out.with_suffix('.mp4')
        check_output_path(video, '--video')
        if not args.fps > 0.0:
            raise InputError(f'--fps {args.fps}: must be > 0')
    robot, ee_path, name, events, commands = read_inputs(args)
    print(f'lvp_exec: {args.embodiment} ({robot.name}, targets {robot.ee_frame}); path {name!r} '
          f'of {args.path}: {ee_path.num_frames} poses over '
          f'{float(ee_path.times[-1] - ee_path.times[0]):.2f} s in {ee_path.frame_id}')
    if args.commands is not None:
        print(f'commands: {len(events)} gripper events' if commands is None else
              f'commands: {len(commands.times)} Inspire hand commands')
    executor = None
    if not args.plan_only:
        try:
            executor = make_executor(args.backend, args.embodiment, backend_options_from_args(
                args, sim_render_fps=0.0 if video is None else args.fps))
        except ExecutionSetupError as exc:
            raise InputError(f'--backend {args.backend}: {exc}') from exc
    motion = MotionResult(robot, ee_path)
    stop = _StopOnInterrupt()
    try:
        with stop:
            execute_motion(MotionRequest(robot, ee_path, events, commands,
                                         should_stop=stop.requested.is_set), executor,
                           MotionConfig(plan_only=args.plan_only), result=motion)
    except MotionError as exc:
        for line in stage_lines(motion, args.backend):
            print(line)
        lines = failure_lines(exc)
        print(f'lvp_exec: stopped at {lines[0]}', file=sys.stderr)
        for line in lines[1:]:
            print(line, file=sys.stderr)
        return int(exit_code_for(error_code_for(exc)))
    finally:
        close = getattr(executor, 'close', None)
        if close is not None:
            close()
    for line in stage_lines(motion, args.backend):
        print(line)
    start = 'measured by the backend' if motion.start_measured else f'{robot.name} home'
    print(f'start state: {start}')
    if args.plan_only:
        print('plan only: nothing executed')
    try:
        print(f'joint trajectory: {save_motion_npz(args.out, motion)}')
        if video is not None:
            from lvp_common.video_io import write_video

            frames = motion.execution.frames
            print(f'video: {write_video(video, frames, args.fps)} ({len(frames)} frames at '
                  f'{args.fps:g} fps)')
    except OSError as exc:
        raise CliError(ExitCode.ARCHIVE_FAILED, f'cannot write the outputs: {exc}') from exc
    return int(ExitCode.SUCCESS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line tool; return the exit status (lvp_common.cli_exit's table)."""
    return run_cli(build_parser(), argv, run, {
        InputError: ExitCode.INVALID_GOAL, MotionFileError: ExitCode.INVALID_GOAL,
        OSError: ExitCode.INVALID_GOAL})


if __name__ == '__main__':
    sys.exit(main())
