"""Issue 14 in-process: the guard, worker isolation (a dying or hanging worker costs one file one line),
a failing rule (one TL003, the file's other findings kept), TL211 on a subscripted callee, honest summaries."""
from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time

import libcst as cst
import pytest

from torchlint import guard, runner
from torchlint.engine import lint_source
from torchlint.rule import Rule
from torchlint.rules import all_rules

TL101_FILE = ("import torch.nn as nn\n\n\nclass {name}(nn.Module):\n    def __init__(self):\n"
              "        super().__init__()\n        self.l = [nn.Linear(2, 2)]\n")
FORK = sys.platform != "win32" and "fork" in __import__("multiprocessing").get_all_start_methods()


# --------------------------------------------------------------------------------- the guard
def test_guard_passes_ordinary_code():
    text = TL101_FILE.format(name="A") + "x = a.b.c(d)[e] + f ** -g if h else (lambda: not i)()\n"
    assert guard.check(text, "x.py") is None
    assert guard.check(text, "x.py", python=False) is None


@pytest.mark.parametrize("make", [
    lambda n: "x = " + " + ".join(["a"] * n) + "\n",
    lambda n: "x = a" + ".b" * n + "\n",
    lambda n: "x = " + "-" * n + "1\n",
    lambda n: "x = a" + "[0]" * n + "\n",
    lambda n: "x = a" + "()" * n + "\n",
    lambda n: "x = " + "lambda: " * n + "1\n",
    lambda n: "x = " + "a if b else " * n + "c\n",
    lambda n: "x = (a\n" + " + a\n" * n + ")\n",
], ids=["sum", "attributes", "unary", "subscripts", "calls", "lambdas", "conditionals", "multiline sum"])
def test_guard_bounds_every_kind_of_deep_expression(make):
    shallow, deep = make(guard.MAX_DEPTH // 3), make(guard.MAX_DEPTH + 100)
    assert guard.check(shallow, "x.py") is None
    assert guard.deepest_expression(shallow) <= guard.MAX_DEPTH
    for python in (True, False):
        rejected = guard.check(deep, "x.py", python=python)
        assert rejected is not None and rejected.line == 1, python
        assert "too deeply" in rejected.message or "too complex" in rejected.message
    assert guard.deepest_expression(deep) > guard.MAX_DEPTH


def test_guard_scan_ignores_wide_flat_code():
    flat = "x = [" + ", ".join(f"a.b{i} + c" for i in range(5000)) + "]\n"
    flat += "y = {" + ", ".join(f"'k{i}': f(g(h))" for i in range(5000)) + "}\n"
    flat += "z = a and " + " and ".join(["b"] * 3000) + "\n"
    assert guard.deepest_expression(flat) < 10
    assert guard.check(flat, "x.py", python=False) is None


def test_guard_uses_cpythons_words_and_position():
    rejected = guard.check("import torch\ndef f(a, a):\n    pass\n", "x.py")
    assert rejected.message.startswith("syntax error: duplicate argument 'a' in function definition (Python ")
    assert rejected.line == 2
    rejected = guard.check("import torch\nx = 'ab\0c'\n", "x.py")
    assert (rejected.line, rejected.col) == (2, 7) and "null bytes" in rejected.message


def test_guard_compiles_at_its_own_recursion_limit():
    before = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)
    try:
        # at a high limit CPython <= 3.11 would let its compiler recurse past the C stack: the guard lowers it
        assert guard.check("x = " + "-" * 9000 + "1\n", "x.py") is not None
        assert sys.getrecursionlimit() == 20000
    finally:
        sys.setrecursionlimit(before)


def test_file_without_trigger_words_is_still_syntax_checked():
    result = lint_source("def f(:\n    pass\n", "x.py", all_rules())
    assert result.error is not None and result.error.code == "TL001" and result.error.line == 1


def test_flake8_path_skips_the_compile_but_keeps_the_bound():
    # flake8 runs plugins only on files CPython parsed: an invalid file there is the caller's business
    assert lint_source("import torch\nbreak\n", "x.py", all_rules(), python_checked=True).error is None
    deep = lint_source("import torch\nx = a" + ".b" * 2000 + "\n", "x.py", all_rules(), python_checked=True)
    assert deep.error is not None and deep.error.code == "TL001"


# --------------------------------------------------------------------------------- worker isolation
def _jobs(tmp_path, names):
    for i, name in enumerate(names):
        (tmp_path / name).write_text(TL101_FILE.format(name=f"M{i}"))
    return [(str(tmp_path / n), n) for n in names]


