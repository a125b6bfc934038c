"""``torchlint check``: lint (and fix) files, possibly in parallel, then report."""
from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from typing import Optional, Sequence

# The engine (and with it libcst and the rules) is imported on the first file the cache cannot answer.
READ_ERROR, INTERNAL_ERROR = "TL002", "TL003"


def lint_source(*args, **kwargs):
    from .engine import lint_source as _lint_source

    return _lint_source(*args, **kwargs)


ERROR_NAMES = {"TL001": "syntax-error", "TL002": "read-error", "TL003": "internal-error"}
STDIN = "-"
PARALLEL_THRESHOLD = 8  # fewer files than this are linted in-process


@dataclass
class Options:
    codes: tuple[str, ...]
    fix: bool = False
    unsafe_fixes: bool = False
    diff: bool = False
    # per-file-ignores: (glob pattern, codes or prefixes) pairs, patterns relative to ``root``
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    root: str = ""
    cache_root: Optional[str] = None  # result cache folder; None: no cache (always None when fixing)

    def codes_for(self, path: str) -> tuple[str, ...]:
        if not self.per_file_ignores:
            return self.codes
        from .config import glob_match

        off = [c.upper() for pattern, codes in self.per_file_ignores
               if glob_match(path, pattern, self.root or os.getcwd()) for c in codes]
        if not off:
            return self.codes
        return tuple(code for code in self.codes if not any(p == "ALL" or code.startswith(p) for p in off))


@dataclass
class FileReport:
    path: str
    diagnostics: list[dict] = field(default_factory=list)
    fatal: bool = False  # something the user asked for could not be read / analysed
    fixed: int = 0
    diff: str = ""
    would_fix: int = 0  # with --diff: findings the diff fixes
    output: Optional[bytes] = None  # with --fix on stdin: the (fixed) source for stdout


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
    """Lint (and with --fix/--diff fix) one file. ``data`` is the file's bytes when already read
    (standard input); ``display`` is the path reported and matched by per-file-ignores."""
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
    codes = options.codes_for(display if path == STDIN else path)
    cache = key = None
    if options.cache_root and path != STDIN and not (options.fix or options.diff):
        from .cache import Cache, settings_digest

        cache = Cache(options.cache_root, settings_digest(codes))
        key = cache.key(data)
        cached = cache.load(key)
        if cached is not None:
            report.diagnostics = [dict(d, path=display) for d in cached]
            return report
    rules = _rules_for(codes)
    if display.endswith(".ipynb"):  # a Jupyter notebook: torchlint/notebook.py
        from .notebook import check_file

        check_file(path, display, data, rules, options, report, mtime, _diagnostic)
        if cache is not None and not report.fatal:
            cache.store(key, [{k: v for k, v in d.items() if k != "path"} for d in report.diagnostics])
        return report
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
    if cache is not None and not report.fatal:
        cache.store(key, [{k: v for k, v in d.items() if k != "path"} for d in report.diagnostics])
    return report


def _fix_one(path, display, data, rules, options, report, mtime):
    """Fix one file's source. Writes atomically (never a file that changed on disk since it was read);
    for standard input the (fixed) source goes to ``report.output`` instead; with --diff only the diff
    is recorded. Returns the lint result to report: the remaining findings after fixing."""
    from .fix import fix_text, write_atomically

    if path == STDIN and not options.diff:
        report.output = data  # echoed unchanged unless a fix applies
    result = lint_source(data, display, rules)
    if result.error is not None or not result.findings:
        return result
    text = result.text
    new_text, fixed, final = fix_text(text, display, rules, unsafe=options.unsafe_fixes)
    if not fixed or new_text == text:
        return final
    try:
        encoded = _encode_like(data, new_text)
    except (UnicodeEncodeError, LookupError, SyntaxError) as exc:
        report.diagnostics.append(_diagnostic(display, READ_ERROR, f"fixes not written: cannot encode the fixed "
                                              f"source like the original ({exc})", 1, 0))
        return result
    if options.diff:
        report.diff = "".join(difflib.unified_diff(
            text.splitlines(True), new_text.splitlines(True), fromfile=f"a/{display}", tofile=f"b/{display}"))
        report.would_fix = fixed
        return result  # nothing written: report the findings as they are
    if path == STDIN:
        report.output = encoded
        report.fixed = fixed
        return final
    if write_atomically(path, encoded, mtime):
        report.fixed = fixed
        return final
    report.diagnostics.append(_diagnostic(display, READ_ERROR, "file changed on disk while torchlint ran; "
                                          "fixes not written", 1, 0))
    return result


def _encode_like(original: bytes, text: str) -> bytes:
    """Encode fixed text as the original was: same encoding (PEP 263 cookie or BOM). Line endings are
    kept by libcst, which reproduces the original newlines and uses the file's own for new lines."""
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


def _stdin_display(args) -> str:
    return args.stdin_filename or STDIN


