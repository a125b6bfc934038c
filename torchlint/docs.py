"""Rule documentation: ``torchlint rule CODE``, ``torchlint rules``, the README rule table and the
per-rule pages under ``docs/rules/`` (written by ``tools/gen_docs.py``; a test compares).

This module imports nothing heavy at import time: reporters ask it for :func:`rule_url` on a warm cache
hit, where neither libcst nor any rule is loaded.
"""
from __future__ import annotations

import json
import sys

# The one place that says where the rule pages live (JSON ``url``, SARIF ``helpUri``, the language
# server's ``codeDescription``). Pages are ``docs/rules/<CODE>.md`` in the repository.
REPOSITORY_URL = "https://github.com/torchlint/torchlint"
DOCS_BASE_URL = REPOSITORY_URL + "/blob/main/docs/rules/"
# Codes that are not rules (a file that does not parse, cannot be read, an internal error).
ERROR_CODES = {
    "TL001": ("syntax-error", "The file could not be parsed, so it was not checked. Fix the syntax error (or, "
                              "for valid Python that libcst cannot parse, report it) and run again."),
    "TL002": ("read-error", "The file could not be read or decoded (permissions, a vanished file, an unknown "
                            "encoding or bytes that are not valid in the declared encoding)."),
    "TL003": ("internal-error", "torchlint failed on this file. Please report it with the file (or a reduced "
                                "version) attached; the rest of the run is not affected."),
}


def rule_url(code: str) -> str:
    """The link to a rule's own documentation page; codes that are not rules link to the index."""
    code = code.upper()
    if code in ERROR_CODES:
        return DOCS_BASE_URL + "README.md#" + code.lower() + "-" + ERROR_CODES[code][0]
    return DOCS_BASE_URL + code + ".md"


def rule_record(rule) -> dict:
    return {
        "code": rule.code,
        "name": rule.name,
        "summary": rule.one_line(),
        "message": rule.message,
        "default": rule.default_enabled,
        "fix": rule.fix_availability,
        "documentation": rule.documentation(),
        "sections": rule.doc_sections(),
    }


def print_rule(code: str, fmt: str = "text") -> int:
    from .rules import rule_by_code

    rule = rule_by_code(code)
    if rule is None:
        print(f"torchlint: error: unknown rule {code!r}; 'torchlint rules' lists them", file=sys.stderr)
        return 2
    if fmt == "json":
        json.dump(rule_record(rule), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    state = "on by default" if rule.default_enabled else "off by default (enable with --select " + rule.code + ")"
    fix = {"safe": "fix: safe", "unsafe": "fix: unsafe (needs --unsafe-fixes)", None: "no fix"}[rule.fix_availability]
    print(f"# {rule.name} ({rule.code})\n\n{state}; {fix}\n\n{rule.documentation()}")
    return 0


def print_rules(fmt: str = "text") -> int:
    from .rules import all_rules

    rules = all_rules()
    if fmt == "json":
        json.dump([rule_record(r) for r in rules], sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    width = max([len(r.name) for r in rules] + [4])
    print(f"{'Code':<6} {'Name':<{width}}  {'Default':<7}  Fix")
    for r in rules:
        state = "on" if r.default_enabled else "off"
        fix = {"safe": "safe", "unsafe": "unsafe", None: "-"}[r.fix_availability]
        print(f"{r.code:<6} {r.name:<{width}}  {state:<7}  {fix}")
    return 0


def readme_rule_table() -> str:
    """The README's rule table, generated from the rules (a test compares)."""
    from .rules import all_rules

    lines = ["| Code | Name | What it finds | Default | Fix |", "| --- | --- | --- | --- | --- |"]
    for r in all_rules():
        default = "on" if r.default_enabled else "off"
        fix = {"safe": "safe", "unsafe": "unsafe", None: "—"}[r.fix_availability]
        summary = r.one_line().replace("|", "\\|")
        lines.append(f"| {r.code} | `{r.name}` | {summary} | {default} | {fix} |")
    return "\n".join(lines) + "\n"


def missing_sections(rule) -> list[str]:
    from .rule import DOC_SECTIONS

    sections = rule.doc_sections()
    return [s for s in DOC_SECTIONS if not sections.get(s, "").strip()]


# ---------------------------------------------------------------------------------------- rule pages
_FIX_TEXT = {
    "safe": "Fix: **safe** (`torchlint --fix`).",
    "unsafe": "Fix: **unsafe** (`torchlint --fix --unsafe-fixes`; see *Fix safety*).",
    None: "Fix: none.",
}


def rule_header(rule) -> str:
    """Two lines about a rule's state, shared by its page and the language server's hover."""
    if rule.default_enabled:
        state = "On by default."
    else:
        state = f"Off by default: enable with `--extend-select {rule.code}` or `extend-select = [\"{rule.code}\"]`."
    return f"{state} {_FIX_TEXT[rule.fix_availability]}"


def rule_page(rule) -> str:
    """The Markdown page ``docs/rules/<CODE>.md`` (generated; do not edit by hand)."""
    body = rule.documentation().replace("\n## ", "\n### ")
    if body.startswith("## "):
        body = "#" + body
    return (
        f"<!-- generated by tools/gen_docs.py from {rule.__module__.replace('.', '/')}.py; do not edit -->\n"
        f"# {rule.code}: {rule.name}\n\n"
        f"{rule.one_line()}\n\n"
        f"{rule_header(rule)}\n\n"
        f"Message:\n\n> {rule.message}\n\n"
        f"{body.strip()}\n\n"
        f"### Silencing\n"
        f"`# noqa: {rule.code}` at the end of the line, `ignore = [\"{rule.code}\"]` or `per-file-ignores` in "
        f"`[tool.torchlint]`, or `--ignore {rule.code}`. `torchlint rule {rule.code}` prints this page.\n\n"
        f"[All rules](README.md)\n"
    )


def rules_index() -> str:
    """``docs/rules/README.md``: every rule with a link to its page, and the error codes."""
    from .rules import all_rules

    lines = ["<!-- generated by tools/gen_docs.py; do not edit -->", "# torchlint rules", "",
             "Each rule's page says what it finds, why it is a bug, what to write instead and whether its fix "
             "is safe.", "", "| Code | Name | What it finds | Default | Fix |", "| --- | --- | --- | --- | --- |"]
    for r in all_rules():
        default = "on" if r.default_enabled else "off"
        fix = {"safe": "safe", "unsafe": "unsafe", None: "—"}[r.fix_availability]
        summary = r.one_line().replace("|", "\\|")
        lines.append(f"| [{r.code}]({r.code}.md) | `{r.name}` | {summary} | {default} | {fix} |")
    lines += ["", "## Error codes", "", "These are reported for files that could not be checked; they cannot be "
              "selected or ignored.", ""]
    for code, (name, text) in ERROR_CODES.items():
        lines += [f"### {code} {name}", "", text, ""]
    return "\n".join(lines)


def doc_pages() -> dict[str, str]:
    """Every generated page by its path relative to the repository root."""
    from .rules import all_rules

    pages = {f"docs/rules/{r.code}.md": rule_page(r) for r in all_rules()}
    pages["docs/rules/README.md"] = rules_index()
    return pages
