"""``torchlint check``: lint (and fix) files, possibly in parallel, then report."""
from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .engine import INTERNAL_ERROR, READ_ERROR, lint_source

ERROR_NAMES = {"TL001": "syntax-error", "TL002": "read-error", "TL003": "internal-error"}
STDIN = "-"
PARALLEL_THRESHOLD = 8  # fewer files than this are linted in-process


@dataclass
class Options:
    codes: tuple[str, ...]
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False


@dataclass
class FileReport:
    path: str
    diagnostics: list[dict] = field(default_factory=list)
    fatal: bool = False  # something the user asked for could not be read / analysed
    fixed: int = 0
    diff: str = ""


def _diagnostic(path, code, message, line, col, end_line=None, end_col=None, name=None, fix=None) -> dict:
    return {"path": path, "code": code, "name": name or ERROR_NAMES.get(code, ""), "message": message,
            "line": line, "col": col, "end_line": end_line if end_line is not None else line,
            "end_col": end_col if end_col is not None else col, "fix": fix}


def _rules_for(codes: Sequence[str]):
    from .rules import all_rules

    wanted = set(codes)
    return [r for r in all_rules() if r.code in wanted]


def _read(path: str, display: str) -> bytes:
    if path == STDIN:
        return sys.stdin.buffer.read()
    with open(path, "rb") as handle:
        return handle.read()


def lint_one(path: str, display: str, options: Options, data: Optional[bytes] = None) -> FileReport:
    report = FileReport(display)
    try:
        if data is None:
            mtime = os.stat(path).st_mtime_ns if path != STDIN else None
            data = _read(path, display)
        else:
            mtime = None
    except OSError as exc:
        report.fatal = True
        report.diagnostics.append(_diagnostic(display, READ_ERROR, f"cannot read file: {exc.strerror or exc}", 1, 0))
        return report
    rules = _rules_for(options.codes)
    try:
        if options.fix or options.diff:
            result = _fix_one(path, display, data, rules, options, report, mtime)
        else:
            result = lint_source(data, display, rules)
    except RecursionError:
        report.fatal = True
        report.diagnostics.append(_diagnostic(display, INTERNAL_ERROR, "file too deeply nested to analyse", 1, 0))
        return report
    except Exception as exc:  # a bug in torchlint must not hide the other files' results
        report.fatal = True
        report.diagnostics.append(_diagnostic(display, INTERNAL_ERROR,
                                              f"internal error: {type(exc).__name__}: {exc}", 1, 0))
        return report
    if result.error is not None:
        err = result.error
        if err.code != "TL001":
            report.fatal = True
        report.diagnostics.append(_diagnostic(display, err.code, err.message, err.line, err.col))
    for f in result.findings:
        report.diagnostics.append(_diagnostic(display, f.code, f.message, f.line, f.col, f.end_line, f.end_col,
                                              f.name, f.edit))
    return report


def _fix_one(path, display, data, rules, options, report, mtime):
    from .engine import decode_source
    from .fix import fix_text, write_atomically

    result = lint_source(data, display, rules)
    if result.error is not None or not result.findings:
        return result
    text = result.text
    new_text, fixed, final = fix_text(text, display, rules, unsafe=options.unsafe_fixes)
    if fixed and new_text != text:
        if options.diff:
            report.diff = "".join(difflib.unified_diff(
                text.splitlines(True), new_text.splitlines(True), fromfile=f"a/{display}", tofile=f"b/{display}"))
            return result  # nothing written: report the findings as they are
        encoded = _encode_like(data, new_text)
        if path == STDIN:
            sys.stdout.buffer.write(encoded)
            report.fixed = fixed
            return final
        if write_atomically(path, encoded, mtime):
            report.fixed = fixed
            return final
        report.diagnostics.append(_diagnostic(display, READ_ERROR, "file changed on disk while torchlint ran; "
                                              "fixes not written", 1, 0))
        return result
    del decode_source
    return final


def _encode_like(original: bytes, text: str) -> bytes:
    import io
    import tokenize

    encoding, _ = tokenize.detect_encoding(io.BytesIO(original).readline)
    if encoding == "utf-8-sig":
        return b"\xef\xbb\xbf" + text.encode("utf-8")
    return text.encode(encoding)


