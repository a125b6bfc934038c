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

# The project index's own cost (issue 11): the same files linted in one process with the index on (its scan
# memo emptied before each run, as in a fresh CLI process) and with it off (no directory to look in),
# alternately; the best of five runs each, in CPU seconds, and how many sibling files the index read.
PROJECT_INDEX_COST = (
    "import sys, time\n"
    "from torchlint.engine import lint_source\n"
    "from torchlint.semantic import project\n"
    "texts = [(p, open(p, encoding='utf-8', errors='replace').read()) for p in sys.argv[1:]]\n"
    "def run():\n"
    "    project._MEMO.clear()\n"
    "    read = set()\n"
    "    start = time.process_time()\n"
    "    for path, text in texts:\n"
    "        read.update(lint_source(text, path).dependencies or ())\n"
    "    return time.process_time() - start, len(read)\n"
    "init = project.ProjectIndex.__init__\n"
    "def no_directory(self, path):\n"
    "    init(self, None)\n"
    "runs = {True: [], False: []}\n"
    "run()\n"
    "for _ in range(5):\n"
    "    for index_on in (True, False):\n"
    "        project.ProjectIndex.__init__ = init if index_on else no_directory\n"
    "        runs[index_on].append(run())\n"
    "on, off = min(runs[True]), min(runs[False])\n"
    "print(on[0], off[0], on[1])\n"
)


def project_index_cost(py: str, files: list[str]) -> dict:
    out = subprocess.run([py, "-c", PROJECT_INDEX_COST, *files], capture_output=True, text=True, check=True)
    on, off, read = out.stdout.split()
    return {"on": float(on), "off": float(off), "files": int(read)}


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


def measure(cmd: list[str], repeat: int, cwd=None, env=None, warmup: bool = True, ok=(0, 1),
            timeout: float = None) -> dict:
    """Median CPU seconds, wall seconds and peak RSS (MiB) of a whole child process, after one
    unmeasured warm-up run (byte-code compiled, files in the page cache)."""
    env = dict(BASE_ENV, **(env or {}))
    if warmup:
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env)
    cpu, wall, rss = [], [], []
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd, env=env)
        if timeout is not None:
            try:
                proc.wait(timeout)  # the child stays a zombie until wait4 below collects its usage
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall.append(time.perf_counter() - start)
        cpu.append(usage.ru_utime + usage.ru_stime)
        rss.append(usage.ru_maxrss / 1024)
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            raise RuntimeError(f"{cmd[:3]}... exited {code}")
    return {"cpu": statistics.median(cpu), "wall": statistics.median(wall), "rss": statistics.median(rss)}


def corpus_sets(quick: bool) -> dict[str, list[str]]:
    models = corpus_check.fetch("transformers") / "transformers" / "models"
    sets = {"four folders (bert, gpt2, llama, t5)": [str(p) for d in FOUR for p in sorted((models / d).rglob("*.py"))]}
    if not quick:
        sets["transformers models/"] = [str(p) for p in sorted(models.rglob("*.py"))]
        sets["timm 1.0.31"] = [str(p) for p in sorted((corpus_check.fetch("timm") / "timm").rglob("*.py"))]
    return sets


