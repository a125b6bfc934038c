"""Notebooks: code cells linted as one module, magics masked, positions per cell, noqa, fixes written
back into the changed cells only (every other byte of the file unchanged), broken notebooks as one line."""
import json

import pytest

from torchlint.notebook import NotebookError, cell_diff, cell_location, fix_notebook, lint_notebook, load
from torchlint.rules import all_rules, default_rules


def code(src, outputs=None, count=None):
    return {"cell_type": "code", "execution_count": count, "id": f"c{abs(hash(src)) % 10**8}", "metadata": {},
            "outputs": outputs or [], "source": src.splitlines(keepends=True)}


def markdown(src):
    return {"cell_type": "markdown", "id": f"m{abs(hash(src)) % 10**8}", "metadata": {},
            "source": src.splitlines(keepends=True)}


def notebook_text(cells, indent=1, sort_keys=True, ensure_ascii=False, string_sources=False):
    if string_sources:
        cells = [{**c, "source": "".join(c["source"])} for c in cells]
    nb = {"cells": cells, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                      "name": "python3"},
                                       "language_info": {"name": "python", "version": "3.11.7"}},
          "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii) + "\n"


IMPORTS = "import torch\nimport torch.nn as nn\n%matplotlib inline\n"
MODEL = ("class Net(nn.Module):\n"
         "    def __init__(self):\n"
         "        super().__init__()\n"
         "        self.layers = [nn.Linear(8, 8) for _ in range(2)]\n"
         "\n"
         "    def forward(self, x):\n"
         "        for layer in self.layers:\n"
         "            x = layer(x)\n"
         "        return x")
TRAIN = ("!pip install torch\n"
         "model = Net()\n"
         "files = !ls\n"
         "opt = torch.optim.SGD(model.parameters(), lr=0.1)\n"
         "model.eval\n"
         "model?\n")
BASH = "%%bash\nfor f in *.py; do echo $f; done\n"
TIMED = "%%time\nmodel.train\nprint(model)\n"
OUTPUT = [{"name": "stdout", "output_type": "stream", "text": ["läuft 😀\n"]}]

CELLS = [markdown("# A model\n"), code(IMPORTS, count=1), code(MODEL, OUTPUT, count=2), markdown("Training:"),
         code(TRAIN, count=3), code(BASH), code(TIMED)]


def located(result):
    return [(cell_location(result.notebook, f.line, f.end_line)["cell"],
             cell_location(result.notebook, f.line)["line"], f.col + 1, f.code) for f in result.findings]


def test_cells_are_one_module_with_positions_per_cell():
    result = lint_notebook(notebook_text(CELLS), "nb.ipynb", default_rules())
    assert result.error is None and result.result.error is None
    # cell numbers count every cell, as Jupyter shows them: markdown cells 1 and 4
    assert located(result) == [(3, 4, 23, "TL101"), (5, 5, 1, "TL403"), (7, 2, 1, "TL403")]
    messages = [f.message for f in result.findings]
    assert "model.eval" in messages[1] and "model.train" in messages[2]  # Net() from cell 3 is known in cell 5


def test_magics_are_masked_not_parsed():
    nb = load(notebook_text(CELLS))
    by_number = {c.number: c for c in nb.cells}
    assert by_number[2].masked == {2}  # %matplotlib
    assert by_number[5].masked == {0, 2, 5}  # !pip, files = !ls, model?
    assert by_number[6].masked == {0, 1}  # %%bash: the whole cell
    assert by_number[7].masked == {0}  # %%time: a Python body
    assert "%" not in nb.python and "!" not in nb.python and "?" not in nb.python


@pytest.mark.parametrize("ending, fires", [("a == b", False), ("a == b;", True), ("a == b\nc = 1", True),
                                           ("model.eval", False), ("model.eval  # shows the method", False),
                                           ("model.eval\nc = 1", True)])
