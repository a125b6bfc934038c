"""--fix, --unsafe-fixes and --diff end to end: what is written, exit codes, stdin, encodings and line
endings, atomic writes that never overwrite a file changed on disk."""
import os
import re

import pytest
from helpers import FIXTURES, ROOT, run_cli

from torchlint import fix as fixmod
from torchlint import runner
from torchlint.fix import write_atomically
from torchlint.rules import all_rules

BAD101 = FIXTURES / "TL101" / "bad.py"
BAD103 = FIXTURES / "TL103" / "bad.py"
# a file whose only findings all have a safe fix
ALL_FIXABLE = (
    "import torch.nn as nn\n\n\n"
    "class Net(nn.Module):\n"
    "    def __init__(self):\n"
    "        super().__init__()\n"
    "        self.layers = [nn.Linear(4, 4) for _ in range(3)]\n"
)
FIXED_LINE = "        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])"


def _copy(src, tmp_path, name="bad.py"):
    dst = tmp_path / name
    dst.write_bytes(src.read_bytes())
    return dst


def _ok(out):
    assert b"Traceback" not in out.stderr, out.stderr.decode()
    return out


def test_fix_matches_the_fixture_pair(tmp_path):
    target = _copy(BAD101, tmp_path)
    out = _ok(run_cli("--fix", "--unsafe-fixes", "--select", "ALL", str(target)))
    assert target.read_text(encoding="utf-8") == (FIXTURES / "TL101" / "fixed.py").read_text(encoding="utf-8")
    assert re.search(rb"Fixed \d+ findings", out.stderr)
    # the tuple case has no fix: a finding remains, so exit 1
    assert out.returncode == 1 and b"TL101" in out.stdout
    # a second --fix changes nothing
    before = target.read_bytes()
    again = _ok(run_cli("--fix", "--unsafe-fixes", "--select", "ALL", str(target)))
    assert target.read_bytes() == before and b"Fixed" not in again.stderr


def test_fix_exit_0_when_everything_was_fixed(tmp_path):
    target = tmp_path / "m.py"
    target.write_text(ALL_FIXABLE)
    assert _ok(run_cli(str(target))).returncode == 1
    out = _ok(run_cli("--fix", str(target)))
    assert out.returncode == 0 and out.stdout == b""
    assert FIXED_LINE in target.read_text()
    assert out.stderr.decode().strip() == "Fixed 1 finding."
    assert _ok(run_cli(str(target))).returncode == 0


def test_diff_writes_nothing(tmp_path):
    target = _copy(BAD101, tmp_path)
    before = target.read_bytes()
    out = _ok(run_cli("--diff", str(target)))
    assert target.read_bytes() == before
    text = out.stdout.decode()
    assert text.startswith(f"--- a/{target}\n+++ b/{target}\n@@")
    assert "+        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])  # TL101" in text
    assert out.returncode == 1 and b"Would fix" in out.stderr
    clean = _ok(run_cli("--diff", str(FIXTURES / "TL101" / "good.py")))
    assert clean.returncode == 0 and clean.stdout == b""
    assert _ok(run_cli("--diff", "--exit-zero", str(target))).returncode == 0


def test_unsafe_fixes_need_the_flag(tmp_path):
    target = _copy(BAD103, tmp_path)
    before = target.read_bytes()
    out = _ok(run_cli("--fix", "--select", "TL103", str(target)))
    assert target.read_bytes() == before and out.returncode == 1
    assert b"more with --unsafe-fixes" in out.stderr
    assert b"nn.Parameter(" not in _ok(run_cli("--diff", "--select", "TL103", str(target))).stdout
    assert b"nn.Parameter(" in _ok(run_cli("--diff", "--unsafe-fixes", "--select", "TL103", str(target))).stdout
    _ok(run_cli("--fix", "--unsafe-fixes", "--select", "TL103", str(target)))
    assert target.read_bytes() != before and "nn.Parameter(" in target.read_text()


