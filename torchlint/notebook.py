"""Jupyter notebooks (``.ipynb``, nbformat 4): their code cells linted as one module.

- The code cells are joined in order into one Python module, each after a marker comment line, so names
  and kinds flow from cell to cell as they do in a kernel. Markdown and raw cells are skipped.
- IPython syntax is masked, never parsed: a line magic (``%matplotlib inline``), a shell escape
  (``!pip install x``, ``files = !ls``), a help query (``obj?``, ``?obj``) becomes ``pass`` (keeping its
  indentation); a cell magic (``%%bash``, ``%%writefile``, ...) masks its whole cell, except the magics whose
  body is Python (``%%time``, ``%%timeit``, ``%%capture``, ``%%prun``), which mask only their first line.
- Positions name the cell as ruff does: ``nb.ipynb:cell 3:2:5`` is cell 3 (1-based, counting every cell
  as Jupyter shows them), line 2 of that cell, column 5.
- ``# noqa`` works inside cells (it is a comment on the same line of the joined module).
- Fixes are applied to the joined module and written back only into the cells they changed: the notebook
  file is edited in place at those cells' ``"source"`` values, in the layout they had (a list of lines or
  one string, the same indentation and escaping), so every other byte (outputs, metadata, key order,
  indentation, the final newline) stays as it was. A fix that would touch a masked line or cross a cell
  boundary is not written.
- A file that is not a notebook (bad JSON, not nbformat 4, cells without sources) is one error line.

No dependency: the JSON is read with the standard library (``nbformat`` would cost an import of jsonschema
and rewrite the whole file).
"""
from __future__ import annotations

import json
import re
from typing import Optional, Union

SUFFIX = ".ipynb"
MARKER = "# torchlint: cell {}"  # the line before each code cell in the joined module
_MARKER_RE = re.compile(r"^# torchlint: cell (\d+)$")
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_MAGIC_LINE = re.compile(r"^(\s*)(?:[%!]|\?|[\w.\[\]\s,]+=\s*[%!])")
_HELP_LINE = re.compile(r"^(\s*)[\w.]+\?{1,2}\s*$")


class NotebookError(ValueError):
    """The file is not a notebook torchlint can read (the message is one line)."""


def is_notebook(path: str) -> bool:
    return path.endswith(SUFFIX)


# ---------------------------------------------------------------------------------------- reading
class Cell:
    __slots__ = ("number", "source", "is_list", "masked", "dedent", "text", "start_line", "n_lines", "span")

    def __init__(self, number: int, source, span: tuple[int, int]) -> None:
        self.number = number  # 1-based, over every cell of the notebook
        self.is_list = isinstance(source, list)
        self.source: str = "".join(source) if self.is_list else source
        self.span = span  # where the "source" value is in the file's text
        self.masked: set[int] = set()  # 0-based lines of the cell that were masked
        self.dedent: list[int] = []  # per line: characters of common indentation removed (as IPython does)
        self.text = self._mask(self.source)  # what the linter reads (always ends with a newline)
        self.start_line = 0  # 1-based line of the cell's first line in the joined module
        self.n_lines = self.text.count("\n")

    def _mask(self, source: str) -> str:
        lines = source.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        first = lines[0].lstrip() if lines else ""
        if first.startswith("%%"):
            magic = first[2:].split(None, 1)[0] if first[2:].split() else ""
            whole = magic not in _PYTHON_CELL_MAGICS
            for i in range(len(lines) if whole else 1):
                lines[i] = "pass" if whole or i == 0 else lines[i]
                self.masked.add(i)
        for i, line in enumerate(lines):
            if i in self.masked:
                continue
            match = _MAGIC_LINE.match(line) or _HELP_LINE.match(line)
            if match is not None:
                lines[i] = match.group(1) + "pass"
                self.masked.add(i)
        # IPython runs a cell whose first line is indented after removing that indentation from every line
        # that starts with it (its leading_indent transform); so does the linter, and columns map back.
        first_code = next((line for line in lines if line.strip()), "")
        prefix = first_code[:len(first_code) - len(first_code.lstrip(" \t"))]
        self.dedent = [len(prefix) if prefix and line.startswith(prefix) else 0 for line in lines]
        if prefix:
            lines = [line[n:] for line, n in zip(lines, self.dedent)]
        return "".join(line + "\n" for line in lines)

    @property
    def masked_source(self) -> str:
        """The cell's own text (its indentation kept) with its IPython lines masked."""
        if not any(self.dedent):
            return self.text
        own = self.source.split("\n")
        return "".join((own[i][:n] if n else "") + line + "\n"
                       for i, (line, n) in enumerate(zip(self.text.split("\n"), self.dedent)))

    def column(self, line: int, col: int) -> int:
        """The column in the cell's own text of column ``col`` of (1-based) ``line`` of the linted text."""
        return col + (self.dedent[line - 1] if 0 < line <= len(self.dedent) else 0)


