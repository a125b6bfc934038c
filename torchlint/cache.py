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


def settings_digest(codes: Sequence[str], extra: str = "") -> str:
    text = f"{__version__}|{_code_stamp()}|{FORMAT}|{','.join(sorted(codes))}|{extra}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Cache:
    def __init__(self, root: str, settings: str) -> None:
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
        except (OSError, ValueError):
            return None
        if not isinstance(entry, dict) or entry.get("key") != key or not isinstance(entry.get("diagnostics"), list):
            return None
        return entry["diagnostics"]

    def store(self, key: str, diagnostics: list[dict]) -> None:
        path = self._path(key)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if not self._made:
                _write_gitignore(os.path.dirname(os.path.dirname(self.folder)))
                self._made = True
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"key": key, "diagnostics": diagnostics}, handle)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written is only slower


def _write_gitignore(root: str) -> None:
    path = os.path.join(root, ".gitignore")
    if not os.path.exists(path):
        try:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write("# created by torchlint\n*\n")
        except OSError:
            pass
