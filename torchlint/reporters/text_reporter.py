from __future__ import annotations

from . import display_column


def format_line(d: dict) -> str:
    path = d["path"] if d.get("cell") is None else f"{d['path']}:cell {d['cell']}"  # a notebook's cell, as ruff
    return f"{path}:{d['line']}:{display_column(d['col'])}: {d['code']} {d['message']}"


def write(diagnostics, out, rules) -> None:
    for d in diagnostics:
        out.write(format_line(d) + "\n")