PATHOLOGICAL = {
    # issue 14: each must lint in at most 3x its own parse, or be refused by the guard with one line
    "one class, 50,000 self.x = [...] lines": lambda: (
        "import torch.nn as nn\n\n\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        + "".join(f"        self.l{i} = [nn.Linear({i}, 2)]\n" for i in range(50000))),
    "x = a + a + ... (5,000 terms)": lambda: "import torch\nx = " + " + ".join(["torch.zeros(1)"] * 5000) + "\n",
    "1,000 nested calls": lambda: "import torch\nx = " + "torch.f(" * 1000 + "1" + ")" * 1000 + "\n",
}


def pathological(py: str, cache_off: list[str], parse_timeout: float = 120) -> list[tuple[str, dict, str, str]]:
    """(name, torchlint measurement, its first output line, libcst parse CPU or why not) per file."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, make in PATHOLOGICAL.items():
            path = pathlib.Path(tmp) / "p.py"
            path.write_text(make())
            cmd = [py, "-m", "torchlint", "-j1", "--isolated", *cache_off, str(path)]
            m = measure(cmd, 1, warmup=False, ok=(0, 1, 2))
            first = subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[:1]
            line = first[0].split(": ", 1)[1][:90] if first else ""
            if line.startswith(("TL001", "TL002", "TL003")):
                parse = "not parsed (refused)"
            else:
                try:
                    parse = "%.2f" % measure([py, "-c", PARSE_LOOP, str(path)], 1, warmup=False,
                                             timeout=parse_timeout)["cpu"]
                except subprocess.TimeoutExpired:
                    parse = f"> {parse_timeout:.0f}"
            rows.append((name, m, line, parse))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (four folders, single file)")
    parser.add_argument("--repeat-large", type=int, default=1,
                        help="runs per measurement on the large corpora (all of transformers' models/, timm)")
    parser.add_argument("--quick", action="store_true", help="four-folder set only, one repetition")
    parser.add_argument("--no-torchfix", action="store_true")
    parser.add_argument("--markdown", default=None, help="also write the report to this file")
    parser.add_argument("--server-only", action="store_true",
                        help="only the language server's didChange -> publishDiagnostics latency")
    args = parser.parse_args(argv)
    if args.server_only:
        print(render_server_latency(server_latency()))
        return 0
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
        index = project_index_cost(py, files)
        ratios.append((label, f"1b. project index CPU / parse loop CPU (sibling files read: {index['files']}; "
                       "included in 1)", max(index["on"] - index["off"], 0.0) / parse["cpu"]))
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

    patho = pathological(py, cache_off)
    latency = server_latency()
    ratios.append(("language server", "8. didChange -> publishDiagnostics, 2,000-line model file, median ms "
                   "(target <= 150)", latency["median_ms"]))

    runs = (f"{1 if args.quick else args.repeat} (four folders, single file), "
            f"{1 if args.quick else args.repeat_large} (large corpora)")
    report = render(rows, single, ratios, runs, patho)
    print(report)
    if args.markdown:
        pathlib.Path(args.markdown).write_text(report)
    return 0


def model_file(n_lines: int = 2000) -> str:
    """A plausible model file of ``n_lines`` lines: Module classes with layers, a forward and a training
    loop, one TL101 finding per block (so every lint also computes positions and fixes)."""
    head = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
    block = (
        "class Block{i}(nn.Module):\n"
        "    def __init__(self, dim=64, depth=4):\n"
        "        super().__init__()\n"
        "        self.norm = nn.LayerNorm(dim)\n"
        "        self.proj = nn.Linear(dim, dim * 4)\n"
        "        self.out = nn.Linear(dim * 4, dim)\n"
        "        self.heads = [nn.Linear(dim, dim) for _ in range(depth)]\n"
        "        self.scale = dim ** -0.5\n"
        "\n"
        "    def forward(self, x):\n"
        "        h = self.norm(x)\n"
        "        h = F.gelu(self.proj(h))\n"
        "        h = self.out(h) * self.scale\n"
        "        for head in self.heads:\n"
        "            h = h + head(h)\n"
        "        return x + F.dropout(h, 0.1, training=self.training)\n"
        "\n"
        "\n"
        "def train_block{i}(model, batches, lr=1e-3):\n"
        "    opt = torch.optim.SGD(model.parameters(), lr=lr)\n"
        "    total = 0.0\n"
        "    for x, y in batches:\n"
        "        opt.zero_grad()\n"
        "        loss = F.mse_loss(model(x), y)\n"
        "        loss.backward()\n"
        "        opt.step()\n"
        "        total += loss.item()\n"
        "    return total\n"
        "\n"
        "\n"
    )
    parts, lines, i = [head], head.count("\n"), 0
    while lines < n_lines:
        text = block.format(i=i)
        parts.append(text)
        lines += text.count("\n")
        i += 1
    return "".join(parts)


def server_latency(n_lines: int = 2000, edits: int = 20) -> dict:
    """Time from a ``textDocument/didChange`` to the ``publishDiagnostics`` for that version, through the
    real server over stdio (pygls's client), after the first lint; the median and maximum of ``edits``
    changes, each one keystroke-sized edit followed by a pause longer than the server's debounce."""
    import asyncio

    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    text = model_file(n_lines)
    times: list[float] = []
    counts: list[int] = []
    cpu: list[float] = []  # the server process's CPU seconds per change (less sensitive to a busy machine)

    def server_cpu(pid: int) -> float:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return float("nan")

    async def run() -> None:
        client = LanguageClient("bench", "1")
        arrived: dict[int, float] = {}
        event = asyncio.Event()

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(params):
            arrived[params.version] = time.perf_counter()
            counts.append(len(params.diagnostics))
            event.set()

        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with tempfile.TemporaryDirectory() as tmp:
            await client.start_io(sys.executable, "-m", "torchlint", "server", env=env, cwd=tmp)
            await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities(),
                                                                 root_uri=pathlib.Path(tmp).as_uri()))
            client.initialized(types.InitializedParams())
            uri = (pathlib.Path(tmp) / "model.py").as_uri()
            client.text_document_did_open(types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
            while 1 not in arrived:
                event.clear()
                await asyncio.wait_for(event.wait(), 120)
            for k in range(edits):
                version = k + 2
                # type one character on the blank line 4 (a comment grows), as a user would
                change = types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(line=3, character=k), end=types.Position(line=3, character=k)),
                    text="#" if k == 0 else "x")
                pid = client._server.pid
                cpu_start = server_cpu(pid)
                start = time.perf_counter()
                client.text_document_did_change(types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[change]))
                while version not in arrived:
                    event.clear()
                    await asyncio.wait_for(event.wait(), 60)
                times.append(arrived[version] - start)
                cpu.append(server_cpu(pid) - cpu_start)
                await asyncio.sleep(0.2)
            await client.shutdown_async(None)
            client.exit(None)
            await client.stop()

    asyncio.run(run())
    if len(set(counts)) != 1 or not counts[0]:
        raise RuntimeError(f"the edits were meant to keep every finding: {counts}")
    return {"lines": text.count("\n"), "edits": edits, "findings": counts[0],
            "median_ms": statistics.median(times) * 1000,
            "max_ms": max(times) * 1000, "min_ms": min(times) * 1000, "cpu_ms": statistics.median(cpu) * 1000,
            "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")}


