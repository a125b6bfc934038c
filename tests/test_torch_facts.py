"""The generated torch facts table matches the installed torch (regenerated in memory)."""
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_table_is_current():
    pytest.importorskip("torch", reason="torch is not installed: cannot regenerate torch_facts (pip install torch==2.13.0)")
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import gen_torch_facts
    finally:
        sys.path.pop(0)
    committed = (ROOT / "torchlint" / "torch_facts.py").read_text(encoding="utf-8")
    assert gen_torch_facts.build() == committed, "run: python tools/gen_torch_facts.py"


def test_known_facts():
    from torchlint import torch_facts as t

    assert "torch.nn.Linear" in t.MODULES_WITH_PARAMETERS
    assert "torch.nn.ReLU" in t.MODULES_WITHOUT_PARAMETERS
    assert "zeros" in t.TENSOR_FACTORIES and "tril" in t.TENSOR_FUNCTIONS
    assert "uniform_" in t.INPLACE_METHODS and "normal" in t.DEPRECATED_INIT_ALIASES


def test_lint_time_never_imports_torch():
    import subprocess

    code = ("import sys, torchlint.flake8_plugin, torchlint.cli, torchlint.engine; from torchlint.rules import all_rules;"
            "from torchlint.engine import lint_source; all_rules();"
            "lint_source('import torch\\nclass M(torch.nn.Module):\\n    pass\\n', 'x.py');"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
