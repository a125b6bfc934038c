"""The language server, driven over stdio by a real LSP client (pygls's), as an editor would: open a file,
receive diagnostics, ask for code actions, apply one, see the diagnostic gone."""
import asyncio
import json
import os
import subprocess
import sys
import textwrap

import pytest

from helpers import ROOT

types = pytest.importorskip("lsprotocol.types")
pytest.importorskip("pygls")
from pygls.lsp.client import LanguageClient  # noqa: E402

from torchlint.docs import rule_url  # noqa: E402

TIMEOUT = 30

BAD = textwrap.dedent("""\
    import torch
    import torch.nn as nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(8, 8) for _ in range(4)]
            self.w = torch.randn(3, requires_grad=True)
""")


class Session:
    """One server process and one client, on an event loop of their own."""

    def __init__(self, root, encodings=None):
        self.loop = asyncio.new_event_loop()
        self.client = LanguageClient("torchlint-test", "1")
        self.diagnostics = {}  # uri -> list of PublishDiagnosticsParams, in arrival order
        self.messages = []
        self.root = root
        self._arrived = None

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(params):
            self.diagnostics.setdefault(params.uri, []).append(params)
            if self._arrived is not None:
                self._arrived.set()

        @self.client.feature(types.WINDOW_SHOW_MESSAGE)
        def show(params):
            self.messages.append(params.message)

        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.run(self.client.start_io(sys.executable, "-m", "torchlint", "server", env=env, cwd=str(root)))
        general = types.GeneralClientCapabilities(position_encodings=encodings) if encodings else None
        caps = types.ClientCapabilities(general=general, text_document=types.TextDocumentClientCapabilities(
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True)),
            notebook_document=types.NotebookDocumentClientCapabilities(
                synchronization=types.NotebookDocumentSyncClientCapabilities()))
        self.init = self.run(self.client.initialize_async(types.InitializeParams(
            capabilities=caps, root_uri=root.as_uri(), process_id=os.getpid())))
        self.client.initialized(types.InitializedParams())

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))

    def close(self):
        try:
            self.run(self.client.shutdown_async(None))
            self.client.exit(None)
            self.run(self.client.stop())
        finally:
            self.loop.close()

    # ------------------------------------------------------------------ helpers
    def wait_diagnostics(self, uri, version=None, count=None):
        """The diagnostics published for ``uri`` (for ``version`` when given)."""
        async def wait():
            while True:
                got = [p for p in self.diagnostics.get(uri, []) if version is None or p.version == version]
                if got and (count is None or len(self.diagnostics[uri]) >= count):
                    return list(got[-1].diagnostics)
                self._arrived = asyncio.Event()
                await self._arrived.wait()
        return self.run(wait())

    def open(self, path, text, version=1):
        uri = path.as_uri()
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))
        return uri

    def change(self, uri, version, text):
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))

    def actions(self, uri, rng, diagnostics=(), only=None):
        return self.run(self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=rng,
            context=types.CodeActionContext(diagnostics=list(diagnostics), only=only)))) or []


