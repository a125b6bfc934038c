"""Result cache for the command line: one small JSON file per (file content, torchlint version, rules).

Entries are content-addressed (sha256 of the file's bytes plus the version and the rule set), so a
changed file or setting simply misses; an unreadable, truncated or garbage entry is ignored and rebuilt.
Writes go to a temporary file that is renamed into place, so concurrent processes sharing the folder
never see half an entry.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from typing import Optional, Sequence

from . import __version__

FORMAT = 1
DEFAULT_DIR = ".torchlint_cache"


def cache_root(start: str = ".") -> str:
    """``$TORCHLINT_CACHE_DIR``, else ``.torchlint_cache`` next to the nearest pyproject.toml, else in cwd."""
    env = os.environ.get("TORCHLINT_CACHE_DIR")
    if env:
        return env
    here = os.path.abspath(start if os.path.isdir(start) else os.path.dirname(start) or ".")
    probe = here
    while True:
        if os.path.isfile(os.path.join(probe, "pyproject.toml")):
            return os.path.join(probe, DEFAULT_DIR)
        parent = os.path.dirname(probe)
        if parent == probe:
            return os.path.join(os.getcwd(), DEFAULT_DIR)
        probe = parent


_CODE_STAMP: Optional[str] = None


def _code_stamp() -> str:
    """Size and mtime of every torchlint source file: an edited rule (in a development install, where the
    version does not change) never meets results of its old self."""
    global _CODE_STAMP
    if _CODE_STAMP is None:
        package = os.path.dirname(os.path.abspath(__file__))
        parts = []
        for folder, _dirs, files in os.walk(package):
            for name in sorted(files):
                if name.endswith(".py"):
                    st = os.stat(os.path.join(folder, name))
                    parts.append(f"{os.path.relpath(os.path.join(folder, name), package)}:{st.st_size}:{st.st_mtime_ns}")
        _CODE_STAMP = hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]
    return _CODE_STAMP


def _interpreter() -> str:
    """The interpreter's name and version: syntax errors, CPython's messages and what parses differ by version."""
    return f"{sys.implementation.name}-{'.'.join(map(str, sys.version_info[:3]))}"


def settings_digest(codes: Sequence[str], extra: str = "") -> str:
    text = f"{__version__}|{_interpreter()}|{_code_stamp()}|{FORMAT}|{','.join(sorted(codes))}|{extra}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Cache:
    def __init__(self, root: str, settings: str) -> None:
        self.root = root
        self.folder = os.path.join(root, f"v{FORMAT}", settings)
        self._made = False

    @staticmethod
    def key(data: bytes) -> str:
        return hashlib.sha256(data).hexdigest()

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, key[:2], key + ".json")

    def load(self, key: str) -> Optional[list[dict]]:
        try:
            with open(self._path(key), "rb") as handle:
                entry = json.loads(handle.read())
        except (OSError, ValueError, RecursionError, MemoryError):  # unreadable, garbage, or absurdly nested
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("diagnostics"), list):
            return None
        diagnostics = entry["diagnostics"]
        if not all(_valid(d) for d in diagnostics):
            return None  # damaged or from another format: a miss, rebuilt by the next store
        if not _dependencies_unchanged(entry.get("dependencies", {})):
            return None  # a sibling file whose classes or helpers the result used has changed
        return diagnostics

    def store(self, key: str, diagnostics: list[dict], dependencies: Optional[dict] = None) -> None:
        path = self._path(key)
        try:
            if not self._made:
                _make_root(self.root)
                self._made = True
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"key": key, "diagnostics": diagnostics,
                           "dependencies": {p: list(v) for p, v in (dependencies or {}).items()}}, handle)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written is only slower


_FIELDS = (("code", str), ("message", str), ("line", int), ("col", int), ("end_line", int), ("end_col", int))


def _valid(d) -> bool:
    """A cached diagnostic has every field the reporters read, with the right type."""
    if not isinstance(d, dict):
        return False
    for name, kind in _FIELDS:
        value = d.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            return False
    if not isinstance(d.get("name", ""), str):
        return False
    fix = d.get("fix")
    if fix is not None and not (isinstance(fix, dict) and isinstance(fix.get("applicability"), str)):
        return False
    return True


def _make_root(root: str) -> None:
    """Create the cache folder. Only a folder torchlint creates itself gets a ``.gitignore`` (``*``): a
    folder that already exists (``--cache-dir .``, a folder of the user's) is never given one, since it
    would hide the user's own files from git."""
    if os.path.isdir(root):
        return
    os.makedirs(root, exist_ok=True)
    try:
        with open(os.path.join(root, ".gitignore"), "x", encoding="utf-8") as handle:
            handle.write("# created by torchlint\n*\n")
    except OSError:
        pass


def _dependencies_unchanged(dependencies) -> bool:
    """Every sibling file the entry's result read still has the size and modification time it had then."""
    if not isinstance(dependencies, dict):
        return False
    for path, stamp in dependencies.items():
        try:
            st = os.stat(path)
        except (OSError, TypeError, ValueError):
            return False
        if not (isinstance(stamp, list) and len(stamp) == 2 and [st.st_size, st.st_mtime_ns] == stamp):
            return False
    return True
