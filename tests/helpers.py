"""Shared test helpers: fixture expectations, loading fixtures as modules, running the CLI."""
from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys
from typing import Optional

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
# A firing line ends with its expectations: ``# TL101 @13: <message>``, several joined by `` # ``.
# ``python tools/update_fixtures.py`` rewrites them from what torchlint reports (review the diff).
MARKER_START = re.compile(r"\s*#\s*TL\d{3}\b")
_ENTRY = re.compile(r"(TL\d{3}) @(\d+): (.*)")
_SPLIT = re.compile(r"\s#\s(?=TL\d{3} @\d+: )")


def split_marker(line: str) -> tuple[str, str]:
    """(code part, marker text) of a fixture line; the marker text is '' when the line has none."""
    match = MARKER_START.search(line)
    if match is None:
        return line, ""
    return line[: match.start()], line[match.end() - len(match.group().lstrip().lstrip("#").lstrip()):]


def expected(path: pathlib.Path) -> set[tuple[int, int, str, str]]:
    """(line, column, code, message) expected in a fixture, columns 1-based as the command line prints them."""
    result = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        _code, marker = split_marker(line.rstrip())
        if not marker:
            continue
        for entry in _SPLIT.split(marker):
            match = _ENTRY.fullmatch(entry.strip())
            if match is None:  # a bare "# TL101": the expectation is incomplete and cannot match
                result.add((lineno, 0, entry.strip()[:5], "<run tools/update_fixtures.py>"))
                continue
            result.add((lineno, int(match.group(2)), match.group(1), match.group(3)))
    return result


def expected_codes(path: pathlib.Path) -> set[tuple[int, str]]:
    return {(line, code) for line, _col, code, _msg in expected(path)}


def actual(path: pathlib.Path, source: Optional[str] = None) -> set[tuple[int, int, str, str]]:
    from torchlint.engine import lint_source
    from torchlint.rules import all_rules

    text = source if source is not None else path.read_bytes()
    result = lint_source(text, str(path), all_rules())
    assert result.error is None, result.error.message
    return {(f.line, f.col + 1, f.code, f.message) for f in result.findings}


def load(path: pathlib.Path, name: Optional[str] = None):
    """Import a fixture file as a fresh module (runs its top level)."""
    name = name or f"fixture_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_source(source: str, name: str, tmp_path: pathlib.Path):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return load(path, name)


def fixed_source(path: pathlib.Path, unsafe: bool = True) -> str:
    from torchlint.fix import fix_text
    from torchlint.rules import all_rules

    text, _count, _result = fix_text(path.read_text(encoding="utf-8"), str(path), all_rules(), unsafe=unsafe)
    return text


def run_cli(*args: str, input: Optional[bytes] = None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "torchlint", *args], input=input, capture_output=True,
                          cwd=cwd or ROOT, timeout=300)
