"""Real-code corpus check: lint code no one here wrote and count findings per rule.

    python tools/corpus_check.py                        # default rules, every corpus, summary per rule
    python tools/corpus_check.py --select ALL --list    # every finding of every rule, for triage
    python tools/corpus_check.py --check-triage         # exit 1 on a default-on finding not in the triage file
    python tools/corpus_check.py --download             # fetch the pinned wheels only (CI does this first)

Corpora: transformers 5.23.0, timm 1.0.31 and torchvision 0.29.1 (pinned wheels downloaded with
``pip download --no-deps`` into ``$TORCHLINT_CORPUS_DIR`` or ``~/.cache/torchlint-corpus``, unpacked once),
the installed torch package's own Python sources (found without importing torch), and the running
interpreter's standard library (no torch there: a precision check). Files that are not valid Python are
reported with their reason; any other file left unlinted is a failure.
"""
from __future__ import annotations

import argparse
import collections
import csv
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
TRIAGE = ROOT / "tests" / "corpus_triage.tsv"
WHEELS = {
    "transformers": "transformers==5.23.0",
    "timm": "timm==1.0.31",
    "torchvision": "torchvision==0.29.1",
}
CORPORA = (*WHEELS, "torch", "stdlib")


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TORCHLINT_CORPUS_DIR", pathlib.Path.home() / ".cache" / "torchlint-corpus"))


def fetch(name: str, download: bool = True) -> pathlib.Path:
    """Download and unpack one pinned wheel; return the folder holding its package folder."""
    base = cache_dir()
    target = base / name
    marker = target / ".unpacked"
    if marker.exists():
        return target
    if not download:
        raise FileNotFoundError(f"{name} corpus not downloaded (python tools/corpus_check.py --download)")
    wheels = base / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    requirement = WHEELS[name]
    prefix = f"{name}-{requirement.split('==')[1]}".lower()
    found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(prefix)]
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:",
                        requirement, "-d", str(wheels)], check=True)
        found = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(prefix)]
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(found[0]) as archive:
        for member in archive.namelist():
            if member.endswith(".py") and member.startswith(name + "/"):
                archive.extract(member, target)
    marker.write_text(requirement)
    return target


def corpus_root(name: str, download: bool = True) -> pathlib.Path:
    """The folder that corpus paths are relative to."""
    if name in WHEELS:
        return fetch(name, download) / name
    if name == "torch":
        spec = importlib.util.find_spec("torch")  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("torch is not installed")
        return pathlib.Path(list(spec.submodule_search_locations)[0])
    if name == "stdlib":
        return pathlib.Path(sysconfig.get_paths()["stdlib"])
    raise ValueError(name)


def corpus_files(name: str, download: bool = True) -> list[pathlib.Path]:
    root = corpus_root(name, download)
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if name == "stdlib" and rel and rel[0] in ("site-packages", "dist-packages"):
            continue
        files.append(path)
    return files


def lint_files(files, codes, jobs):
    sys.path.insert(0, str(ROOT))
    from torchlint.runner import Options, run_files

    return run_files([(str(f), str(f)) for f in files], Options(tuple(codes)), jobs)


def load_triage(path: pathlib.Path = TRIAGE) -> dict[tuple, dict]:
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")]
    return {(r["corpus"], r["path"], int(r["line"]), r["code"]): r for r in rows}


def run(corpora, codes, jobs, download=True):
    """Lint the corpora; returns (findings, not_linted, per-corpus stats)."""
    findings, not_linted, stats = [], [], []
    for name in corpora:
        files = corpus_files(name, download)
        root = corpus_root(name, download)
        start = time.perf_counter()
        reports = lint_files(files, codes, jobs)
        elapsed = time.perf_counter() - start
        count = 0
        for report in reports:
            for d in report.diagnostics:
                rel = os.path.relpath(d["path"], root)
                if d["code"] in ("TL001", "TL002", "TL003"):
                    not_linted.append({"corpus": name, "path": rel, "code": d["code"], "message": d["message"]})
                    continue
                count += 1
                findings.append({"corpus": name, "path": rel, "line": d["line"], "col": d["col"] + 1,
                                 "code": d["code"], "message": d["message"], "fixable": d["fix"] is not None,
                                 "file": d["path"]})
        stats.append((name, len(files), count, elapsed))
    return findings, not_linted, stats


