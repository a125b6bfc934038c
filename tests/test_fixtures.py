"""Every fixture file: each line marked ``# TLnnn @col: message`` reports exactly that, and nothing else fires.

Regenerate the markers after a deliberate change with ``python tools/update_fixtures.py`` and review the diff."""
import re

import pytest
from helpers import FIXTURES, actual, expected, expected_codes

FILES = sorted(p for p in FIXTURES.rglob("*.py") if p.name != "fixed.py")  # fixed.py: see test_fixes.py


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_expectations(path):
    assert actual(path) == expected(path)


def test_every_rule_has_fixtures():
    from torchlint.rules import all_rules

    for rule in all_rules():
        folder = FIXTURES / rule.code
        assert (folder / "bad.py").is_file(), f"{rule.code} has no fixtures/{rule.code}/bad.py"
        assert (folder / "near_miss.py").is_file(), f"{rule.code} has no near-miss fixture"
        assert any(code == rule.code for _line, code in expected_codes(folder / "bad.py")), \
            f"{rule.code}: bad.py marks no line with {rule.code}"
        near = folder / "near_miss.py"
        assert not expected(near), f"{near} must not expect findings"


def test_good_fixtures_are_silent():
    for good in FIXTURES.rglob("good.py"):
        assert actual(good) == set(), good


GAP = re.compile(r"#\s*gap:\s*((?:TL\d{3}\s*)+)")


def known_gaps(path):
    """(line, code) of ``# gap: TL101 (...)`` comments: real shapes a rule should report and does not yet."""
    found = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        match = GAP.search(line)
        if match:
            found.update((lineno, code) for code in match.group(1).split())
    return found


@pytest.mark.parametrize("path", [p for p in FILES if known_gaps(p)], ids=lambda p: str(p.relative_to(FIXTURES)))
def test_known_gaps_are_still_gaps(path):
    """A gap that now fires must become an expectation (``# TLnnn``, then tools/update_fixtures.py)."""
    fired = {(line, code) for line, _col, code, _msg in actual(path)}
    assert not (known_gaps(path) & fired), "a known gap is reported now: turn its comment into a marker"
