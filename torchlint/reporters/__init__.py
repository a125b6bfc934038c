"""Reporters: one small module per output format. Internally columns are 0-based; each reporter
converts with :func:`display_column` (1-based) where its format wants that."""
from __future__ import annotations

import importlib
from typing import IO, Sequence

FORMATS = ("text", "json", "sarif", "github")

# Where the rules are documented: the README's rule table (and `torchlint rule CODE` offline).
REPOSITORY_URL = "https://github.com/torchlint/torchlint"
DOCS_URL = REPOSITORY_URL + "/blob/main/README.md#rules"


def display_column(col0: int) -> int:
    """The one place where 0-based columns become the 1-based columns people and tools read."""
    return col0 + 1


def docs_url(code: str) -> str:
    """A link to a rule's documentation (the README's rule table)."""
    return DOCS_URL


def write_report(fmt: str, diagnostics: Sequence[dict], out: IO[str], rules) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}")
    module = importlib.import_module(f"{__name__}.{fmt}_reporter")
    module.write(diagnostics, out, rules)