def fix_roundtrip(findings, codes, workdir: pathlib.Path) -> dict:
    """``--fix --unsafe-fixes`` on copies of every corpus file with a fixable finding: each changed file
    must still parse with libcst and ``ast``, compile, and a second run must change nothing."""
    import ast
    import shutil

    import libcst

    sys.path.insert(0, str(ROOT))
    from torchlint.fix import fix_text
    from torchlint.rules import all_rules

    rules = [r for r in all_rules() if r.code in set(codes)]
    files = sorted({f["file"] for f in findings if f["fixable"]})
    stats = {"files": 0, "fixed_findings": 0, "changed_files": 0, "failures": []}
    for index, source in enumerate(files):
        copy = workdir / f"{index}_{pathlib.Path(source).name}"
        shutil.copy(source, copy)
        text = copy.read_text(encoding="utf-8")
        new, count, _ = fix_text(text, str(copy), rules, unsafe=True)
        stats["files"] += 1
        if new == text:
            continue
        stats["changed_files"] += 1
        stats["fixed_findings"] += count
        try:
            libcst.parse_module(new)
            compile(ast.parse(new), str(copy), "exec")
        except Exception as exc:  # a fix that breaks a file is the worst bug a linter can have
            stats["failures"].append(f"{source}: does not parse after fixing: {exc}")
            continue
        again, count2, _ = fix_text(new, str(copy), rules, unsafe=True)
        if again != new or count2:
            stats["failures"].append(f"{source}: a second --fix changed it again")
    return stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", choices=CORPORA, help="default: all")
    parser.add_argument("--select", default=None, help="comma-separated codes (default: the default rules)")
    parser.add_argument("--list", action="store_true", help="print every finding")
    parser.add_argument("--untriaged", action="store_true", help="print only findings missing from the triage file")
    parser.add_argument("--json", default=None, help="write findings to this JSON file")
    parser.add_argument("--check-triage", action="store_true",
                        help="exit 1 when a default-on rule's finding is not in tests/corpus_triage.tsv")
    parser.add_argument("--download", action="store_true", help="only download and unpack the pinned wheels")
    parser.add_argument("--fix-roundtrip", action="store_true",
                        help="also apply --fix --unsafe-fixes to copies of the files with fixable findings and check "
                             "that they parse, compile and are stable")
    parser.add_argument("-j", "--jobs", type=int, default=0)
    args = parser.parse_args(argv)
    if args.download:
        for name in WHEELS:
            print(f"{name}: {fetch(name)}")
        return 0
    sys.path.insert(0, str(ROOT))
    from torchlint.rules import all_rules, select_rules

    rules = select_rules(args.select.split(",") if args.select else None)
    default_on = {r.code for r in all_rules() if r.default_enabled}
    findings, not_linted, stats = run(args.corpus or CORPORA, [r.code for r in rules], args.jobs)
    triage = load_triage()
    exit_code = 0
    per_rule = collections.Counter((f["corpus"], f["code"]) for f in findings)
    for name, nfiles, count, elapsed in stats:
        bad = sum(1 for n in not_linted if n["corpus"] == name)
        print(f"{name}: {nfiles} files, {count} findings, {bad} not linted, {elapsed:.1f}s")
        for (corpus, code), n in sorted(per_rule.items()):
            if corpus == name:
                triaged = sum(1 for f in findings if f["corpus"] == name and f["code"] == code
                              and (name, f["path"], f["line"], code) in triage)
                print(f"  {code}: {n} ({triaged} triaged)")
    for n in not_linted:
        print(f"NOT LINTED {n['corpus']}/{n['path']}: {n['code']} {n['message']}")
        if n["code"] not in ("TL001", "TL002"):  # not valid Python, or not decodable: the file's fault
            exit_code = 1
    untriaged = [f for f in findings if (f["corpus"], f["path"], f["line"], f["code"]) not in triage]
    shown = untriaged if args.untriaged else findings if args.list else []
    for f in shown:
        print(f"{f['corpus']}/{f['path']}:{f['line']}:{f['col']}: {f['code']} {f['message']}")
    if args.check_triage:
        missing = [f for f in untriaged if f["code"] in default_on]
        for f in missing:
            print(f"UNTRIAGED {f['corpus']}/{f['path']}:{f['line']}: {f['code']} {f['message']}")
        if missing:
            exit_code = 1
    if args.fix_roundtrip:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            rt = fix_roundtrip(findings, [r.code for r in rules], pathlib.Path(tmp))
        print(f"fix round trip: {rt['files']} files with fixable findings, {rt['changed_files']} changed, "
              f"{rt['fixed_findings']} findings fixed, {len(rt['failures'])} failures")
        for failure in rt["failures"]:
            print(f"  FIX FAILURE {failure}")
        if rt["failures"]:
            exit_code = 1
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({"findings": findings, "not_linted": not_linted}, indent=1))
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
