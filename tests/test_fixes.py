"""Fix pairs: fixtures/TLnnn/fixed.py is exactly what --fix --unsafe-fixes makes of bad.py; the output
parses, compiles, and a second run changes nothing."""
import ast

import libcst as cst
import pytest
from helpers import FIXTURES, fixed_source

from torchlint.engine import lint_source
from torchlint.fix import fix_text
from torchlint.rules import all_rules

PAIRS = sorted(p.parent for p in FIXTURES.rglob("fixed.py"))


@pytest.mark.parametrize("folder", PAIRS, ids=lambda p: p.name)
def test_fix_output_matches_fixture(folder):
    assert fixed_source(folder / "bad.py") == (folder / "fixed.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("folder", PAIRS, ids=lambda p: p.name)
def test_fix_output_parses_and_is_idempotent(folder):
    text = (folder / "fixed.py").read_text(encoding="utf-8")
    cst.parse_module(text)
    compile(ast.parse(text), str(folder / "fixed.py"), "exec")
    again, count, _ = fix_text(text, "fixed.py", all_rules(), unsafe=True)
    assert count == 0 and again == text


@pytest.mark.parametrize("folder", PAIRS, ids=lambda p: p.name)
def test_fixed_file_has_no_fixable_findings(folder):
    result = lint_source((folder / "fixed.py").read_bytes(), "fixed.py", all_rules())
    assert [f for f in result.findings if f.fix is not None] == []


def test_every_fixable_rule_has_a_fix_pair():
    for rule in all_rules():
        if rule.fix_availability:
            assert (FIXTURES / rule.code / "fixed.py").is_file(), f"{rule.code} offers a fix but has no fixed.py"


def test_safe_fixes_need_no_flag():
    text = (FIXTURES / "TL103" / "bad.py").read_text()
    out, count, _ = fix_text(text, "bad.py", all_rules(), unsafe=False)
    assert count == 0 and out == text  # TL103's fix is unsafe
