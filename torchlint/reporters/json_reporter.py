from __future__ import annotations

import json

from . import display_column

DOCS_URL = "https://github.com/torchlint/torchlint/blob/main/README.md#{anchor}"


def to_json(d: dict) -> dict:
    return {
        "code": d["code"],
        "name": d["name"],
        "message": d["message"],
        "filename": d["path"],
        "location": {"row": d["line"], "column": display_column(d["col"])},
        "end_location": {"row": d["end_line"], "column": display_column(d["end_col"])},
        "fix": d["fix"],
        "url": DOCS_URL.format(anchor=d["code"].lower()),
    }


def write(diagnostics, out, rules) -> None:
    json.dump([to_json(d) for d in diagnostics], out, indent=2)
    out.write("\n")
