"""Differential fix testing: run the original and the fixed code under torch and compare.

For every fixture with a fix (fixtures/*/bad.py), generated variants of it (tests/fix_variants.py: aliases,
comments in every gap, a local ``nn`` shadowing the import, containers used with every list/dict method), and
every case of ../shared/regressions/fixes/ (when that folder is present beside the checkout), the code is
linted, fixed with ``--unsafe-fixes``, and both versions are imported and observed (built, called, ``demo()``):
the fixed code must run wherever the original ran and do the same; it must keep every comment; the fixed
rules' findings must be fewer afterwards and no fix may be left to apply.
"""
from __future__ import annotations

import ast
import collections
import os
import pathlib
import re

import pytest
from helpers import FIXTURES, ROOT

import fix_variants as fv
from torchlint.engine import lint_source
from torchlint.fix import applicable, fix_text
from torchlint.rules import all_rules

torch = pytest.importorskip("torch")

RULES = all_rules()
PAIRS = sorted(p.parent for p in FIXTURES.rglob("fixed.py"))
TALLY: collections.Counter = collections.Counter()


def _shared_cases() -> list[pathlib.Path]:
    for base in (os.environ.get("TORCHLINT_SHARED"), ROOT.parent / "shared"):
        if base:
            folder = pathlib.Path(base) / "regressions" / "fixes"
            if folder.is_dir():
                return sorted(folder.glob("*.py"))
    return []


SHARED = _shared_cases()


def differential(text: str, tmp_path: pathlib.Path, stem: str) -> str:
    """Fix ``text`` and compare; returns "fixed", "unchanged" or "original does not run". Fails on a broken fix."""
    before = lint_source(text, f"{stem}.py", RULES)
    assert before.error is None, before.error.message
    fixable = [f for f in before.findings if applicable(f, True)]
    fixed, _count, after = fix_text(text, f"{stem}.py", RULES, unsafe=True)
    if fixed == text:
        return "unchanged"
    compile(ast.parse(fixed), f"{stem}-fixed.py", "exec")
    lost = collections.Counter(fv.comments(text)) - collections.Counter(fv.comments(fixed))
    assert not lost, f"the fix dropped comments {sorted(lost)}\n{fixed}"
    assert not [f for f in after.findings if applicable(f, True)], "a fix is left to apply"
    codes = {f.code for f in fixable}
    for code in codes:
        n_before = sum(f.code == code for f in before.findings)
        n_after = sum(f.code == code for f in after.findings)
        assert n_after < n_before, f"{code}: fixed, but as many findings as before"
    level = "shapes" if codes & fv.SHAPE_RULES else "values"
    original, error = fv.load_text(text, tmp_path, stem + "_orig")
    if original is None:
        return "original does not run"
    expected = fv.observe(original, level)
    repaired, error = fv.load_text(fixed, tmp_path, stem + "_fixed")
    assert repaired is not None, f"the fixed code does not import: {error}\n{fixed}"
    got = fv.observe(repaired, level)
    for name, outcome in expected.items():
        if outcome[0] in ("not built", "demo raised"):
            continue
        assert got.get(name) == outcome, f"{name}: before {outcome}, after {got.get(name)}\n{fixed}"
    return "fixed"


@pytest.mark.parametrize("folder", PAIRS, ids=lambda p: p.name)
def test_fixture_fix_keeps_behaviour(folder, tmp_path):
    status = differential((folder / "bad.py").read_text(encoding="utf-8"), tmp_path, f"{folder.name}_bad")
    TALLY[f"fixture {status}"] += 1
    assert status in ("fixed", "original does not run"), f"{folder.name}: bad.py got no fix"


@pytest.mark.parametrize("folder", PAIRS, ids=lambda p: p.name)
def test_generated_variants(folder, tmp_path):
    src = (folder / "bad.py").read_text(encoding="utf-8")
    variants = [(name, make(src)) for name, make in fv.VARIANTS.items()]
    variants += fv.container_use_variants(lint_source(src, "bad.py", RULES))
    ran = 0
    for name, text in variants:
        if text is None or text == src:
            continue
        compile(ast.parse(text), name, "exec")
        status = differential(text, tmp_path, re.sub(r"\W", "_", f"{folder.name}_{name}"))
        if name.startswith("use:"):
            status = "fixed" if _wrapped(text, name[4:].split(".")[0]) else "container fix refused"
        TALLY[f"variant {status}"] += 1
        TALLY["variants run"] += 1
        ran += 1
    assert ran, f"{folder.name}: no variant generated"


def _wrapped(text: str, attr: str) -> bool:
    """The fix wrapped ``self.<attr>`` in an nn container (the use variants' target)."""
    fixed, _count, _result = fix_text(text, "variant.py", RULES, unsafe=True)
    pattern = re.compile(rf"self\.{attr}\s*=\s*\S*(ModuleList|ModuleDict|ParameterList|ParameterDict)\(")
    return bool(pattern.search(fixed)) and not pattern.search(text)


@pytest.mark.skipif(not SHARED, reason="../shared/regressions/fixes not present beside the checkout "
                                       "(set TORCHLINT_SHARED to the shared folder to run these)")
@pytest.mark.parametrize("case", SHARED, ids=lambda p: p.stem)
def test_regression_case(case, tmp_path):
    text = case.read_text(encoding="utf-8")
    header = re.search(r"#\s*rule:\s*(TL\d{3}(?:\s*,\s*TL\d{3})*)\s+expect:\s*(\S+)", text)
    assert header, "malformed case"
    expect = header.group(2)
    result = lint_source(text, case.name, RULES)
    fixed, _count, _after = fix_text(text, case.name, RULES, unsafe=True)
    TALLY["regression cases"] += 1
    if expect == "no-finding":
        assert not result.findings, [(f.code, f.line) for f in result.findings]
    elif expect == "no-fix":
        assert fixed == text
    else:
        original, error = fv.load_text(text, tmp_path, case.stem + "_orig")
        assert original is not None, f"case broken: {error}"
        want = original.demo()
        if fixed == text:
            return
        TALLY["regression cases fixed"] += 1
        repaired, error = fv.load_text(fixed, tmp_path, case.stem + "_fixed")
        assert repaired is not None, f"the fixed code does not import: {error}\n{fixed}"
        assert repaired.demo() == want, fixed


def test_variants_ran():
    """Runs after the tests above (file order): the generator produced variants and most of them got a fix."""
    if not TALLY["variants run"]:
        pytest.skip("run together with test_generated_variants")
    print("differential fix testing:", dict(TALLY))
    assert TALLY["variants run"] >= 100
    assert TALLY["variant fixed"] >= 50
    assert TALLY["variant container fix refused"] >= 20  # the unsupported uses refuse the wrap
