"""Write the per-rule documentation pages docs/rules/TLnnn.md and their index docs/rules/README.md from
the rules' own docstrings (tests/test_docs_pages.py regenerates them in memory and compares).

    python tools/gen_docs.py           # write the pages (and delete pages of rules that no longer exist)
    python tools/gen_docs.py --check   # exit 1 when a page is missing or stale
"""
from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def pages() -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from torchlint.docs import doc_pages

    return doc_pages()


def stale(expected: dict[str, str]) -> list[str]:
    """Paths (relative to the root) that differ from what the rules generate, or should not exist."""
    out = [rel for rel, text in expected.items()
           if not (ROOT / rel).is_file() or (ROOT / rel).read_text(encoding="utf-8") != text]
    folder = ROOT / "docs" / "rules"
    if folder.is_dir():
        out += [f"docs/rules/{p.name}" for p in sorted(folder.glob("*.md")) if f"docs/rules/{p.name}" not in expected]
    return out


def main(argv: list[str]) -> int:
    expected = pages()
    if "--check" in argv:
        bad = stale(expected)
        for rel in bad:
            print(f"stale: {rel}", file=sys.stderr)
        return 1 if bad else 0
    folder = ROOT / "docs" / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.md"):
        if f"docs/rules/{old.name}" not in expected:
            old.unlink()
    for rel, text in expected.items():
        path = ROOT / rel
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_bytes(text.encode("utf-8"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
