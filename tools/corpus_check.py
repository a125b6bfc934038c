"""Real-code corpus check: lint code no one here wrote and count findings per rule.

    python tools/corpus_check.py                        # default rules, every corpus present, summary per rule
    python tools/corpus_check.py --half validation      # only the validation half (issue 12's blind check)
    python tools/corpus_check.py --select ALL --list    # every finding of every rule, for triage
    python tools/corpus_check.py --check-triage         # exit 1 on an untriaged or false default-on finding
    python tools/corpus_check.py --download             # fetch every pinned package (or --download --slice ci)

Corpora: transformers 5.23.0, timm 1.0.31 and torchvision 0.29.1 (the corpus the rules were first tuned on),
the 35 packages of ``PACKAGES`` below, each pinned to the newest version the index served when it was added
(a wheel downloaded with ``pip download --no-deps``, an sdist where no wheel exists), all kept in
``$TORCHLINT_CORPUS_DIR`` or ``~/.cache/torchlint-corpus`` and unpacked once; the installed torch package's own
Python sources (found without importing torch); and the running interpreter's standard library (no torch
there: a precision check). Files that are not valid Python are reported with their reason; any other file
left unlinted is a failure.

The split (``HALF``) is fixed: the 35 packages sorted by name, alternately tuning and validation; the first five
corpora were tuned on and count as tuning. Rules are tuned on the tuning half; the validation half measures
precision on code that no rule was tuned on (tests/corpus_precision.md).
"""
from __future__ import annotations

import argparse
import collections
import csv
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from torchlint.files import DEFAULT_EXCLUDE, is_excluded  # noqa: E402

TRIAGE = ROOT / "tests" / "corpus_triage.tsv"
# The first corpus: paths are relative to the package folder (``models/bert/modeling_bert.py``).
WHEELS = {
    "transformers": "transformers==5.23.0",
    "timm": "timm==1.0.31",
    "torchvision": "torchvision==0.29.1",
}
# Issue 12's packages: name -> (pinned requirement, archive the index serves, half). Paths are relative to the
# unpacked archive (``peft/tuners/lora/layer.py``; an sdist's top folder is dropped). The half is fixed: the
# names sorted, alternately "tuning" and "validation". None as the archive: could not be fetched (reason beside).
PACKAGES = {
    "accelerate": ("accelerate==1.15.0", "wheel", "tuning"),
    "audiocraft": ("audiocraft==1.3.0", "sdist", "validation"),
    "botorch": ("botorch==0.18.1", "wheel", "tuning"),
    "captum": ("captum==0.9.0", "wheel", "validation"),
    "demucs": ("demucs==4.1.0", "wheel", "tuning"),
    "e3nn": ("e3nn==0.6.0", "wheel", "validation"),
    "efficientnet-pytorch": ("efficientnet-pytorch==0.7.1", "sdist", "tuning"),
    "einops": ("einops==0.8.2", "wheel", "validation"),
    "encodec": ("encodec==0.1.1", "sdist", "tuning"),
    "espnet": ("espnet==202511", "wheel", "validation"),
    "fairseq": ("fairseq==0.12.2", "sdist", "tuning"),
    "fastai": ("fastai==2.8.12", "wheel", "validation"),
    "gpytorch": ("gpytorch==1.15.2", "wheel", "tuning"),
    "mmdet": ("mmdet==3.3.0", "wheel", "validation"),
    "mmengine": ("mmengine==0.10.7", "wheel", "tuning"),
    "neuralforecast": ("neuralforecast==3.3.0", "wheel", "validation"),
    "open-clip-torch": ("open-clip-torch==3.3.0", "wheel", "tuning"),
    "openai-whisper": ("openai-whisper==20250625", "sdist", "validation"),
    "peft": ("peft==0.21.2", "wheel", "tuning"),
    "pretrainedmodels": ("pretrainedmodels==0.7.4", "sdist", "validation"),
    "pyro-ppl": ("pyro-ppl==1.9.2", "wheel", "tuning"),
    "pytorch-forecasting": ("pytorch-forecasting==1.8.0", "wheel", "validation"),
    "pytorch-ignite": ("pytorch-ignite==0.5.5", "wheel", "tuning"),
    "pytorch-metric-learning": ("pytorch-metric-learning==2.9.0", "wheel", "validation"),
    "pytorch-tabnet": ("pytorch-tabnet==4.1.0", "wheel", "tuning"),
    "sentence-transformers": ("sentence-transformers==6.2.0", "wheel", "validation"),
    "skorch": ("skorch==1.4.0", "wheel", "tuning"),
    "speechbrain": ("speechbrain==1.1.2", "wheel", "validation"),
    "stable-baselines3": ("stable-baselines3==2.9.2", "wheel", "tuning"),
    "torch-geometric": ("torch-geometric==2.8.1", "wheel", "validation"),
    "torchaudio": ("torchaudio==2.11.1", "wheel", "tuning"),
    "torchgeo": ("torchgeo==0.8.1", "wheel", "validation"),
    "torchmetrics": ("torchmetrics==1.9.0", "wheel", "tuning"),
    "torchrl": ("torchrl==0.14.1", "wheel", "validation"),
    "torchsde": ("torchsde==0.2.6", "wheel", "tuning"),
}
# Packages of the list left out, with the reason.
LEFT_OUT: dict[str, str] = {}
CORPORA = (*WHEELS, "torch", "stdlib", *(name for name, spec in PACKAGES.items() if spec[1] is not None))
# Tuning: the corpus first tuned on plus every other package of PACKAGES; validation: the rest.
HALF = {**{name: "tuning" for name in (*WHEELS, "torch", "stdlib")},
        **{name: spec[2] for name, spec in PACKAGES.items()}}
