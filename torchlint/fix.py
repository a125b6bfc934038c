"""Apply rule fixes: libcst replacements of nodes of the same tree, verified before anything is written."""
from __future__ import annotations

import ast
import os
import tempfile
from typing import Optional, Sequence

import libcst as cst

from .engine import FileResult, lint_source
from .fixsafety import keeps_comments
from .rule import SAFE, Finding, Rule

MAX_ROUNDS = 8


class _Replacer(cst.CSTTransformer):
    def __init__(self, replacements: dict[int, cst.CSTNode]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):
        new = self.replacements.get(id(original_node))
        return new if new is not None else updated_node


def applicable(finding: Finding, unsafe: bool) -> bool:
    """The fix may be applied: it has an edit, its applicability is allowed, and (the contract every fix keeps,
    checked here again for fixes not built through ``fixsafety.offer``) it drops no comment of what it rewrites."""
    fix = finding.fix
    if fix is None or finding.edit is None or not (fix.applicability == SAFE or unsafe):
        return False
    return all(keeps_comments(old, new) for old, new in fix.replacements)


def _span(finding: Finding):
    edits = finding.edit["edits"]
    start = min((e["location"]["row"], e["location"]["column"]) for e in edits)
    end = max((e["end_location"]["row"], e["end_location"]["column"]) for e in edits)
    return start, end


def _choose(findings: Sequence[Finding]) -> tuple[dict[int, cst.CSTNode], int]:
    """Non-overlapping replacements (first come first served); findings sharing one edit all count."""
    chosen: dict[int, cst.CSTNode] = {}
    spans = []
    count = 0
    for finding in findings:
        pairs = finding.fix.replacements
        if all(id(old) in chosen for old, _new in pairs):
            count += 1
            continue
        start, end = _span(finding)
        if any(not (end <= s or e <= start) for s, e in spans):
            continue
        spans.append((start, end))
        for old, new in pairs:
            chosen[id(old)] = new
        count += 1
    return chosen, count


def verify(text: str) -> Optional[str]:
    """None when ``text`` parses with libcst and compiles with Python; else why not."""
    try:
        cst.parse_module(text)
        compile(ast.parse(text), "<fixed>", "exec")
    except Exception as exc:  # any failure means the fix is not applied
        return f"{type(exc).__name__}: {exc}"
    return None


def _keep_final_newline(old: str, new: str) -> str:
    """libcst drops the final newline of a file whose lines end with a lone CR; put it back."""
    if old.endswith("\r") and not new.endswith(("\r", "\n")):
        return new + "\r"
    return new


def fix_text(text: str, path: str, rule_classes: Sequence[type[Rule]], *, unsafe: bool = False
             ) -> tuple[str, int, FileResult]:
    """Apply fixes until none applies (at most MAX_ROUNDS); return (new text, findings fixed, final result)."""
    fixed = 0
    result = lint_source(text, path, rule_classes)
    for _ in range(MAX_ROUNDS):
        if result.error is not None or result.module is None:
            break
        todo = [f for f in result.findings if applicable(f, unsafe)]
        if not todo:
            break
        replacements, count = _choose(todo)
        new_text = _keep_final_newline(text, result.module.visit(_Replacer(replacements)).code)
        if new_text == text or verify(new_text) is not None:
            break
        text, fixed = new_text, fixed + count
        result = lint_source(text, path, rule_classes)
    return text, fixed, result


def write_atomically(path: str, data: bytes, expected_mtime_ns: Optional[int] = None) -> bool:
    """Write ``data`` to the file ``path`` names. Returns False (and writes nothing) when the file changed on
    disk since it was read (its mtime differs from ``expected_mtime_ns``).

    A symbolic link is written through: its target gets the new content and the link stays a link. A file
    with one name is replaced atomically (a temporary file beside it, renamed over it, mode kept); a file
    with several hard links is rewritten in place, so every name still shares the new content. Raises
    OSError when the file cannot be written (a read-only file system, no permission)."""
    target = os.path.realpath(path)
    try:
        st = os.stat(target)
    except OSError:
        return False
    if expected_mtime_ns is not None and st.st_mtime_ns != expected_mtime_ns:
        return False
    if st.st_nlink > 1:
        _write_in_place(target, data)
        return True
    directory = os.path.dirname(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".torchlint-", suffix=".tmp", dir=directory)
    except OSError:
        _write_in_place(target, data)  # a folder we may not create files in: the file itself may be writable
        return True
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        try:
            os.chmod(tmp, st.st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return True


def _write_in_place(target: str, data: bytes) -> None:
    with open(target, "r+b") as handle:
        handle.write(data)
        handle.truncate()
