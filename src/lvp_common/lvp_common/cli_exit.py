"""The exit-code table of every `lvp*` command-line tool, and the wrapper that applies it.

Exit status = PlanAndExecute.action's error code of the failed stage (0 success ... 11
ARCHIVE_FAILED), 64 for a command-line usage error (sysexits.h EX_USAGE; argparse's own 2 would
read as PLANNER_FAILED) and 70 for an unexpected internal error (EX_SOFTWARE), reported as one
line; `--debug` shows its traceback. Importing this module also quiets third-party log noise
(MediaPipe/LiteRT, absl, FFmpeg, progress bars on non-TTY output): import it before those
libraries load.
"""

from __future__ import annotations

import argparse
import enum
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn


class ExitCode(enum.IntEnum):
    """Exit status of the command-line tools (the first twelve are PlanAndExecute's codes)."""

    SUCCESS = 0
    INVALID_GOAL = 1
    PLANNER_FAILED = 2
    NO_HAND_FOUND = 3
    RECONSTRUCTION_FAILED = 4
    RETARGET_FAILED = 5
    GRASP_FAILED = 6
    UNREACHABLE = 7
    SAFETY_VIOLATION = 8
    EXECUTION_FAILED = 9
    CANCELED = 10
    ARCHIVE_FAILED = 11
    USAGE = 64
    INTERNAL_ERROR = 70


EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.SUCCESS: 'done',
    ExitCode.INVALID_GOAL: 'bad input: a file, option or value the message names',
    ExitCode.PLANNER_FAILED: 'no video plan (model, checkpoint or demonstration video)',
    ExitCode.NO_HAND_FOUND: 'no usable hand in the plan',
    ExitCode.RECONSTRUCTION_FAILED: 'no metric wrist path',
    ExitCode.RETARGET_FAILED: 'no hand commands / gripper events',
    ExitCode.GRASP_FAILED: 'no grasp',
    ExitCode.UNREACHABLE: 'IK or time parameterization failed',
    ExitCode.SAFETY_VIOLATION: 'the safety filter refused the motion',
    ExitCode.EXECUTION_FAILED: 'the backend failed or could not be set up',
    ExitCode.CANCELED: 'stopped (Ctrl-C)',
    ExitCode.ARCHIVE_FAILED: 'an output (archive, report, file) could not be written',
    ExitCode.USAGE: 'command-line usage error (unknown option, missing argument)',
    ExitCode.INTERNAL_ERROR: 'unexpected internal error (a bug: rerun with --debug)',
}


class CliError(Exception):
    """An error a tool reports as one line and exits with `code`."""

    def __init__(self, code: ExitCode | int, message: str) -> None:
        super().__init__(message)
        self.code = ExitCode(code)
        self.message = message


class CliArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that exits 64 on a usage error and takes `--debug` everywhere."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # SUPPRESS: a subcommand's default must not undo `--debug` given before it
        self.add_argument('--debug', action='store_true', default=argparse.SUPPRESS,
                          help='show the traceback of an unexpected error')

    def error(self, message: str) -> NoReturn:
        """Print the usage and the problem, then exit with ExitCode.USAGE."""
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.USAGE), f'{self.prog}: error: {message}\n')


def quiet_third_party_logs() -> None:
    """Set the log levels of the native libraries (before they load) and of progress bars."""
    env = {
        'GLOG_minloglevel': '2',  # MediaPipe / LiteRT C++ INFO and WARNING lines
        'TF_CPP_MIN_LOG_LEVEL': '2',
        'ABSL_MIN_LOG_LEVEL': '2',
        'OPENCV_LOG_LEVEL': 'ERROR',
        'OPENCV_FFMPEG_LOGLEVEL': '16',  # AV_LOG_ERROR: no H.264 NAL warnings from cv2
        'TRANSFORMERS_VERBOSITY': 'error',
        'DIFFUSERS_VERBOSITY': 'error',
    }
    if not sys.stderr.isatty():
        # a redirected log would fill with one `\r` line per bar update
        env.update({'TQDM_DISABLE': '1', 'HF_HUB_DISABLE_PROGRESS_BARS': '1'})
    for key, value in env.items():
        os.environ.setdefault(key, value)


def run_cli(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
            body: Callable[[argparse.Namespace], int],
            errors: Mapping[type[BaseException], ExitCode] | None = None) -> int:
    """Parse `argv`, run `body(args)` and turn every failure into one line and an exit code.

    CliError carries its code; an exception of a type in `errors` exits with that code (the
    first matching entry); Ctrl-C is CANCELED; anything else is INTERNAL_ERROR, with the
    traceback only under --debug.
    """
    prog = parser.prog
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (64)
        return exc.code if isinstance(exc.code, int) else int(ExitCode.USAGE)
    debug = bool(getattr(args, 'debug', False))
    try:
        return int(body(args))
    except CliError as exc:
        _report(prog, exc.message, debug)
        return int(exc.code)
    except KeyboardInterrupt:
        print(f'{prog}: interrupted', file=sys.stderr)
        return int(ExitCode.CANCELED)
    except Exception as exc:  # noqa: BLE001 - the one place a tool turns any error into a line
        for kind, code in (errors or {}).items():
            if isinstance(exc, kind):
                _report(prog, str(exc) or type(exc).__name__, debug)
                return int(code)
        detail = f'{type(exc).__name__}: {exc}' if str(exc) else type(exc).__name__
        _report(prog, f'internal error: {detail}' + ('' if debug else
                ' (a bug; rerun with --debug for the traceback)'), debug)
        return int(ExitCode.INTERNAL_ERROR)


def _report(prog: str, message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f'{prog}: error: {message}', file=sys.stderr)


def check_output_path(path: str | os.PathLike[str], option: str, kind: str = 'file') -> None:
    """Refuse an output that cannot be written, before anything runs (CliError INVALID_GOAL).

    kind 'file': `path` must not be a folder and its parent must be (or become) a writable
    folder; kind 'dir': `path` must not be an existing file, and must be (or become) a writable
    folder. Nothing is created.
    """
    from pathlib import Path

    target = Path(path)
    if kind == 'dir' and target.exists() and not target.is_dir():
        raise CliError(ExitCode.INVALID_GOAL,
                       f'{option} {target}: exists and is not a folder; give a new folder name')
    if kind == 'file' and target.is_dir():
        raise CliError(ExitCode.INVALID_GOAL, f'{option} {target}: is a folder; give a file name')
    folder = target if kind == 'dir' and target.is_dir() else target.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise CliError(ExitCode.INVALID_GOAL, f'{option} {target}: {folder} is not a folder')
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CliError(ExitCode.INVALID_GOAL, f'{option} {target}: {folder} is not writable')


quiet_third_party_logs()
