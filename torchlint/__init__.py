"""torchlint: a static linter for PyTorch model code.

The public API is small: :func:`lint_text` lints one file's source and returns findings.
"""
from __future__ import annotations

__version__ = "0.1.0"


def lint_text(source, path: str = "<stdin>", select=None, ignore=()):
    """Lint ``source`` (str or bytes) and return a list of findings (1-based lines, 0-based columns)."""
    from .engine import lint_source
    from .rules import select_rules

    result = lint_source(source, path, select_rules(select, ignore))
    if result.error is not None:
        raise SyntaxError(f"{path}:{result.error.line}:{result.error.col + 1}: {result.error.message}")
    return result.findings


__all__ = ["__version__", "lint_text"]
