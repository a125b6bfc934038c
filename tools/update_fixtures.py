"""Rewrite the inline expectations of fixture files from what torchlint reports (snapshot style).

A firing line of a fixture ends with ``# TL101 @13: <message>`` (several joined by `` # ``): the code, the
1-based column and the exact message. This tool lints every fixture (or the files given), replaces each
line's expectations with the findings on that line, and regenerates ``fixed.py`` of every fixture folder
whose ``bad.py`` has fixes. Review the diff: a marker that appears or disappears is a behaviour change.

    python tools/update_fixtures.py                 # every file under fixtures/
    python tools/update_fixtures.py fixtures/TL101  # one folder
    python tools/update_fixtures.py --check         # exit 1 if anything would change
"""
from __future__ import annotations

import argparse
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import split_marker  # noqa: E402

from torchlint.engine import lint_source  # noqa: E402
from torchlint.fix import fix_text  # noqa: E402
from torchlint.rules import all_rules  # noqa: E402


def render(path: pathlib.Path, text: str) -> str:
    rules = all_rules()
    stripped_lines = []
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        ending = line[len(body):]
        code, marker = split_marker(body)
        stripped_lines.append((code.rstrip() if marker else body, ending))
    stripped = "".join(code + ending for code, ending in stripped_lines)
    result = lint_source(stripped, str(path), rules)
    if result.error is not None:
        raise SystemExit(f"{path}: {result.error.message}")
    by_line: dict[int, list] = {}
    for f in result.findings:
        by_line.setdefault(f.line, []).append(f"{f.code} @{f.col + 1}: {f.message}")
    out = []
    for lineno, (code, ending) in enumerate(stripped_lines, start=1):
        entries = by_line.get(lineno)
        out.append((f"{code}  # " + " # ".join(entries) if entries else code) + ending)
    return "".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=pathlib.Path)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    args = parser.parse_args(argv)
    roots = [p.resolve() for p in args.paths] or [ROOT / "fixtures"]
    files = sorted({p for r in roots for p in ([r] if r.is_file() else r.rglob("*.py")) if p.name != "fixed.py"})
    stale = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        new = render(path, text)
        targets = [(path, new)]
        if path.name == "bad.py" and (path.parent / "fixed.py").exists():
            fixed, _count, _ = fix_text(new, str(path), all_rules(), unsafe=True)
            targets.append((path.parent / "fixed.py", fixed))
        for target, content in targets:
            if target.read_text(encoding="utf-8") != content:
                stale.append(target)
                if not args.check:
                    target.write_text(content, encoding="utf-8")
    for target in stale:
        print(("out of date: " if args.check else "updated: ") + str(target.relative_to(ROOT)))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    raise SystemExit(main())