def apply_edits(text, edits):
    """Apply LSP TextEdits (UTF-16 positions) to ``text``, as an editor does."""
    lines = text.splitlines(keepends=True) + [""]

    def offset(pos):
        before = sum(len(line) for line in lines[:pos.line])
        line = lines[pos.line] if pos.line < len(lines) else ""
        units = chars = 0
        while units < pos.character and chars < len(line):
            units += 2 if ord(line[chars]) > 0xFFFF else 1
            chars += 1
        return before + chars

    spans = sorted(((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def document_edits(action, uri):
    edit = action.edit
    if edit.document_changes:
        return [e for change in edit.document_changes if change.text_document.uri == uri for e in change.edits]
    return edit.changes[uri]


def cli_json(path, *args):
    out = subprocess.run([sys.executable, "-m", "torchlint", "--no-cache", "--output-format", "json", *args,
                          str(path)], capture_output=True, cwd=path.parent, timeout=120,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    return json.loads(out.stdout)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.torchlint]\nextend-select = []\n", encoding="utf-8")
    return tmp_path


@pytest.fixture
def session(project):
    s = Session(project)
    yield s
    s.close()


# ---------------------------------------------------------------------------------------- tests
def test_capabilities(session):
    caps = session.init.capabilities
    assert caps.hover_provider
    kinds = caps.code_action_provider.code_action_kinds
    assert "quickfix" in kinds and "source.fixAll.torchlint" in kinds
    assert caps.position_encoding == "utf-16"
    assert caps.notebook_document_sync.notebook_selector[0].notebook == "jupyter-notebook"
    assert session.init.server_info.name == "torchlint"


def test_diagnostics_on_open_match_the_command_line(session, project):
    path = project / "model.py"
    path.write_text(BAD, encoding="utf-8")
    uri = session.open(path, BAD)
    diags = session.wait_diagnostics(uri, version=1)
    expected = cli_json(path)
    assert [d.code for d in diags] == [e["code"] for e in expected] == ["TL101", "TL103"]
    for d, e in zip(diags, expected):
        # LSP: 0-based lines and (for ASCII) columns; the CLI: 1-based
        assert (d.range.start.line, d.range.start.character) == (e["location"]["row"] - 1, e["location"]["column"] - 1)
        assert (d.range.end.line, d.range.end.character) == (e["end_location"]["row"] - 1,
                                                             e["end_location"]["column"] - 1)
        assert d.message == e["message"]
        assert d.source == "torchlint"
        assert d.code_description.href == rule_url(d.code) == e["url"]
        assert d.severity == types.DiagnosticSeverity.Warning


def test_quick_fix_applied_removes_the_diagnostic(session, project):
    path = project / "model.py"
    uri = session.open(path, BAD)
    diags = session.wait_diagnostics(uri, version=1)
    tl101 = next(d for d in diags if d.code == "TL101")
    actions = session.actions(uri, tl101.range, [tl101])
    fixes = [a for a in actions if a.kind == "quickfix" and "noqa" not in a.title]
    assert len(fixes) == 1 and fixes[0].is_preferred and "unsafe" not in fixes[0].title
    new_text = apply_edits(BAD, document_edits(fixes[0], uri))
    assert "nn.ModuleList([nn.Linear(8, 8) for _ in range(4)])" in new_text
    session.change(uri, 2, new_text)
    after = session.wait_diagnostics(uri, version=2)
    assert [d.code for d in after] == ["TL103"]


def test_unsafe_fix_is_labelled_and_not_preferred(session, project):
    uri = session.open(project / "model.py", BAD)
    tl103 = next(d for d in session.wait_diagnostics(uri, version=1) if d.code == "TL103")
    fixes = [a for a in session.actions(uri, tl103.range, [tl103]) if a.kind == "quickfix" and "noqa" not in a.title]
    assert len(fixes) == 1
    assert "unsafe" in fixes[0].title and not fixes[0].is_preferred
    new_text = apply_edits(BAD, document_edits(fixes[0], uri))
    assert "nn.Parameter(" in new_text


def test_noqa_action(session, project):
    uri = session.open(project / "model.py", BAD)
    tl101 = next(d for d in session.wait_diagnostics(uri, version=1) if d.code == "TL101")
    noqa = [a for a in session.actions(uri, tl101.range, [tl101]) if "noqa" in a.title]
    assert len(noqa) == 1
    new_text = apply_edits(BAD, document_edits(noqa[0], uri))
    assert "self.layers = [nn.Linear(8, 8) for _ in range(4)]  # noqa: TL101\n" in new_text
    session.change(uri, 2, new_text)
    assert [d.code for d in session.wait_diagnostics(uri, version=2)] == ["TL103"]
    # a second code joins the existing '# noqa:' comment
    text = new_text.replace("requires_grad=True)", "requires_grad=True)  # noqa: TL101")
    session.change(uri, 3, text)
    tl103 = session.wait_diagnostics(uri, version=3)[0]
    noqa = [a for a in session.actions(uri, tl103.range, [tl103]) if "noqa" in a.title]
    fixed = apply_edits(text, document_edits(noqa[0], uri))
    assert "requires_grad=True)  # noqa: TL101, TL103\n" in fixed
    session.change(uri, 4, fixed)
    assert session.wait_diagnostics(uri, version=4) == []


def test_fix_all_is_the_command_lines_fix(session, project):
    path = project / "model.py"
    text = BAD + "\n\ndef train(model):\n    model.eval\n"
    path.write_text(text, encoding="utf-8")
    uri = session.open(path, text)
    session.wait_diagnostics(uri, version=1)
    rng = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
    actions = session.actions(uri, rng, only=["source.fixAll"])
    assert [a.kind for a in actions] == ["source.fixAll.torchlint"]
    fixed = apply_edits(text, document_edits(actions[0], uri))
    subprocess.run([sys.executable, "-m", "torchlint", "--no-cache", "--fix", "-q", str(path)], cwd=project,
                   capture_output=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert fixed == path.read_text(encoding="utf-8") != text
    session.change(uri, 2, fixed)
    assert [d.code for d in session.wait_diagnostics(uri, version=2)] == ["TL103"]  # unsafe: left alone


def test_hover_shows_the_rule_docs(session, project):
    uri = session.open(project / "model.py", BAD)
    tl101 = next(d for d in session.wait_diagnostics(uri, version=1) if d.code == "TL101")
    inside = types.Position(line=tl101.range.start.line, character=tl101.range.start.character + 3)
    hover = session.run(session.client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=inside)))
    assert hover.contents.kind == "markdown"
    assert "**TL101**" in hover.contents.value and "Why is this bad?" in hover.contents.value
    assert rule_url("TL101") in hover.contents.value
    outside = types.Position(line=0, character=0)
    assert session.run(session.client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=outside))) is None


