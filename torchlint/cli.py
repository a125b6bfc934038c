"""The ``torchlint`` command line: argument parsing, file fan-out and exit codes only."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from . import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
SUBCOMMANDS = ("check", "rule", "rules")


def _comma_list(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchlint",
        description="Static checks for PyTorch model code: mistakes that run without an error while training "
                    "silently goes wrong.",
        epilog="Exit codes: 0 no findings (or all fixed), 1 findings remain, 2 configuration, usage or internal "
               "error. "
               "Subcommands: 'torchlint check PATH...' (the default), 'torchlint rule CODE', 'torchlint rules'.",
    )
    parser.add_argument("--version", action="version", version=f"torchlint {__version__}")
    sub = parser.add_subparsers(dest="command")
    check = sub.add_parser("check", help="lint files and directories (the default command)")
    _add_check_arguments(check)
    rule = sub.add_parser("rule", help="print a rule's documentation")
    rule.add_argument("code", help="rule code or name, e.g. TL101")
    rule.add_argument("--output-format", choices=("text", "json"), default="text")
    rules = sub.add_parser("rules", help="list all rules")
    rules.add_argument("--output-format", choices=("text", "json"), default="text")
    return parser


def _add_check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["."], help="files or directories; '-' reads standard input")
    p.add_argument("--select", type=_comma_list, default=None,
                   help="rule codes or prefixes to enable (TL1, TL101, ALL); replaces the configured selection")
    p.add_argument("--extend-select", type=_comma_list, default=[], help="codes to enable on top of the selection")
    p.add_argument("--ignore", type=_comma_list, default=[], help="rule codes or prefixes to disable")
    p.add_argument("--stdin-filename", default=None,
                   help="the path of the code read from standard input: reported, and matched by per-file-ignores "
                        "and excludes")
    p.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    p.add_argument("--output-format", choices=("text", "json", "sarif", "github"), default="text",
                   help="text (default), json, sarif (GitHub code scanning) or github (Actions annotations)")
    p.add_argument("-o", "--output-file", default=None, help="write the report to this file")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="read settings from this file instead of the nearest pyproject.toml")
    p.add_argument("--isolated", action="store_true", help="ignore every configuration file")
    p.add_argument("--statistics", action="store_true", help="print a count of findings per rule")
    p.add_argument("--fix", action="store_true", help="apply safe fixes")
    p.add_argument("--unsafe-fixes", action="store_true", help="with --fix/--diff, also apply unsafe fixes")
    p.add_argument("--diff", action="store_true",
                   help="print the fixes as a unified diff, write nothing (exit 1 when there is a diff)")
    p.add_argument("-j", "--jobs", type=int, default=0, help="worker processes (default: number of CPUs)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the result cache")
    p.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="result cache folder (default: .torchlint_cache beside the nearest pyproject.toml, "
                        "or $TORCHLINT_CACHE_DIR)")
    p.add_argument("--quiet", "-q", action="store_true", help="no summary line")
    p.add_argument("--file-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="stop checking a file after this many seconds and report it (TL003) instead "
                        "(default 30; 0: no limit; also [tool.torchlint] file-timeout)")
    p.add_argument("--max-file-size", type=_size, default=None, metavar="SIZE",
                   help="skip files larger than this (TL002), e.g. 1048576, 512K or 4M "
                        "(default 1M; 0: no limit; also [tool.torchlint] max-file-size)")


def _seconds(value: str) -> float:
    from .config import ConfigError, parse_timeout

    try:
        return parse_timeout(value, "--file-timeout")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _size(value: str) -> int:
    from .config import ConfigError, parse_size

    try:
        return parse_size(value, "--max-file-size")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        argv.insert(0, "check")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    try:
        if args.command == "rule":
            from .docs import print_rule

            return print_rule(args.code, args.output_format)
        if args.command == "rules":
            from .docs import print_rules

            return print_rules(args.output_format)
        from .runner import run_check

        closed = _stdout_closed()
        code = run_check(args)
        if closed and not getattr(args, "output_file", None):
            return EXIT_ERROR  # the report had nowhere to go
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `torchlint . | head -1`: stop quietly
        _silence_stdout()
        return EXIT_ERROR
    except Exception as exc:  # never a traceback to the user
        print(f"torchlint: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        if os.environ.get("TORCHLINT_DEBUG"):
            raise
        return EXIT_ERROR


def _stdout_closed() -> bool:
    """Started with a closed standard output (``torchlint a.py >&-``): Python sets sys.stdout to None. Give
    it (and a closed stderr) a sink, so the run ends quietly with exit code 2 instead of a traceback."""
    closed = False
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))
            closed = closed or name == "stdout"
    return closed


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def entry() -> None:
    """Console-script entry point: run, flush, and leave without the interpreter's teardown (freeing
    every parsed tree and libcst's classes one by one costs a tenth of a second on a large file)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # a broken or closed stream: nothing more to say
        code = code or EXIT_ERROR
    os._exit(code)