def test_a_cells_displayed_last_expression_is_not_a_finding(ending, fires):
    cells = [code(IMPORTS + "a = torch.zeros(2)\nb = torch.zeros(2)\nmodel = nn.Linear(2, 2)\n" + ending)]
    raw = notebook_text(cells)
    result = lint_notebook(raw, "nb.ipynb", default_rules())
    assert bool(result.findings) == fires
    new_raw, fixed, _ = fix_notebook(raw, "nb.ipynb", all_rules(), unsafe=True)
    if not fires:  # nor is it fixed
        assert (new_raw, fixed) == (raw, 0)
    elif "model.eval" in ending:
        assert fixed == 1 and "model.eval()" in new_raw


def test_noqa_in_a_cell():
    cells = [code(IMPORTS), code(MODEL.replace("range(2)]", "range(2)]  # noqa: TL101")), code(TRAIN)]
    result = lint_notebook(notebook_text(cells), "nb.ipynb", default_rules())
    assert [f.code for f in result.findings] == ["TL403"]


@pytest.mark.parametrize("layout", [
    dict(indent=1, sort_keys=True, ensure_ascii=False),  # nbformat's own
    dict(indent=2, sort_keys=False, ensure_ascii=True),  # another writer
    dict(indent=1, sort_keys=True, ensure_ascii=False, string_sources=True),
    dict(indent=None, sort_keys=False, ensure_ascii=False),  # one line
], ids=["nbformat", "indent2-ascii", "string-sources", "one-line"])
def test_fix_writes_back_only_the_changed_cells(layout):
    raw = notebook_text(CELLS, **layout)
    new_raw, fixed, after = fix_notebook(raw, "nb.ipynb", all_rules())
    assert fixed == 3  # TL101 and both TL403
    assert located(after) == []
    data_old, data_new = json.loads(raw), json.loads(new_raw)
    changed = [i for i, (a, b) in enumerate(zip(data_old["cells"], data_new["cells"])) if a != b]
    assert changed == [2, 4, 6]
    for i in changed:  # only the source differs; outputs, ids, counts and metadata are untouched
        a, b = dict(data_old["cells"][i]), dict(data_new["cells"][i])
        a.pop("source"), b.pop("source")
        assert a == b
    src = "".join(data_new["cells"][4]["source"]) if layout.get("string_sources") is None else \
        data_new["cells"][4]["source"]
    assert src == TRAIN.replace("model.eval\n", "model.eval()\n")  # the magics are back as they were
    assert "".join(data_new["cells"][6]["source"]) == "%%time\nmodel.train()\nprint(model)\n"
    assert isinstance(data_new["cells"][2]["source"], type(data_old["cells"][2]["source"]))
    # every byte outside the three sources is unchanged: re-serialising the new data with the old
    # sources in the same layout gives back the original text
    for i in changed:
        data_new["cells"][i]["source"] = data_old["cells"][i]["source"]
    kwargs = {k: v for k, v in layout.items() if k != "string_sources"}
    assert json.dumps(data_new, **kwargs) + "\n" == raw
    # the same layout as the original writer would produce for the new content
    expected = json.loads(new_raw)
    assert json.dumps(expected, **kwargs) + "\n" == new_raw
    # and a second --fix changes nothing
    again, fixed_again, _ = fix_notebook(new_raw, "nb.ipynb", all_rules())
    assert (again, fixed_again) == (new_raw, 0)


def test_fix_keeps_a_cell_without_final_newline():
    raw = notebook_text([code(IMPORTS), code(MODEL)])
    new_raw, fixed, _ = fix_notebook(raw, "nb.ipynb", default_rules())
    source = "".join(json.loads(new_raw)["cells"][1]["source"])
    assert fixed == 1 and not source.endswith("\n")
    assert "self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])" in source