def _worker(job):
    path, display, options = job
    return lint_one(path, display, options)


def run_files(jobs: Sequence[tuple[str, str]], options: Options, processes: int) -> list[FileReport]:
    if processes <= 0:
        processes = os.cpu_count() or 1
    if processes == 1 or len(jobs) < PARALLEL_THRESHOLD:
        return [lint_one(path, display, options) for path, display in jobs]
    import multiprocessing

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    chunk = max(1, min(16, len(jobs) // (processes * 8)))
    with ctx.Pool(processes) as pool:
        return list(pool.imap(_worker, [(p, d, options) for p, d in jobs], chunksize=chunk))


def run_check(args) -> int:
    from .files import discover
    from .reporters import write_report
    from .rules import UnknownCode, select_rules

    try:
        rules = select_rules(args.select, args.ignore, args.extend_select)
    except UnknownCode as exc:
        print(f"torchlint: error: {exc}", file=sys.stderr)
        return 2
    options = Options(tuple(r.code for r in rules), fix=args.fix, unsafe_fixes=args.unsafe_fixes, diff=args.diff)
    jobs: list[tuple[str, str]] = []
    reports: list[FileReport] = []
    for path, explicit in discover(args.paths):
        if path == STDIN:
            jobs.append((STDIN, args.stdin_filename or "-"))
        elif explicit and not os.path.exists(path):
            rep = FileReport(path, fatal=True)
            rep.diagnostics.append(_diagnostic(path, READ_ERROR, "no such file or directory", 1, 0))
            reports.append(rep)
        else:
            jobs.append((path, os.path.normpath(path)))
    stdin_jobs = [j for j in jobs if j[0] == STDIN]
    file_jobs = [j for j in jobs if j[0] != STDIN]
    reports.extend(run_files(file_jobs, options, args.jobs))
    for path, display in stdin_jobs:
        reports.append(lint_one(path, display, options))
    reports.sort(key=lambda r: r.path)
    diagnostics = [d for r in reports for d in r.diagnostics]
    diagnostics.sort(key=lambda d: (d["path"], d["line"], d["col"], d["code"]))
    if args.diff:
        for r in reports:
            if r.diff:
                sys.stdout.write(r.diff)
    out = open(args.output_file, "w", encoding="utf-8") if args.output_file else sys.stdout
    try:
        if not (args.diff or (args.fix and stdin_jobs)):
            write_report(args.output_format, diagnostics, out, rules)
    finally:
        if out is not sys.stdout:
            out.close()
    fixed = sum(r.fixed for r in reports)
    findings = [d for d in diagnostics if d["code"] not in ("TL002", "TL003")]
    if args.statistics:
        _print_statistics(findings)
    if not args.quiet:
        _summary(findings, reports, fixed, args)
    if any(r.fatal for r in reports):
        return 2
    if args.exit_zero or args.diff:
        return 0
    return 1 if findings else 0


def _print_statistics(findings: list[dict]) -> None:
    from collections import Counter

    counts = Counter((d["code"], d["name"]) for d in findings)
    fixable = Counter(d["code"] for d in findings if d["fix"])
    for (code, name), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = " [*]" if fixable.get(code) else ""
        print(f"{count:>5}  {code}  {name}{mark}")


def _summary(findings: list[dict], reports: list[FileReport], fixed: int, args) -> None:
    files = len({d["path"] for d in findings})
    fixable = sum(1 for d in findings if d["fix"] and (d["fix"]["applicability"] == "safe" or args.unsafe_fixes))
    parts = []
    if fixed:
        parts.append(f"Fixed {fixed} finding{'s' if fixed != 1 else ''}.")
    if findings:
        text = f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} in {files} file{'s' if files != 1 else ''}"
        if fixable and not args.fix:
            text += f" ({fixable} fixable with --fix)"
        parts.append(text + ".")
    elif not fixed:
        parts.append(f"All checks passed ({len(reports)} file{'s' if len(reports) != 1 else ''}).")
    print(" ".join(parts), file=sys.stderr)
