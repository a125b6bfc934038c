"""Reporters: one small module per output format. Internally columns are 0-based; each reporter
converts with :func:`display_column` (1-based) where its format wants that."""
from __future__ import annotations

import importlib
from typing import IO, Sequence

from ..docs import REPOSITORY_URL, rule_url  # noqa: F401  (REPOSITORY_URL: the SARIF reporter's informationUri)

FORMATS = ("text", "json", "sarif", "github")


def display_column(col0: int) -> int:
    """The one place where 0-based columns become the 1-based columns people and tools read."""
    return col0 + 1


def docs_url(code: str) -> str:
    """A link to the rule's own documentation page (docs/rules/CODE.md; the base is in torchlint/docs.py)."""
    return rule_url(code)


def write_report(fmt: str, diagnostics: Sequence[dict], out: IO[str], rules) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}")
    module = importlib.import_module(f"{__name__}.{fmt}_reporter")
    module.write(diagnostics, out, rules)