def test_cell_diff_names_the_cell():
    raw = notebook_text(CELLS)
    new_raw, _, _ = fix_notebook(raw, "nb.ipynb", default_rules())
    diff = cell_diff("nb.ipynb", load(raw), new_raw)
    assert "--- nb.ipynb:cell 3\n+++ nb.ipynb:cell 3\n" in diff
    assert "+model.eval()\n" in diff and "cell 2" not in diff


@pytest.mark.parametrize("raw, message", [
    ("{\"cells\": [", "not a notebook: invalid JSON at line 1"),
    ("[]", "not a notebook: no 'cells' list"),
    (json.dumps({"cells": [], "nbformat": 3}), "unsupported notebook format 3"),
    (json.dumps({"cells": [{"cell_type": "code", "source": 5}], "nbformat": 4}), "not a notebook: cell 1 has a source"),
    (b"\xff\xfe{", "not a notebook: not UTF-8"),
])
def test_broken_notebook_is_one_line(raw, message):
    result = lint_notebook(raw, "nb.ipynb", default_rules())
    assert result.error.startswith(message) and "\n" not in result.error
    with pytest.raises(NotebookError):
        load(raw)


def test_broken_cell_is_located():
    cells = [code(IMPORTS), code("x = (1,\n"), code(MODEL)]
    result = lint_notebook(notebook_text(cells), "nb.ipynb", default_rules())
    err = result.result.error
    assert err.code == "TL001"
    assert cell_location(result.notebook, err.line)["cell"] == 2


def test_other_kernels_are_skipped():
    raw = json.loads(notebook_text([code("library(torch)\nx <- 1\n")]))
    raw["metadata"]["language_info"]["name"] = "R"
    result = lint_notebook(json.dumps(raw), "nb.ipynb", default_rules())
    assert result.error is None and result.findings == [] and result.result.error is None


# ---------------------------------------------------------------------------------------- the command line
def _cli(tmp_path, *args, cache=False):
    import os
    import subprocess
    import sys

    from helpers import ROOT

    extra = [] if cache else ["--no-cache"]
    return subprocess.run([sys.executable, "-m", "torchlint", *extra, *args], cwd=tmp_path, capture_output=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT),
                                                TORCHLINT_CACHE_DIR=str(tmp_path / "cache")))


@pytest.fixture
def nb_dir(tmp_path):
    (tmp_path / "nb.ipynb").write_text(notebook_text(CELLS), encoding="utf-8")
    (tmp_path / "model.py").write_text("import torch\n", encoding="utf-8")
    return tmp_path


def test_cli_text_names_the_cell(nb_dir):
    out = _cli(nb_dir, ".")  # directories include notebooks
    lines = out.stdout.decode().splitlines()
    assert out.returncode == 1
    assert [line.split(" TL")[0] + " TL" + line.split(" TL")[1][:3] for line in lines] == [
        "nb.ipynb:cell 3:4:23: TL101", "nb.ipynb:cell 5:5:1: TL403", "nb.ipynb:cell 7:2:1: TL403"]