def render_server_latency(m: dict) -> str:
    return (f"language server: didChange -> publishDiagnostics on a {m['lines']}-line model file "
            f"({m['findings']} findings), {m['edits']} edits "
            f"after the first lint: median {m['median_ms']:.0f} ms, min {m['min_ms']:.0f} ms, max {m['max_ms']:.0f} ms "
            f"(edits 200 ms apart, so each is linted at once; faster bursts wait for a {_debounce_ms()} ms pause; "
            f"target <= 150 ms); server CPU per change: median "
            f"{m['cpu_ms']:.0f} ms; load average {m['load']:.1f} on {os.cpu_count()} CPUs")


def _debounce_ms() -> int:
    sys.path.insert(0, str(ROOT))
    from torchlint.server import DEBOUNCE_SECONDS

    return round(DEBOUNCE_SECONDS * 1000)


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


def render(rows, single, ratios, repeat, patho=()) -> str:
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
    if patho:
        lines += ["", "### pathological files (issue 14: <= 3x their own parse, or refused with one line)", "",
                  "| file | torchlint CPU s | wall s | peak MiB | libcst parse CPU s | first line |",
                  "| --- | ---: | ---: | ---: | ---: | --- |"]
        for name, m, line, parse in patho:
            lines.append(f"| {name} | {m['cpu']:.2f} | {m['wall']:.2f} | {m['rss']:.0f} | {parse} | "
                         f"{line.replace('|', '/')} |")
    lines += ["", "### targets", "", "| corpus | ratio | measured |", "| --- | --- | ---: |"]
    for label, what, value in ratios:
        lines.append(f"| {label} | {what} | {value:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
