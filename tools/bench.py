"""Benchmark torchlint against its peers, in one run, as ratios.

    python tools/bench.py                 # all corpora, 3 repetitions, table to stdout
    python tools/bench.py --quick         # the four-folder set only, 1 repetition
    python tools/bench.py --markdown out.md

Every measurement is a whole child process; CPU seconds (user+sys), wall seconds and peak RSS come from
``os.wait4`` on that child, and the median of the repetitions is reported. Peers live in virtual
environments the script makes under the corpus cache folder (TorchFix 0.7.0 pins an older libcst, so it
gets its own), so nothing here changes the environment torchlint runs in.
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import corpus_check  # noqa: E402

FOUR = ("bert", "gpt2", "llama", "t5")
PARSE_LOOP = (
    "import sys, libcst\n"
    "for path in sys.argv[1:]:\n"
    "    with open(path, 'rb') as f:\n"
    "        libcst.parse_module(f.read())\n"
)


def venv(name: str, packages: list[str]) -> pathlib.Path:
    """A cached virtual environment with ``packages``; returns its bin folder."""
    folder = corpus_check.cache_dir() / "venvs" / name
    marker = folder / ".ready"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
        subprocess.run([str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", *packages], check=True)
        marker.write_text(" ".join(packages))
    return folder / "bin"


# Byte-code is written and reused as in a normal installation (some shells export PYTHONDONTWRITEBYTECODE,
# which would make every run of an editable install recompile torchlint from source).
BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(cmd: list[str], repeat: int, cwd=None, env=None, warmup: bool = True) -> dict:
    """Median CPU seconds, wall seconds and peak RSS (MiB) of a whole child process, after one
    unmeasured warm-up run (byte-code compiled, files in the page cache)."""
    env = dict(BASE_ENV, **(env or {}))
    if warmup:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env)
    cpu, wall, rss = [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall.append(time.perf_counter() - start)
        cpu.append(usage.ru_utime + usage.ru_stime)
        rss.append(usage.ru_maxrss / 1024)
        code = os.waitstatus_to_exitcode(status)
        if code not in (0, 1):
            raise RuntimeError(f"{cmd[:3]}... exited {code}")
    return {"cpu": statistics.median(cpu), "wall": statistics.median(wall), "rss": statistics.median(rss)}


def corpus_sets(quick: bool) -> dict[str, list[str]]:
    models = corpus_check.fetch("transformers") / "transformers" / "models"
    sets = {"four folders (bert, gpt2, llama, t5)": [str(p) for d in FOUR for p in sorted((models / d).rglob("*.py"))]}
    if not quick:
        sets["transformers models/"] = [str(p) for p in sorted(models.rglob("*.py"))]
        sets["timm 1.0.31"] = [str(p) for p in sorted((corpus_check.fetch("timm") / "timm").rglob("*.py"))]
    return sets


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (four folders, single file)")
    parser.add_argument("--repeat-large", type=int, default=1,
                        help="runs per measurement on the large corpora (all of transformers' models/, timm)")
    parser.add_argument("--quick", action="store_true", help="four-folder set only, one repetition")
    parser.add_argument("--no-torchfix", action="store_true")
    parser.add_argument("--markdown", default=None, help="also write the report to this file")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    py = sys.executable
    tl_bin = pathlib.Path(py).parent
    base_bin = venv("flake8-only", ["flake8==7.5.0", "ruff"])
    tf_bin = None if args.no_torchfix else venv("torchfix", ["torchfix==0.7.0", "flake8==7.5.0"])
    cache_off = ["--no-cache"] if _supports_no_cache(py) else []
    rows, ratios = [], []

    for label, files in corpus_sets(args.quick).items():
        n = len(files)
        small = label.startswith("four")
        repeat = 1 if args.quick else (args.repeat if small else args.repeat_large)

        # large corpora: byte-code and page cache are already warm from the four-folder runs
        warm = small
        with tempfile.TemporaryDirectory() as tmp:
            listing = pathlib.Path(tmp)
            r = {}
            r["libcst parse loop"] = measure([py, "-c", PARSE_LOOP, *files], repeat, warmup=warm)
            r["torchlint -j1 (default rules)"] = measure([py, "-m", "torchlint", "-j1", "-q", *cache_off, *files],
                                                         repeat, warmup=warm)
            r["torchlint -j2 (default rules)"] = measure([py, "-m", "torchlint", "-q", *cache_off, *files],
                                                         repeat, warmup=warm)
            r["torchlint -j1 --select ALL"] = measure([py, "-m", "torchlint", "-j1", "-q", "--select", "ALL",
                                                       *cache_off, *files], repeat, warmup=warm)
            if cache_off:
                cache_dir = listing / "cache"
                env = {"TORCHLINT_CACHE_DIR": str(cache_dir)}  # the warm-up run fills the cache
                r["torchlint -j1, warm cache"] = measure([py, "-m", "torchlint", "-j1", "-q", *files], repeat,
                                                         env=env)
            r["flake8 -j1 E,W,F (no plugin)"] = measure([str(base_bin / "flake8"), "-j1", "--select", "E,W,F",
                                                         "--isolated", *files], repeat, warmup=warm)
            r["flake8 -j1 E,W,F + torchlint"] = measure([str(tl_bin / "flake8"), "-j1", "--select", "E,W,F",
                                                         "--isolated", *files], repeat, warmup=warm)
            r["ruff (all rules, no cache)"] = measure([str(base_bin / "ruff"), "check", "--select", "ALL",
                                                       "--no-cache", "--isolated", "--exit-zero", *files],
                                                      repeat, warmup=warm)
            # TorchFix takes ~0.35 s a file: all of transformers' models/ would take a quarter of an hour
            if tf_bin is not None and not label.startswith("transformers"):
                r["torchfix CLI"] = measure([str(tf_bin / "torchfix"), *files], repeat, warmup=warm)
                r["flake8 -j1 --select TOR (TorchFix)"] = measure(
                    [str(tf_bin / "flake8"), "-j1", "--select", "TOR", "--isolated", *files], repeat, warmup=warm)
            measure_torch_preflight(r, label, files, repeat, warm)
        rows.append((label, n, r))
        parse = r["libcst parse loop"]
        tl1 = r["torchlint -j1 (default rules)"]
        ratios.append((label, "1. torchlint -j1 CPU / parse loop CPU (target <= 1.3)", tl1["cpu"] / parse["cpu"]))
        if "torchfix CLI" in r:
            # both CLIs at their default parallelism (TorchFix's CLI also uses every core), then CPU for CPU
            ratios.append((label, "2. torchlint throughput / TorchFix CLI throughput, wall (target >= 10)",
                           r["torchfix CLI"]["wall"] / r["torchlint -j2 (default rules)"]["wall"]))
            ratios.append((label, "2b. TorchFix CLI CPU / torchlint -j1 CPU",
                           r["torchfix CLI"]["cpu"] / tl1["cpu"]))
        ratios.append((label, "3. flake8+torchlint CPU / flake8 CPU (target <= 2)",
                       r["flake8 -j1 E,W,F + torchlint"]["cpu"] / r["flake8 -j1 E,W,F (no plugin)"]["cpu"]))
        ratios.append((label, "5. torchlint -j1 wall / -j2 wall (target >= 1.7 on transformers models/)",
                       tl1["wall"] / r["torchlint -j2 (default rules)"]["wall"]))
        if "torchlint -j1, warm cache" in r:
            ratios.append((label, "6. warm cache wall / cold wall (target <= 0.1)",
                           r["torchlint -j1, warm cache"]["wall"] / tl1["wall"]))
        ratios.append((label, "7. torchlint -j1 peak RSS / parse loop peak RSS (target <= 1.5)", tl1["rss"] / parse["rss"]))

    # single file latency
    repeat = 1 if args.quick else args.repeat
    t5 = str(corpus_check.fetch("transformers") / "transformers" / "models" / "t5" / "modeling_t5.py")
    single = {
        "python -c pass": measure([py, "-c", "pass"], max(repeat, 5)),
        "import torchlint.flake8_plugin": measure([py, "-c", "import torchlint.flake8_plugin"], max(repeat, 5)),
        "flake8 modeling_t5.py (no plugin)": measure([str(base_bin / "flake8"), "--isolated", t5], max(repeat, 5)),
        "flake8 modeling_t5.py + torchlint": measure([str(tl_bin / "flake8"), "--isolated", t5], max(repeat, 5)),
        "flake8 --select TL modeling_t5.py": measure([str(tl_bin / "flake8"), "--isolated", "--select", "TL", t5],
                                                     max(repeat, 5)),
        "torchlint modeling_t5.py": measure([py, "-m", "torchlint", "-q", *cache_off, t5], max(repeat, 5)),
    }
    if tf_bin is not None:
        single["flake8 modeling_t5.py + TorchFix"] = measure([str(tf_bin / "flake8"), "--isolated", t5], max(repeat, 5))
    ratios.append(("single file", "4a. import torchlint.flake8_plugin, seconds added (target <= 0.25)",
                   single["import torchlint.flake8_plugin"]["wall"] - single["python -c pass"]["wall"]))
    ratios.append(("single file", "4b. flake8+torchlint / flake8 on modeling_t5.py, wall (target <= 2.5)",
                   single["flake8 modeling_t5.py + torchlint"]["wall"] / single["flake8 modeling_t5.py (no plugin)"]["wall"]))

    runs = (f"{1 if args.quick else args.repeat} (four folders, single file), "
            f"{1 if args.quick else args.repeat_large} (large corpora)")
    report = render(rows, single, ratios, runs)
    print(report)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(report)
    return 0


def measure_torch_preflight(r: dict, label: str, files: list, repeat: int, warm: bool) -> None:
    """torch-preflight 0.5.0 (the live peer of issue 15; no torch needed) in its own venv, one process (-j1, as
    ``torchlint -j1``). It takes ~0.8 CPU s a file, so all of transformers' models/ is skipped like TorchFix."""
    if label.startswith("transformers"):
        return
    bin_dir = venv("torch-preflight", ["torch-preflight==0.5.0"])
    r["torch-preflight 0.5.0 -j1"] = measure([str(bin_dir / "torch-preflight"), "check", "-j1", "-q", *files],
                                             repeat, warmup=warm)


