"""Reporters: one small module per output format. Internally columns are 0-based; each reporter
converts with :func:`display_column` (1-based) where its format wants that."""
from __future__ import annotations

import importlib
from typing import IO, Sequence

FORMATS = ("text", "json")


def display_column(col0: int) -> int:
    """The one place where 0-based columns become the 1-based columns people and tools read."""
    return col0 + 1


def write_report(fmt: str, diagnostics: Sequence[dict], out: IO[str], rules) -> None:
    module = importlib.import_module(f"{__name__}.{fmt}_reporter")
    module.write(diagnostics, out, rules)
