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
MARKER = re.compile(r"#\s*((?:TL\d{3}[\s,]*)+)$")


def expected(path: pathlib.Path) -> set[tuple[int, str]]:
    """(line, code) pairs marked in a fixture by a trailing ``# TL101`` comment (several codes allowed)."""
    result = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = MARKER.search(line.rstrip())
        if match:
            for code in re.findall(r"TL\d{3}", match.group(1)):
                result.add((lineno, code))
    return result


def actual(path: pathlib.Path, source: Optional[str] = None) -> set[tuple[int, str]]:
    from torchlint.engine import lint_source
    from torchlint.rules import all_rules

    text = source if source is not None else path.read_bytes()
    result = lint_source(text, str(path), all_rules())
    assert result.error is None, result.error.message
    return {(f.line, f.code) for f in result.findings}


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