def test_utf16_columns(session, project):
    text = BAD.replace("        self.w = torch.randn", "        s = '😀😀'; self.w = torch.randn")
    uri = session.open(project / "model.py", text)
    tl103 = next(d for d in session.wait_diagnostics(uri, version=1) if d.code == "TL103")
    line = text.splitlines()[tl103.range.start.line]
    col = line.index("torch.randn")
    # two astral characters: each counts 1 code point but 2 UTF-16 units
    assert tl103.range.start.character == col + 2
    fixes = [a for a in session.actions(uri, tl103.range, [tl103]) if a.kind == "quickfix" and "noqa" not in a.title]
    new_text = apply_edits(text, document_edits(fixes[0], uri))
    assert "s = '😀😀'; self.w = nn.Parameter(torch.randn(3))" in new_text


def test_utf32_when_the_client_asks(project):
    s = Session(project, encodings=["utf-32"])
    try:
        assert s.init.capabilities.position_encoding == "utf-32"
        text = BAD.replace("        self.w = torch.randn", "        s = '😀😀'; self.w = torch.randn")
        uri = s.open(project / "model.py", text)
        tl103 = next(d for d in s.wait_diagnostics(uri, version=1) if d.code == "TL103")
        assert tl103.range.start.character == text.splitlines()[tl103.range.start.line].index("torch.randn")
    finally:
        s.close()


def test_workspace_configuration_is_honoured(project):
    (project / "pyproject.toml").write_text(textwrap.dedent("""\
        [tool.torchlint]
        ignore = ["TL103"]
        extend-exclude = ["generated"]
        per-file-ignores = { "legacy_*.py" = ["TL101"] }
    """), encoding="utf-8")
    (project / "generated").mkdir()
    s = Session(project)
    try:
        uri = s.open(project / "model.py", BAD)
        assert [d.code for d in s.wait_diagnostics(uri, version=1)] == ["TL101"]
        uri = s.open(project / "legacy_model.py", BAD)
        assert s.wait_diagnostics(uri, version=1) == []
        uri = s.open(project / "generated" / "model.py", BAD)
        assert s.wait_diagnostics(uri, version=1) == []
        # the configuration changes and is saved: open files are linted again
        (project / "pyproject.toml").write_text("[tool.torchlint]\n", encoding="utf-8")
        uri = (project / "model.py").as_uri()
        s.client.text_document_did_save(types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=(project / "pyproject.toml").as_uri())))
        assert [d.code for d in s.wait_diagnostics(uri, version=1, count=2)] == ["TL101", "TL103"]
    finally:
        s.close()


def test_bad_configuration_is_reported_and_defaults_apply(project):
    (project / "pyproject.toml").write_text("[tool.torchlint]\nselect = [\"TL9\"]\n", encoding="utf-8")
    s = Session(project)
    try:
        uri = s.open(project / "model.py", BAD)
        assert [d.code for d in s.wait_diagnostics(uri, version=1)] == ["TL101", "TL103"]
        assert any("TL9" in m for m in s.messages)
    finally:
        s.close()


