"""``torchlint check``: lint (and fix) files, possibly in parallel, then report."""
from __future__ import annotations

import difflib
import errno
import os
import stat
import sys
from dataclasses import dataclass, field
from typing import Optional, Sequence

# The engine (and with it libcst and the rules) is imported on the first file the cache cannot answer.
READ_ERROR, INTERNAL_ERROR = "TL002", "TL003"


def lint_source(*args, **kwargs):
    from .engine import lint_source as _lint_source

    return _lint_source(*args, **kwargs)


ERROR_NAMES = {"TL001": "syntax-error", "TL002": "read-error", "TL003": "internal-error"}
ERROR_CODES = (READ_ERROR, INTERNAL_ERROR)  # a file, or part of it, was not checked
STDIN = "-"
PARALLEL_THRESHOLD = 8  # fewer files than this share one worker process
DEFAULT_FILE_TIMEOUT = 30.0  # seconds; the slowest real file we know takes about one
DEFAULT_MAX_FILE_SIZE = 1024 * 1024  # bytes; the largest file of 11,779 in our corpora is under 0.5 MB


class ReadError(Exception):
    """A file that is not read: its one-line reason."""


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
    file_timeout: float = 0.0  # seconds one file may take in a worker (0: no limit)
    max_file_size: int = 0  # bytes; larger files are not read (0: no limit)

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
    dependencies: dict = field(default_factory=dict)  # sibling files read by the project index (cache validity)


def _diagnostic(path, code, message, line, col, end_line=None, end_col=None, name=None, fix=None) -> dict:
    return {"path": path, "code": code, "name": name or ERROR_NAMES.get(code, ""), "message": message,
            "line": line, "col": col, "end_line": end_line if end_line is not None else line,
            "end_col": end_col if end_col is not None else col, "fix": fix}


def _rules_for(codes: Sequence[str]):
    from .rules import all_rules

    wanted = set(codes)
    return [r for r in all_rules() if r.code in wanted]


