"""A cheap index of the other files of the linted file's project.

When a file imports a class or a helper from a sibling module (``from .models import Net``,
``from models import build_encoder``, ``from pkg.blocks import Block``), the index finds that module on disk
and reads it with a fast text scan — class headers, top-level imports and the ``return`` lines of top-level
functions, never a full parse — to answer: is ``Net`` an nn.Module subclass (directly, through a base of
the same file, or through a base imported from another sibling), and what kind does ``build_encoder()``
return. Scans are memoised by (path, size, mtime), so a changed sibling is read again.
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from typing import Optional

_CLASS_RE = re.compile(r"^class\s+(\w+)\s*(?:\(([^)]*)\))?\s*:", re.M)
_DEF_RE = re.compile(r"^(?:async\s+)?def\s+(\w+)\s*\(", re.M)
_FROM_RE = re.compile(r"^from\s+(\.*[\w.]*)\s+import\s+(\([^)]*\)|[^\n#]+)", re.M)
_IMPORT_RE = re.compile(r"^import\s+([^\n#]+)", re.M)
_RETURN_RE = re.compile(r"^[ \t]+return\s+(.+)$", re.M)
_CALL_HEAD_RE = re.compile(r"([A-Za-z_][\w.]*)\s*\(")
_TOPLEVEL_RE = re.compile(r"^\S", re.M)
_HEAD_RE = re.compile(r"\n(?=from\b|import\b|class\b|def\b|async\b)")
_BY_HEAD = {"f": ((_FROM_RE, "from"),), "i": ((_IMPORT_RE, "import"),), "c": ((_CLASS_RE, "class"),),
            "d": ((_DEF_RE, "def"),), "a": ((_DEF_RE, "def"),)}

MAX_SCAN_BYTES = 2_000_000
_MEMO: "OrderedDict[tuple, _FileFacts]" = OrderedDict()
_MEMO_SIZE = 512


class _FileFacts:
    __slots__ = ("path", "imports", "bases", "helpers", "_modules")

    def __init__(self, path: str) -> None:
        self.path = path
        self.imports: dict[str, str] = {}
        self.bases: dict[str, list[str]] = {}
        self.helpers: dict[str, list[str]] = {}  # function name -> returned call heads ("" when not a call)
        self._modules: Optional[set] = None


def _scan(path: str) -> Optional[_FileFacts]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path) or st.st_size > MAX_SCAN_BYTES:
        return None
    key = (path, st.st_size, st.st_mtime_ns)
    hit = _MEMO.get(key)
    if hit is not None:
        _MEMO.move_to_end(key)
        return hit
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    facts = _FileFacts(path)
    # the lines that start with a keyword, found by their newline (a literal the regex engine jumps to: much
    # faster than trying a ^-anchored pattern at every position), then each line's own pattern
    froms, imports, classes, defs = [], [], [], []
    starts = [0] + [m.end() for m in _HEAD_RE.finditer(text)]
    for start in starts:
        head = text[start:start + 1]
        for pattern, found in _BY_HEAD.get(head, ()):
            m = pattern.match(text, start)
            if m is not None:
                (froms if found == "from" else imports if found == "import" else
                 classes if found == "class" else defs).append(m)
                break
    for m in froms:
        module = m.group(1)
        names = m.group(2).strip().strip("()")
        for part in names.split(","):
            part = part.strip()
            if not part or part == "*":
                continue
            bits = part.split()
            name = bits[0]
            local = bits[2] if len(bits) == 3 and bits[1] == "as" else name
            facts.imports[local] = module + name if module.endswith(".") else f"{module}.{name}"
    for m in imports:
        for part in m.group(1).split(","):
            bits = part.split()
            if not bits:
                continue
            if len(bits) == 3 and bits[1] == "as":
                facts.imports[bits[2]] = bits[0]
            else:
                facts.imports[bits[0].split(".")[0]] = bits[0].split(".")[0]
    for m in classes:
        bases = []
        for part in (m.group(2) or "").split(","):
            part = part.strip()
            if not part or "=" in part:
                continue
            bases.append(part.split("[", 1)[0].strip())
        facts.bases[m.group(1)] = bases
    for m in defs:
        start = m.end()
        nxt = _TOPLEVEL_RE.search(text, text.find("\n", start) + 1 if text.find("\n", start) >= 0 else len(text))
        # the body ends at the next line that starts at column 0 (skipping the signature's own lines)
        end = len(text)
        while nxt is not None:
            line = text[nxt.start(): text.find("\n", nxt.start()) if text.find("\n", nxt.start()) >= 0 else len(text)]
            if line.startswith((")", "#")) or line.strip() == "":
                nxt = _TOPLEVEL_RE.search(text, nxt.end())
                continue
            end = nxt.start()
            break
        heads = []
        for r in _RETURN_RE.finditer(text, start, end):
            call = _CALL_HEAD_RE.match(r.group(1).strip())
            heads.append(call.group(1) if call else "")
        facts.helpers[m.group(1)] = heads
    _MEMO[key] = facts
    if len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return facts


class ProjectIndex:
    """Sibling-file facts for the file at ``path`` (nothing for standard input or a path that does not exist)."""

    def __init__(self, path: Optional[str]) -> None:
        self.dir = None
        if path and path not in ("-", "<stdin>") and os.path.isfile(path):
            self.dir = os.path.dirname(os.path.abspath(path))
        self.consulted: dict[str, tuple] = {}

    # ------------------------------------------------------------------ locating modules
    def _module_file(self, module: str, base_dir: Optional[str]) -> Optional[str]:
        if base_dir is None:
            return None
        if module.startswith("."):
            level = len(module) - len(module.lstrip("."))
            rest = module[level:]
            directory = base_dir
            for _ in range(level - 1):
                directory = os.path.dirname(directory)
            return self._file_in(directory, rest)
        found = self._file_in(base_dir, module)
        if found:
            return found
        # absolute import of the project's own package: climb while __init__.py marks a package
        directory = base_dir
        while os.path.isfile(os.path.join(directory, "__init__.py")):
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
            found = self._file_in(directory, module)
            if found:
                return found
        return None

    @staticmethod
    def _file_in(directory: str, dotted: str) -> Optional[str]:
        if not dotted:
            init = os.path.join(directory, "__init__.py")
            return init if os.path.isfile(init) else None
        parts = dotted.split(".")
        candidate = os.path.join(directory, *parts) + ".py"
        if os.path.isfile(candidate):
            return candidate
        init = os.path.join(directory, *parts, "__init__.py")
        if os.path.isfile(init):
            return init
        return None

    def _split(self, qualified: str, base_dir: Optional[str]):
        """(file facts, name) for a dotted name ``module.Name`` importable from ``base_dir``."""
        if "." not in qualified.lstrip(".") and not qualified.startswith("."):
            return None
        module, _, name = qualified.rpartition(".")
        if module.strip(".") == "" and module:
            module = module  # ``from . import x`` then ``x``: a module, not a class
        path = self._module_file(module or ".", base_dir)
        if path is None:
            return None
        facts = _scan(path)
        if facts is None:
            return None
        try:
            st = os.stat(path)
            self.consulted[path] = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass
        return facts, name

    # ------------------------------------------------------------------ questions
    def is_module_class(self, qualified: str, _depth: int = 0) -> bool:
        if self.dir is None or _depth > 4 or qualified.startswith(("torch.", "typing.")):
            return False
        found = self._split(qualified, self.dir)
        if found is None:
            return False
        facts, name = found
        return _class_is_module(self, facts, name, _depth)

    def call_fact(self, qualified: str):
        from .kinds import KindFact, MODULE, PROVEN

        if self.dir is None or qualified.startswith("torch."):
            return None
        found = self._split(qualified, self.dir)
        if found is None:
            return None
        facts, name = found
        if name in facts.bases:
            if _class_is_module(self, facts, name, 0):
                return KindFact(MODULE, PROVEN, (f"{name}: a Module class of {os.path.basename(facts.path)}",), name)
            return None
        heads = facts.helpers.get(name)
        if heads:
            kinds = {_head_kind(self, facts, h) for h in heads}
            if len(kinds) == 1:
                kind = kinds.pop()
                if kind is not None:
                    return KindFact(kind, PROVEN, (f"{name}() of {os.path.basename(facts.path)} returns one",))
        return None


def _resolve_in(facts: _FileFacts, dotted: str) -> str:
    head, _, rest = dotted.partition(".")
    target = facts.imports.get(head)
    if target is None:
        return dotted
    return f"{target}.{rest}" if rest else target


def _class_is_module(index: ProjectIndex, facts: _FileFacts, name: str, depth: int) -> bool:
    from ..facts.classes import is_module_base_name

    if facts._modules is None:
        facts._modules = set()
    if name in facts._modules:
        return True
    seen = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for base in facts.bases.get(current, ()):
            if base in facts.bases and base not in facts.imports:
                todo.append(base)
                continue
            qualified = _resolve_in(facts, base)
            if is_module_base_name(qualified):
                facts._modules.add(name)
                return True
            if qualified != base or "." in qualified:
                sub = index._split(qualified, os.path.dirname(facts.path)) if depth < 4 else None
                if sub is not None and _class_is_module(index, sub[0], sub[1], depth + 1):
                    facts._modules.add(name)
                    return True
    return False


def _head_kind(index: ProjectIndex, facts: _FileFacts, head: str):
    from .kinds import MODULE, TENSOR, constructor_fact

    if not head:
        return None
    if head in facts.bases and head not in facts.imports:
        return MODULE if _class_is_module(index, facts, head, 0) else None
    qualified = _resolve_in(facts, head)
    fact = constructor_fact(qualified)
    if fact is not None and fact.kind in (MODULE, TENSOR):
        return fact.kind
    return None