def test_changes_are_debounced_and_saved_files_linted(session, project):
    uri = session.open(project / "model.py", BAD)
    session.wait_diagnostics(uri, version=1)
    clean = BAD.replace("self.layers = [nn.Linear(8, 8) for _ in range(4)]", "self.layers = None")
    for version in range(2, 7):  # a burst of keystrokes: the first may be linted at once, then the last
        session.change(uri, version, clean if version == 6 else BAD + "#" * version)
    assert [d.code for d in session.wait_diagnostics(uri, version=6)] == ["TL103"]
    assert sum(p.version in (2, 3, 4, 5) for p in session.diagnostics[uri]) <= 1
    session.client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert len(session.wait_diagnostics(uri, version=6, count=3)) == 1


def test_syntax_error_is_one_error_diagnostic(session, project):
    uri = session.open(project / "broken.py", "import torch\ndef f(:\n    pass\n")
    diags = session.wait_diagnostics(uri, version=1)
    assert len(diags) == 1 and diags[0].code == "TL001"
    assert diags[0].severity == types.DiagnosticSeverity.Error and diags[0].range.start.line == 1


def test_close_clears_diagnostics(session, project):
    uri = session.open(project / "model.py", BAD)
    session.wait_diagnostics(uri, version=1)
    session.client.text_document_did_close(types.DidCloseTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert session.wait_diagnostics(uri, count=2) == []


def test_missing_pygls_is_one_clear_line(tmp_path):
    blocker = tmp_path / "pygls"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('no pygls', name='pygls')\n", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "torchlint", "server"], capture_output=True, timeout=60,
                         stdin=subprocess.DEVNULL,
                         env=dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}"))
    assert out.returncode == 2
    assert b"pip install 'torchlint[server]'" in out.stderr and len(out.stderr.splitlines()) == 1


# ---------------------------------------------------------------------------------------- incremental parsing
def _edits(text, rng):
    """Keystroke-like edits at random places: insert or delete a character, a line, an indented line, a
    comment, a decorator, a backslash or an open bracket (which makes the rest fail to parse)."""
    pieces = ["x", "\n", "    y = 1\n", "# c\n", "@dec\n", "\\\n", "(", "'''", "\t", "def f():\n", ""]
    for _ in range(80):
        at = rng.randrange(len(text) + 1)
        if rng.random() < 0.3 and at < len(text):
            cut = rng.randrange(1, 4)
            yield text[:at] + text[at + cut:]
        else:
            yield text[:at] + rng.choice(pieces) + text[at:]


@pytest.mark.parametrize("fixture", ["TL101/bad.py", "TL201/bad.py", "TL301/good.py", "TL401/near_miss.py"])
def test_incremental_parse_equals_a_full_parse(fixture):
    import random

    import libcst as cst

    from torchlint.server import IncrementalParser

    base = (ROOT / "fixtures" / fixture).read_text(encoding="utf-8")
    rng = random.Random(fixture)
    reused = parsable = 0
    for text in [base + "\n# tail\n", base.rstrip("\n"), *_edits(base, rng)]:
        parser = IncrementalParser()
        parser.remember(base, cst.parse_module(base))
        got = parser.parse(text)
        try:
            full = cst.parse_module(text)
        except Exception:
            full = None
        parsable += full is not None
        if got is None:
            continue
        reused += 1
        assert full is not None, "an incremental parse of text that does not parse"
        assert got.code == full.code  # == text, except where libcst itself does not round-trip (a lone backslash line)
        assert got.deep_equals(full), text
    assert reused >= 0.6 * parsable  # most edits that leave valid code re-parse one statement or three


