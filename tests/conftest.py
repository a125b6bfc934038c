import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

try:
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:  # pragma: no cover - CI installs torch
    HAVE_TORCH = False


def pytest_report_header(config):
    if not HAVE_TORCH:
        return ["WARNING: torch is not installed: every runtime proof of a rule is SKIPPED. "
                "Install it with: pip install torch==2.13.0"]
    return [f"torch {torch.__version__}: runtime proofs enabled"]


def pytest_terminal_summary(terminalreporter):
    if not HAVE_TORCH:
        terminalreporter.write_line("WARNING: runtime proofs were skipped because torch is not installed",
                                    red=True, bold=True)


@pytest.fixture
def torch_module():
    if not HAVE_TORCH:
        pytest.skip("torch is not installed: runtime proof skipped (pip install torch==2.13.0)")
    import torch

    torch.manual_seed(0)
    return torch
