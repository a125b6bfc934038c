"""Every reproduction of ../shared/regressions/inputs (issue 14) as a test, generated here: each run has a
timeout and must end without a signal, a hang or a traceback, with the other files' findings reported, the
documented exit code and one line for the troublesome file."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import pytest
from helpers import ROOT

TL101_FILE = ("import torch.nn as nn\n\n\nclass {name}(nn.Module):\n    def __init__(self):\n"
              "        super().__init__()\n        self.l = [nn.Linear(2, 2)]\n")


class Run:
    def __init__(self, rc, out, err, wall):
        self.rc, self.out, self.err, self.wall = rc, out, err, wall


def run(args, cwd, timeout=60, close_stdout=False, env=None) -> Run:
    """torchlint in its own session; on timeout the whole session is killed and the test fails."""
    cmd = [sys.executable, "-m", "torchlint", *args]
    if close_stdout:
        cmd = ["/bin/sh", "-c", 'exec "$@" >&-', "sh", *cmd]
    full_env = dict(os.environ, PYTHONPATH=str(ROOT))
    full_env.pop("TORCHLINT_CACHE_DIR", None)
    full_env.update(env or {})
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL if close_stdout
                                else out, stderr=err, env=full_env, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            pytest.fail(f"hang: {' '.join(args)} gave no result in {timeout} s")
        wall = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        return Run(proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"),
                   wall)


def sane(r: Run, rc=(0, 1, 2)) -> None:
    assert r.rc >= 0 and r.rc in rc, (r.rc, r.out, r.err)
    both = r.out + r.err
    assert "Traceback" not in both and "internal error" not in both.lower(), both
    assert "MemoryError" not in both, both


def lines_for(r: Run, name: str) -> list[str]:
    return [ln for ln in r.out.splitlines() if re.match(r"(.*/)?" + re.escape(name) + r":\d+:\d+: TL\d{3}", ln)]


def reported(r: Run, *names: str, code: str = "TL101") -> None:
    for name in names:
        assert any(f" {code} " in ln for ln in lines_for(r, name)), (name, r.out)


def write(path, text):
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def cpython_rejects(source: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "x", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    return False


# --------------------------------------------------------------------------------- native-parser crashes
UNARY = "import torch\nx = " + "-" * 10000 + "1\n"
ATTRIBUTES = "import torch\nimport torch.nn as nn\nx = torch" + ".a" * 20000 + "\n"


@pytest.mark.parametrize("name, source", [("unary_10000.py", UNARY), ("attr_20000.py", ATTRIBUTES),
                                          ("unary_9000.py", "import torch\nx = " + "-" * 9000 + "1\n"),
                                          ("not_8000.py", "import torch\nx = " + "not " * 8000 + "1\n"),
                                          ("subscripts_3000.py", "import torch\nx = torch" + "[0]" * 3000 + "\n"),
                                          ("calls_3000.py", "import torch\nx = torch.f" + "()" * 3000 + "\n")])
def test_deep_file_is_one_tl001_line_and_the_run_goes_on(tmp_path, name, source):
    write(tmp_path / name, source)
    write(tmp_path / "ok_model.py", TL101_FILE.format(name="Ok"))
    r = run(["--isolated", "--no-cache", name, "ok_model.py"], tmp_path)
    sane(r, rc=(1,))
    reported(r, "ok_model.py")
    [line] = lines_for(r, name)
    assert " TL001 " in line and ("too complex" in line or "too deeply" in line), line


@pytest.mark.parametrize("jobs", ["-j1", "-j2"])
def test_deep_file_among_others(tmp_path, jobs):
    write(tmp_path / "a_neg.py", UNARY)
    names = [f"f{i}.py" for i in range(1, 9)]
    for i, name in enumerate(names):
        write(tmp_path / name, TL101_FILE.format(name=f"M{i}"))
    r = run(["--isolated", "--no-cache", jobs, "."], tmp_path)
    sane(r, rc=(1,))
    reported(r, *names)
    assert len(lines_for(r, "a_neg.py")) == 1
    assert "Found 9 findings in 9 files" in r.err


def test_expression_deeper_than_libcst_copes_with_but_valid_python(tmp_path):
    from torchlint.guard import MAX_DEPTH

    source = "import torch\nx = " + " + ".join(["torch.zeros(1)"] * (MAX_DEPTH + 50)) + "\n"
    assert not cpython_rejects(source)
    write(tmp_path / "long_sum.py", source)
    write(tmp_path / "ok_model.py", TL101_FILE.format(name="Ok"))
    r = run(["--isolated", "--no-cache", "long_sum.py", "ok_model.py"], tmp_path)
    sane(r, rc=(1,))
    reported(r, "ok_model.py")
    [line] = lines_for(r, "long_sum.py")
    assert "TL001 cannot parse: an expression is nested too deeply for libcst's parser" in line


# --------------------------------------------------------------------------------- special files
def test_dev_zero_symlink_is_skipped_with_one_line(tmp_path):
    write(tmp_path / "a.py", TL101_FILE.format(name="A"))
    write(tmp_path / "b.py", TL101_FILE.format(name="B"))
    os.symlink("/dev/zero", tmp_path / "z.py")
    r = run(["--isolated", "--no-cache", "."], tmp_path)
    sane(r, rc=(2,))
    reported(r, "a.py", "b.py")
    [line] = lines_for(r, "z.py")
    assert "TL002" in line and "not a regular file" in line
    assert "Found 2 findings and 1 error in 3 files" in r.err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_in_tree_does_not_block(tmp_path):
    write(tmp_path / "a.py", TL101_FILE.format(name="A"))
    os.mkfifo(tmp_path / "b.py")
    r = run(["--isolated", "--no-cache", "."], tmp_path, timeout=30)
    sane(r, rc=(2,))
    reported(r, "a.py")
    [line] = lines_for(r, "b.py")
    assert "TL002" in line and "FIFO" in line


def test_file_over_the_size_limit(tmp_path):
    write(tmp_path / "big.py", "import torch\n" + "x = 1\n" * 3000)
    write(tmp_path / "a.py", TL101_FILE.format(name="A"))
    r = run(["--isolated", "--no-cache", "--max-file-size", "8K", "."], tmp_path)
    sane(r, rc=(2,))
    reported(r, "a.py")
    [line] = lines_for(r, "big.py")
    assert "TL002 file too large to check" in line
    assert run(["--isolated", "--no-cache", "--max-file-size", "0", "big.py"], tmp_path).rc == 0
    write(tmp_path / "pyproject.toml", "[tool.torchlint]\nmax-file-size = \"4K\"\n")
    r = run(["--no-cache", "big.py"], tmp_path)
    assert r.rc == 2 and "too large" in r.out


def test_symlink_loop_is_named(tmp_path):
    os.symlink("loop2.py", tmp_path / "loop1.py")
    os.symlink("loop1.py", tmp_path / "loop2.py")
    write(tmp_path / "a.py", TL101_FILE.format(name="A"))
    for args in (["loop1.py", "a.py"], ["."]):
        r = run(["--isolated", "--no-cache", *args], tmp_path)
        sane(r, rc=(2,))
        reported(r, "a.py")
        [line] = lines_for(r, "loop1.py")
        assert "TL002 symbolic link loop" in line


# --------------------------------------------------------------------------------- output streams
def test_closed_stdout_exits_2_quietly(tmp_path):
    write(tmp_path / "a.py", TL101_FILE.format(name="A"))
    r = run(["--isolated", "--no-cache", "a.py"], tmp_path, close_stdout=True)
    sane(r, rc=(2,))


def test_broken_pipe_exits_quietly(tmp_path):
    for i in range(3):
        write(tmp_path / f"m{i}.py", TL101_FILE.format(name=f"M{i}") * 200)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "torchlint", "--isolated", "--no-cache", "."], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) in (1, 2)
    assert "Traceback" not in err and "BrokenPipeError" not in err


# --------------------------------------------------------------------------------- fixes on links
def test_fix_writes_through_symlink_and_keeps_hard_links(tmp_path):
    target = tmp_path / "real.py"
    write(target, TL101_FILE.format(name="A"))
    os.link(target, tmp_path / "hard.py")
    os.symlink("real.py", tmp_path / "link.py")
    r = run(["--isolated", "--fix", "link.py"], tmp_path)
    sane(r, rc=(0,))
    assert os.path.islink(tmp_path / "link.py")
    assert "nn.ModuleList([nn.Linear(2, 2)])" in target.read_text()
    assert (tmp_path / "hard.py").read_text() == target.read_text()
    assert os.stat(target).st_nlink == 2


def test_fix_on_a_read_only_file_system_reports_and_keeps_findings(tmp_path, monkeypatch):
    import errno

    from torchlint import fix, runner

    def read_only(path, data, mtime=None):
        raise OSError(errno.EROFS, "Read-only file system", path)

    monkeypatch.setattr(fix, "write_atomically", read_only)
    src = tmp_path / "m.py"
    write(src, TL101_FILE.format(name="A"))
    report = runner.lint_one(str(src), "m.py", runner.Options(("TL101",), fix=True))
    codes = [(d["code"], d["message"]) for d in report.diagnostics]
    assert ("TL002", "fixes not written: cannot write m.py: Read-only file system") in codes
    assert any(code == "TL101" for code, _ in codes)
    assert report.fatal and report.fixed == 0


def test_fix_prints_no_syntax_warnings(tmp_path):
    write(tmp_path / "w.py", 'import re\nimport torch.nn as nn\n\nPAT = re.compile("\\d+")\n\n\n'
          'class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n'
          '        self.l = [nn.Linear(2, 2)]\n        assert (self.l, "msg")\n')
    r = run(["--isolated", "--fix", "--unsafe-fixes", "w.py"], tmp_path)  # the tuple use makes the wrap unsafe
    sane(r, rc=(0,))
    assert "Warning" not in r.err, r.err
    assert "Fixed 1 finding." in r.err


# --------------------------------------------------------------------------------- what CPython rejects
INVALID = {
    "deep_parens.py": "import torch\nx = " + "(" * 1000 + "1" + ")" * 1000 + "\n",
    "except_comma.py": "import torch\ntry:\n    pass\nexcept ValueError, TypeError:\n    pass\n",
    "nul.py": "import torch\nx = '\0'\n",
    "star_comprehension.py": "import torch\nx = [*a for a in b]\n",
    "no_trigger_word.py": "def f(:\n    pass\n",
    "no_trigger_return.py": "return 1\n",
    "tstring.py": "import torch\nx = t'{torch}'\n",
    "pep695.py": "import torch\nclass M[T]:\n    pass\n",
    "break_outside_loop.py": "import torch\nbreak\n",
    "nonlocal_at_module.py": "import torch\nnonlocal x\n",
    "duplicate_argument.py": "import torch\ndef f(a, a):\n    pass\n",
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_what_cpython_rejects_is_tl001(tmp_path, name):
    source = INVALID[name]
    write(tmp_path / name, source)
    write(tmp_path / "ok_model.py", TL101_FILE.format(name="Ok"))
    r = run(["--isolated", "--no-cache", name, "ok_model.py"], tmp_path)
    sane(r, rc=(1,))
    reported(r, "ok_model.py")
    lines = lines_for(r, name)
    if cpython_rejects(source):
        assert len(lines) == 1 and " TL001 syntax error: " in lines[0], r.out
        assert "Python %d.%d" % sys.version_info[:2] in lines[0]
    else:
        assert not any(" TL001 " in ln for ln in lines), r.out


def test_form_feed_points_at_its_line(tmp_path):
    write(tmp_path / "ff.py", "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
          "\fclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
          "        self.l = [nn.Linear(2,2)]\n")
    r = run(["--isolated", "--no-cache", "ff.py"], tmp_path)
    sane(r)
    for line in lines_for(r, "ff.py"):
        assert not line.startswith("ff.py:1:1:"), line
        if " TL001 " in line:
            assert line.startswith("ff.py:4:1: TL001"), line


def test_undecodable_file_summary_is_not_all_checks_passed(tmp_path):
    write(tmp_path / "k.py", "# -*- coding: klingon -*-\nimport torch\n")
    r = run(["--isolated", "--no-cache", "k.py"], tmp_path)
    sane(r, rc=(2,))
    assert "All checks passed" not in r.err
    assert "Found 1 error in 1 file." in r.err
    r = run(["--isolated", "--no-cache", "--output-format", "github", "k.py", "missing.py"], tmp_path)
    assert r.rc == 2 and "Found 2 errors in 2 files." in r.err


# --------------------------------------------------------------------------------- pathological sizes
def test_five_thousand_term_sum(tmp_path):
    write(tmp_path / "s.py", "import torch\nx = " + " + ".join(["torch.zeros(1)"] * 5000) + "\n")
    r = run(["--isolated", "--no-cache", "s.py"], tmp_path, timeout=60)
    sane(r, rc=(1,))
    [line] = lines_for(r, "s.py")
    assert " TL001 " in line


def test_fifty_thousand_line_class_is_answered(tmp_path):
    body = "".join(f"        self.l{i} = [nn.Linear({i}, 2)]\n" for i in range(50000))
    write(tmp_path / "big.py", "import torch.nn as nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n"
          "        super().__init__()\n" + body)
    r = run(["--isolated", "--no-cache", "big.py"], tmp_path, timeout=60)
    sane(r)
    lines = lines_for(r, "big.py")
    assert len(lines) == 50000 or (len(lines) == 1 and re.search(r" TL00\d ", lines[0])), lines[:3]
