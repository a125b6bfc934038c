"""Every rule is documented in ruff's shape, and the README's rule table is generated from the rules."""
import pathlib
import sys

import pytest

from torchlint.docs import missing_sections
from torchlint.rules import all_rules

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_has_every_section(rule):
    assert missing_sections(rule) == []
    assert rule.code and rule.name and rule.message and rule.one_line()
    assert rule.name == rule.name.lower() and " " not in rule.name
    assert rule.fix_availability in (None, "safe", "unsafe")


def test_readme_rule_table_is_generated():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import update_readme
    finally:
        sys.path.pop(0)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert update_readme.render(text) == text, "run: python tools/update_readme.py"


def test_readme_lists_every_rule():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for rule in all_rules():
        assert f"| {rule.code} |" in text


def test_rule_catalog_is_generated():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_catalog
    finally:
        sys.path.pop(0)
    assert gen_catalog.build() == (ROOT / "torchlint" / "rules" / "catalog.py").read_text(encoding="utf-8"), \
        "run: python tools/gen_catalog.py"


_PREAMBLE = ("import copy\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
             "import torchvision\nfrom torch.utils.data import DataLoader\n")


def _snippet(rule, section: str) -> str:
    import re

    text = rule.doc_sections().get(section, "")
    blocks = re.findall(r"```(?:python|py)?\n(.*?)```", text, re.S)
    assert blocks, f"{rule.code}: '## {section}' has no python code block"
    code = "\n".join(blocks)
    return code if "import torch" in code else _PREAMBLE + code


def _codes(rule, source: str) -> list:
    from torchlint.engine import lint_source

    result = lint_source(source, f"{rule.code}_doc.py", [rule])
    assert result.error is None, f"{rule.code}: doc snippet does not parse: {result.error.message}"
    return [f.code for f in result.findings]


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_doc_example_fires(rule):
    assert rule.code in _codes(rule, _snippet(rule, "Example")), f"{rule.code}: its doc's Example does not fire"


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_doc_use_instead_is_silent(rule):
    assert rule.code not in _codes(rule, _snippet(rule, "Use instead")), f"{rule.code}: its doc's 'Use instead' fires"
