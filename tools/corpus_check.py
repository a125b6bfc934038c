"""Real-code corpus check: lint pinned releases of code no one here wrote and count findings.

    python tools/corpus_check.py                 # default rules, summary per rule
    python tools/corpus_check.py --select ALL --list   # every finding, for triage

Wheels are downloaded with ``pip download --no-deps`` into a cache folder outside the repository
(``$TORCHLINT_CORPUS_DIR`` or ``~/.cache/torchlint-corpus``) and unpacked once.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPORA = {
    "transformers": "transformers==5.23.0",
    "timm": "timm==1.0.31",
    "torchvision": "torchvision==0.29.1",
}


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TORCHLINT_CORPUS_DIR", pathlib.Path.home() / ".cache" / "torchlint-corpus"))


def fetch(name: str) -> pathlib.Path:
    """Download and unpack one pinned wheel; return the folder holding its package."""
    base = cache_dir()
    target = base / name
    marker = target / ".unpacked"
    if marker.exists():
        return target
    wheels = base / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    requirement = CORPORA[name]
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(name.lower() + "-" + requirement.split("==")[1])]
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        requirement, "-d", str(wheels)], check=True)
        found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(name.lower() + "-")]
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as archive:
        for member in archive.namelist():
            if member.endswith(".py") and member.startswith(name + "/"):
                archive.extract(member, target)
    marker.write_text(requirement)
    return target


def corpus_files(name: str) -> list[pathlib.Path]:
    folder = fetch(name)
    return sorted(folder.rglob("*.py"))


def lint_files(files, codes, jobs):
    sys.path.insert(0, str(ROOT))
    from torchlint.runner import Options, run_files

    options = Options(tuple(codes))
    return run_files([(str(f), str(f)) for f in files], options, jobs)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=sorted(CORPORA), help="default: all")
    parser.add_argument("--select", default=None, help="comma-separated codes (default: the default rules)")
    parser.add_argument("--list", action="store_true", help="print every finding")
    parser.add_argument("--json", default=None, help="write findings to this JSON file")
    parser.add_argument("-j", "--jobs", type=int, default=0)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from torchlint.rules import select_rules

    rules = select_rules(args.select.split(",") if args.select else None)
    codes = [r.code for r in rules]
    all_findings = []
    exit_code = 0
    for name in args.corpus or sorted(CORPORA):
        files = corpus_files(name)
        base = cache_dir() / name
        start = time.perf_counter()
        reports = lint_files(files, codes, args.jobs)
        elapsed = time.perf_counter() - start
        per_rule = collections.Counter()
        failed = []
        for report in reports:
            for d in report.diagnostics:
                rel = os.path.relpath(d["path"], base)
                if d["code"] in ("TL001", "TL002", "TL003"):
                    failed.append((rel, d["code"], d["message"]))
                    continue
                per_rule[d["code"]] += 1
                all_findings.append({"corpus": name, "path": rel, "line": d["line"], "col": d["col"] + 1,
                                     "code": d["code"], "message": d["message"]})
        print(f"{name}: {len(files)} files, {sum(per_rule.values())} findings, {len(failed)} not linted, "
              f"{elapsed:.1f}s")
        for code in sorted(per_rule):
            print(f"  {code}: {per_rule[code]}")
        for rel, code, message in failed:
            print(f"  NOT LINTED {rel}: {code} {message}")
            if code != "TL001":
                exit_code = 1
    if args.list:
        for f in all_findings:
            print(f"{f['corpus']}/{f['path']}:{f['line']}:{f['col']}: {f['code']} {f['message']}")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(all_findings, indent=1))
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
