"""``--output-format github``: GitHub Actions workflow commands, one annotation per finding."""
from __future__ import annotations

from . import display_column


def escape_data(text: str) -> str:
    """Escape a workflow command's message (GitHub: ``%``, CR and LF)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (also ``:`` and ``,``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def format_line(d: dict) -> str:
    level = "error" if d["code"] in ("TL001", "TL002", "TL003") else "warning"
    props = [
        ("file", d["path"]),
        ("line", str(d["line"])),
        ("col", str(display_column(d["col"]))),
        ("endLine", str(d["end_line"])),
        ("endColumn", str(display_column(d["end_col"]))),
        ("title", f"torchlint ({d['code']})" if d.get("cell") is None else f"torchlint ({d['code']}) cell {d['cell']}"),
    ]
    head = ",".join(f"{key}={escape_property(value)}" for key, value in props)
    return f"::{level} {head}::{escape_data(d['message'])}"


def write(diagnostics, out, rules) -> None:
    for d in diagnostics:
        out.write(format_line(d) + "\n")
