from __future__ import annotations

from . import display_column


def format_line(d: dict) -> str:
    return f"{d['path']}:{d['line']}:{display_column(d['col'])}: {d['code']} {d['message']}"


def write(diagnostics, out, rules) -> None:
    for d in diagnostics:
        out.write(format_line(d) + "\n")
