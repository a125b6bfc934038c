"""``torchlint server``: a Language Server (LSP over stdio, built on pygls 2) for editors.

What it offers:

- diagnostics on open, on change and on save, with exact ranges in
  the position encoding the client negotiated (UTF-16 unless it asks for another), the rule's code, its
  message and a ``codeDescription`` link to the rule's page;
- diagnostics of an edit are linted without fixes (nothing is proven for them), and the first code action
  asked after the edit lints once more with fixes: publishing stays fast on large files;
- code actions: each finding's fix as a quick fix (unsafe fixes say so in their title and are never the
  preferred action), ``# noqa: TLnnn`` insertion, and ``source.fixAll.torchlint`` (every safe fix, what
  ``torchlint --fix`` does) for format-on-save set-ups;
- hover on a finding: the rule's documentation;
- the ``[tool.torchlint]`` of the nearest ``pyproject.toml`` above each file (selection, ``ignore``,
  ``per-file-ignores``, ``exclude`` and ``extend-exclude``), re-read when it changes.

- notebooks through LSP notebook sync (``jupyter-notebook`` documents): the code cells are linted as one
  module (torchlint/notebook.py), each cell gets its own diagnostics, fixes and hover; fix-all edits every
  cell it changes.

The server lints through :func:`lint`, the one place it calls the engine.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Optional, Sequence
from urllib.parse import unquote, urlparse

from . import __version__

# Changes are debounced: the first change after a quiet spell is linted at once (no added latency); a change
# arriving within DEBOUNCE_SECONDS of the previous lint or change waits until the keystrokes pause that long.
DEBOUNCE_SECONDS = 0.05
FIX_ALL_KIND = "source.fixAll.torchlint"
SOURCE = "torchlint"
_ERROR_CODES = ("TL001", "TL002", "TL003")

log = logging.getLogger("torchlint.server")


def lint(text: str, path: str, rule_classes, parsed=None, fixes: bool = True):
    """The server's one call into the engine (``torchlint.engine.lint_source``); ``parsed`` is the libcst
    module of exactly ``text`` when :class:`IncrementalParser` could build it. ``fixes=False`` for the
    diagnostics of an edit: proving fixes is left to the code action that asks for them."""
    from .engine import lint_source

    return lint_source(text, path, rule_classes, parsed=parsed, fixes=fixes)


class IncrementalParser:
    """After an edit, re-parse only the top-level statements it touched (plus one on each side) and reuse
    the parsed nodes of every other statement. A libcst module's code is its header, then each statement's
    code (its leading blank lines and comments included), then its footer, so the statements' lengths in
    the previous text locate the edit. Anything unusual (an edit in the header, a different indentation
    default in the re-parsed part, a part that does not parse on its own) answers None: the caller parses
    the whole text. tests/test_server.py compares with full parses after many random edits."""

    __slots__ = ("text", "module", "lengths", "header", "_built")

    def __init__(self) -> None:
        self.text: Optional[str] = None
        self.module = None
        self.lengths: list[int] = []
        self.header = 0
        self._built = None  # (module, header length, statement lengths) of the last parse()

    def remember(self, text: str, module) -> None:
        """The text just linted and its module (None when there is none)."""
        built, self._built = self._built, None
        self.text, self.module, self.lengths = text, module, []
        if module is None:
            return
        if built is not None and built[0] is module:  # only the re-parsed statements were measured
            self.header, self.lengths = built[1], built[2]
            return
        self.header = sum(len(module.code_for_node(line)) for line in module.header)
        self.lengths = [len(module.code_for_node(stmt)) for stmt in module.body]
        footer = sum(len(module.code_for_node(line)) for line in module.footer)
        total = self.header + sum(self.lengths) + footer
        if total != len(text) and not (not module.has_trailing_newline and total == len(text) + 1):
            self.module, self.lengths = None, []  # a layout this class does not understand: parse fully

    def parse(self, text: str):
        import libcst as cst

        old, module, n = self.text, self.module, len(self.lengths)
        if old is None or module is None or n < 3 or old == text:
            return None
        limit = min(len(old), len(text))
        p = _common_prefix(old, text, limit)
        s = _common_suffix(old, text, limit - p)
        if p < self.header:
            return None
        starts = [self.header]
        for length in self.lengths:
            starts.append(starts[-1] + length)
        old_end = len(old) - s
        i = max(k for k in range(n) if starts[k] <= p)
        j = max([k for k in range(n) if starts[k] <= old_end] or [i])
        i, j = max(i - 1, 0), min(j + 1, n - 1)
        start = 0 if i == 0 else starts[i]
        end = len(old) if j == n - 1 else starts[j + 1]
        middle_text = text[start:len(text) - (len(old) - end)]
        from .guard import check

        if check(middle_text, "<edit>") is not None:  # what CPython rejects, or too deep for libcst
            return None
        try:
            middle = cst.parse_module(middle_text)
        except Exception:
            return None
        if (middle.default_indent != module.default_indent or middle.default_newline != module.default_newline
                or middle.encoding != module.encoding):
            return None
        body = list(middle.body)
        suffix = list(module.body[j + 1:])
        header, footer = module.header, module.footer
        if i == 0:
            header = middle.header
        elif middle.header:
            if not body:
                return None
            body[0] = body[0].with_changes(leading_lines=[*middle.header, *body[0].leading_lines])
        if j == n - 1:
            footer = middle.footer
        elif middle.footer:
            suffix[0] = suffix[0].with_changes(leading_lines=[*middle.footer, *suffix[0].leading_lines])
        new = module.with_changes(
            body=[*module.body[:i], *body, *suffix], header=header, footer=footer,
            has_trailing_newline=middle.has_trailing_newline if j == n - 1 else module.has_trailing_newline)
        measure = new.code_for_node
        lengths = [*self.lengths[:i], *(len(measure(stmt)) for stmt in body)]
        if suffix:
            lengths += [len(measure(suffix[0])), *self.lengths[j + 2:]]
        header_length = sum(len(measure(line)) for line in header) if i == 0 else self.header
        self._built = (new, header_length, lengths)
        return new


def _common_prefix(a: str, b: str, limit: int) -> int:
    """Length of the longest common prefix of ``a`` and ``b`` (at most ``limit``), by bisection over slice
    comparisons (C speed; a character loop costs milliseconds on a large file)."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the longest common suffix of ``a`` and ``b`` (at most ``limit``)."""
    la, lb = len(a), len(b)
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid:la - lo] == b[lb - mid:lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def fix_all_text(text: str, path: str, rule_classes, keep=None) -> str:
    """What ``torchlint --fix`` writes for this text (safe fixes only; ``keep``: which findings to fix)."""
    from .fix import fix_text

    return fix_text(text, path, rule_classes, unsafe=False, keep=keep)[0]


# ---------------------------------------------------------------------------------------- configuration
class FileSettings:
    __slots__ = ("rule_classes", "excluded", "error")

    def __init__(self, rule_classes, excluded: bool = False, error: Optional[str] = None) -> None:
        self.rule_classes = rule_classes
        self.excluded = excluded
        self.error = error


class SettingsCache:
    """``[tool.torchlint]`` for a file: found from the file's folder upwards, parsed once per change of the
    configuration file (its mtime), exactly as the command line reads it."""

    def __init__(self) -> None:
        self._configs: dict[str, tuple[int, object]] = {}

    def _config(self, path: Optional[str]):
        from .config import Config, find_config, read_config

        start = os.path.dirname(path) if path else os.getcwd()
        found = find_config(start)
        if found is None:
            return Config()
        mtime = os.stat(found).st_mtime_ns
        cached = self._configs.get(found)
        if cached is None or cached[0] != mtime:
            cached = (mtime, read_config(found))
            self._configs[found] = cached
        return cached[1]

    def for_file(self, path: Optional[str]) -> FileSettings:
        from .config import ConfigError, glob_match, per_file_ignored, selected_rules

        try:
            config = self._config(path)
        except (ConfigError, OSError) as exc:
            from .rules import default_rules

            return FileSettings(default_rules(), error=str(exc))
        if path is not None:
            patterns = [*(config.exclude or ()), *config.extend_exclude]
            probe = os.path.abspath(path)
            while patterns:  # a configured exclude matching the file or one of its folders (like ruff)
                if any(glob_match(probe, p, config.root) for p in patterns):
                    return FileSettings((), excluded=True)
                parent = os.path.dirname(probe)
                if parent == probe or parent == os.path.dirname(config.root):
                    break
                probe = parent
        ignore = per_file_ignored(config, path) if path is not None else []
        return FileSettings(selected_rules(config, ignore=ignore))


# ---------------------------------------------------------------------------------------- positions
def _lines(text: str) -> list[str]:
    from .engine import source_lines

    return source_lines(text)


class Document:
    """One open document's text, version and latest lint result (findings keep 1-based lines and
    0-based code-point columns, as the engine gives them)."""

    __slots__ = ("uri", "path", "version", "text", "lines", "findings", "error", "settings", "source", "notebook",
                 "fixes")

    def __init__(self, uri: str, path: Optional[str], version: Optional[int], text: str, result, settings,
                 source: Optional[str] = None, notebook: Optional[str] = None) -> None:
        self.uri, self.path, self.version, self.text = uri, path, version, text
        self.lines = _lines(text)
        self.findings = result.findings if result is not None else []
        self.error = result.error if result is not None else None
        self.settings = settings
        self.source = text if source is None else source  # the editor's text (a cell's, before masking)
        self.notebook = notebook  # the notebook's URI, for a notebook cell
        self.fixes = True  # the findings carry their fixes (False: linted for diagnostics only)


class _CellResult:
    __slots__ = ("findings", "error")

    def __init__(self, findings, error) -> None:
        self.findings, self.error = findings, error


def cell_results(notebook, result) -> dict:
    """{cell number: findings and error of that cell, in the cell's own lines} from a lint of the joined
    notebook module (a fix whose edits leave the cell keeps no edit)."""
    import dataclasses

    out = {cell.number: _CellResult([], None) for cell in notebook.cells}
    if result is None:
        return out

    def local(line: int, end_line: int):
        cell, first = notebook.locate(line)
        end_cell, last = notebook.locate(end_line)
        return cell, first, (last if end_cell is cell else max(cell.n_lines, first)) if cell else last

    for f in result.findings:
        cell, line, end_line = local(f.line, f.end_line)
        if cell is None:
            continue
        edit = f.edit
        if edit is not None:
            rows = [local(e["location"]["row"], e["end_location"]["row"]) for e in edit["edits"]]
            if all(r[0] is cell for r in rows):
                edit = {**edit, "edits": [
                    {**e, "location": {"row": r[1], "column": cell.column(r[1], e["location"]["column"])},
                     "end_location": {"row": r[2], "column": cell.column(r[2], e["end_location"]["column"])}}
                    for e, r in zip(edit["edits"], rows)]}
            else:
                edit = None
        if (end_line - line) == (f.end_line - f.line):
            end_col = cell.column(end_line, f.end_col)
        else:
            end_col = cell.column(end_line, len(cell.text.split("\n")[end_line - 1]))
        out[cell.number].findings.append(dataclasses.replace(f, line=line, col=cell.column(line, f.col),
                                                             end_line=end_line, end_col=end_col, edit=edit))
    if result.error is not None:
        cell, line = notebook.locate(result.error.line)
        if cell is not None:
            err = result.error
            out[cell.number].error = type(err)(err.code, err.message, line, cell.column(line, err.col))
    return out


def uri_to_path(uri: str) -> Optional[str]:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        return None
    path = unquote(parsed.path)
    if os.name == "nt" and path.startswith("/") and len(path) > 2 and path[2] == ":":  # pragma: no cover
        path = path[1:]
    return path


# ---------------------------------------------------------------------------------------- the server
def build_server():
    """The pygls server with every feature registered (imported lazily: ``pip install 'torchlint[server]'``)."""
    from lsprotocol import types
    from pygls.lsp.server import LanguageServer

    from .docs import rule_header, rule_url
    from .positions import reuse_statement_positions
    from .rules import rule_by_code

    reuse_statement_positions(True)  # re-lints keep most statement objects (IncrementalParser)

    server = LanguageServer(
        "torchlint", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        notebook_document_sync=types.NotebookDocumentSyncOptions(
            notebook_selector=[types.NotebookDocumentFilterWithCells(
                cells=[types.NotebookCellLanguage(language="python")], notebook="jupyter-notebook")],
            save=True))
    settings = SettingsCache()
    docs: dict[str, Document] = {}
    pending: dict[str, asyncio.Task] = {}
    parsers: dict[str, IncrementalParser] = {}
    busy: dict[str, float] = {}  # URI -> loop time of its last change or lint
    notebook_cells: dict[str, list[str]] = {}  # notebook URI -> its code cells' URIs

    def codec():
        return server.workspace.position_codec

    def position(doc: Document, line1: int, col0: int):
        """Engine position (1-based line, code-point column) -> LSP position in the negotiated encoding."""
        line0 = max(line1 - 1, 0)
        text = doc.lines[line0] if line0 < len(doc.lines) else ""
        return types.Position(line=line0, character=codec().client_num_units(text[:col0]))

    def server_column(doc: Document, pos) -> tuple[int, int]:
        """LSP position -> (1-based line, code-point column)."""
        text = doc.lines[pos.line] if pos.line < len(doc.lines) else ""
        units = col = 0
        for char in text:
            if units >= pos.character:
                break
            units += codec().client_num_units(char)
            col += 1
        return pos.line + 1, col

    def finding_range(doc: Document, f):
        return types.Range(start=position(doc, f.line, f.col), end=position(doc, f.end_line, f.end_col))

    def to_diagnostic(doc: Document, f):
        return types.Diagnostic(
            range=finding_range(doc, f), message=f.message, severity=types.DiagnosticSeverity.Warning,
            code=f.code, code_description=types.CodeDescription(href=rule_url(f.code)), source=SOURCE,
            data={"fixable": f.edit is not None, "applicability": f.fix.applicability if f.fix else None}
            if doc.fixes else None)

    def error_diagnostic(doc: Document, err):
        start = position(doc, err.line, err.col)
        end = types.Position(line=start.line, character=start.character + 1)
        return types.Diagnostic(range=types.Range(start=start, end=end), message=err.message,
                                severity=types.DiagnosticSeverity.Error, code=err.code,
                                code_description=types.CodeDescription(href=rule_url(err.code)), source=SOURCE)

    def refresh(uri: str) -> Optional[Document]:
        """Lint the workspace's current text of ``uri`` and publish its diagnostics."""
        text_doc = server.workspace.get_text_document(uri)
        path = text_doc.path if uri.startswith("file:") else None
        text, version = text_doc.source, text_doc.version
        file_settings = settings.for_file(path)
        if file_settings.error:
            server.window_show_message(types.ShowMessageParams(
                type=types.MessageType.Error, message=f"torchlint: {file_settings.error}; using the default rules"))
        result = None
        if not file_settings.excluded:
            parser = parsers.setdefault(uri, IncrementalParser())
            result = lint(text, path or uri, file_settings.rule_classes, parser.parse(text), fixes=False)
            parser.remember(text, result.module)
        doc = Document(uri, path, version, text, result, file_settings)
        doc.fixes = result is None
        docs[uri] = doc
        publish(doc)
        return doc

    def current(uri: str) -> Optional[Document]:
        """The lint result for the document's current text (linting now if it is stale)."""
        doc = docs.get(uri)
        try:
            text_doc = server.workspace.get_text_document(uri)
        except Exception:  # pragma: no cover - not open
            return doc
        if doc is None or doc.version != text_doc.version or doc.source != text_doc.source:
            owner = doc.notebook if doc is not None else None
            task = pending.pop(owner or uri, None)
            if task is not None:
                task.cancel()
            if owner is not None:
                refresh_notebook(owner)
                return docs.get(uri)
            doc = refresh(uri)
        return doc

    async def refresh_later(uri: str, delay: float, notebook: bool = False) -> None:
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            return
        pending.pop(uri, None)
        try:
            (refresh_notebook if notebook else refresh)(uri)
        finally:
            busy[uri] = asyncio.get_running_loop().time()

    def schedule(uri: str, notebook: bool = False) -> None:
        """Debounce a change of ``uri``: lint now after a quiet spell, else once the changes pause."""
        loop = asyncio.get_running_loop()
        task = pending.pop(uri, None)
        if task is not None:
            task.cancel()
        quiet = task is None and loop.time() - busy.get(uri, float("-inf")) > DEBOUNCE_SECONDS
        busy[uri] = loop.time()
        pending[uri] = loop.create_task(refresh_later(uri, 0 if quiet else DEBOUNCE_SECONDS, notebook))

    # ------------------------------------------------------------------ notebooks (LSP notebook sync)
    def notebook_state(nb_uri: str):
        """(joined notebook, [(cell number, cell URI, text document)]) of an open notebook's code cells."""
        from .notebook import from_cells

        nb_doc = server.workspace.get_notebook_document(notebook_uri=nb_uri)
        if nb_doc is None:
            return None, []
        entries = []
        for number, cell in enumerate(nb_doc.cells, 1):
            if cell.kind != types.NotebookCellKind.Code:
                continue
            text_doc = server.workspace.get_text_document(cell.document)
            if (text_doc.language_id or "python") != "python":
                continue
            entries.append((number, cell.document, text_doc))
        return from_cells([(number, text_doc.source) for number, _uri, text_doc in entries]), entries

    def refresh_notebook(nb_uri: str) -> None:
        """Lint a notebook's code cells as one module; publish each cell's diagnostics on the cell."""
        notebook, entries = notebook_state(nb_uri)
        if notebook is None:
            return
        path = uri_to_path(nb_uri)
        file_settings = settings.for_file(path)
        result = None if file_settings.excluded else lint(notebook.python, path or nb_uri, file_settings.rule_classes)
        if result is not None and result.findings:  # a cell's displayed last expression is not a finding
            from .notebook import displayed

            keep = displayed(notebook)
            result = _CellResult([f for f in result.findings if keep(f)], result.error)
        per_cell = cell_results(notebook, result)
        cells = {cell.number: cell for cell in notebook.cells}
        old = set(notebook_cells.get(nb_uri, ()))
        notebook_cells[nb_uri] = [uri for _n, uri, _t in entries]
        for number, uri, text_doc in entries:
            doc = Document(uri, path, text_doc.version, cells[number].masked_source, per_cell[number], file_settings,
                           source=text_doc.source, notebook=nb_uri)
            docs[uri] = doc
            publish(doc)
            old.discard(uri)
        for uri in old:  # cells deleted, or no longer code
            docs.pop(uri, None)
            server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def publish(doc: Document) -> None:
        diagnostics = [to_diagnostic(doc, f) for f in doc.findings]
        if doc.error is not None:
            diagnostics.append(error_diagnostic(doc, doc.error))
        server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=doc.uri, diagnostics=diagnostics, version=doc.version))

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def notebook_did_open(ls, params: types.DidOpenNotebookDocumentParams) -> None:
        refresh_notebook(params.notebook_document.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def notebook_did_change(ls, params: types.DidChangeNotebookDocumentParams) -> None:
        schedule(params.notebook_document.uri, notebook=True)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def notebook_did_save(ls, params: types.DidSaveNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        task = pending.pop(uri, None)
        if task is not None:
            task.cancel()
        refresh_notebook(uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_did_close(ls, params: types.DidCloseNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        task = pending.pop(uri, None)
        if task is not None:
            task.cancel()
        for cell_uri in notebook_cells.pop(uri, ()):
            docs.pop(cell_uri, None)
            server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=cell_uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenTextDocumentParams) -> None:
        refresh(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeTextDocumentParams) -> None:
        schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(ls, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if uri.endswith("pyproject.toml"):  # the configuration changed: every open file may lint differently
            for other in [u for u, d in docs.items() if d.notebook is None and u != uri]:
                refresh(other)
            for nb_uri in list(notebook_cells):
                refresh_notebook(nb_uri)
            return
        if uri in docs:
            task = pending.pop(uri, None)
            if task is not None:
                task.cancel()
            refresh(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        task = pending.pop(uri, None)
        if task is not None:
            task.cancel()
        docs.pop(uri, None)
        parsers.pop(uri, None)
        server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    # ------------------------------------------------------------------ hover
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls, params: types.HoverParams) -> Optional[types.Hover]:
        doc = current(params.text_document.uri)
        if doc is None:
            return None
        here = server_column(doc, params.position)
        parts, seen = [], set()
        for f in doc.findings:
            if (f.line, f.col) <= here <= (f.end_line, f.end_col) and f.code not in seen:
                seen.add(f.code)
                parts.append(hover_text(f))
        if not parts:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value="\n\n---\n\n".join(parts)))

    def hover_text(f) -> str:
        rule = rule_by_code(f.code)
        head = f"**{f.code}** `{f.name}`: {f.message}"
        if rule is None:
            return head
        body = rule.documentation().replace("\n## ", "\n#### ")
        if body.startswith("## "):
            body = "##" + body
        return f"{head}\n\n{rule_header(rule)}\n\n{body}\n\n[{f.code} documentation]({rule_url(f.code)})"

    # ------------------------------------------------------------------ code actions
    def text_edits(doc: Document, edit: dict) -> list:
        out = []
        for e in edit["edits"]:
            start = position(doc, e["location"]["row"], e["location"]["column"] - 1)
            end = position(doc, e["end_location"]["row"], e["end_location"]["column"] - 1)
            out.append(types.TextEdit(range=types.Range(start=start, end=end), new_text=e["content"]))
        return out

    def workspace_edit(doc: Document, edits: list):
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=doc.uri, version=doc.version),
            edits=edits)])

    def noqa_edit(doc: Document, f):
        """Insert ``# noqa: CODE`` on the finding's first line (or add the code to a ``# noqa:`` there)."""
        from .engine import NOQA_RE
        from .fix import verify

        line_text = doc.lines[f.line - 1] if 0 < f.line <= len(doc.lines) else None
        if line_text is None:
            return None
        match = None
        for m in NOQA_RE.finditer(line_text):
            match = m
        if match is not None and not match.group("codes"):
            return None  # a bare '# noqa' already silences the line
        if match is not None:
            col, insert = match.end("codes"), f", {f.code}"
        else:
            stripped = line_text.rstrip()
            col, insert = len(stripped), f"  # noqa: {f.code}"
        new_line = line_text[:col] + insert + line_text[col:]
        lines = list(doc.lines)
        lines[f.line - 1] = new_line
        new_text = "".join(line + nl for line, nl in zip(lines, _newlines(doc.text)))
        if verify(new_text) is not None:  # e.g. the line ends inside a multi-line string
            return None
        at = position(doc, f.line, col)
        return types.TextEdit(range=types.Range(start=at, end=at), new_text=insert)

    def notebook_fix_all(doc: Document):
        """All safe fixes of the cell's notebook: one edit per changed cell (magics kept)."""
        from .notebook import displayed, split_cells

        notebook, entries = notebook_state(doc.notebook)
        if notebook is None or doc.settings.excluded:
            return None
        new_python = fix_all_text(notebook.python, doc.path or doc.notebook, doc.settings.rule_classes,
                                  keep=displayed(notebook))
        sources = split_cells(notebook, new_python) if new_python != notebook.python else None
        if not sources:
            return None
        changes = []
        for number, uri, text_doc in entries:
            if number in sources:
                cell_doc = Document(uri, doc.path, text_doc.version, text_doc.source, None, doc.settings)
                changes.append(types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=text_doc.version),
                    edits=[minimal_edit(cell_doc, sources[number])]))
        return types.WorkspaceEdit(document_changes=changes)

    def fix_all_edit(doc: Document):
        if doc.settings.excluded or not any(f.fix is not None and f.fix.applicability == "safe" for f in doc.findings):
            return None
        new_text = fix_all_text(doc.text, doc.path or doc.uri, doc.settings.rule_classes)
        if new_text == doc.text:
            return None
        return minimal_edit(doc, new_text)

    def minimal_edit(doc: Document, new_text: str):
        old_lines = doc.text.splitlines(keepends=True)
        new_lines = new_text.splitlines(keepends=True)
        p = 0
        while p < min(len(old_lines), len(new_lines)) and old_lines[p] == new_lines[p]:
            p += 1
        s = 0
        while (s < min(len(old_lines), len(new_lines)) - p
               and old_lines[len(old_lines) - 1 - s] == new_lines[len(new_lines) - 1 - s]):
            s += 1
        replaced = "".join(new_lines[p:len(new_lines) - s])
        start = types.Position(line=p, character=0)
        end_index = len(old_lines) - s
        if end_index == len(old_lines) and old_lines and not old_lines[-1].endswith(("\n", "\r")):
            end = position(doc, len(old_lines), len(old_lines[-1]))
        else:
            end = types.Position(line=end_index, character=0)
        return types.TextEdit(range=types.Range(start=start, end=end), new_text=replaced)

    def wants(only: Optional[Sequence[str]], kind: str) -> bool:
        return not only or any(kind == k or kind.startswith(k + ".") for k in only)

    def with_fixes(doc: Document) -> Document:
        """The document's findings with their fixes: linted once more (same text, so the same findings) the
        first time a code action asks after an edit."""
        if doc.fixes or doc.notebook is not None:
            return doc
        parser = parsers.get(doc.uri)
        module = parser.module if parser is not None and parser.text == doc.text else None
        result = lint(doc.text, doc.path or doc.uri, doc.settings.rule_classes, module)
        fixed = Document(doc.uri, doc.path, doc.version, doc.text, result, doc.settings, source=doc.source)
        if docs.get(doc.uri) is doc:
            docs[doc.uri] = fixed
        return fixed

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll, FIX_ALL_KIND],
        resolve_provider=False))
    def code_action(ls, params: types.CodeActionParams):
        doc = current(params.text_document.uri)
        if doc is None:
            return None
        doc = with_fixes(doc)
        only = params.context.only
        actions = []
        if wants(only, types.CodeActionKind.QuickFix):
            start = server_column(doc, params.range.start)
            end = server_column(doc, params.range.end)
            for f in doc.findings:
                if (f.end_line, f.end_col) < start or end < (f.line, f.col):
                    continue
                diag = to_diagnostic(doc, f)
                if f.edit is not None:
                    unsafe = f.fix.applicability != "safe"
                    label = f.fix.description or "apply the fix"
                    actions.append(types.CodeAction(
                        title=f"{f.code}: {label}" + (" (unsafe fix: review the change)" if unsafe else ""),
                        kind=types.CodeActionKind.QuickFix, diagnostics=[diag], is_preferred=not unsafe,
                        edit=workspace_edit(doc, text_edits(doc, f.edit))))
                edit = noqa_edit(doc, f)
                if edit is not None:
                    actions.append(types.CodeAction(
                        title=f"{f.code}: silence with '# noqa: {f.code}' on line {f.line}",
                        kind=types.CodeActionKind.QuickFix, diagnostics=[diag], edit=workspace_edit(doc, [edit])))
        if wants(only, FIX_ALL_KIND):
            if doc.notebook is not None:
                edit = notebook_fix_all(doc) if any(f.fix is not None and f.fix.applicability == "safe"
                                                    for d in docs.values() if d.notebook == doc.notebook
                                                    for f in d.findings) else None
            else:
                edit = fix_all_edit(doc)
                edit = workspace_edit(doc, [edit]) if edit is not None else None
            if edit is not None:
                actions.append(types.CodeAction(title="torchlint: apply all safe fixes", kind=FIX_ALL_KIND,
                                                edit=edit))
        return actions

    return server


def _newlines(text: str) -> list[str]:
    """The line endings of ``text``, one per line of engine.source_lines (the last is '')."""
    import re

    return [m.group(0) for m in re.finditer(r"\r\n|\r|\n", text)] + [""]


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        server = build_server()
    except ImportError as exc:
        print(f"torchlint: the language server needs pygls ({exc.name or exc}): pip install 'torchlint[server]'",
              file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    server.start_io()
    return 0
