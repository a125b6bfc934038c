"""``[tool.torchlint]`` configuration: finding it, reading it, validating it, and merging it with the
command line the way ruff does.

Keys (kebab-case, as in ruff): ``select``, ``extend-select``, ``ignore``, ``per-file-ignores``,
``exclude``, ``extend-exclude``. The configuration comes from the nearest ``pyproject.toml`` with a
``[tool.torchlint]`` table, found by walking up from the first path (``--config FILE`` names one,
``--isolated`` ignores every file). Glob patterns are relative to the folder holding the file.
"""
from __future__ import annotations

import fnmatch
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

KNOWN_KEYS = ("select", "extend-select", "ignore", "per-file-ignores", "exclude", "extend-exclude", "file-timeout",
              "max-file-size")


class ConfigError(Exception):
    """A configuration problem the user must fix (exit code 2, no traceback)."""


@dataclass
class Config:
    path: Optional[str] = None  # the file the settings came from (None: defaults only)
    root: str = field(default_factory=os.getcwd)  # patterns are relative to this folder
    select: Optional[list[str]] = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: list[tuple[str, list[str]]] = field(default_factory=list)
    exclude: Optional[list[str]] = None
    extend_exclude: list[str] = field(default_factory=list)
    file_timeout: Optional[float] = None  # seconds one file may take (0: no limit); None: the default
    max_file_size: Optional[int] = None  # bytes (0: no limit); None: the default


def parse_size(value: Any, where: str) -> int:
    """A size in bytes: an integer, or a string with a K/M/G suffix ("512K", "2M"); 0 means no limit."""
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a size in bytes such as 1048576 or \"1M\", not {value!r}")
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str):
        text = value.strip().upper().removesuffix("B")
        scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(text[-1:], 1)
        number = text[:-1] if scale > 1 else text
        try:
            size = float(number)
        except ValueError:
            size = -1.0
        if size >= 0:
            return int(size * scale)
    raise ConfigError(f"{where} must be a size in bytes such as 1048576 or \"1M\", not {value!r}")


def parse_timeout(value: Any, where: str) -> float:
    """Seconds (a number >= 0; 0 means no limit)."""
    if not isinstance(value, bool) and isinstance(value, (int, float)) and value >= 0:
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip().lower().removesuffix("s"))
        except ValueError:
            number = -1.0
        if number >= 0:
            return number
    raise ConfigError(f"{where} must be a number of seconds >= 0 (0: no limit), not {value!r}")


# ---------------------------------------------------------------------------------------- reading
def load_toml(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8: {exc.reason}") from None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _section(data: dict, path: str) -> Optional[dict]:
    """The torchlint table of a parsed file: ``[tool.torchlint]``; a file named other than
    pyproject.toml (e.g. ``torchlint.toml`` given with --config) may also hold the keys at top level."""
    tool = data.get("tool")
    if isinstance(tool, dict) and "torchlint" in tool:
        section = tool["torchlint"]
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [tool.torchlint] must be a table")
        return section
    if os.path.basename(path) != "pyproject.toml" and "tool" not in data:
        return data
    return None


def find_config(start: str) -> Optional[str]:
    """The nearest ``pyproject.toml`` with a ``[tool.torchlint]`` table, walking up from ``start``."""
    probe = os.path.abspath(start)
    if not os.path.isdir(probe):
        probe = os.path.dirname(probe)
    while True:
        candidate = os.path.join(probe, "pyproject.toml")
        if os.path.isfile(candidate) and _section(load_toml(candidate), candidate) is not None:
            return candidate
        parent = os.path.dirname(probe)
        if parent == probe:
            return None
        probe = parent


def _string_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings, e.g. [\"TL1\"], not {value!r}")
    return [v.strip() for v in value if v.strip()]


def _codes(value: Any, where: str) -> list[str]:
    from .rules import UnknownCode, validate_selectors

    codes = _string_list(value, where)
    try:
        validate_selectors(codes)
    except UnknownCode as exc:
        raise ConfigError(f"{where}: {exc} ('torchlint rules' lists the codes)") from None
    return codes


def read_config(path: str) -> Config:
    data = load_toml(path)
    section = _section(data, path)
    config = Config(path=os.path.abspath(path), root=os.path.dirname(os.path.abspath(path)))
    if section is None:
        return config
    where = f"{path}: [tool.torchlint]"
    unknown = sorted(set(section) - set(KNOWN_KEYS))
    if unknown:
        hint = ", ".join(KNOWN_KEYS)
        raise ConfigError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(repr(k) for k in unknown)} (known keys: {hint})")
    if "select" in section:
        config.select = _codes(section["select"], f"{where} select")
    if "extend-select" in section:
        config.extend_select = _codes(section["extend-select"], f"{where} extend-select")
    if "ignore" in section:
        config.ignore = _codes(section["ignore"], f"{where} ignore")
    if "per-file-ignores" in section:
        table = section["per-file-ignores"]
        if not isinstance(table, dict):
            raise ConfigError(f"{where} per-file-ignores must be a table of glob = [codes], "
                              f"e.g. {{\"tests/*\" = [\"TL101\"]}}")
        for pattern, codes in table.items():
            config.per_file_ignores.append((pattern, _codes(codes, f"{where} per-file-ignores {pattern!r}")))
    if "exclude" in section:
        config.exclude = _string_list(section["exclude"], f"{where} exclude")
    if "extend-exclude" in section:
        config.extend_exclude = _string_list(section["extend-exclude"], f"{where} extend-exclude")
    if "file-timeout" in section:
        config.file_timeout = parse_timeout(section["file-timeout"], f"{where} file-timeout")
    if "max-file-size" in section:
        config.max_file_size = parse_size(section["max-file-size"], f"{where} max-file-size")
    return config


