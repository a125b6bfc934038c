"""The flake8 adapter. Importing this module is cheap: libcst and the rules load on the first file
that could contain torch code."""
from __future__ import annotations

from typing import Any, Iterator

from . import __version__

_TRIGGER = "torch"


class TorchlintChecker:
    name = "torchlint"
    version = __version__

    # Codes the user named in full with flake8's --select/--extend-select (or in its config files).
    # A default-off rule runs only when named so: flake8 itself would let ``--select TL`` enable it,
    # because an explicit select beats the implicit ``extend_default_ignore`` (see add_options).
    explicitly_selected: frozenset = frozenset()

    def __init__(self, tree: Any, lines: list, filename: str = "stdin") -> None:
        self.lines = lines
        self.filename = filename

    @classmethod
    def add_options(cls, option_manager) -> None:
        from .rules import all_rules

        off = [r.code for r in all_rules() if not r.default_enabled]
        if off:
            option_manager.extend_default_ignore(off)

    @classmethod
    def parse_options(cls, options) -> None:
        chosen = set()
        for attr in ("select", "extend_select"):
            for code in getattr(options, attr, None) or ():
                chosen.add(str(code).strip().upper())
        cls.explicitly_selected = frozenset(chosen)

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        text = "".join(self.lines)
        from .engine import SYNTAX_ERROR, lint_source
        from .rules import all_rules

        wanted = self.explicitly_selected
        rules = [r for r in all_rules() if r.default_enabled or r.code in wanted]
        try:
            result = lint_source(text, self.filename, rules, apply_noqa=False, python_checked=True, fixes=False)
        except Exception as exc:  # a bug in a rule must not become a traceback in the user's editor
            yield 1, 0, f"TL003 torchlint internal error: {type(exc).__name__}: {exc}", type(self)
            return
        if result.error is not None:
            if result.error.code == SYNTAX_ERROR:
                # Python's parser accepted the file (flake8 only runs us then) but libcst did not.
                yield 1, 0, f"TL001 torchlint could not parse this file: {result.error.message}", type(self)
            return
        for f in result.findings:
            # flake8 wants 0-based columns and adds 1 itself
            yield f.line, f.col, f"{f.code} {f.message}", type(self)