def _supports_no_cache(py: str) -> bool:
    out = subprocess.run([py, "-m", "torchlint", "check", "--help"], capture_output=True, text=True)
    return "--no-cache" in out.stdout


def _versions() -> str:
    from importlib import metadata

    parts = [f"Python {platform.python_version()}"]
    for dist in ("torchlint", "libcst", "flake8"):
        try:
            parts.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    parts.append("TorchFix 0.7.0 (own venv)")
    return ", ".join(parts)


def render(rows, single, ratios, repeat) -> str:
    lines = [f"Benchmark run {datetime.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} CPUs, "
             f"{_versions()}; median of {repeat} run(s); whole processes; CPU = user+sys of the process tree.", ""]
    for label, n, r in rows:
        lines += [f"### {label}: {n} files", "", "| tool | CPU s | wall s | peak MiB | files/s |", "| --- | ---: | ---: | ---: | ---: |"]
        for tool, m in r.items():
            lines.append(f"| {tool} | {m['cpu']:.2f} | {m['wall']:.2f} | {m['rss']:.0f} | {n / m['wall']:.0f} |")
        lines.append("")
    lines += ["### single file (transformers' modeling_t5.py)", "", "| process | CPU s | wall s | peak MiB |",
              "| --- | ---: | ---: | ---: |"]
    for tool, m in single.items():
        lines.append(f"| {tool} | {m['cpu']:.2f} | {m['wall']:.2f} | {m['rss']:.0f} |")
    lines += ["", "### targets", "", "| corpus | ratio | measured |", "| --- | --- | ---: |"]
    for label, what, value in ratios:
        lines.append(f"| {label} | {what} | {value:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