_KINDS = ((stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"))


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB" if n >= 1024 else f"{n} bytes"


def _os_error(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop: following the link leads back to itself (Too many levels of symbolic links)"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return f"broken symbolic link: its target {os.readlink(path)!r} does not exist"
    return f"cannot read file: {exc.strerror or exc}"


def _read(path: str, max_size: int = 0) -> tuple[bytes, Optional[int]]:
    """The bytes of a regular file (following symbolic links) and its mtime. Never blocks on a FIFO or a
    device, never reads more than ``max_size`` bytes; raises ReadError with the reason otherwise."""
    if path == STDIN:
        data = sys.stdin.buffer.read(max_size + 1 if max_size else -1)
        if max_size and len(data) > max_size:
            raise ReadError(f"standard input is larger than the {_size_text(max_size)} limit (--max-file-size); "
                            f"not checked")
        return data, None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise ReadError(_os_error(path, exc)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ReadError(f"{_kind(st.st_mode)}, not a regular file: skipped")
        if max_size and st.st_size > max_size:
            raise ReadError(f"file too large to check: {_size_text(st.st_size)}, the limit is "
                            f"{_size_text(max_size)} (--max-file-size / max-file-size, 0 for none)")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if max_size and total > max_size:  # the file grew while we read it
                raise ReadError(f"file too large to check: over the {_size_text(max_size)} limit (--max-file-size)")
        return b"".join(chunks), st.st_mtime_ns
    except OSError as exc:
        raise ReadError(_os_error(path, exc)) from None
    finally:
        os.close(fd)


def _read_error(display: str, message: str) -> FileReport:
    report = FileReport(display, fatal=True)
    report.diagnostics.append(_diagnostic(display, READ_ERROR, message, 1, 0))
    return report


def lint_one(path: str, display: str, options: Options, data: Optional[bytes] = None,
             mtime: Optional[int] = None) -> FileReport:
    """Lint (and with --fix/--diff fix) one file in this process. ``data`` is the file's bytes when already
    read (standard input); ``display`` is the path reported and matched by per-file-ignores."""
    job = _Job(0, path, display)
    _prepare(job, options, data)
    if job.report is None:
        _finish(job, _lint_job(path, display, options, job.data, mtime if data is not None else job.mtime))
    return job.report


def _lint_data(path, display, data, mtime, codes, options, report) -> None:
    rules = _rules_for(codes)
    if display.endswith(".ipynb"):  # a Jupyter notebook: torchlint/notebook.py
        from .notebook import check_file

        check_file(path, display, data, rules, options, report, mtime, _diagnostic)
        return
    try:
        if options.fix or options.diff:
            result = _fix_one(path, display, data, rules, options, report, mtime)
        else:
            result = lint_source(data, display, rules, project_path=path if path != STDIN else display)
            report.dependencies = dict(result.dependencies)
    except RecursionError:
        report.fatal = True
        report.diagnostics.append(_diagnostic(display, INTERNAL_ERROR, "file too deeply nested to analyse", 1, 0))
        return
    except MemoryError:
        report.fatal = True
        report.diagnostics.append(_diagnostic(display, INTERNAL_ERROR, "out of memory while checking this file",
                                              1, 0))
        return
    except Exception as exc:  # a bug in torchlint must not hide the other files' results
        report.fatal = True
        report.diagnostics.append(_diagnostic(display, INTERNAL_ERROR,
                                              f"torchlint failed on this file: {type(exc).__name__}: {exc}", 1, 0))
        return
    if result.error is not None:
        err = result.error
        if err.code != "TL001":
            report.fatal = True
        report.diagnostics.append(_diagnostic(display, err.code, err.message, err.line, err.col))
    for f in result.findings:
        if f.code == INTERNAL_ERROR:
            report.fatal = True  # a rule failed: the file's other findings are still reported
        report.diagnostics.append(_diagnostic(display, f.code, f.message, f.line, f.col, f.end_line, f.end_col,
                                              f.name, f.edit))


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
    try:
        written = write_atomically(path, encoded, mtime)
    except OSError as exc:
        report.fatal = True
        report.diagnostics.append(_diagnostic(display, READ_ERROR, f"fixes not written: cannot write {display}: "
                                              f"{exc.strerror or exc}", 1, 0))
        return result
    if written:
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


class _Job:
    """One file of the run: read (and answered from the cache) in the parent, linted in a worker."""

    __slots__ = ("index", "path", "display", "data", "mtime", "cache", "key", "report")

    def __init__(self, index: int, path: str, display: str) -> None:
        self.index, self.path, self.display = index, path, display
        self.data: Optional[bytes] = None
        self.mtime: Optional[int] = None
        self.cache = self.key = None
        self.report: Optional[FileReport] = None


def _prepare(job: _Job, options: Options, data: Optional[bytes] = None) -> None:
    """Read the file (unless ``data`` holds it); answer it from the cache or a read error (``job.report``),
    else leave it for a worker."""
    try:
        if data is not None:
            job.data = data
        else:
            job.data, job.mtime = _read(job.path, options.max_file_size)
    except ReadError as exc:
        job.report = _read_error(job.display, str(exc))
        return
    if options.cache_root and job.path != STDIN and not (options.fix or options.diff):
        from .cache import Cache, settings_digest

        job.cache = Cache(options.cache_root, settings_digest(options.codes_for(job.path)))
        job.key = job.cache.key(job.data)
        cached = job.cache.load(job.key)
        if cached is not None:
            job.report = FileReport(job.display, [dict(d, path=job.display) for d in cached])


def _finish(job: _Job, report: FileReport) -> None:
    job.report = report
    job.data = None
    if job.cache is not None and not report.fatal:
        job.cache.store(job.key, [{k: v for k, v in d.items() if k != "path"} for d in report.diagnostics],
                        report.dependencies)


def _lint_job(path: str, display: str, options: Options, data: bytes, mtime: Optional[int]) -> FileReport:
    report = FileReport(display)
    _lint_data(path, display, data, mtime, options.codes_for(display if path == STDIN else path), options, report)
    return report


def _quiet_warnings() -> None:
    """The compiler's SyntaxWarnings (invalid escapes, ``assert (x, msg)``) are the user's code talking to
    Python, not to us: never printed while linting or verifying a fix."""
    import warnings

    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)


def _worker_main(conn, options: Options) -> None:
    """A worker process: lint the jobs the parent sends until it sends None."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    _quiet_warnings()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        index, path, display, data, mtime = job
        report = _lint_job(path, display, options, data, mtime)
        try:
            conn.send((index, report))
        except (OSError, ValueError):
            return


def _signal_name(code: Optional[int]) -> str:
    if code is None or code >= 0:
        return f"exit code {code}"
    import signal

    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class _Worker:
    def __init__(self, mp, options: Options) -> None:
        self.conn, child = mp.Pipe()
        self.process = mp.Process(target=_worker_main, args=(child, options), daemon=True)
        self.process.start()
        child.close()
        self.job: Optional[_Job] = None
        self.deadline = 0.0

    def stop(self, kill: bool = False) -> Optional[int]:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, ValueError):
                pass
        self.process.join(5 if not kill else None)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()
        return self.process.exitcode


def _lost(job: _Job, why: str) -> FileReport:
    report = FileReport(job.display, fatal=True)
    report.diagnostics.append(_diagnostic(job.display, INTERNAL_ERROR, why, 1, 0))
    return report


def _run_pool(todo: list[_Job], options: Options, processes: int) -> None:
    """Lint ``todo`` in ``processes`` worker processes. A worker that dies (a crash in native code) or
    exceeds ``options.file_timeout`` on a file costs that file one TL003 line; a fresh worker takes
    over and every other file is still linted."""
    import multiprocessing
    import time
    from collections import deque
    from multiprocessing.connection import wait

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    mp = multiprocessing.get_context(method)
    pending = deque(todo)
    workers: list[_Worker] = []
    timeout = options.file_timeout
    try:
        while pending or any(w.job is not None for w in workers):
            while pending:  # give every idle worker (or a new one) a job
                idle = next((w for w in workers if w.job is None), None)
                if idle is None and len(workers) < processes:
                    idle = _Worker(mp, options)
                    workers.append(idle)
                if idle is None:
                    break
                job = pending.popleft()
                try:
                    idle.conn.send((job.index, job.path, job.display, job.data, job.mtime))
                except (OSError, ValueError):
                    pending.appendleft(job)
                    workers.remove(idle)
                    idle.stop(kill=True)
                    continue
                idle.job = job
                idle.deadline = time.monotonic() + timeout if timeout else 0.0
            busy = [w for w in workers if w.job is not None]
            deadlines = [w.deadline for w in busy if w.deadline]
            wait_for = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            ready = wait([w.conn for w in busy], wait_for)
            for w in busy:
                if w.conn in ready:
                    try:
                        _index, report = w.conn.recv()
                    except (EOFError, OSError):
                        code = w.stop(kill=True)
                        _finish(w.job, _lost(w.job, f"the process checking this file died ({_signal_name(code)}); "
                                                    f"the file was not checked"))
                        workers.remove(w)
                        continue
                    except Exception as exc:  # an unpicklable report: still one line for the file
                        report = _lost(w.job, f"torchlint failed on this file: {type(exc).__name__}: {exc}")
                    _finish(w.job, report)
                    w.job = None
                elif w.deadline and time.monotonic() >= w.deadline:
                    w.stop(kill=True)
                    _finish(w.job, _lost(w.job, f"checking this file took longer than {timeout:g} s "
                                                f"(--file-timeout); it was stopped and not checked"))
                    workers.remove(w)
    finally:
        for w in workers:
            w.stop(kill=w.job is not None)


def run_files(jobs: Sequence[tuple[str, str]], options: Options, processes: int,
              stdin_data: Optional[bytes] = None) -> list[FileReport]:
    """Lint ``jobs`` ((path, display) pairs) and return one report per job, in order. Files are read and
    looked up in the cache here; the rest are linted in worker processes (see _run_pool), one when
    there are few files or -j1."""
    if processes <= 0:
        processes = os.cpu_count() or 1
    items = [_Job(i, path, display) for i, (path, display) in enumerate(jobs)]
    todo = []
    for job in items:
        _prepare(job, options, stdin_data if job.path == STDIN else None)
        if job.report is None:
            todo.append(job)
    if todo:
        workers = 1 if len(todo) < PARALLEL_THRESHOLD else min(processes, len(todo))
        try:
            _run_pool(todo, options, workers)
        except OSError:  # no processes to be had: lint here, without the isolation
            _quiet_warnings()
            for job in todo:
                if job.report is None:
                    _finish(job, _lint_job(job.path, job.display, options, job.data, job.mtime))
    return [job.report for job in items]


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
    options.file_timeout = _first(getattr(args, "file_timeout", None), config.file_timeout, DEFAULT_FILE_TIMEOUT)
    options.max_file_size = _first(getattr(args, "max_file_size", None), config.max_file_size, DEFAULT_MAX_FILE_SIZE)
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
            if os.path.lexists(path):  # a symbolic link that leads nowhere, or round in a loop
                try:
                    os.stat(path)
                    message = "no such file or directory"
                except OSError as exc:
                    message = _os_error(path, exc)
            else:
                message = "no such file or directory"
            reports.append(_read_error(path, message))
        else:
            jobs.append((path, os.path.normpath(path)))
    stdin_jobs = [j for j in jobs if j[0] == STDIN]
    file_jobs = [j for j in jobs if j[0] != STDIN]
    reports.extend(run_files(file_jobs, options, args.jobs))
    for rep in run_files(stdin_jobs, options, 1):
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
    findings = [d for d in diagnostics if d["code"] not in ERROR_CODES]
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


def _first(*values):
    return next(v for v in values if v is not None)


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
                 would_fix: int = 0, diff: bool = False, errors: Sequence[dict] = ()) -> str:
    """The one-line summary: ``Found 3 findings in 2 files (1 fixable)``; with errors (TL002/TL003: a file or
    part of one not checked) ``Found 2 findings and 1 error in 3 files``, never "All checks passed"."""
    if errors:
        files = len({d["path"] for d in findings} | {d["path"] for d in errors})
        what = f"{_plural(len(findings), 'finding')} and {_plural(len(errors), 'error')}" if findings \
            else _plural(len(errors), "error")
        text = f"Found {what} in {_plural(files, 'file')}"
        if diff:
            return (f"Would fix {_plural(would_fix, 'finding')}. " if would_fix else "No fixes available. ") + text + "."
        fixable = sum(1 for d in findings if d["fix"] and (d["fix"]["applicability"] == "safe" or unsafe))
        if fixable and not fixing:
            text += f" ({fixable} fixable)"
        return (f"Fixed {_plural(fixed, 'finding')}. " if fixed else "") + text + "."
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
    errors = [d for r in reports for d in r.diagnostics if d["code"] in ERROR_CODES]
    print(summary_line(findings, len(reports), fixed, args.unsafe_fixes, args.fix,
                       sum(r.would_fix for r in reports), args.diff, errors), file=sys.stderr)