# What CI downloads and tests/test_corpus.py then lints (with torch and the stdlib, always present): a fixed
# slice that keeps CI's corpus test within a few minutes on two cores. The whole corpus is the tool's job.
# All wheels (no sdist metadata to prepare in CI's fresh environment).
CI_SLICE = ("transformers", "timm", "torchvision", "peft", "accelerate", "torchmetrics", "pytorch-metric-learning",
            "neuralforecast")


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("TORCHLINT_CORPUS_DIR", pathlib.Path.home() / ".cache" / "torchlint-corpus"))


def _norm(text: str) -> str:
    return re.sub(r"[-_.]+", "_", text).lower()


def _archive(wheels: pathlib.Path, requirement: str) -> list:
    name, version = requirement.split("==")
    prefix = _norm(f"{name}-{version}") + "_"
    return sorted(w for w in wheels.iterdir() if _norm(w.name).startswith(prefix)
                  and w.name.endswith((".whl", ".tar.gz", ".zip")))


def fetch(name: str, download: bool = True) -> pathlib.Path:
    """Download and unpack one pinned package; return the folder its corpus paths start from."""
    base = cache_dir()
    target = base / name
    marker = target / ".unpacked"
    if marker.exists():
        return target
    if not download:
        raise FileNotFoundError(f"{name} corpus not downloaded (python tools/corpus_check.py --download)")
    wheels = base / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    requirement, kind = (WHEELS[name], "wheel") if name in WHEELS else PACKAGES[name][:2]
    found = _archive(wheels, requirement)
    if not found:
        # an sdist's metadata is prepared in this environment, without building its build requirements
        only = ["--only-binary", ":all:"] if kind == "wheel" else ["--no-binary", requirement.split("==")[0]]
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-build-isolation",
                        *only, requirement, "-d", str(wheels)], check=True)
        found = _archive(wheels, requirement)
    target.mkdir(parents=True, exist_ok=True)
    archive = found[0]
    if archive.name.endswith(".whl"):
        with zipfile.ZipFile(archive) as zipped:
            for member in zipped.namelist():
                top = member.split("/", 1)[0]
                if not member.endswith(".py") or top.endswith((".dist-info", ".data")):
                    continue
                if name in WHEELS and top != name:
                    continue
                zipped.extract(member, target)
    else:
        with tarfile.open(archive) as tarred:
            for member in tarred.getmembers():
                parts = member.name.split("/", 1)
                if not member.isfile() or len(parts) < 2 or not parts[1].endswith(".py"):
                    continue
                out = target / parts[1]
                if ".." in pathlib.PurePosixPath(parts[1]).parts:
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with tarred.extractfile(member) as handle:
                    out.write_bytes(handle.read())
    marker.write_text(requirement)
    return target


