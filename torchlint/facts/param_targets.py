"""Which expressions are a parameter that requires grad (TL202, TL203 ask), answered by the semantic model."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import torch_facts
from .kinds import LAYER_PARAMETER_ATTRS
from .nodes import walk

# ---------------------------------------------------------------------- known layer parameters
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
    """Which expressions are a parameter that requires grad, by the semantic model: the target of a loop
    over ``parameters()`` (also through a name, ``zip``, ``enumerate``, ``list``), or ``.weight`` / ``.bias``
    of a torch layer (constructed, annotated, returned by a helper, assigned to ``self.<attr>``), at the
    strength the asking rule needs. Shared by TL202 and TL203."""

    def __init__(self, ctx, needs: int = 2) -> None:
        self.ctx = ctx
        self.needs = needs
        self._no_grad_callees: Optional[set] = None

    def scope(self) -> cst.CSTNode:
        func = self.ctx.current_function
        return func if func is not None else self.ctx.stack[0]

    def describe(self, node: cst.BaseExpression) -> Optional[tuple[str, cst.CSTNode]]:
        """(description, node whose text must not freeze it) when ``node`` is a known parameter, else None."""
        ctx = self.ctx
        model = ctx.model
        if isinstance(node, cst.Name):
            bindings = model.bindings_at(node)
            if len(bindings) != 1 or bindings[0].form != "for":
                return None
            fact = model.kinds.binding_fact(bindings[0])
            if fact is None or fact.kind != "parameter" or fact.strength < self.needs:
                return None
            loop = bindings[0].stmt
            item = model.kinds.iteration_item(bindings[0])
            source = item[0] if item is not None else None
            method = source.func.attr.value if isinstance(source, cst.Call) and isinstance(source.func, cst.Attribute) \
                else None
            what = f"loop variable of {method}()" if method else "loop variable over the model's parameters"
            return what, loop.body if isinstance(loop, cst.For) else self.scope()
        if isinstance(node, cst.Attribute) and node.attr.value in LAYER_PARAMETER_ATTRS:
            owner = node.value
            if ctx.is_self(owner):
                return None
            fact = model.kinds.of(owner)
            if fact is None or fact.kind != "module" or fact.strength < self.needs \
                    or fact.cls not in torch_facts.MODULES_WITH_PARAMETERS:
                return None
            where = "a layer's parameter" if isinstance(owner, cst.Call) else \
                f"parameter of {fact.cls.rsplit('.', 1)[-1]}"
            frozen = owner if isinstance(owner, cst.Call) else (
                ctx.current_class if isinstance(owner, cst.Attribute) and ctx.is_self(owner.value) and
                ctx.current_class is not None else self.scope())
            return where, frozen
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
