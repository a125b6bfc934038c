"""Loop variables bound to a model's own objects, and known layer parameters (used by TL202-TL206).

``for p in model.parameters()`` binds ``p`` to a real Parameter; ``for m in model.modules()`` binds ``m``
to a real Module. A loop variable counts only while the loop body never rebinds it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from .. import torch_facts
from ..rule import Rule
from .kinds import LAYER_PARAMETER_ATTRS, PARAMETER, iter_self_assignments
from ..semantic.kinds import MODULE_ITERATORS
from .nodes import walk

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

# iteration method -> (what the items are, whether items are (name, value) pairs)
LOOP_METHODS = {m: v for m, v in MODULE_ITERATORS.items() if v[0] != "buffer"}


def unwrap_iterable(node: cst.BaseExpression) -> tuple[cst.BaseExpression, bool]:
    """``list(x)`` / ``tuple(x)`` -> x; ``enumerate(x)`` -> (x, True) meaning items are (index, item)."""
    enumerated = False
    for _ in range(3):
        if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and len(node.args) >= 1 \
                and not node.args[0].star and node.args[0].keyword is None:
            if node.func.value in ("list", "tuple", "reversed", "sorted") and len(node.args) == 1:
                node = node.args[0].value
                continue
            if node.func.value == "enumerate" and not enumerated:
                enumerated = True
                node = node.args[0].value
                continue
        break
    return node, enumerated


def model_iteration(node: cst.BaseExpression) -> Optional[tuple[str, str, bool, cst.Call]]:
    """For ``X.parameters()`` and friends (possibly inside list()/enumerate()): (method, what, named, call)
    plus whether enumerate wraps it is folded into ``named`` handling by :func:`loop_bindings`."""
    inner, _ = unwrap_iterable(node)
    if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute):
        method = inner.func.attr.value
        if method in LOOP_METHODS:
            what, named = LOOP_METHODS[method]
            return method, what, named, inner
    return None


def loop_bindings(node: cst.For) -> Optional[dict]:
    """For a loop over a model iteration: {"method", "what", "value": name or None, "key": name or None}."""
    found = model_iteration(node.iter)
    if found is None:
        return None
    method, what, named, call = found
    _inner, enumerated = unwrap_iterable(node.iter)
    target = node.target
    if enumerated:
        if not (isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2):
            return None
        target = target.elements[1].value
    value = key = None
    if named:
        if isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
            k, v = target.elements[0].value, target.elements[1].value
            key = k.value if isinstance(k, cst.Name) else None
            value = v.value if isinstance(v, cst.Name) else None
    elif isinstance(target, cst.Name):
        value = target.value
    if value is None and key is None:
        return None
    return {"method": method, "what": what, "value": value, "key": key, "call": call}


def rebinds(body: cst.CSTNode, name: str, aug_rebinds: bool = True) -> bool:
    """``name`` is assigned anywhere below ``body`` (assignment, augmented assignment unless
    ``aug_rebinds`` is False (``p += 1`` on a tensor is in place), loop/with/except target, walrus, del,
    nested def)."""
    for sub in walk(body):
        targets = ()
        if isinstance(sub, cst.Assign):
            targets = [t.target for t in sub.targets]
        elif isinstance(sub, cst.AnnAssign) or (aug_rebinds and isinstance(sub, cst.AugAssign)):
            targets = [sub.target]
        elif isinstance(sub, (cst.For, cst.CompFor)):
            targets = [sub.target]
        elif isinstance(sub, cst.NamedExpr):
            targets = [sub.target]
        elif isinstance(sub, cst.WithItem) and sub.asname is not None:
            targets = [sub.asname.name]
        elif isinstance(sub, cst.ExceptHandler) and sub.name is not None:
            targets = [sub.name.name]
        elif isinstance(sub, cst.Del):
            targets = [sub.target]
        elif isinstance(sub, (cst.FunctionDef, cst.ClassDef)) and sub.name.value == name:
            return True
        for target in targets:
            if _binds(target, name):
                return True
    return False


def _binds(target: cst.BaseExpression, name: str) -> bool:
    if isinstance(target, cst.Name):
        return target.value == name
    if isinstance(target, (cst.Tuple, cst.List)):
        return any(_binds(el.value, name) for el in target.elements)
    if isinstance(target, cst.StarredElement):
        return _binds(target.value, name)
    return False


class LoopTracker:
    """Active loop variables bound to model objects. Call ``enter`` from ``visit_For`` and ``leave`` from
    ``leave_For``; ``lookup(name)`` answers (what, method, kind of binding) for the innermost loop."""

    def __init__(self) -> None:
        self.active: list[tuple[cst.For, str, str, dict]] = []  # (loop, name, role, info)

    def enter(self, node: cst.For, roles=("value", "key"), aug_rebinds: bool = True) -> None:
        info = loop_bindings(node)
        if info is None:
            return
        for role in roles:
            name = info[role]
            if name is not None and not rebinds(node.body, name, aug_rebinds):
                self.active.append((node, name, role, info))

    def leave(self, node: cst.For) -> None:
        while self.active and self.active[-1][0] is node:
            self.active.pop()

    def lookup(self, name: str) -> Optional[tuple[str, dict, cst.For]]:
        """(role, info, loop) for the innermost active loop binding ``name``."""
        for loop, bound, role, info in reversed(self.active):
            if bound == name:
                return role, info, loop
        return None


# ---------------------------------------------------------------------- known layer parameters
def layer_class_of_value(ctx: "Context", value: cst.BaseExpression) -> Optional[str]:
    """Qualified torch class of a construction ``nn.Linear(...)`` that holds parameters, else None."""
    if isinstance(value, cst.Call):
        cls = ctx.kinds.module_class_of(value.func)
        if cls is not None and cls in torch_facts.MODULES_WITH_PARAMETERS:
            return cls
    return None


def self_attr_layer_class(ctx: "Context", attr: str) -> Optional[str]:
    """The torch layer class every assignment of ``self.<attr>`` in the current class constructs."""
    cls = ctx.current_class
    if cls is None:
        return None
    found = set()
    for name, value in iter_self_assignments(cls):
        if name == attr:
            if isinstance(value, cst.Name) and value.value == "None":
                continue
            found.add(layer_class_of_value(ctx, value))
    if len(found) == 1:
        return next(iter(found))
    return None


def is_layer_parameter_attr(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value in LAYER_PARAMETER_ATTRS


# In-place methods that do not write the tensor's data.
_NOT_WRITES = frozenset({"requires_grad_", "share_memory_", "retain_grad", "detach_"})
INPLACE = frozenset(m for m in torch_facts.INPLACE_METHODS if m not in _NOT_WRITES)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def mentions_requires_grad(node: cst.CSTNode) -> bool:
    for sub in walk(node):
        if isinstance(sub, cst.Attribute) and sub.attr.value in ("requires_grad", "requires_grad_"):
            return True
        if isinstance(sub, cst.Arg) and sub.keyword is not None and sub.keyword.value == "requires_grad":
            return True
    return False


class ParameterTargets:
    """Which expressions are provably a parameter that requires grad: the value variable of a
    ``parameters()`` / ``named_parameters()`` loop, or ``.weight`` / ``.bias`` of a known torch layer
    (``nn.Linear(...)`` constructed here, bound to a local name, or assigned to ``self.<attr>``).
    Shared by TL202 and TL203; the owning rule forwards For/Assign events."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.loops = LoopTracker()
        self.layers: dict[tuple[int, str], Optional[str]] = {}  # (scope id, local name) -> torch layer class
        self._no_grad_callees: Optional[set] = None

    def scope(self) -> cst.CSTNode:
        func = self.ctx.current_function
        return func if func is not None else self.ctx.stack[0]

    def enter_for(self, node: cst.For) -> None:
        self.loops.enter(node, roles=("value",), aug_rebinds=False)

    def leave_for(self, node: cst.For) -> None:
        self.loops.leave(node)

    def after_assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                key = (id(self.scope()), target.target.value)
                cls = layer_class_of_value(self.ctx, node.value)
                # a name bound twice to different things is unknown
                self.layers[key] = cls if key not in self.layers or self.layers[key] == cls else None

    def describe(self, node: cst.BaseExpression) -> Optional[tuple[str, cst.CSTNode]]:
        """(description, node whose text must not freeze it) when ``node`` is a known parameter, else None."""
        ctx = self.ctx
        if isinstance(node, cst.Name):
            hit = self.loops.lookup(node.value)
            if hit is not None:
                role, info, loop = hit
                if role == "value" and info["what"] == "parameter":
                    return f"loop variable of {info['method']}()", loop.body
            return None
        if isinstance(node, cst.Attribute) and node.attr.value in LAYER_PARAMETER_ATTRS:
            owner = node.value
            if isinstance(owner, cst.Call):
                if ctx.kind_of(node) == PARAMETER:
                    return "a layer's parameter", owner
                return None
            if ctx.is_self(owner) or not isinstance(owner, (cst.Name, cst.Attribute)):
                return None
            if isinstance(owner, cst.Name):
                cls = self.layers.get((id(self.scope()), owner.value))
                if cls is not None:
                    return f"parameter of {cls.rsplit('.', 1)[-1]}", self.scope()
                return None
            if ctx.is_self(owner.value) and ctx.in_module_class:
                cls = self_attr_layer_class(ctx, owner.attr.value)
                if cls is not None:
                    return f"parameter of {cls.rsplit('.', 1)[-1]}", ctx.current_class
        return None

    def grad_may_be_off(self, frozen_scope: cst.CSTNode) -> bool:
        """Autograd may be off here, or the parameter may not require grad: stay silent."""
        ctx = self.ctx
        if ctx.in_no_grad or mentions_requires_grad(frozen_scope):
            return True
        func = ctx.current_function
        if func is None:
            return False
        for sub in walk(func.body):
            if isinstance(sub, cst.Call):
                q = ctx.resolve(sub.func)
                if q and q.endswith("set_grad_enabled"):
                    return True
        return self._called_under_no_grad(func.name.value)

    def _called_under_no_grad(self, name: str) -> bool:
        """The function is referenced (called, passed to ``apply``) inside a no_grad block of this file."""
        if self._no_grad_callees is None:
            names: set[str] = set()
            ctx = self.ctx
            for sub in walk(ctx.stack[0]):
                body = None
                if isinstance(sub, cst.With) and any(ctx.is_no_grad_expr(item.item) for item in sub.items):
                    body = sub.body
                elif isinstance(sub, cst.FunctionDef) and any(ctx.is_no_grad_expr(d.decorator)
                                                              for d in sub.decorators):
                    body = sub.body
                if body is not None:
                    for inner in walk(body):
                        if isinstance(inner, cst.Name):
                            names.add(inner.value)
            self._no_grad_callees = names
        return name in self._no_grad_callees


class ParameterTargetsRule(Rule):
    """Base of the rules that ask :class:`ParameterTargets` (TL202, TL203): forwards the loop and
    assignment events it learns from. Not a rule itself (no code)."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.targets = ParameterTargets(ctx)

    def visit_For(self, node: cst.For) -> None:
        self.targets.enter_for(node)

    def leave_For(self, node: cst.For) -> None:
        self.targets.leave_for(node)

    def leave_Assign(self, node: cst.Assign) -> None:
        self.targets.after_assign(node)