class Notebook:
    """A parsed notebook: its text, its code cells and the joined module the linter reads."""

    def __init__(self, raw: str, cells: list[Cell]) -> None:
        self.raw = raw
        self.cells = cells
        parts = []
        line = 1
        for cell in cells:
            parts.append(MARKER.format(cell.number) + "\n")
            cell.start_line = line + 1
            parts.append(cell.text)
            line += 1 + cell.n_lines
        self.python = "".join(parts)

    def locate(self, line: int) -> tuple[Optional[Cell], int]:
        """(cell, 1-based line in the cell) of a 1-based line of the joined module. A cell's marker line
        (where Python reports a bracket the cell before left open) counts as just past that cell's end."""
        previous = None
        for cell in self.cells:
            if line < cell.start_line:
                break
            if line < cell.start_line + cell.n_lines:
                return cell, line - cell.start_line + 1
            previous = cell
        if previous is None:
            return (self.cells[0], 1) if self.cells else (None, line)
        return previous, max(previous.n_lines, 1)


def load(raw: Union[bytes, str]) -> Notebook:
    """Read a notebook's text; raises :class:`NotebookError` with a one-line reason."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotebookError(f"not a notebook: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    text = raw[1:] if raw.startswith("\ufeff") else raw
    if not text.strip():
        raise NotebookError("not a notebook: the file is empty")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not a notebook: invalid JSON at line {exc.lineno} column {exc.colno} ({exc.msg})") \
            from None
    except RecursionError:
        raise NotebookError("not a notebook: JSON nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise NotebookError("not a notebook: no 'cells' list (nbformat 4 is supported)")
    if data.get("nbformat") != 4:
        raise NotebookError(f"unsupported notebook format {data.get('nbformat')!r} (nbformat 4 is supported)")
    language = ((data.get("metadata") or {}).get("language_info") or {}).get("name") \
        if isinstance(data.get("metadata"), dict) else None
    if language not in (None, "python"):
        return Notebook(raw, [])  # an R or Julia notebook: nothing to lint
    spans = _source_spans(text)
    offset = len(raw) - len(text)
    cells = []
    for number, cell in enumerate(data["cells"], 1):
        if not isinstance(cell, dict):
            raise NotebookError(f"not a notebook: cell {number} is not an object")
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if not (isinstance(source, str) or (isinstance(source, list) and all(isinstance(s, str) for s in source))):
            raise NotebookError(f"not a notebook: cell {number} has a source that is not text")
        span = spans.get(number - 1)
        cells.append(Cell(number, source, (span[0] + offset, span[1] + offset) if span else (-1, -1)))
    return Notebook(raw, cells)


def from_cells(cells) -> Notebook:
    """A notebook from ``(cell number, source)`` of its code cells, e.g. as an editor holds them."""
    return Notebook("", [Cell(number, source, (-1, -1)) for number, source in cells])


def _skip_ws(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\r\n":
        i += 1
    return i


def _source_spans(text: str) -> dict[int, tuple[int, int]]:
    """{cell index: (start, end) of its "source" value in ``text``} (valid JSON is assumed)."""
    decoder = json.JSONDecoder()
    spans: dict[int, tuple[int, int]] = {}

    def members(i: int):
        """Yield (key, value start, value end) of the object at ``i``; the last item is the object's end."""
        i = _skip_ws(text, i)
        assert text[i] == "{"
        i = _skip_ws(text, i + 1)
        if text[i] == "}":
            yield None, i + 1, i + 1
            return
        while True:
            key, i = json.decoder.scanstring(text, i + 1)
            i = _skip_ws(text, i)
            i = _skip_ws(text, i + 1)  # past ':'
            start = i
            yield key, start, None
            _value, i = decoder.raw_decode(text, start)
            i = _skip_ws(text, i)
            if text[i] == "}":
                yield None, i + 1, i + 1
                return
            i = _skip_ws(text, i + 1)  # past ','

    for key, start, _ in members(0):
        if key != "cells":
            continue
        i = _skip_ws(text, start + 1)  # past '['
        index = 0
        while text[i] != "]":
            for ckey, cstart, cend in members(i):
                if ckey is None:
                    i = cend
                    break
                if ckey == "source":
                    spans[index] = (cstart, decoder.raw_decode(text, cstart)[1])
            index += 1
            i = _skip_ws(text, i)
            if text[i] == ",":
                i = _skip_ws(text, i + 1)
        break
    return spans