def test_incremental_lengths_match_a_fresh_measure():
    import libcst as cst

    from torchlint.server import IncrementalParser

    base = (ROOT / "fixtures" / "TL101" / "bad.py").read_text(encoding="utf-8")
    parser = IncrementalParser()
    parser.remember(base, cst.parse_module(base))
    text = base
    for k in range(12):  # a sequence of edits, each re-using the previous lengths
        at = text.index("\n", len(text) * k // 13) + 1
        text = text[:at] + f"# edit {k}\n" + text[at:]
        module = parser.parse(text)
        assert module is not None and module.code == text
        parser.remember(text, module)
        fresh = IncrementalParser()
        fresh.remember(text, cst.parse_module(text))
        assert (parser.header, parser.lengths) == (fresh.header, fresh.lengths)


# ---------------------------------------------------------------------------------------- notebooks
NB_CELLS = [("code", "import torch\nimport torch.nn as nn\n%matplotlib inline"),
            ("markdown", "# The model"),
            ("code", BAD.split("\n\n\n", 1)[1]),
            ("code", "!nvidia-smi\nmodel = Net()\nmodel.eval\nprint(model)\n")]


def open_notebook(session, path, cells):
    nb_uri = path.as_uri()
    items, docs = [], []
    for i, (kind, text) in enumerate(cells):
        cell_uri = f"vscode-notebook-cell:{path}#cell{i}"
        items.append(types.NotebookCell(kind=types.NotebookCellKind.Code if kind == "code"
                                        else types.NotebookCellKind.Markup, document=cell_uri))
        if kind == "code":
            docs.append(types.TextDocumentItem(uri=cell_uri, language_id="python", version=1, text=text))
    session.client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(uri=nb_uri, notebook_type="jupyter-notebook", version=1,
                                                 cells=items),
        cell_text_documents=docs))
    return nb_uri, [item.document for item in items]


def test_notebook_cells_get_their_own_diagnostics_and_fixes(session, project):
    nb_uri, cell_uris = open_notebook(session, project / "nb.ipynb", NB_CELLS)
    assert session.wait_diagnostics(cell_uris[0], version=1) == []
    model_cell = session.wait_diagnostics(cell_uris[2], version=1)
    train_cell = session.wait_diagnostics(cell_uris[3], version=1)
    assert [d.code for d in model_cell] == ["TL101", "TL103"]
    # positions are in the cell's own lines: the class starts the cell
    assert model_cell[0].range.start.line == NB_CELLS[2][1].splitlines().index(
        "        self.layers = [nn.Linear(8, 8) for _ in range(4)]")
    assert [(d.code, d.range.start.line) for d in train_cell] == [("TL403", 2)]  # Net from cell 3 is known
    # a quick fix in a cell edits that cell
    actions = session.actions(cell_uris[3], train_cell[0].range, train_cell)
    fix = next(a for a in actions if a.kind == "quickfix" and "noqa" not in a.title)
    assert [c.text_document.uri for c in fix.edit.document_changes] == [cell_uris[3]]
    assert apply_edits(NB_CELLS[3][1], document_edits(fix, cell_uris[3])) == \
        "!nvidia-smi\nmodel = Net()\nmodel.eval()\nprint(model)\n"
    # fix-all edits every cell it changes, and keeps the magics
    fix_all = session.actions(cell_uris[2], model_cell[0].range, only=["source.fixAll.torchlint"])
    changed = {c.text_document.uri: c.edits for c in fix_all[0].edit.document_changes}
    assert set(changed) == {cell_uris[2], cell_uris[3]}
    assert apply_edits(NB_CELLS[3][1], changed[cell_uris[3]]).startswith("!nvidia-smi\n")
    # hover in a cell
    hover = session.run(session.client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=cell_uris[3]), position=train_cell[0].range.start)))
    assert "**TL403**" in hover.contents.value
    # an edit of one cell re-lints the notebook
    new_text = apply_edits(NB_CELLS[3][1], document_edits(fix, cell_uris[3]))
    session.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(uri=nb_uri, version=2),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
            types.NotebookDocumentCellContentChanges(
                document=types.VersionedTextDocumentIdentifier(uri=cell_uris[3], version=2),
                changes=[types.TextDocumentContentChangeWholeDocument(text=new_text)])]))))
    assert session.wait_diagnostics(cell_uris[3], version=2) == []
    session.client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
        notebook_document=types.NotebookDocumentIdentifier(uri=nb_uri),
        cell_text_documents=[types.TextDocumentIdentifier(uri=u) for u in cell_uris]))
    assert session.wait_diagnostics(cell_uris[2], count=len(session.diagnostics[cell_uris[2]]) + 1) == []