def test_fix_stdin_writes_the_source_to_stdout():
    out = _ok(run_cli("--fix", "-", "--stdin-filename", "m.py", input=ALL_FIXABLE.encode()))
    assert out.returncode == 0
    assert out.stdout.decode() == ALL_FIXABLE.replace(
        "        self.layers = [nn.Linear(4, 4) for _ in range(3)]", FIXED_LINE)
    # remaining findings are reported on stderr, stdout stays the source only
    bad = BAD101.read_bytes()
    out = _ok(run_cli("--fix", "-", input=bad))
    assert out.returncode == 1 and b"nn.ModuleList(" in out.stdout and b": TL101 " not in out.stdout
    assert b": TL101 " in out.stderr
    # nothing to fix, or a syntax error: the source comes back unchanged
    good = (FIXTURES / "TL101" / "good.py").read_bytes()
    assert _ok(run_cli("--fix", "-", input=good)).stdout == good
    broken = b"import torch\ndef f(:\n"
    out = _ok(run_cli("--fix", "-", input=broken))
    assert out.stdout == broken and out.returncode == 1


def test_diff_on_stdin_prints_a_diff():
    out = _ok(run_cli("--diff", "-", "--stdin-filename", "m.py", input=ALL_FIXABLE.encode()))
    assert out.stdout.decode().startswith("--- a/m.py\n+++ b/m.py\n")


@pytest.mark.parametrize("kind", ["bom", "crlf", "latin-1", "cr"])
def test_fix_keeps_encoding_and_line_endings(tmp_path, kind):
    target = tmp_path / "m.py"
    text = ALL_FIXABLE.replace("import torch.nn as nn\n", "import torch.nn as nn\nNAME = 'café'\n")
    if kind == "bom":
        data = b"\xef\xbb\xbf" + text.encode("utf-8")
    elif kind == "crlf":
        data = text.replace("\n", "\r\n").encode("utf-8")
    elif kind == "cr":
        data = text.replace("\n", "\r").encode("utf-8")
    else:
        data = ("# -*- coding: latin-1 -*-\n" + text).encode("latin-1")
    target.write_bytes(data)
    out = _ok(run_cli("--fix", str(target)))
    assert out.returncode == 0, out.stdout
    new = target.read_bytes()
    if kind == "bom":
        assert new.startswith(b"\xef\xbb\xbf") and new.count(b"\xef\xbb\xbf") == 1
        assert FIXED_LINE.encode() in new and "café".encode() in new
    elif kind == "crlf":
        assert new.count(b"\r\n") == new.count(b"\n") == data.count(b"\r\n")
        assert (FIXED_LINE + "\r\n").encode() in new
    elif kind == "cr":
        assert b"\n" not in new and (FIXED_LINE + "\r").encode() in new
    else:
        assert "café".encode("latin-1") in new and FIXED_LINE.encode() in new
        new.decode("latin-1")
    # the same through stdin
    piped = _ok(run_cli("--fix", "-", input=data))
    assert piped.stdout == new


def test_write_atomically(tmp_path):
    target = tmp_path / "m.py"
    target.write_bytes(b"old\n")
    os.chmod(target, 0o640)
    mtime = os.stat(target).st_mtime_ns
    assert write_atomically(str(target), b"new\n", mtime)
    assert target.read_bytes() == b"new\n" and (os.stat(target).st_mode & 0o777) == 0o640
    assert write_atomically(str(target), b"newer\n", mtime - 10**9) is False  # changed since read
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.py"]  # no temporary file left behind


def test_file_changed_on_disk_is_not_overwritten(tmp_path, monkeypatch):
    target = tmp_path / "m.py"
    target.write_text(ALL_FIXABLE)
    real_fix_text = fixmod.fix_text

    def edit_while_fixing(*args, **kwargs):
        result = real_fix_text(*args, **kwargs)
        target.write_text("# edited by the user meanwhile\n" + ALL_FIXABLE)
        st = os.stat(target)
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + 5 * 10**9))
        return result

    monkeypatch.setattr(fixmod, "fix_text", edit_while_fixing)
    options = runner.Options(tuple(r.code for r in all_rules()), fix=True)
    report = runner.lint_one(str(target), str(target), options)
    assert target.read_text().startswith("# edited by the user meanwhile")
    assert report.fixed == 0
    assert any("changed on disk" in d["message"] for d in report.diagnostics)


def test_every_fix_has_a_runtime_proof_of_its_output():
    # the fixed file must no longer show the pitfall: each fixable rule's proof exercises fixed.py
    for rule in all_rules():
        if not rule.fix_availability:
            continue
        proof = ROOT / "tests" / "proofs" / f"test_{rule.code.lower()}_proof.py"
        assert proof.is_file(), f"{rule.code} has no runtime proof"
        text = proof.read_text(encoding="utf-8")
        assert "fixed.py" in text or "fixed_source" in text, f"{proof.name} does not check the fixed output"
