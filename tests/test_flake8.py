"""The flake8 plugin: same findings and positions as the CLI, stdin, selection and noqa through flake8."""
import subprocess
import sys

from helpers import FIXTURES, run_cli

BAD = FIXTURES / "TL101" / "bad.py"


def flake8(*args, input=None):
    return subprocess.run([sys.executable, "-m", "flake8", "--isolated", *args], input=input,
                          capture_output=True, timeout=300)


def _positions(text: str):
    out = set()
    for line in text.splitlines():
        path, row, col, rest = line.split(":", 3)
        out.add((path, int(row), int(col), rest.strip().split()[0]))
    return out


def test_same_positions_as_cli():
    from torchlint.rules import all_rules

    files = [str(p) for p in sorted(FIXTURES.rglob("*.py"))]
    codes = ",".join(r.code for r in all_rules())  # default-off rules run under flake8 when named in full
    f8 = flake8("--select", codes, *files)
    cli = run_cli("--isolated", "--select", "ALL", *files)  # the repo's own config excludes fixed.py
    f8_positions, cli_positions = _positions(f8.stdout.decode()), _positions(cli.stdout.decode())
    assert cli_positions and f8_positions == cli_positions


def test_stdin():
    out = flake8("--select", "TL", "-", input=BAD.read_bytes())
    lines = out.stdout.decode().splitlines()
    assert lines and lines[0].startswith("stdin:9:23: TL101 ")


def test_ignore_and_noqa():
    assert flake8("--select", "TL", "--ignore", "TL101", str(BAD)).stdout == b""
    source = BAD.read_text().replace("range(3)]  # TL101", "range(3)]  # noqa: TL101")
    out = flake8("--select", "TL", "-", input=source.encode())
    assert b":9:" not in out.stdout


def test_syntax_error_no_traceback(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\ndef f(:\n")
    out = flake8(str(broken))
    assert b"E999" in out.stdout and b"Traceback" not in out.stderr
