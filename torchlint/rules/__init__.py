"""The rule registry. Every ``tlNNN_<name>.py`` file under this package's group folders
(registration, parameters, forward, training) holds one rule; they are found by file name, so adding
a rule is adding a file.
"""
from __future__ import annotations

import importlib
import os
import re
from functools import lru_cache
from typing import Iterable, Optional, Sequence

from typing import TYPE_CHECKING

from .catalog import RULES as CATALOG

if TYPE_CHECKING:  # pragma: no cover
    from ..rule import Rule

GROUPS = ("registration", "parameters", "forward", "training")
_RULE_FILE = re.compile(r"^(tl\d{3}_\w+)\.py$")


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    from ..rule import Rule

    here = os.path.dirname(__file__)
    found: list[type[Rule]] = []
    for group in GROUPS:
        folder = os.path.join(here, group)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for filename in names:
            match = _RULE_FILE.match(filename)
            if not match:
                continue
            module = importlib.import_module(f"{__name__}.{group}.{match.group(1)}")
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, Rule) and value is not Rule \
                        and value.code and value.__module__ == module.__name__:
                    found.append(value)
    found.sort(key=lambda r: r.code)
    codes = [r.code for r in found]
    if len(set(codes)) != len(codes):
        raise RuntimeError(f"duplicate rule codes: {codes}")
    return tuple(found)


def rule_by_code(code: str) -> Optional[type[Rule]]:
    for rule in all_rules():
        if rule.code == code.upper() or rule.name == code:
            return rule
    return None


def default_rules() -> tuple[type[Rule], ...]:
    return tuple(r for r in all_rules() if r.default_enabled)


class UnknownCode(ValueError):
    pass


def _matches(code: str, selector: str) -> bool:
    selector = selector.strip().upper()
    return selector == "ALL" or code.startswith(selector)


def validate_selectors(selectors: Iterable[str]) -> None:
    codes = [code for code, _default in CATALOG]
    for sel in selectors:
        s = sel.strip().upper()
        if not s:
            continue
        if s == "ALL":
            continue
        if not re.fullmatch(r"TL\d{0,3}", s) or not any(c.startswith(s) for c in codes):
            raise UnknownCode(f"unknown rule code or prefix: {sel!r}")


def select_codes(select: Optional[Sequence[str]] = None, ignore: Sequence[str] = (),
                 extend_select: Sequence[str] = ()) -> tuple[str, ...]:
    """ruff's selection model: ``select`` replaces the default set, ``extend_select`` adds to it,
    ``ignore`` removes; the most specific selector wins between select and ignore. Works on the
    generated catalog, so choosing rules imports none of them (nor libcst)."""
    validate_selectors([*(select or ()), *ignore, *extend_select])
    chosen = []
    for code, default_enabled in CATALOG:
        best_sel = -1
        if select is None:
            if default_enabled:
                best_sel = 0
        else:
            for sel in select:
                if _matches(code, sel):
                    best_sel = max(best_sel, _specificity(sel))
        for sel in extend_select:
            if _matches(code, sel):
                best_sel = max(best_sel, _specificity(sel))
        if best_sel < 0:
            continue
        # a default-off rule is enabled by its full code or by ALL, never by a prefix such as TL2
        if not default_enabled and not any(
                s.strip().upper() in (code, "ALL") for s in [*(select or ()), *extend_select]):
            continue
        best_ign = max((_specificity(s) for s in ignore if _matches(code, s)), default=-1)
        if best_ign >= 0 and best_ign >= best_sel:
            continue
        chosen.append(code)
    return tuple(chosen)


def select_rules(select: Optional[Sequence[str]] = None, ignore: Sequence[str] = (),
                 extend_select: Sequence[str] = ()) -> tuple[type[Rule], ...]:
    """The rule classes :func:`select_codes` chooses."""
    codes = set(select_codes(select, ignore, extend_select))
    return tuple(r for r in all_rules() if r.code in codes)


def _specificity(selector: str) -> int:
    s = selector.strip().upper()
    return 0 if s == "ALL" else len(s)
