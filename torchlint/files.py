"""Finding the files to lint."""
from __future__ import annotations

import fnmatch
import os
from typing import Iterable, Iterator, Sequence

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".bzr", "__pycache__", ".venv", "venv", ".env", ".tox", ".nox", ".eggs", "*.egg-info",
    "build", "dist", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".torchlint_cache",
    "site-packages", "__pypackages__",
)
PYTHON_SUFFIXES = (".py", ".pyi")


def is_excluded(path: str, patterns: Sequence[str]) -> bool:
    name = os.path.basename(path.rstrip(os.sep)) or path
    norm = path.replace(os.sep, "/")
    for pattern in patterns:
        if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(norm, pattern) or fnmatch.fnmatch(norm, f"*/{pattern}"):
            return True
    return False


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def discover(paths: Iterable[str], exclude: Sequence[str] = DEFAULT_EXCLUDE) -> Iterator[tuple[str, bool]]:
    """Yield (file path, named explicitly). Directories are walked for ``*.py``/``*.pyi`` files, skipping
    excluded folders and virtual environments; explicitly named files are always yielded."""
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not is_excluded(os.path.join(root, d), exclude)
                                 and not _is_virtualenv(os.path.join(root, d)))
                for filename in sorted(files):
                    full = os.path.join(root, filename)
                    if filename.endswith(PYTHON_SUFFIXES) and not is_excluded(full, exclude):
                        yield full, False
        else:
            yield path, True
