"""Small, fast helpers over libcst nodes shared by the engine and the rules."""
from __future__ import annotations

import dataclasses
from typing import Iterator, Optional

import libcst as cst

# Fields of libcst nodes that never hold code we analyse: whitespace, punctuation, comments.
_SKIP_FIELDS = frozenset({
    "lpar", "rpar", "comma", "semicolon", "colon", "dot", "equal", "leading_lines", "lines_after_decorators",
    "header", "footer", "trailing_whitespace", "newline", "operator", "asynchronous", "lbracket", "rbracket",
    "lbrace", "rbrace", "first_colon", "second_colon", "empty_lines", "indent", "encoding", "default_indent",
    "default_newline", "has_trailing_newline", "relative", "star", "trailing_comma", "posonly_ind", "comment",
    "first_line", "last_line", "separator", "conversion", "whitespace", "arrow", "default_comma",
})
FIELD_CACHE: dict[type, tuple[str, ...]] = {}
# Visit decorators before the body they decorate, a for loop's iterable before its target.
_FIELD_ORDER = {"decorators": 0, "iter": 1, "value": 2, "test": 2}


def _all_node_classes() -> frozenset:
    seen, todo = set(), [cst.CSTNode]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                todo.append(sub)
    return frozenset(seen)


# Every libcst node class: ``type(x) in NODE_CLASSES`` is much cheaper than ``isinstance(x, cst.CSTNode)``
# (CSTNode is an ABC, so isinstance goes through ABCMeta.__instancecheck__).
NODE_CLASSES = _all_node_classes()


def child_fields(cls: type) -> tuple[str, ...]:
    fields = FIELD_CACHE.get(cls)
    if fields is None:
        names = [f.name for f in dataclasses.fields(cls)
                 if f.name not in _SKIP_FIELDS and not f.name.startswith("whitespace")]
        names.sort(key=lambda n: _FIELD_ORDER.get(n, 5))
        fields = FIELD_CACHE[cls] = tuple(names)
    return fields


def is_leaf_class(cls: type) -> bool:
    """Nodes that hold no code below them (names, numbers, strings, operators, punctuation)."""
    return all(f.type in ("str", str, "bool", bool) for f in dataclasses.fields(cls) if f.name in child_fields(cls))


LEAF_CLASSES = frozenset(c for c in NODE_CLASSES if dataclasses.is_dataclass(c) and is_leaf_class(c))


def children(node: cst.CSTNode) -> list:
    """Code-bearing child nodes (leaves such as names are included; whitespace and punctuation are not)."""
    out = []
    classes = NODE_CLASSES
    for name in FIELD_CACHE.get(type(node)) or child_fields(type(node)):
        value = getattr(node, name)
        kind = type(value)
        if kind in classes:
            out.append(value)
        elif kind is tuple or kind is list:
            out.extend(item for item in value if type(item) in classes)
    return out


def walk(node: cst.CSTNode, *, into_scopes: bool = True) -> Iterator[cst.CSTNode]:
    """Every node below ``node`` (itself included), depth first, in source order.

    With ``into_scopes=False`` nested function, lambda and class bodies are not entered.
    """
    stack = [node]
    scopes = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
    leaves = LEAF_CLASSES
    while stack:
        current = stack.pop()
        yield current
        kind = type(current)
        if kind in leaves or (not into_scopes and current is not node and kind in scopes):
            continue
        stack.extend(reversed(children(current)))


def names_read(node: cst.CSTNode) -> Iterator[str]:
    """Names that appear in ``node`` other than as assignment targets' bare names (approximate: any Name)."""
    for sub in walk(node):
        if isinstance(sub, cst.Name):
            yield sub.value


def bound_names(target: cst.BaseExpression) -> Iterator[str]:
    """Names an assignment or loop target binds: ``a``, ``a, (b, *c)`` -> a, b, c."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            yield from bound_names(el.value)
    elif isinstance(target, cst.StarredElement):
        yield from bound_names(target.value)


def uses_name(node: cst.CSTNode, name: str) -> bool:
    return any(isinstance(sub, cst.Name) and sub.value == name for sub in walk(node))


def call_name(node: cst.CSTNode) -> Optional[str]:
    """Method or function name of a call: ``a.b.c(...)`` -> ``c``, ``f(...)`` -> ``f``."""
    if not isinstance(node, cst.Call):
        return None
    func = node.func
    if isinstance(func, cst.Attribute):
        return func.attr.value
    if isinstance(func, cst.Name):
        return func.value
    return None


def keyword_arg(call: cst.Call, name: str) -> Optional[cst.Arg]:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def is_literal_false(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value in ("False", "None") or (
        isinstance(node, cst.Integer) and node.value == "0")


def is_literal_true(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "True"


def self_attribute(node: cst.BaseExpression, self_name: Optional[str]) -> Optional[str]:
    """``self.x`` -> ``"x"`` (for the given self name), else None."""
    if (self_name and isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name)
            and node.value.value == self_name):
        return node.attr.value
    return None


def iter_statements(body, *, into_classes: bool = False, into_functions: bool = True):
    """Every statement below a sequence of statements, through compound statements, in source order.

    Small statements of a one-line suite (``if x: a = 1``) and of a ``SimpleStatementLine`` are
    yielded as themselves (Assign, Expr, ...), after the line that holds them.
    """
    stack = list(reversed(body))
    simple_line, class_def, function_def = cst.SimpleStatementLine, cst.ClassDef, cst.FunctionDef
    suites = (cst.IndentedBlock, cst.SimpleStatementSuite)
    while stack:
        stmt = stack.pop()
        yield stmt
        kind = type(stmt)
        if kind is simple_line:
            stack.extend(reversed(stmt.body))
            continue
        if kind in _SMALL_STATEMENTS:
            continue
        if kind is class_def and not into_classes:
            continue
        if kind is function_def and not into_functions:
            continue
        pending = []
        inner = getattr(stmt, "body", None)
        if type(inner) in suites:
            pending.extend(inner.body)
        elif type(inner) in (list, tuple):
            pending.extend(inner)
        handlers = getattr(stmt, "handlers", None)
        if handlers:
            pending.extend(handlers)
        cases = getattr(stmt, "cases", None)
        if cases:
            pending.extend(cases)
        for name in ("orelse", "finalbody"):
            extra = getattr(stmt, name, None)
            if extra is not None:
                pending.append(extra)
        stack.extend(reversed(pending))


_SMALL_STATEMENTS = frozenset(c for c in NODE_CLASSES if issubclass(c, cst.BaseSmallStatement))


def iter_small_statements(body, **kwargs):
    """Only the small statements (Assign, AugAssign, Expr, Return, ...) below ``body``."""
    small = _SMALL_STATEMENTS
    for stmt in iter_statements(body, **kwargs):
        if type(stmt) in small:
            yield stmt