# ---------------------------------------------------------------------------------------- linting
def lint_text(text: str, path: str, rule_classes):
    """The notebook module's one call into the engine."""
    from .engine import lint_source

    return lint_source(text, path, rule_classes)


def displayed(notebook: Notebook):
    """A predicate for findings: False for a finding on a cell's last statement when that statement is a
    bare expression, which Jupyter displays (``a == b`` or ``x.to(device)`` ending a cell shows its value:
    it does not "do nothing"). A trailing ``;`` hides the value, and then the finding stands."""
    import ast

    shown: set[tuple[int, int]] = set()  # (first, last) lines of displayed expressions, joined module
    for cell in notebook.cells:
        try:
            body = ast.parse(cell.text).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        if not body or not isinstance(body[-1], ast.Expr):
            continue
        last = body[-1]
        end_text = cell.text.split("\n")[last.end_lineno - 1]
        if end_text.split("#", 1)[0].rstrip().endswith(";"):
            continue
        shown.add((cell.start_line + last.lineno - 1, cell.start_line + last.end_lineno - 1))

    def keep(finding) -> bool:
        return not (finding.col == 0 and (finding.line, finding.end_line) in shown)

    return keep


class NotebookResult:
    """Findings of a notebook: engine findings on the joined module plus where each is in its cell."""

    __slots__ = ("notebook", "findings", "error", "result")

    def __init__(self, notebook: Optional[Notebook], result=None, error: Optional[str] = None) -> None:
        self.notebook = notebook
        self.result = result
        self.findings = list(result.findings) if result is not None else []
        if self.findings and notebook is not None:
            keep = displayed(notebook)
            self.findings = [f for f in self.findings if keep(f)]
        self.error = error  # a notebook that could not be read (one line)


def lint_notebook(raw: Union[bytes, str], path: str, rule_classes) -> NotebookResult:
    try:
        notebook = load(raw)
    except NotebookError as exc:
        return NotebookResult(None, error=str(exc))
    return NotebookResult(notebook, lint_text(notebook.python, path, rule_classes))


def cell_location(notebook: Notebook, line: int, end_line: Optional[int] = None) -> dict:
    """``{"cell": N, "line": l, "end_line": e}`` for a 1-based line (and end line) of the joined module:
    N is the 1-based cell number, l and e lines in that cell (the end is clipped to the cell)."""
    cell, in_cell = notebook.locate(line)
    if cell is None:
        return {"cell": None, "line": line, "end_line": end_line or line}
    end = in_cell
    if end_line is not None:
        end = min(max(end_line - cell.start_line + 1, in_cell), max(cell.n_lines, 1))
    return {"cell": cell.number, "line": in_cell, "end_line": end}


def display_path(path: str, cell: Optional[int]) -> str:
    """``nb.ipynb:cell 3``, the path text output prints before ``:line:col`` (ruff's form)."""
    return f"{path}:cell {cell}" if cell is not None else path


# ---------------------------------------------------------------------------------------- fixing
def fix_notebook(raw: Union[bytes, str], path: str, rule_classes, *, unsafe: bool = False
                 ) -> tuple[str, int, NotebookResult]:
    """Apply fixes to the joined module and write the changed cells back into the notebook's text.
    Returns (new text, findings fixed, the result after fixing); the text is unchanged when nothing can be
    written safely."""
    from .fix import fix_text

    try:
        notebook = load(raw)
    except NotebookError as exc:
        return (raw if isinstance(raw, str) else raw.decode("utf-8", "replace")), 0, NotebookResult(None, error=str(exc))
    new_python, fixed, result = fix_text(notebook.python, path, rule_classes, unsafe=unsafe,
                                         keep=displayed(notebook))
    if not fixed or new_python == notebook.python:
        return notebook.raw, 0, NotebookResult(notebook, result)
    new_sources = split_cells(notebook, new_python)
    if new_sources is None:  # a fix crossed a cell boundary or touched a masked line: write nothing
        return notebook.raw, 0, NotebookResult(notebook, lint_text(notebook.python, path, rule_classes))
    new_raw = write_cells(notebook, new_sources)
    after = load(new_raw)
    return new_raw, fixed, NotebookResult(after, lint_text(after.python, path, rule_classes))


