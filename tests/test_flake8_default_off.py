"""Default-off rules under flake8: ``--select TL`` (a prefix) keeps them off, naming the full code runs
them; the plugin stays cheap to import. Uses a temporary default-off rule so the test does not depend on
which rules ship default-off."""
import subprocess
import sys

import libcst as cst
import pytest
from flake8.main import cli as flake8_cli

import torchlint.rules
from torchlint.rule import Rule

SOURCE = "import torch\n"


class TemporaryOffRule(Rule):
    """## What it does\nx\n## Why is this bad?\nx\n## Example\nx\n## Use instead\nx\n## Fix safety\nx"""

    code = "TL998"
    name = "temporary-default-off"
    message = "temporary default-off rule fired"
    default_enabled = False

    def visit_Import(self, node: cst.Import) -> None:
        self.report(node)


@pytest.fixture
def with_off_rule(monkeypatch):
    real = torchlint.rules.all_rules()
    monkeypatch.setattr(torchlint.rules, "all_rules", lambda: (*real, TemporaryOffRule))
    monkeypatch.setattr(torchlint.rules, "CATALOG", (*torchlint.rules.CATALOG, ("TL998", False)))


def run_flake8(tmp_path, capsys, *args):
    target = tmp_path / "m.py"
    target.write_text(SOURCE)
    code = flake8_cli.main(["--isolated", "--jobs", "1", *args, str(target)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("args, fires", [
    ((), False),
    (("--select", "TL"), False),
    (("--select", "TL9"), False),
    (("--select", "TL,E"), False),
    (("--select", "TL998"), True),
    (("--select", "E", "--extend-select", "TL998"), True),
    (("--select", "TL998", "--ignore", "TL998"), False),
])
def test_default_off_rule_under_flake8(with_off_rule, tmp_path, capsys, args, fires):
    code, out = run_flake8(tmp_path, capsys, *args)
    assert ("TL998 temporary default-off rule fired" in out) is fires, out
    assert code == (1 if fires else 0) or "TL998" not in out


def test_default_off_rule_is_off_on_the_command_line(with_off_rule):
    from torchlint.rules import select_rules

    # the same contract as the CLI's own selection (torchlint.rules.select_rules)
    assert TemporaryOffRule not in select_rules(["TL"])
    assert TemporaryOffRule not in select_rules(["TL9"])
    assert TemporaryOffRule in select_rules(["TL998"])
    assert TemporaryOffRule in select_rules(["ALL"])


def test_importing_the_plugin_is_cheap():
    code = ("import sys, torchlint.flake8_plugin; "
            "bad = [m for m in ('libcst', 'torchlint.engine', 'torchlint.rules') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


class TemporaryBrokenRule(TemporaryOffRule):
    code = "TL997"
    name = "temporary-broken"
    default_enabled = True

    def visit_Import(self, node: cst.Import) -> None:
        raise ZeroDivisionError("boom")


def test_a_broken_rule_is_reported_not_a_traceback(monkeypatch, tmp_path, capsys):
    real = torchlint.rules.all_rules()
    monkeypatch.setattr(torchlint.rules, "all_rules", lambda: (*real, TemporaryBrokenRule))
    code, out = run_flake8(tmp_path, capsys, "--select", "TL")
    assert code == 1 and "TL003 rule TL997 (temporary-broken) failed here: ZeroDivisionError: boom" in out
