"""Plain Python containers (list/tuple/set/dict literals, comprehensions, ``list(...)``) and what they hold."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import libcst as cst

from .nodes import iter_small_statements, self_attribute

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

_SEQUENCES = {cst.List: "list", cst.Tuple: "tuple", cst.Set: "set"}
_COMPREHENSIONS = {cst.ListComp: "list", cst.SetComp: "set", cst.GeneratorExp: "list"}
EMPTY_CONTAINER_CALLS = {"list": "list", "dict": "dict", "tuple": "tuple", "set": "set"}


def _builtin_call(ctx: "Context", node: cst.BaseExpression) -> Optional[str]:
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in EMPTY_CONTAINER_CALLS \
            and node.func.value not in ctx.imports.aliases:
        return node.func.value
    return None


def container_holding(ctx: "Context", node: cst.BaseExpression, is_item: Callable[[cst.BaseExpression], bool],
                      depth: int = 0) -> Optional[str]:
    """If ``node`` is a plain container (possibly nested) with an element for which ``is_item`` holds,
    the outer container's type name ("list", "tuple", "set", "dict"); else None."""
    if depth > 8:
        return None

    def holds(value: cst.BaseExpression) -> bool:
        return is_item(value) or container_holding(ctx, value, is_item, depth + 1) is not None

    cls = type(node)
    if cls in _SEQUENCES:
        if any(isinstance(el, cst.Element) and holds(el.value) for el in node.elements):
            return _SEQUENCES[cls]
        return None
    if cls in _COMPREHENSIONS:
        return _COMPREHENSIONS[cls] if holds(node.elt) else None
    if cls is cst.Dict:
        if any(isinstance(el, cst.DictElement) and holds(el.value) for el in node.elements):
            return "dict"
        return None
    if cls is cst.DictComp:
        return "dict" if holds(node.value) else None
    if cls is cst.BinaryOperation and type(node.operator) is cst.Add:
        # ``plain + [Module()]``: a new plain list (``self.x = self.x + [layer]``), when the other operand is
        # provably a plain container of the same type (a ModuleList on the left would give a ModuleList)
        for inner, other in ((node.right, node.left), (node.left, node.right)):
            kind = container_holding(ctx, inner, is_item, depth + 1)
            if kind in ("list", "tuple") and _plain_of_kind(ctx, other, kind):
                return kind
        return None
    builtin = _builtin_call(ctx, node)
    if builtin in ("list", "tuple") and len(node.args) == 1 and not node.args[0].star:
        inner = container_holding(ctx, node.args[0].value, is_item, depth + 1)
        return builtin if inner is not None else None
    if builtin == "dict" and len(node.args) == 1 and not node.args[0].star:
        return "dict" if container_holding(ctx, node.args[0].value, is_item, depth + 1) else None
    return None


def empty_container(ctx: "Context", node: cst.BaseExpression) -> Optional[str]:
    """``[]``, ``{}``, ``()``, ``list()``, ``dict()``, ``set()`` -> its type name."""
    if isinstance(node, cst.List) and not node.elements:
        return "list"
    if isinstance(node, cst.Dict) and not node.elements:
        return "dict"
    if isinstance(node, cst.Tuple) and not node.elements:
        return "tuple"
    builtin = _builtin_call(ctx, node)
    if builtin is not None and not node.args:
        return builtin
    return None


def _kind_of_plain(ctx: "Context", node: cst.BaseExpression) -> Optional[str]:
    """"list" / "tuple" / "set" / "dict" of a plain container expression, else None."""
    cls = type(node)
    if cls in _SEQUENCES:
        return _SEQUENCES[cls]
    if cls in _COMPREHENSIONS:
        return _COMPREHENSIONS[cls] if cls is not cst.GeneratorExp else None
    if cls in (cst.Dict, cst.DictComp):
        return "dict"
    return _builtin_call(ctx, node)


def _own_self_attribute(ctx: "Context", node: cst.BaseExpression) -> Optional[str]:
    """``self.<attr>`` read in a method, where ``self`` is that method's first parameter: the attr."""
    if not (isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name)):
        return None
    scope = ctx.model.scope_of(node)
    while scope is not None and scope.kind in ("lambda", "comprehension"):
        scope = scope.parent
    if scope is None or scope.self_name is None or scope.self_name != node.value.value:
        return None
    return node.attr.value


def _plain_of_kind(ctx: "Context", node: cst.BaseExpression, kind: str) -> bool:
    """``node`` is provably a plain ``kind`` container: a literal/comprehension/builtin call of that type, or
    ``self.<attr>`` of the enclosing class whose every assignment is one (or grows it with ``+``)."""
    if _kind_of_plain(ctx, node) == kind:
        return True
    attr = _own_self_attribute(ctx, node)
    cls = ctx.model.scope_of(node)
    while cls is not None and cls.kind != "class":
        cls = cls.parent
    return attr is not None and cls is not None and attr_is_plain_container(ctx, cls.node, attr) == kind


def _grows_itself(ctx: "Context", value: cst.BaseExpression, attr: str) -> bool:
    """``self.<attr> + <plain container>`` (either order): the attribute's own type, rebuilt."""
    if not (isinstance(value, cst.BinaryOperation) and type(value.operator) is cst.Add):
        return False
    for own, other in ((value.left, value.right), (value.right, value.left)):
        if _own_self_attribute(ctx, own) == attr and _kind_of_plain(ctx, other) is not None:
            return True
    return False


def is_plain_container_expr(ctx: "Context", node: cst.BaseExpression) -> bool:
    if type(node) in _SEQUENCES or type(node) in _COMPREHENSIONS or isinstance(node, (cst.Dict, cst.DictComp)):
        return True
    return _builtin_call(ctx, node) is not None


def self_attr_values(cls: cst.ClassDef, attr: str):
    """Every value assigned to ``self.<attr>`` in the methods of ``cls``."""
    from .kinds import self_assignments_by_attr

    return self_assignments_by_attr(cls).get(attr, ())


def attr_is_plain_container(ctx: "Context", cls: cst.ClassDef, attr: str) -> Optional[str]:
    """When every assignment of ``self.<attr>`` in the class is a plain container, its type name."""
    kinds = set()
    for value in self_attr_values(cls, attr):
        if _grows_itself(ctx, value, attr):
            continue  # ``self.x = self.x + [...]`` keeps whatever the other assignments make it
        if not is_plain_container_expr(ctx, value):
            return None
        if isinstance(value, (cst.Dict, cst.DictComp)) or _builtin_call(ctx, value) == "dict":
            kinds.add("dict")
        elif isinstance(value, cst.Tuple) or _builtin_call(ctx, value) == "tuple":
            kinds.add("tuple")
        elif isinstance(value, (cst.Set, cst.SetComp)) or _builtin_call(ctx, value) == "set":
            kinds.add("set")
        else:
            kinds.add("list")
    if len(kinds) == 1:
        return kinds.pop()
    return None


__all__ = ["container_holding", "empty_container", "attr_is_plain_container", "is_plain_container_expr",
           "iter_small_statements", "self_attribute"]