def test_cli_json_and_sarif_carry_the_cell(nb_dir):
    data = json.loads(_cli(nb_dir, "--output-format", "json", "nb.ipynb").stdout)
    found = [(d["cell"], d["location"]["row"], d["code"]) for d in data]
    assert found == [(3, 4, "TL101"), (5, 5, "TL403"), (7, 2, "TL403")]
    assert data[0]["filename"] == "nb.ipynb" and data[0]["fix"]["edits"][0]["cell"] == 3
    plain = json.loads(_cli(nb_dir, "--output-format", "json", "--select", "ALL", "model.py").stdout)
    assert all("cell" not in d for d in plain)
    sarif = json.loads(_cli(nb_dir, "--output-format", "sarif", "nb.ipynb").stdout)
    jsonschema = pytest.importorskip("jsonschema")
    from helpers import ROOT

    schema = json.loads((ROOT / "tests" / "schemas" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    jsonschema.validate(sarif, schema)
    results = sarif["runs"][0]["results"]
    assert [r["properties"]["cell"] for r in results] == [3, 5, 7]
    assert results[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 4


def test_cli_fix_and_diff(nb_dir):
    before = (nb_dir / "nb.ipynb").read_bytes()
    diff = _cli(nb_dir, "--diff", "nb.ipynb")
    assert diff.returncode == 1 and (nb_dir / "nb.ipynb").read_bytes() == before
    text = diff.stdout.decode()
    assert "--- nb.ipynb:cell 5\n+++ nb.ipynb:cell 5\n" in text and "+model.eval()" in text
    fixed = _cli(nb_dir, "--fix", "nb.ipynb")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    after = (nb_dir / "nb.ipynb").read_text(encoding="utf-8")
    assert after == fix_notebook(before.decode(), "nb.ipynb", default_rules())[0]
    assert _cli(nb_dir, "nb.ipynb").returncode == 0


def test_cli_caches_notebooks(nb_dir):
    first = _cli(nb_dir, "--output-format", "json", "nb.ipynb", cache=True)
    assert any((nb_dir / "cache").rglob("*")), "no cache entry written"
    second = _cli(nb_dir, "--output-format", "json", "nb.ipynb", cache=True)
    assert json.loads(second.stdout) == json.loads(first.stdout) and json.loads(first.stdout)


def test_cli_broken_notebook_is_one_line(tmp_path):
    (tmp_path / "bad.ipynb").write_text('{"cells": [', encoding="utf-8")
    out = _cli(tmp_path, "bad.ipynb")
    assert out.returncode == 2
    assert out.stdout.decode().splitlines() == [
        "bad.ipynb:1:1: TL002 not a notebook: invalid JSON at line 1 column 12 (Expecting value)"]


def test_cli_broken_cell_names_the_cell(tmp_path):
    (tmp_path / "nb.ipynb").write_text(notebook_text([code(IMPORTS), code("x = (1,\n")]), encoding="utf-8")
    out = _cli(tmp_path, "nb.ipynb")
    lines = out.stdout.decode().splitlines()
    assert out.returncode == 1 and len(lines) == 1 and lines[0].startswith("nb.ipynb:cell 2:1:")
    assert " TL001 " in lines[0]


def test_pre_commit_hooks_take_notebooks():
    yaml = pytest.importorskip("yaml")
    from helpers import ROOT

    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert all(h["types_or"] == ["python", "pyi", "jupyter"] for h in hooks)


def test_an_indented_cell_runs_dedented_as_in_ipython():
    # IPython removes the first line's indentation from every line of a cell; columns map back, and a fix
    # keeps the indentation
    cells = [code(IMPORTS), code("  model = nn.Linear(2, 2)\n  model.eval\n  print(model)")]
    raw = notebook_text(cells)
    result = lint_notebook(raw, "nb.ipynb", default_rules())
    assert result.result.error is None
    from torchlint.runner import _diagnostic

    from torchlint.notebook import diagnostics
    [d] = diagnostics("nb.ipynb", result, _diagnostic)
    assert (d["cell"], d["line"], d["col"], d["code"]) == (2, 2, 2, "TL403")
    new_raw, fixed, _ = fix_notebook(raw, "nb.ipynb", default_rules())
    assert "".join(json.loads(new_raw)["cells"][1]["source"]) == \
        "  model = nn.Linear(2, 2)\n  model.eval()\n  print(model)"


def test_empty_file():
    assert lint_notebook(b"", "nb.ipynb", default_rules()).error == "not a notebook: the file is empty"


def test_jupyter_checkpoints_are_not_linted(nb_dir):
    (nb_dir / ".ipynb_checkpoints").mkdir()
    (nb_dir / ".ipynb_checkpoints" / "nb-checkpoint.ipynb").write_text(notebook_text(CELLS), encoding="utf-8")
    out = _cli(nb_dir, ".")
    assert b"checkpoint" not in out.stdout and out.stdout.count(b"nb.ipynb:cell") == 3