def run_check(args) -> int:
    from .config import ConfigError, resolve_config, selected_codes
    from .files import PathFilter, discover
    from .reporters import write_report
    from .rules import UnknownCode

    paths = list(args.paths) or ["."]
    first = paths[0] if paths[0] != STDIN else (args.stdin_filename or ".")
    try:
        config = resolve_config(args.config, args.isolated, first)
        codes = selected_codes(config, args.select, args.extend_select, args.ignore)
    except (ConfigError, UnknownCode) as exc:
        print(f"torchlint: error: {exc}", file=sys.stderr)
        return 2
    options = Options(codes, fix=args.fix, unsafe_fixes=args.unsafe_fixes, diff=args.diff,
                      per_file_ignores=tuple((p, tuple(c)) for p, c in config.per_file_ignores), root=config.root)
    if not (args.no_cache or args.fix or args.diff):
        from .cache import cache_root

        options.cache_root = args.cache_dir or cache_root(first)
    path_filter = PathFilter(config.exclude, config.extend_exclude, config.root)
    jobs: list[tuple[str, str]] = []
    reports: list[FileReport] = []
    stdin_data: Optional[bytes] = None
    stdin_requested = False
    for path, explicit in discover(paths, path_filter=path_filter):
        if path == STDIN:
            stdin_requested = True
            display = _stdin_display(args)
            if args.stdin_filename and path_filter.explicit_excludes(args.stdin_filename):
                stdin_data = sys.stdin.buffer.read()  # excluded: nothing to report
                if args.fix and not args.diff:
                    sys.stdout.buffer.write(stdin_data)
                continue
            jobs.append((STDIN, display))
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
        rep = lint_one(path, display, options)
        if rep.output is not None:
            sys.stdout.buffer.write(rep.output)
            sys.stdout.flush()
        reports.append(rep)
    if not reports and not stdin_requested and not args.quiet:
        print("torchlint: warning: no Python files found under the given paths", file=sys.stderr)
    reports.sort(key=lambda r: r.path)
    diagnostics = [d for r in reports for d in r.diagnostics]
    diagnostics.sort(key=lambda d: (d["path"], d.get("cell") or 0, d["line"], d["col"], d["code"]))  # cell: notebooks
    if args.diff:
        for r in reports:
            if r.diff:
                sys.stdout.write(r.diff)
    # with --fix on stdin, stdout carries the source: the report goes to stderr (or -o FILE)
    fixing_stdin = bool(args.fix and stdin_jobs and not args.diff)
    if not args.diff:
        if args.output_file:
            try:
                out = open(args.output_file, "w", encoding="utf-8", newline="")
            except OSError as exc:
                print(f"torchlint: error: cannot write {args.output_file}: {exc.strerror or exc}", file=sys.stderr)
                return 2
        else:
            out = sys.stderr if fixing_stdin else sys.stdout
        try:
            write_report(args.output_format, diagnostics, out, codes)
        finally:
            if out not in (sys.stdout, sys.stderr):
                out.close()
            else:
                out.flush()
    fixed = sum(r.fixed for r in reports)
    findings = [d for d in diagnostics if d["code"] not in ("TL002", "TL003")]
    if args.statistics:
        stream = sys.stdout if args.output_format == "text" and not args.output_file and not fixing_stdin \
            else sys.stderr
        _print_statistics(findings, stream)
    if not args.quiet and (args.output_format in ("text", "github") or args.diff):
        _summary(findings, reports, fixed, args)
    if any(r.fatal for r in reports):
        return 2
    if args.exit_zero:
        return 0
    if args.diff:
        return 1 if any(r.diff for r in reports) else 0
    return 1 if findings else 0


def _print_statistics(findings: list[dict], stream=None) -> None:
    from collections import Counter

    stream = stream or sys.stdout
    counts = Counter((d["code"], d["name"]) for d in findings)
    fixable = Counter(d["code"] for d in findings if d["fix"])
    for (code, name), count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        mark = " [*]" if fixable.get(code) else ""
        print(f"{count:>5}  {code}  {name}{mark}", file=stream)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def summary_line(findings: list[dict], n_files: int, fixed: int, unsafe: bool, fixing: bool,
                 would_fix: int = 0, diff: bool = False) -> str:
    """The one-line summary: ``Found 3 findings in 2 files (1 fixable)``."""
    if diff:
        return f"Would fix {_plural(would_fix, 'finding')}." if would_fix else "No fixes available."
    files = len({d["path"] for d in findings})
    fixable = sum(1 for d in findings if d["fix"] and (d["fix"]["applicability"] == "safe" or unsafe))
    hidden = sum(1 for d in findings if d["fix"] and d["fix"]["applicability"] != "safe" and not unsafe)
    parts = []
    if fixed:
        parts.append(f"Fixed {_plural(fixed, 'finding')}.")
    if findings:
        text = f"Found {_plural(len(findings), 'finding')} in {_plural(files, 'file')}"
        notes = []
        if fixable and not fixing:
            notes.append(f"{fixable} fixable")
        if hidden:
            notes.append(f"{hidden} more with --unsafe-fixes")
        if notes:
            text += f" ({', '.join(notes)})"
        parts.append(text)
    elif not fixed:
        parts.append(f"All checks passed ({_plural(n_files, 'file')}).")
    return " ".join(parts)


def _summary(findings: list[dict], reports: list[FileReport], fixed: int, args) -> None:
    print(summary_line(findings, len(reports), fixed, args.unsafe_fixes, args.fix,
                       sum(r.would_fix for r in reports), args.diff), file=sys.stderr)