def corpus_root(name: str, download: bool = True) -> pathlib.Path:
    """The folder that corpus paths are relative to."""
    if name in WHEELS:
        return fetch(name, download) / name
    if name in PACKAGES:
        if PACKAGES[name][1] is None:
            raise FileNotFoundError(f"{name}: left out ({LEFT_OUT.get(name, 'not fetched')})")
        return fetch(name, download)
    if name == "torch":
        spec = importlib.util.find_spec("torch")  # finds the package without importing it
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError("torch is not installed")
        return pathlib.Path(list(spec.submodule_search_locations)[0])
    if name == "stdlib":
        return pathlib.Path(sysconfig.get_paths()["stdlib"])
    raise ValueError(name)


def available(names=CORPORA) -> list:
    """The corpora present on this machine, without downloading anything."""
    present = []
    for name in names:
        try:
            corpus_root(name, download=False)
        except (FileNotFoundError, ValueError):
            continue
        present.append(name)
    return present


def corpus_files(name: str, download: bool = True) -> list[pathlib.Path]:
    root = corpus_root(name, download)
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if name == "stdlib" and rel and rel[0] in ("site-packages", "dist-packages"):
            continue
        # What `torchlint <package>` would lint: no build/lib copies, caches or virtualenvs (files.DEFAULT_EXCLUDE).
        if any(is_excluded(part, DEFAULT_EXCLUDE) for part in rel[:-1]):
            continue
        files.append(path)
    return files


def lint_files(files, codes, jobs):
    sys.path.insert(0, str(ROOT))
    from torchlint.runner import Options, run_files

    return run_files([(str(f), str(f)) for f in files], Options(tuple(codes)), jobs)


def load_triage(path: pathlib.Path = TRIAGE) -> dict[tuple, dict]:
    """(package, path, line, code) -> row; verdict is "tp" (a true positive) or "fp" (a false positive the rule
    no longer reports)."""
    if not path.exists():
        return {}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t")]
    return {(r["package"], r["path"], int(r["line"]), r["code"]): r for r in rows}


def key_of(finding: dict) -> tuple:
    return finding["corpus"], finding["path"], finding["line"], finding["code"]


def corpora_of(half: str) -> tuple:
    return tuple(name for name in CORPORA if half == "all" or HALF[name] == half)


