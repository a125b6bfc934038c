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
_METHOD_RE = re.compile(r"^([ \t]+)(?:async[ \t]+)?def[ \t]+(\w+)[ \t]*\(", re.M)
# A __call__ that still goes through nn.Module.__call__: super().__call__(...), Base.__call__(self, ...),
# self._call_impl(...) / self._wrapped_call_impl(...).
_DELEGATE_RE = re.compile(r"\.\s*__call__\b|\b_call_impl\b|\b_wrapped_call_impl\b")

# How a class's own ``__call__`` ends (ProjectIndex.call_replaced walks these up the bases).
DELEGATES, SUPER, REPLACES, ABSTRACT = "delegates", "super", "replaces", "abstract"
UNKNOWN = "unknown"  # an ancestor that cannot be read: it may define a __call__
_SUPER_CALL_RE = re.compile(r"\bsuper\([^()]*\)\s*\.\s*__call__\b")
# Bases that define no __call__ of their own.
NO_CALL_BASES = frozenset({"abc.ABC", "object", "builtins.object", "typing.Generic", "typing.Protocol"})

MAX_SCAN_BYTES = 2_000_000
_MEMO: "OrderedDict[tuple, _FileFacts]" = OrderedDict()
_MEMO_SIZE = 512


class _FileFacts:
    __slots__ = ("path", "imports", "bases", "helpers", "_modules", "_methods_read", "_calls", "_methods",
                 "_abstract")

    def __init__(self, path: str) -> None:
        self.path = path
        self.imports: dict[str, str] = {}
        self.bases: dict[str, list[str]] = {}
        self.helpers: dict[str, list[str]] = {}  # function name -> returned call heads ("" when not a call)
        self._modules: Optional[set] = None
        self._methods_read = False
        self._calls: dict[str, str] = {}
        self._methods: dict[str, frozenset] = {}
        self._abstract: dict[str, frozenset] = {}

    def _read_methods(self) -> None:
        """The classes' methods, read again from the file the first time a question needs them (rare: only for a
        finding's candidate), so the scan every sibling gets stays a header scan."""
        if self._methods_read:
            return
        self._methods_read = True
        try:
            with open(self.path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace")
        except OSError:
            return
        for m in _CLASS_RE.finditer(text):
            _scan_methods(self, m.group(1), text, m.end())

    @property
    def calls(self) -> dict:
        """class -> how its own __call__ ends: DELEGATES, SUPER, REPLACES or ABSTRACT."""
        self._read_methods()
        return self._calls

    @property
    def methods(self) -> dict:
        """class -> names of the methods it defines."""
        self._read_methods()
        return self._methods

    @property
    def abstract(self) -> dict:
        """class -> names of its @abstractmethod methods."""
        self._read_methods()
        return self._abstract


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


def call_status(body: str) -> str:
    """How a ``__call__`` whose source is ``body`` ends: SUPER (``super().__call__(...)``, the next ``__call__``
    of the MRO), DELEGATES (straight to nn.Module's: ``self._call_impl(...)``, ``Base.__call__(self, ...)``)
    or REPLACES (it never reaches nn.Module.__call__)."""
    if _SUPER_CALL_RE.search(body):
        return SUPER
    return DELEGATES if _DELEGATE_RE.search(body) else REPLACES


def _next_line(text: str, pos: int) -> int:
    nl = text.find("\n", pos)
    return nl + 1 if nl >= 0 else len(text)


def _block_end(text: str, start: int, indent: int) -> int:
    """Where the block whose lines are indented more than ``indent`` columns, from ``start``, ends (the first
    code line at ``indent`` or less, a closing bracket of a signature excepted)."""
    pos = start
    while pos < len(text):
        nl = text.find("\n", pos)
        line = text[pos: nl if nl >= 0 else len(text)]
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and len(line) - len(line.lstrip()) <= indent \
                and not stripped.startswith((")", "]")):
            return pos
        if nl < 0:
            break
        pos = nl + 1
    return len(text)


def _scan_methods(facts: _FileFacts, name: str, text: str, header_end: int) -> None:
    """The methods a top-level class defines at its body's indentation, its @abstractmethod ones, and how
    its own ``__call__`` ends."""
    start = _next_line(text, header_end)
    end = _block_end(text, start, 0)
    indent = None  # the body's first code line gives its indentation
    for line in text[start: end].split("\n"):
        if line.strip() and not line.lstrip().startswith("#"):
            indent = len(line) - len(line.lstrip(" \t"))
            break
    methods, abstract = set(), set()
    for m in _METHOD_RE.finditer(text, start, end):
        if len(m.group(1)) != indent:
            continue  # a nested function, or a method of a nested class
        width = indent
        method = m.group(2)
        methods.add(method)
        line_start = m.start()
        decorators = []
        while line_start > 0:
            prev = text.rfind("\n", 0, line_start - 1) + 1
            line = text[prev: line_start - 1].strip()
            if not line.startswith("@"):
                break
            decorators.append(line)
            line_start = prev
        is_abstract = any("abstractmethod" in d for d in decorators)
        if is_abstract:
            abstract.add(method)
        if method == "__call__":
            body_start = _next_line(text, m.end())
            body = text[body_start: _block_end(text, body_start, width)]
            facts._calls[name] = ABSTRACT if is_abstract else call_status(body)
    facts._methods[name] = frozenset(methods)
    facts._abstract[name] = frozenset(abstract)


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

    def call_statuses(self, qualified: str, _depth: int = 0, _seen: Optional[set] = None) -> Optional[list]:
        """How the own ``__call__`` of the class and of each of its ancestors ends (DELEGATES, SUPER, REPLACES,
        ABSTRACT; None for a class without one, UNKNOWN for an ancestor that cannot be read), in method-resolution
        order (depth first, left to right: C3 for every hierarchy without a diamond), torch classes excluded."""
        if self.dir is None:
            return None
        found = _class_facts(self, self._split(qualified, self.dir), _depth)
        if found is None:
            return None
        return _call_statuses(self, found[0], found[1], _depth, set() if _seen is None else _seen)

    def abstract_methods(self, qualified: str) -> Optional[tuple]:
        """(abstract methods, defined methods) of a class of the project that derives directly from ``abc.ABC``;
        None when it does not or cannot be read."""
        if self.dir is None:
            return None
        found = _class_facts(self, self._split(qualified, self.dir), 0)
        if found is None:
            return None
        facts, name = found
        if not any(_resolve_in(facts, b) == "abc.ABC" for b in facts.bases[name]):
            return None
        return facts.abstract.get(name, frozenset()), facts.methods.get(name, frozenset())

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


def _class_facts(index: ProjectIndex, found, depth: int):
    """(file facts, class name) where the class is defined, following a package's re-export
    (``from .kernel import Kernel`` in an ``__init__.py``); None when it cannot be found."""
    while found is not None and found[1] not in found[0].bases and depth < 6:
        facts, name = found
        target = facts.imports.get(name)
        if target is None or "." not in target:
            return None
        found = index._split(target, os.path.dirname(facts.path))
        depth += 1
    return found if found is not None and found[1] in found[0].bases else None


def _call_statuses(index: ProjectIndex, facts: _FileFacts, name: str, depth: int, seen: set) -> Optional[list]:
    from ..facts.classes import is_module_base_name

    key = (facts.path, name)
    if key in seen:
        return []
    seen.add(key)
    statuses = [facts.calls.get(name)]
    for base in facts.bases.get(name, ()):
        if base in facts.bases and base not in facts.imports:
            sub = _call_statuses(index, facts, base, depth, seen)
        else:
            qualified = _resolve_in(facts, base)
            if is_module_base_name(qualified) or qualified.startswith("torch.") or qualified in NO_CALL_BASES:
                continue
            found = _class_facts(index, index._split(qualified, os.path.dirname(facts.path)), depth) if depth < 6 else None
            sub = [UNKNOWN] if found is None else _call_statuses(index, found[0], found[1], depth + 1, seen)
        statuses.extend(sub)
    return statuses


def call_replaced(statuses: Optional[list]) -> Optional[bool]:
    """From the ``__call__`` statuses of a class and its ancestors in MRO order: True when calling an instance
    never reaches nn.Module.__call__ (the first ``__call__`` that does not hand on to the next one replaces it),
    False when it does, None when unknown."""
    if statuses is None:
        return None
    for status in statuses:
        if status == REPLACES:
            return True
        if status == DELEGATES:
            return False
        if status == UNKNOWN:
            return None
    return False


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
