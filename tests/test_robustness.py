"""No input crashes torchlint: generated programs, damaged fixtures, pathological files, odd file systems.
Every case ends in findings or one clear error line, never a traceback; nothing linted is executed."""
import os
import random
import subprocess
import sys
import time

import pytest
from helpers import FIXTURES, run_cli

from torchlint.engine import lint_source
from torchlint.flake8_plugin import TorchlintChecker
from torchlint.rules import all_rules

RULES = all_rules()
BAD_FIXTURES = sorted(FIXTURES.glob("*/bad.py"))


def lint_ok(source, name="x.py"):
    """lint_source never raises; returns the result."""
    result = lint_source(source, name, RULES)
    assert result.error is None or result.error.message
    for f in result.findings:
        assert f.line >= 1 and f.col >= 0
    return result


def plugin_ok(text: str):
    checker = TorchlintChecker(None, text.splitlines(True), "x.py")
    return list(checker.run())


# --------------------------------------------------------------------------- generated programs
def test_hypothesmith_programs_never_crash():
    hypothesis = pytest.importorskip("hypothesis")
    hypothesmith = pytest.importorskip("hypothesmith")

    @hypothesis.settings(max_examples=60, deadline=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(hypothesmith.from_grammar())
    def check(source):
        lint_ok("import torch\nimport torch.nn as nn\n" + source)

    check()


def test_hypothesmith_node_programs_never_crash():
    hypothesis = pytest.importorskip("hypothesis")
    hypothesmith = pytest.importorskip("hypothesmith")

    @hypothesis.settings(max_examples=40, deadline=None, derandomize=True,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(hypothesmith.from_node())
    def check(source):
        lint_ok("import torch\n" + source)
        plugin_ok("import torch\n" + source)

    check()


# --------------------------------------------------------------------------- damaged fixtures
def _damaged(data: bytes, rng: random.Random):
    yield data[: rng.randrange(len(data))]
    flipped = bytearray(data)
    for _ in range(5):
        i = rng.randrange(len(flipped))
        flipped[i] = rng.randrange(256)
    yield bytes(flipped)
    lines = data.split(b"\n")
    yield b"\n".join(b" " * rng.randrange(9) + line if rng.random() < 0.3 else line for line in lines)
    yield b"\n".join(line.replace(b"    ", b"\t") if rng.random() < 0.5 else line for line in lines)


@pytest.mark.parametrize("path", BAD_FIXTURES, ids=lambda p: p.parent.name)
def test_damaged_fixtures_never_crash(path):
    rng = random.Random(path.parent.name)
    data = path.read_bytes()
    for _ in range(6):
        for variant in _damaged(data, rng):
            result = lint_ok(variant)
            try:
                text = variant.decode("utf-8")
            except UnicodeDecodeError:
                continue
            plugin_ok(text)
            del result


def test_damaged_file_through_cli_gives_one_line(tmp_path):
    data = (FIXTURES / "TL101" / "bad.py").read_bytes()
    broken = tmp_path / "broken.py"
    broken.write_bytes(data[:200] + b"\xff\xfe(((\n\tdef")
    out = run_cli(str(broken))
    assert b"Traceback" not in out.stderr
    lines = out.stdout.decode().splitlines()
    assert len(lines) == 1 and ("TL001" in lines[0] or "TL002" in lines[0])


# --------------------------------------------------------------------------- pathological inputs
@pytest.mark.parametrize("name, source, limit", [
    ("empty", b"", 5),
    ("bom only", b"\xef\xbb\xbf", 5),
    ("one 1 MB line", b"import torch\nx = '" + b"a" * 1_000_000 + b"'\n", 20),
    ("parentheses 1000 deep", b"import torch\nx = " + b"(" * 1000 + b"1" + b")" * 1000 + b"\n", 30),
    ("lists 1000 deep", b"import torch\nx = " + b"[" * 1000 + b"]" * 1000 + b"\n", 60),
    ("1000 chained attributes", b"import torch\nx = a" + b".b" * 1000 + b"\n", 30),
    ("100 nested blocks", b"import torch\n" + b"".join(b" " * i + b"if x:\n" for i in range(100)) + b" " * 100
     + b"pass\n", 30),
    ("null bytes", b"import torch\nx = 1\x00\n", 5),
])
def test_pathological_inputs_are_bounded(name, source, limit):
    start = time.monotonic()
    lint_ok(source, name)
    assert time.monotonic() - start < limit


def test_hundred_thousand_line_file(tmp_path):
    big = tmp_path / "big.py"
    body = "".join(f"x{i} = torch.zeros({i % 7})\n" for i in range(100_000))
    big.write_text("import torch\nimport torch.nn as nn\n" + body)
    start = time.monotonic()
    out = run_cli("--max-file-size", "0", "--file-timeout", "0", str(big))  # 2.6 MB: over the default limits
    assert out.returncode == 0, out.stdout[:500]
    assert b"Traceback" not in out.stderr
    assert time.monotonic() - start < 240


# --------------------------------------------------------------------------- file system
def test_directory_symlink_loop(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("import torch\n")
    os.symlink(tmp_path / "pkg", tmp_path / "pkg" / "loop")
    out = run_cli(str(tmp_path))
    assert out.returncode == 0 and b"Traceback" not in out.stderr


def test_unreadable_file_exit_2(tmp_path, monkeypatch):
    from torchlint import runner

    target = tmp_path / "secret.py"
    target.write_text("import torch\n")

    real_open = os.open

    def denied(path, flags, *args, **kwargs):
        if str(path) == str(target):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(runner.os, "open", denied)
    report = runner.lint_one(str(target), str(target), runner.Options(tuple(r.code for r in RULES)))
    assert report.fatal and report.diagnostics[0]["code"] == "TL002"
    assert "Permission denied" in report.diagnostics[0]["message"]


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root reads any file")
def test_unreadable_file_cli(tmp_path):
    target = tmp_path / "secret.py"
    target.write_text("import torch\n")
    target.chmod(0)
    out = run_cli(str(target))
    assert out.returncode == 2 and b"Permission denied" in out.stdout + out.stderr


def test_file_disappearing_during_run(tmp_path):
    from torchlint import runner

    gone = tmp_path / "gone.py"
    report = runner.lint_one(str(gone), str(gone), runner.Options(("TL101",)))
    assert report.fatal and report.diagnostics[0]["code"] == "TL002"


def test_missing_and_present_files_together(tmp_path):
    out = run_cli(str(tmp_path / "nope.py"), str(FIXTURES / "TL101" / "bad.py"))
    assert out.returncode == 2 and b"TL101" in out.stdout and b"Traceback" not in out.stderr


# --------------------------------------------------------------------------- static only
def test_linted_code_is_never_executed(tmp_path):
    marker = tmp_path / "EXECUTED"
    victim = tmp_path / "victim.py"
    victim.write_text(
        "import pathlib\nimport torch\nimport torch.nn as nn\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n"
        "class M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.layers = [nn.Linear(2, 2)]\n")
    out = run_cli(str(victim))
    assert out.returncode == 1 and b"TL101" in out.stdout
    subprocess.run([sys.executable, "-m", "flake8", "--isolated", "--select", "TL", str(victim)],
                   capture_output=True, timeout=120)
    assert not marker.exists()
