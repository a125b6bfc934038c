"""``--output-format json``: a list of findings shaped like ruff's JSON output (1-based columns)."""
from __future__ import annotations

import json

from . import display_column, docs_url


def to_json(d: dict) -> dict:
    record = {
        "code": d["code"],
        "name": d["name"],
        "message": d["message"],
        "filename": d["path"],
        "location": {"row": d["line"], "column": display_column(d["col"])},
        "end_location": {"row": d["end_line"], "column": display_column(d["end_col"])},
        # the edit's own locations are 1-based already (engine._text_edit), like ruff's
        "fix": d["fix"],
        "url": docs_url(d["code"]),
    }
    if "cell" in d:  # a notebook: the 1-based cell number; rows count lines in that cell (ruff's shape)
        record["cell"] = d["cell"]
    return record


def write(diagnostics, out, rules) -> None:
    json.dump([to_json(d) for d in diagnostics], out, indent=2)
    out.write("\n")
