"""Finding the files to lint."""
from __future__ import annotations

import fnmatch
import os
from typing import Callable, Iterable, Iterator, Optional, Sequence

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".bzr", "__pycache__", ".venv", "venv", ".env", ".tox", ".nox", ".eggs", "*.egg-info",
    "build", "dist", "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".torchlint_cache",
    "site-packages", "__pypackages__", ".ipynb_checkpoints",  # Jupyter's autosave copies of notebooks
)
PYTHON_SUFFIXES = (".py", ".pyi", ".ipynb")  # .ipynb: Jupyter notebooks (torchlint/notebook.py)


def is_excluded(path: str, patterns: Sequence[str]) -> bool:
    name = os.path.basename(path.rstrip(os.sep)) or path
    norm = path.replace(os.sep, "/")
    for pattern in patterns:
        if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(norm, pattern) or fnmatch.fnmatch(norm, f"*/{pattern}"):
            return True
    return False


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


class PathFilter:
    """Exclusion for one run: the default (or configured ``exclude``) patterns plus ``extend-exclude``.
    Configured patterns are matched relative to the configuration's folder (see config.glob_match).
    Directory walks apply every pattern; files named on the command line (and ``--stdin-filename``) are
    skipped only when a *configured* pattern matches them or one of their folders, as with flake8 and
    ruff's ``--force-exclude``, so a pre-commit hook or an editor respects the project's excludes."""

    def __init__(self, exclude: Optional[Sequence[str]] = None, extend_exclude: Sequence[str] = (),
                 root: Optional[str] = None) -> None:
        self.root = root or os.getcwd()
        self.defaults = tuple(DEFAULT_EXCLUDE) if exclude is None else ()
        self.configured = tuple(exclude or ()) + tuple(extend_exclude)

    def _configured_match(self, path: str) -> bool:
        if not self.configured:
            return False
        from .config import glob_match

        return any(glob_match(path, pattern, self.root) for pattern in self.configured)

    def walk_excludes(self, path: str) -> bool:
        return is_excluded(path, self.defaults) or self._configured_match(path)

    def explicit_excludes(self, path: str) -> bool:
        if not self.configured:
            return False
        probe = os.path.abspath(path)
        while True:
            if self._configured_match(probe):
                return True
            parent = os.path.dirname(probe)
            if parent == probe or os.path.abspath(parent) == os.path.dirname(self.root):
                return False
            probe = parent


def discover(paths: Iterable[str], exclude: Sequence[str] = DEFAULT_EXCLUDE,
             path_filter: Optional[PathFilter] = None) -> Iterator[tuple[str, bool]]:
    """Yield (file path, named explicitly). Directories are walked for ``*.py``/``*.pyi`` files, skipping
    excluded folders and virtual environments; explicitly named files are yielded unless a configured
    exclude pattern matches them."""
    if path_filter is None:
        path_filter = PathFilter(list(exclude))
        path_filter.defaults, path_filter.configured = tuple(exclude), ()
    walk_excluded: Callable[[str], bool] = path_filter.walk_excludes
    for path in paths:
        if path != "-" and os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not walk_excluded(os.path.join(root, d))
                                 and not _is_virtualenv(os.path.join(root, d)))
                for filename in sorted(files):
                    full = os.path.join(root, filename)
                    if filename.endswith(PYTHON_SUFFIXES) and not walk_excluded(full):
                        yield full, False
        elif path == "-" or not path_filter.explicit_excludes(path):
            yield path, True
