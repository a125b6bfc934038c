"""``--output-format sarif``: SARIF 2.1.0 for GitHub code scanning (and any other SARIF viewer).

Every rule is listed in ``tool.driver.rules`` with its documentation; results point at the file by a
URI relative to the repository root (the nearest folder above the working directory holding ``.git``,
else the working directory) with a 1-based region whose columns count Unicode code points."""
from __future__ import annotations

import json
import os
from typing import Optional
from urllib.parse import quote

from . import REPOSITORY_URL, display_column, docs_url

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
ERROR_RULES = {
    "TL001": ("syntax-error", "The file could not be parsed, so it was not checked."),
}
NOTIFICATION_CODES = ("TL002", "TL003")  # unreadable file / internal error: tool notifications


def repository_root(start: Optional[str] = None) -> str:
    here = os.path.abspath(start or os.getcwd())
    probe = here
    while True:
        if os.path.exists(os.path.join(probe, ".git")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            return here
        probe = parent


def artifact_uri(path: str, root: str) -> str:
    absolute = os.path.abspath(path)
    rel = os.path.relpath(absolute, root) if os.path.splitdrive(absolute)[0] == os.path.splitdrive(root)[0] else None
    if rel is None or rel == os.pardir or rel.startswith(os.pardir + os.sep):
        from pathlib import Path

        return Path(absolute).as_uri()
    return quote(rel.replace(os.sep, "/"))


def rule_descriptor(rule) -> dict:
    from ..docs import rule_record

    record = rule_record(rule)
    docs = record["documentation"]
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": record["summary"]},
        "fullDescription": {"text": " ".join(rule.doc_sections().get("What it does", "").split())
                            or record["summary"]},
        "help": {"text": docs, "markdown": docs},
        "helpUri": docs_url(rule.code),
        "defaultConfiguration": {"level": "warning"},
        "properties": {"default_enabled": rule.default_enabled, "fix": rule.fix_availability or "none",
                       "tags": ["pytorch", "correctness"]},
    }


def _error_descriptor(code: str) -> dict:
    name, text = ERROR_RULES[code]
    return {"id": code, "name": name, "shortDescription": {"text": text}, "fullDescription": {"text": text},
            "help": {"text": text}, "defaultConfiguration": {"level": "error"}}


def build(diagnostics, root: Optional[str] = None) -> dict:
    from .. import __version__
    from ..rules import all_rules

    root = root or repository_root()
    descriptors = [rule_descriptor(r) for r in all_rules()] + [_error_descriptor(c) for c in ERROR_RULES]
    index = {d["id"]: i for i, d in enumerate(descriptors)}
    results, notifications = [], []
    for d in diagnostics:
        uri = artifact_uri(d["path"], root) if d["path"] != "-" else "stdin"
        if d["code"] in NOTIFICATION_CODES:
            notifications.append({
                "level": "error",
                "message": {"text": f"{d['path']}: {d['message']}"},
                "descriptor": {"id": d["code"]},
                "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri}}}],
            })
            continue
        region = {"startLine": max(1, d["line"]), "startColumn": display_column(d["col"])}
        if (d["end_line"], d["end_col"]) > (d["line"], d["col"]):
            region["endLine"] = d["end_line"]
            region["endColumn"] = display_column(d["end_col"])
        result = {
            "ruleId": d["code"],
            "level": "error" if d["code"] in ERROR_RULES else "warning",
            "message": {"text": d["message"]},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"} if "://" not in uri
                else {"uri": uri},
                "region": region,
            }}],
        }
        if d["code"] in index:
            result["ruleIndex"] = index[d["code"]]
        if d.get("cell") is not None:  # a notebook: region lines count in this (1-based) cell
            result["properties"] = {"cell": d["cell"]}
            result["message"]["text"] = f"cell {d['cell']}: {d['message']}"
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "torchlint",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": REPOSITORY_URL,
                "rules": descriptors,
            }},
            "invocations": [{"executionSuccessful": not notifications,
                             "toolExecutionNotifications": notifications}],
            "originalUriBaseIds": {"%SRCROOT%": {"uri": _dir_uri(root)}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }


def _dir_uri(root: str) -> str:
    from pathlib import Path

    uri = Path(root).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def write(diagnostics, out, rules) -> None:
    json.dump(build(diagnostics), out, indent=2)
    out.write("\n")
