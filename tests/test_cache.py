"""The result cache: hits on unchanged files, misses exactly on what changed, survives damage and
concurrent writers."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import FIXTURES, ROOT

from torchlint import runner

BAD = FIXTURES / "TL101" / "bad.py"


@pytest.fixture
def counted(monkeypatch):
    calls = []
    real = runner.lint_source

    def counting(data, display, rules, **kw):
        calls.append(display)
        return real(data, display, rules, **kw)

    monkeypatch.setattr(runner, "lint_source", counting)
    return calls


def options(cache_dir, codes=("TL101", "TL103")):
    return runner.Options(tuple(codes), cache_root=str(cache_dir))


def test_hit_on_unchanged_file(tmp_path, counted):
    src = tmp_path / "m.py"
    shutil.copy(BAD, src)
    first = runner.lint_one(str(src), "m.py", options(tmp_path / "c"))
    second = runner.lint_one(str(src), "m.py", options(tmp_path / "c"))
    assert counted == ["m.py"]
    assert first.diagnostics == second.diagnostics and first.diagnostics


def test_changed_file_misses_and_others_still_hit(tmp_path, counted):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    shutil.copy(BAD, a)
    b.write_text(BAD.read_text() + "\n# b\n")
    for path in (a, b):
        runner.lint_one(str(path), path.name, options(tmp_path / "c"))
    b.write_text(BAD.read_text() + "\n# b, changed\n")
    for path in (a, b):
        runner.lint_one(str(path), path.name, options(tmp_path / "c"))
    assert counted == ["a.py", "b.py", "b.py"]


def test_changed_settings_miss(tmp_path, counted):
    src = tmp_path / "m.py"
    shutil.copy(BAD, src)
    runner.lint_one(str(src), "m.py", options(tmp_path / "c", ("TL101",)))
    report = runner.lint_one(str(src), "m.py", options(tmp_path / "c", ("TL103",)))
    assert len(counted) == 2 and report.diagnostics == []


def test_same_content_other_path_reports_its_own_path(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    shutil.copy(BAD, a)
    shutil.copy(BAD, b)
    runner.lint_one(str(a), "a.py", options(tmp_path / "c"))
    report = runner.lint_one(str(b), "b.py", options(tmp_path / "c"))
    assert {d["path"] for d in report.diagnostics} == {"b.py"}


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"key": "other", "diagnostics": []}', b"\x00\xff" * 50,
                                    b'{"key": null}', b"[" * 100000 + b"]" * 100000])
def test_damaged_entry_is_ignored_and_rebuilt(tmp_path, counted, damage):
    src = tmp_path / "m.py"
    shutil.copy(BAD, src)
    good = runner.lint_one(str(src), "m.py", options(tmp_path / "c"))
    entries = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "c") for f in fs if f.endswith(".json")]
    assert len(entries) == 1
    with open(entries[0], "wb") as handle:
        handle.write(damage)
    again = runner.lint_one(str(src), "m.py", options(tmp_path / "c"))
    assert again.diagnostics == good.diagnostics and len(counted) == 2
    with open(entries[0], "rb") as handle:
        assert json.loads(handle.read())["diagnostics"]  # rebuilt


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "torchlint", *args], capture_output=True, cwd=ROOT, env=env,
                          timeout=300)


def test_cli_cache_second_run_identical_and_no_cache_writes_nothing(tmp_path):
    env = dict(os.environ, TORCHLINT_CACHE_DIR=str(tmp_path / "c"))
    first = _cli(str(FIXTURES), env=env)
    second = _cli(str(FIXTURES), env=env)
    assert first.stdout == second.stdout and first.returncode == second.returncode == 1
    assert any(f.endswith(".json") for _, _, fs in os.walk(tmp_path / "c") for f in fs)
    env2 = dict(os.environ, TORCHLINT_CACHE_DIR=str(tmp_path / "none"))
    assert _cli("--no-cache", str(FIXTURES), env=env2).stdout == first.stdout
    assert not (tmp_path / "none").exists()


def test_two_processes_share_one_cache(tmp_path):
    env = dict(os.environ, TORCHLINT_CACHE_DIR=str(tmp_path / "c"))
    cmd = [sys.executable, "-m", "torchlint", "-j1", str(FIXTURES)]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    reference = _cli("--no-cache", str(FIXTURES))
    assert outs[0] == outs[1] == reference.stdout
    for folder, _dirs, files in os.walk(tmp_path / "c"):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(folder, name), "rb") as handle:
                    json.loads(handle.read())
            else:
                assert name == ".gitignore" or not name.startswith(".tmp-"), name
    assert _cli(str(FIXTURES), env=env).stdout == reference.stdout


def test_warm_run_imports_neither_libcst_nor_rules(tmp_path):
    env = dict(os.environ, TORCHLINT_CACHE_DIR=str(tmp_path / "c"))
    _cli(str(FIXTURES), env=env)
    code = ("import sys, runpy; sys.argv = ['torchlint', '-q', %r];\n"
            "from torchlint.cli import main; rc = main();\n"
            "print('libcst' in sys.modules, 'torchlint.engine' in sys.modules)") % str(FIXTURES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "False False"


MALFORMED = [[1], [None], [{"code": "TL101"}],
             [{"code": "TL101", "message": "m", "line": "1", "col": 0, "end_line": 1, "end_col": 0}],
             [{"code": "TL101", "message": "m", "line": 1, "col": 0, "end_line": 1, "end_col": 0, "fix": 3}],
             "x", {"a": 1}]


@pytest.mark.parametrize("diagnostics", MALFORMED)
def test_well_formed_json_with_malformed_diagnostics_is_a_miss(tmp_path, counted, diagnostics):
    src = tmp_path / "m.py"
    shutil.copy(BAD, src)
    good = runner.lint_one(str(src), "m.py", options(tmp_path / "c"))
    [entry] = [os.path.join(d, f) for d, _, fs in os.walk(tmp_path / "c") for f in fs if f.endswith(".json")]
    with open(entry, encoding="utf-8") as handle:
        data = json.load(handle)
    data["diagnostics"] = diagnostics
    with open(entry, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    again = runner.lint_one(str(src), "m.py", options(tmp_path / "c"))
    assert again.diagnostics == good.diagnostics and len(counted) == 2
    with open(entry, encoding="utf-8") as handle:
        assert json.load(handle)["diagnostics"] == json.loads(json.dumps(
            [{k: v for k, v in d.items() if k != "path"} for d in good.diagnostics]))


def test_key_includes_the_interpreter(monkeypatch):
    from torchlint import cache

    before = cache.settings_digest(("TL101",))
    monkeypatch.setattr(cache.sys, "version_info", (3, 99, 0, "final", 0))
    assert cache.settings_digest(("TL101",)) != before
    monkeypatch.undo()
    monkeypatch.setattr(cache.sys.implementation, "name", "pypy")
    assert cache.settings_digest(("TL101",)) != before


def test_gitignore_only_in_a_folder_torchlint_created(tmp_path):
    src = tmp_path / "m.py"
    shutil.copy(BAD, src)
    mine = tmp_path / "mine"
    mine.mkdir()
    runner.lint_one(str(src), "m.py", options(mine))
    assert not (mine / ".gitignore").exists()
    assert any(f.endswith(".json") for _, _, fs in os.walk(mine) for f in fs)
    fresh = tmp_path / "new" / "cache"
    runner.lint_one(str(src), "m.py", options(fresh))
    assert (fresh / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not (tmp_path / "new" / ".gitignore").exists()


def test_cache_dir_dot_keeps_the_project_visible_to_git(tmp_path):
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed")
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    shutil.copy(BAD, tmp_path / "a.py")
    out = subprocess.run([sys.executable, "-m", "torchlint", "--isolated", "--cache-dir", ".", "a.py"],
                         capture_output=True, cwd=tmp_path, timeout=300, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 1, out.stderr
    assert not (tmp_path / ".gitignore").exists()
    status = subprocess.run([git, "status", "--porcelain", "--untracked-files=all"], cwd=tmp_path,
                            capture_output=True, text=True).stdout
    assert "a.py" in status


def test_entry_is_invalidated_when_a_sibling_file_changes(tmp_path, counted):
    """The project index read models.py to know Net is a Module: editing models.py must re-lint train.py."""
    (tmp_path / "models.py").write_text("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    pass\n")
    src = tmp_path / "train.py"
    src.write_text("from models import Net\n\n\ndef evaluate(model: Net):\n    model.eval\n")
    opts = runner.Options(("TL403",), cache_root=str(tmp_path / "c"))
    first = runner.lint_one(str(src), "train.py", opts)
    assert [d["code"] for d in first.diagnostics] == ["TL403"]
    assert runner.lint_one(str(src), "train.py", opts).diagnostics == first.diagnostics
    assert counted == ["train.py"]  # the second run was a hit
    (tmp_path / "models.py").write_text("class Net:\n    eval = None\n")  # no longer a Module
    third = runner.lint_one(str(src), "train.py", opts)
    assert counted == ["train.py", "train.py"] and third.diagnostics == []
