"""The tools' exit-code table: the action's codes, usage 64, internal 70, one line per error."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from lvp_common.cli_exit import (
    EXIT_CODE_MEANINGS,
    CliArgumentParser,
    CliError,
    ExitCode,
    check_output_path,
    run_cli,
)

ACTIONS = Path(__file__).resolve().parents[2] / 'lvp_interfaces' / 'action'


def action_result_codes(name: str) -> dict[str, int]:
    """The `int32 NAME=VALUE` constants of an .action file's result section."""
    text = (ACTIONS / name).read_text()
    result = text.split('---')[1]
    return {m[1]: int(m[2]) for m in re.finditer(r'^int32 ([A-Z_]+)=(\d+)$', result, re.M)}


def test_table_is_plan_and_execute_codes_plus_usage_and_internal():
    codes = action_result_codes('PlanAndExecute.action')
    assert len(codes) == 12
    table = {c.name: int(c) for c in ExitCode}
    assert {k: v for k, v in table.items() if k not in ('USAGE', 'INTERNAL_ERROR')} == codes
    assert table['USAGE'] == 64 and table['INTERNAL_ERROR'] == 70
    assert set(EXIT_CODE_MEANINGS) == set(ExitCode)


def test_every_execute_motion_code_has_an_entry_of_the_same_name():
    codes = action_result_codes('ExecuteMotion.action')
    assert codes and set(codes) <= {c.name for c in ExitCode}


def _parser() -> CliArgumentParser:
    parser = CliArgumentParser(prog='tool')
    parser.add_argument('--n', type=int, required=True)
    return parser


def test_usage_errors_exit_64_not_argparses_2(capsys):
    assert run_cli(_parser(), ['--n', 'x'], lambda a: 0) == 64
    assert "tool: error: argument --n: invalid int value: 'x'" in capsys.readouterr().err
    assert run_cli(_parser(), [], lambda a: 0) == 64
    assert run_cli(_parser(), ['--help'], lambda a: 0) == 0


def test_subcommand_parsers_exit_64_and_take_debug_anywhere():
    parser = CliArgumentParser(prog='tool')
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser('go').add_argument('--n', type=int)
    assert run_cli(parser, ['go', '--n', 'x'], lambda a: 0) == 64
    assert run_cli(parser, ['--debug', 'go'], lambda a: int(a.debug)) == 1
    assert run_cli(parser, ['go', '--debug'], lambda a: int(a.debug)) == 1
    assert run_cli(parser, ['go'], lambda a: int(getattr(a, 'debug', False))) == 0


def test_cli_error_is_one_line_with_its_code(capsys):
    def body(args):
        raise CliError(ExitCode.RETARGET_FAILED, 'no hand commands: track too short')

    assert run_cli(_parser(), ['--n', '1'], body) == 5
    err = capsys.readouterr().err
    assert err == 'tool: error: no hand commands: track too short\n'


def test_mapped_errors_take_the_first_matching_code(capsys):
    def body(args):
        raise FileNotFoundError('scene.png: file not found')

    errors = {KeyError: ExitCode.GRASP_FAILED, OSError: ExitCode.INVALID_GOAL}
    assert run_cli(_parser(), ['--n', '1'], body, errors) == 1
    assert capsys.readouterr().err == 'tool: error: scene.png: file not found\n'


def test_unexpected_error_is_70_without_traceback_unless_debug(capsys):
    def body(args):
        return {}['missing']

    assert run_cli(_parser(), ['--n', '1'], body) == 70
    err = capsys.readouterr().err
    assert 'Traceback' not in err and err.count('\n') == 1
    assert "internal error: KeyError: 'missing'" in err and '--debug' in err
    assert run_cli(_parser(), ['--n', '1', '--debug'], body) == 70
    err = capsys.readouterr().err
    assert 'Traceback' in err and "return {}['missing']" in err


def test_ctrl_c_is_canceled(capsys):
    def body(args):
        raise KeyboardInterrupt

    assert run_cli(_parser(), ['--n', '1'], body) == ExitCode.CANCELED
    assert 'Traceback' not in capsys.readouterr().err


def test_output_path_checks(tmp_path):
    (tmp_path / 'file').write_text('x')
    check_output_path(tmp_path / 'new' / 'deeper' / 'out.npz', '--out')
    check_output_path(tmp_path / 'file', '--out')  # a file output may be replaced
    check_output_path(tmp_path / 'newdir', '--out', kind='dir')
    with pytest.raises(CliError, match='exists and is not a folder'):
        check_output_path(tmp_path / 'file', '--out', kind='dir')
    with pytest.raises(CliError, match='is a folder; give a file name'):
        check_output_path(tmp_path, '--out')
    with pytest.raises(CliError, match='is not a folder'):
        check_output_path(tmp_path / 'file' / 'x.npz', '--out')
    (tmp_path / 'ro').mkdir(mode=0o555)
    if os.geteuid() != 0:  # root writes anywhere
        with pytest.raises(CliError, match='is not writable'):
            check_output_path(tmp_path / 'ro' / 'x.npz', '--out')
