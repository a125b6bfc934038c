"""Every rule has its own documentation page, generated from its docstring and kept in sync; JSON `url`,
SARIF `helpUri` (and the language server's codeDescription) point at it."""
import json
import pathlib
import subprocess
import sys

import pytest

from torchlint.docs import DOCS_BASE_URL, ERROR_CODES, doc_pages, rule_page, rule_url
from torchlint.rules import all_rules

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_pages_are_in_sync_with_the_rules():
    expected = doc_pages()
    on_disk = {f"docs/rules/{p.name}": p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "rules").glob("*.md")}
    assert sorted(on_disk) == sorted(expected), "run: python tools/gen_docs.py"
    stale = [rel for rel, text in expected.items() if on_disk[rel] != text]
    assert stale == [], "run: python tools/gen_docs.py"


def test_gen_docs_check_mode(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_docs.py"), "--check"], capture_output=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_page_carries_the_rule_docs(rule):
    page = rule_page(rule)
    assert page.splitlines()[1] == f"# {rule.code}: {rule.name}"
    for section, text in rule.doc_sections().items():
        assert f"### {section}" in page
        assert text.strip() in page
    assert ("On by default" in page) == rule.default_enabled


def test_index_links_every_page():
    index = doc_pages()["docs/rules/README.md"]
    for rule in all_rules():
        assert f"[{rule.code}]({rule.code}.md)" in index
    for code, (name, _text) in ERROR_CODES.items():
        assert f"### {code} {name}" in index


def test_rule_url_names_the_rules_own_page():
    urls = {rule_url(r.code) for r in all_rules()}
    assert len(urls) == len(all_rules())  # one link per rule, not one generic link
    for rule in all_rules():
        assert rule_url(rule.code) == DOCS_BASE_URL + f"{rule.code}.md"
        assert (ROOT / "docs" / "rules" / f"{rule.code}.md").is_file()
    assert rule_url("TL001").endswith("README.md#tl001-syntax-error")


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "torchlint", "--no-cache", "--isolated", *args], cwd=ROOT,
                          capture_output=True, timeout=120)


def test_json_and_sarif_link_each_rule_page():
    files = ["fixtures/TL101/bad.py", "fixtures/TL103/bad.py"]
    data = json.loads(_cli("--output-format", "json", "--select", "TL101,TL103", *files).stdout)
    assert {d["code"] for d in data} == {"TL101", "TL103"}
    for d in data:
        assert d["url"] == rule_url(d["code"])
    sarif = json.loads(_cli("--output-format", "sarif", "--select", "TL101,TL103", *files).stdout)
    descriptors = sarif["runs"][0]["tool"]["driver"]["rules"]
    for desc in descriptors:
        if desc["id"] not in ERROR_CODES:
            assert desc["helpUri"] == DOCS_BASE_URL + f"{desc['id']}.md"