def split_cells(notebook: Notebook, python: str) -> Optional[dict[int, str]]:
    """{cell number: new source} for the cells whose text changed, restoring masked lines; None when the
    fixed module cannot be mapped back onto the cells."""
    chunks: dict[int, list[str]] = {}
    current: Optional[list[str]] = None
    for line in python.splitlines(keepends=True):
        match = _MARKER_RE.match(line.rstrip("\r\n"))
        if match is not None:
            current = chunks.setdefault(int(match.group(1)), [])
            continue
        if current is None:
            return None
        current.append(line)
    if sorted(chunks) != sorted(c.number for c in notebook.cells):
        return None
    out: dict[int, str] = {}
    for cell in notebook.cells:
        text = "".join(chunks[cell.number])
        if text == cell.text:
            continue
        new_lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
        if cell.masked or any(cell.dedent):
            old_lines = cell.source.split("\n")
            masked_lines = cell.text.split("\n")[:-1]
            if len(new_lines) != len(masked_lines) or any(new_lines[i] != masked_lines[i] for i in cell.masked):
                return None
            for i, n in enumerate(cell.dedent):
                if n:
                    new_lines[i] = old_lines[i][:n] + new_lines[i]
            for i in cell.masked:
                new_lines[i] = old_lines[i]
        source = "\n".join(new_lines)
        if cell.source.endswith("\n"):
            source += "\n"
        out[cell.number] = source
    return out


def _detect_ascii(raw: str) -> bool:
    """Whether the file escapes non-ASCII characters (json.dumps' default) rather than writing them."""
    return bool(re.search(r"\\u[0-9a-fA-F]{4}", raw)) and not any(ord(ch) > 127 for ch in raw)


def _render_source(raw: str, cell: Cell, source: str, ascii_only: bool) -> str:
    old = raw[cell.span[0]:cell.span[1]]
    if not cell.is_list:
        return json.dumps(source, ensure_ascii=ascii_only)
    lines = source.splitlines(keepends=True)
    if not lines:
        return "[]"
    match = re.match(r"\[(\s*)", old)
    item_ws = match.group(1) if match and match.group(1) else None
    close = re.search(r"(\s*)\]$", old)
    close_ws = close.group(1) if close else ""
    if item_ws is None:  # the old list was empty or on one line: indent one step past the key's line
        line_start = raw.rfind("\n", 0, cell.span[0]) + 1
        key_indent = re.match(r"\s*", raw[line_start:]).group(0)
        step = _indent_step(raw)
        if not step:
            return "[" + ", ".join(json.dumps(x, ensure_ascii=ascii_only) for x in lines) + "]"
        item_ws, close_ws = "\n" + key_indent + step, "\n" + key_indent
    return "[" + item_ws + ("," + item_ws).join(json.dumps(x, ensure_ascii=ascii_only) for x in lines) + close_ws + "]"


def _indent_step(raw: str) -> str:
    match = re.search(r"\{\n( +|\t+)\"", raw)
    return match.group(1) if match else ""


def write_cells(notebook: Notebook, sources: dict[int, str]) -> str:
    """The notebook's text with the given cells' "source" values replaced, nothing else changed."""
    raw = notebook.raw
    ascii_only = _detect_ascii(raw)
    edits = []
    for cell in notebook.cells:
        if cell.number in sources:
            if cell.span[0] < 0:
                raise NotebookError(f"cannot locate the source of cell {cell.number}")
            edits.append((cell.span, _render_source(raw, cell, sources[cell.number], ascii_only)))
    for (start, end), text in sorted(edits, reverse=True):
        raw = raw[:start] + text + raw[end:]
    return raw


def cell_diff(path: str, old: Notebook, new_raw: str) -> str:
    """A unified diff per changed cell (``--- nb.ipynb:cell 3`` headers, as ruff prints)."""
    import difflib

    new = load(new_raw)
    by_number = {c.number: c for c in new.cells}
    out = []
    for cell in old.cells:
        changed = by_number.get(cell.number)
        if changed is None or changed.source == cell.source:
            continue
        name = display_path(path, cell.number)
        out.extend(difflib.unified_diff(cell.source.splitlines(keepends=True),
                                        changed.source.splitlines(keepends=True), name, name))
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
    return "".join(out)


