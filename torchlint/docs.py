"""Rule documentation: ``torchlint rule CODE``, ``torchlint rules`` and the README rule table."""
from __future__ import annotations

import json
import sys

from .rule import DOC_SECTIONS


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
    sections = rule.doc_sections()
    return [s for s in DOC_SECTIONS if not sections.get(s, "").strip()]