@pytest.mark.skipif(not FORK, reason="the test patches the worker through fork")
@pytest.mark.parametrize("processes, n", [(1, 3), (2, 10)])
def test_a_worker_killed_by_a_signal_costs_one_line(tmp_path, monkeypatch, processes, n):
    real = runner._lint_job

    def crashing(path, display, options, data, mtime):
        if display == "crash.py":
            faulthandler.disable()  # pytest's dump of the dying worker's stack is noise here
            os.kill(os.getpid(), signal.SIGSEGV)
        return real(path, display, options, data, mtime)

    monkeypatch.setattr(runner, "_lint_job", crashing)
    names = [f"m{i}.py" for i in range(n)]
    jobs = _jobs(tmp_path, ["crash.py"] + names)
    reports = runner.run_files(jobs, runner.Options(("TL101",)), processes)
    assert [r.path for r in reports] == ["crash.py"] + names
    crash = reports[0]
    assert crash.fatal and [d["code"] for d in crash.diagnostics] == ["TL003"]
    assert "died (SIGSEGV)" in crash.diagnostics[0]["message"]
    for report in reports[1:]:
        assert [d["code"] for d in report.diagnostics] == ["TL101"] and not report.fatal


@pytest.mark.skipif(not FORK, reason="the test patches the worker through fork")
def test_a_file_over_the_time_limit_costs_one_line(tmp_path, monkeypatch):
    real = runner._lint_job

    def slow(path, display, options, data, mtime):
        if display == "slow.py":
            time.sleep(600)
        return real(path, display, options, data, mtime)

    monkeypatch.setattr(runner, "_lint_job", slow)
    jobs = _jobs(tmp_path, ["slow.py", "a.py", "b.py"])
    options = runner.Options(("TL101",), file_timeout=1.0)
    start = time.monotonic()
    reports = runner.run_files(jobs, options, 1)
    assert time.monotonic() - start < 60
    assert "took longer than 1 s (--file-timeout)" in reports[0].diagnostics[0]["message"]
    assert reports[0].fatal and reports[0].diagnostics[0]["code"] == "TL003"
    assert [d["code"] for r in reports[1:] for d in r.diagnostics] == ["TL101", "TL101"]


def test_without_processes_files_are_linted_here(tmp_path, monkeypatch):
    def no_pool(*args):
        raise OSError("no processes")

    monkeypatch.setattr(runner, "_run_pool", no_pool)
    reports = runner.run_files(_jobs(tmp_path, ["a.py"]), runner.Options(("TL101",)), 1)
    assert [d["code"] for d in reports[0].diagnostics] == ["TL101"]


# --------------------------------------------------------------------------------- failing rules
class _Exploding(Rule):
    code = "TL998"
    name = "exploding"
    message = "never"
    triggers = ()

    def visit_Call(self, node: cst.Call) -> None:
        raise ValueError("boom")


def test_a_failing_rule_costs_itself_and_keeps_the_other_findings():
    rules = [r for r in all_rules() if r.code == "TL101"] + [_Exploding]
    source = TL101_FILE.format(name="A") + "        self.m = [nn.Linear(3, 3)]\n"
    result = lint_source(source, "x.py", rules)
    assert result.error is None
    codes = [f.code for f in result.findings]
    assert codes.count("TL003") == 1 and codes.count("TL101") == 2
    [failure] = [f for f in result.findings if f.code == "TL003"]
    assert "rule TL998 (exploding) failed here: ValueError: boom" in failure.message and failure.line == 6


def test_a_failing_rule_makes_the_report_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "_rules_for", lambda codes: [r for r in all_rules() if r.code == "TL101"]
                        + [_Exploding])
    (tmp_path / "m.py").write_text(TL101_FILE.format(name="A"))
    report = runner.lint_one(str(tmp_path / "m.py"), "m.py", runner.Options(("TL101",)))
    assert report.fatal and sorted(d["code"] for d in report.diagnostics) == ["TL003", "TL101"]


def test_tl211_with_a_subscripted_callee():
    source = ("import torch\nimport torchvision.models as models\n\n\ndef train(args, loader, model):\n"
              "    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\n    best = model.state_dict()\n"
              "    for x in loader:\n        loss = models.__dict__[args.model](x).sum()\n        loss.backward()\n"
              "        optimizer.step()\n    model.load_state_dict(best)\n")
    result = lint_source(source, "x.py", [r for r in all_rules() if r.code == "TL211"])
    assert result.error is None
    assert [(f.code, f.line) for f in result.findings] == [("TL211", 7)]


# --------------------------------------------------------------------------------- summaries
def _d(code, path="a.py", fix=None):
    return {"code": code, "path": path, "fix": fix}


def test_summary_names_errors_and_never_says_all_passed():
    line = runner.summary_line([_d("TL101"), _d("TL102", "b.py")], 3, 0, False, False,
                               errors=[_d("TL003", "c.py")])
    assert line == "Found 2 findings and 1 error in 3 files."
    assert runner.summary_line([], 1, 0, False, False, errors=[_d("TL002")]) == "Found 1 error in 1 file."
    assert "All checks passed" in runner.summary_line([], 2, 0, False, False)
    assert runner.summary_line([], 1, 0, False, False, diff=True, errors=[_d("TL002")]) == \
        "No fixes available. Found 1 error in 1 file."
    assert runner.summary_line([], 1, 2, False, True, errors=[_d("TL002")]) == \
        "Fixed 2 findings. Found 1 error in 1 file."