def precision_table(triage: dict, codes=None) -> str:
    """Per rule and half: findings triaged (true + false) and precision, as a markdown table. The triage file keeps
    the false positives that were fixed, so these are the figures before fixing."""
    counts: dict = collections.defaultdict(lambda: [0, 0])
    for (package, _path, _line, code), row in triage.items():
        if codes is not None and code not in codes:
            continue
        counts[(code, HALF.get(package, "?"))][0 if row["verdict"] == "tp" else 1] += 1
    lines = ["| rule | tuning: findings | tuning: true | tuning: precision | validation: findings | validation: true "
             "| validation: precision |", "|---|---|---|---|---|---|---|"]
    for code in sorted({c for c, _h in counts}):
        cells = [code]
        for half in ("tuning", "validation"):
            tp, fp = counts.get((code, half), [0, 0])
            cells += [str(tp + fp), str(tp), f"{100 * tp / (tp + fp):.0f}%" if tp + fp else "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run(corpora, codes, jobs, download=True, progress=False):
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
        if progress:
            print(f"  linted {name}: {len(files)} files, {count} findings, {elapsed:.1f}s", file=sys.stderr, flush=True)
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
    parser.add_argument("--corpus", action="append", choices=CORPORA, help="default: every corpus present")
    parser.add_argument("--half", choices=("tuning", "validation", "all"), default="all")
    parser.add_argument("--slice", choices=("ci", "all"), default="all",
                        help="with --download: the CI slice or every package")
    parser.add_argument("--select", default=None, help="comma-separated codes (default: the default rules)")
    parser.add_argument("--list", action="store_true", help="print every finding")
    parser.add_argument("--untriaged", action="store_true", help="print only findings missing from the triage file")
    parser.add_argument("--json", default=None, help="write findings to this JSON file")
    parser.add_argument("--check-triage", action="store_true",
                        help="exit 1 when a default-on rule's finding is not in tests/corpus_triage.tsv, "
                             "or is triaged there as a false positive")
    parser.add_argument("--download", action="store_true", help="only download and unpack the pinned packages")
    parser.add_argument("--fix-roundtrip", action="store_true",
                        help="also apply --fix --unsafe-fixes to copies of the files with fixable findings and check "
                             "that they parse, compile and are stable")
    parser.add_argument("--precision", action="store_true",
                        help="print per-rule findings and precision on each half from the triage file")
    parser.add_argument("-j", "--jobs", type=int, default=0)
    args = parser.parse_args(argv)
    if args.precision:
        print(precision_table(load_triage()))
        return 0
    if args.download:
        names = CI_SLICE if args.slice == "ci" else [n for n in CORPORA if n in WHEELS or n in PACKAGES]
        for name in names:
            print(f"{name}: {fetch(name)}")
        return 0
    sys.path.insert(0, str(ROOT))
    from torchlint.rules import all_rules, select_rules

    rules = select_rules(args.select.split(",") if args.select else None)
    default_on = {r.code for r in all_rules() if r.default_enabled}
    wanted = args.corpus or available(corpora_of(args.half))
    findings, not_linted, stats = run(wanted, [r.code for r in rules], args.jobs, progress=True)
    triage = load_triage()
    exit_code = 0
    per_rule = collections.Counter((f["corpus"], f["code"]) for f in findings)
    for name, nfiles, count, elapsed in stats:
        bad = sum(1 for n in not_linted if n["corpus"] == name)
        print(f"{name} ({HALF[name]}): {nfiles} files, {count} findings, {bad} not linted, {elapsed:.1f}s")
        for (corpus, code), n in sorted(per_rule.items()):
            if corpus == name:
                rows = [triage.get(key_of(f)) for f in findings if f["corpus"] == name and f["code"] == code]
                tp = sum(1 for r in rows if r and r["verdict"] == "tp")
                fp = sum(1 for r in rows if r and r["verdict"] == "fp")
                print(f"  {code}: {n} ({tp} true, {fp} false, {n - tp - fp} untriaged)")
    for n in not_linted:
        print(f"NOT LINTED {n['corpus']}/{n['path']}: {n['code']} {n['message']}")
        if n["code"] not in ("TL001", "TL002"):  # not valid Python, or not decodable: the file's fault
            exit_code = 1
    untriaged = [f for f in findings if key_of(f) not in triage]
    shown = untriaged if args.untriaged else findings if args.list else []
    for f in shown:
        print(f"{f['corpus']}/{f['path']}:{f['line']}:{f['col']}: {f['code']} {f['message']}")
    if args.check_triage:
        for f in findings:
            if f["code"] not in default_on:
                continue
            row = triage.get(key_of(f))
            if row is None or row["verdict"] != "tp":
                print(f"{'UNTRIAGED' if row is None else 'FALSE'} {f['corpus']}/{f['path']}:{f['line']}: "
                      f"{f['code']} {f['message']}")
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