def diagnostics(path: str, result: NotebookResult, make) -> list:
    """Diagnostics of a notebook through the runner's own constructor ``make(path, code, message, line, col,
    end_line, end_col, name, fix)``, with the cell's number in ``cell`` and lines counted in the cell."""
    from .engine import READ_ERROR

    if result.error is not None:
        d = make(path, READ_ERROR, result.error, 1, 0)
        d["cell"] = None
        return [d]
    out = []
    engine_result = result.result
    if engine_result is not None and engine_result.error is not None:
        err = engine_result.error
        where = cell_location(result.notebook, err.line)
        d = make(path, err.code, err.message, where["line"], _column(result.notebook, err.line, err.col))
        d["cell"] = where["cell"]
        out.append(d)
    for f in result.findings:
        where = cell_location(result.notebook, f.line, f.end_line)
        clipped = where["end_line"] - where["line"] != f.end_line - f.line
        end_col = 0 if clipped else _column(result.notebook, f.end_line, f.end_col)
        d = make(path, f.code, f.message, where["line"], _column(result.notebook, f.line, f.col), where["end_line"],
                 end_col, f.name, _cell_edit(result.notebook, f.edit))
        d["cell"] = where["cell"]
        out.append(d)
    return out


def _column(notebook: Notebook, line: int, col: int) -> int:
    """Column ``col`` of joined-module ``line``, as a column of that line in its cell."""
    cell, in_cell = notebook.locate(line)
    return cell.column(in_cell, col) if cell is not None else col


def _cell_edit(notebook: Notebook, edit: Optional[dict]) -> Optional[dict]:
    """The fix's text edits with rows counted in their cell (each edit gains its ``cell``)."""
    if edit is None:
        return None
    edits = []
    for e in edit["edits"]:
        row, end_row = e["location"]["row"], e["end_location"]["row"]
        start = cell_location(notebook, row, end_row)
        edits.append({**e, "cell": start["cell"],
                      "location": {"row": start["line"], "column": _column(notebook, row, e["location"]["column"])},
                      "end_location": {"row": start["end_line"],
                                       "column": _column(notebook, end_row, e["end_location"]["column"])}})
    return {**edit, "edits": edits}


# ---------------------------------------------------------------------------------------- the command line
def check_file(path: str, display: str, data: bytes, rules, options, report, mtime, make) -> None:
    """``torchlint check`` on one notebook (the runner's hook): fill ``report`` with the findings (each
    carrying its ``cell``), and with --fix/--diff write back or diff the changed cells. ``make`` is the
    runner's diagnostic constructor; ``options`` its Options (fix, diff, unsafe_fixes). A failure of
    torchlint itself is one TL003 line for this file, as for a Python file."""
    from .engine import INTERNAL_ERROR

    try:
        _check_file(path, display, data, rules, options, report, mtime, make)
    except (RecursionError, MemoryError) as exc:
        report.fatal = True
        report.diagnostics.append(make(display, INTERNAL_ERROR, f"notebook too large or deep to analyse "
                                                                f"({type(exc).__name__})", 1, 0))
    except Exception as exc:  # a bug in torchlint must not hide the other files' results
        report.fatal = True
        report.diagnostics.append(make(display, INTERNAL_ERROR,
                                       f"torchlint failed on this notebook: {type(exc).__name__}: {exc}", 1, 0))


def _check_file(path, display, data, rules, options, report, mtime, make) -> None:
    from .engine import READ_ERROR

    if not (options.fix or options.diff):
        report.diagnostics.extend(diagnostics(display, lint_notebook(data, display, rules), make))
        report.fatal = any(d["code"] != "TL001" and d["code"].startswith("TL00") for d in report.diagnostics)
        return
    stdin = path == "-"
    if stdin and not options.diff:
        report.output = data
    try:
        notebook = load(data)
    except NotebookError as exc:
        report.diagnostics.extend(diagnostics(display, NotebookResult(None, error=str(exc)), make))
        report.fatal = True
        return
    new_raw, fixed, after = fix_notebook(notebook.raw, display, rules, unsafe=options.unsafe_fixes)
    if not fixed:
        report.diagnostics.extend(diagnostics(display, after, make))
        return
    if options.diff:
        report.diff = cell_diff(display, notebook, new_raw)
        report.would_fix = fixed
        report.diagnostics.extend(diagnostics(display, lint_notebook(notebook.raw, display, rules), make))
        return
    encoded = new_raw.encode("utf-8")
    if stdin:
        report.output, report.fixed = encoded, fixed
    else:
        from .fix import write_atomically

        if not write_atomically(path, encoded, mtime):
            d = make(display, READ_ERROR, "file changed on disk while torchlint ran; fixes not written", 1, 0)
            report.diagnostics.append(d)
            report.diagnostics.extend(diagnostics(display, lint_notebook(notebook.raw, display, rules), make))
            return
        report.fixed = fixed
    report.diagnostics.extend(diagnostics(display, after, make))