def resolve_config(config_file: Optional[str], isolated: bool, first_path: Optional[str]) -> Config:
    """The configuration for this run (see the module docstring)."""
    if isolated and config_file:
        raise ConfigError("--config and --isolated cannot be used together")
    if isolated:
        return Config()
    if config_file:
        if not os.path.isfile(config_file):
            raise ConfigError(f"configuration file not found: {config_file}")
        return read_config(config_file)
    found = find_config(first_path or os.getcwd())
    return read_config(found) if found else Config()


# ---------------------------------------------------------------------------------------- selection
def selected_codes(config: Config, select: Optional[Sequence[str]] = None, extend_select: Sequence[str] = (),
                   ignore: Sequence[str] = ()) -> tuple[str, ...]:
    """The codes :func:`selected_rules` chooses, without importing any rule."""
    from .rules import select_codes

    if select is not None:
        return select_codes(list(select), list(ignore), list(extend_select))
    return select_codes(config.select, [*config.ignore, *ignore], [*config.extend_select, *extend_select])


def selected_rules(config: Config, select: Optional[Sequence[str]] = None, extend_select: Sequence[str] = (),
                   ignore: Sequence[str] = ()):
    """Merge configuration and command line like ruff: ``--select`` on the command line replaces the
    configured selection (its select, extend-select and ignore); ``--extend-select`` and ``--ignore``
    add to it."""
    from .rules import select_rules

    if select is not None:
        return select_rules(list(select), list(ignore), list(extend_select))
    return select_rules(config.select, [*config.ignore, *ignore], [*config.extend_select, *extend_select])


# ---------------------------------------------------------------------------------------- paths
def relative_to(path: str, root: str) -> Optional[str]:
    """``path`` relative to ``root`` with forward slashes, or None when it lies outside ``root``."""
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, root)
    except ValueError:  # another drive on Windows
        return None
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return rel.replace(os.sep, "/")


def glob_match(path: str, pattern: str, root: str) -> bool:
    """ruff/flake8-style pattern match: against the file name, the path relative to ``root`` and the
    absolute path; ``*`` crosses folders, a leading ``**/`` may match nothing, a bare folder name or
    folder pattern matches everything below it."""
    pattern = pattern.replace(os.sep, "/").rstrip("/")
    if not pattern:
        return False
    absolute = os.path.abspath(path).replace(os.sep, "/")
    candidates = [os.path.basename(absolute), absolute]
    rel = relative_to(path, root)
    if rel is not None:
        candidates.append(rel)
    patterns = [pattern]
    if pattern.startswith("./"):
        patterns = [pattern[2:]]
    if patterns[0].startswith("**/"):
        patterns.append(patterns[0][3:])
    if os.path.isabs(pattern):
        patterns = [pattern]
    for pat in patterns:
        for candidate in candidates:
            if fnmatch.fnmatchcase(candidate, pat) or fnmatch.fnmatchcase(candidate, pat + "/*"):
                return True
    return False


def per_file_ignored(config: Config, path: str) -> list[str]:
    """The codes and prefixes ``per-file-ignores`` turns off for ``path``."""
    ignored: list[str] = []
    for pattern, codes in config.per_file_ignores:
        if glob_match(path, pattern, config.root):
            ignored.extend(codes)
    return ignored
