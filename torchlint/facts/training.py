"""Training-loop facts: which names hold an optimizer, a scheduler, a DataLoader or a loss module.

These are "construction tags", proved from the code like the kinds of :mod:`torchlint.facts.kinds`:
a name is tagged only when every binding of it in its scope (a function, or the module level) is a
construction of the same tag, and ``self.<attr>`` only when every assignment of it in the class is.
A function parameter, a for-loop target, a ``with ... as`` target, an unpacking or an augmented
assignment makes the name unknown (None). Tables are computed once per scope and cached on the
file's context.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from .. import torch_facts
from .kinds import iter_self_assignments
from .nodes import bound_names, iter_statements

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

OPTIMIZER = "optimizer"
SCHEDULER = "scheduler"
DATALOADER = "dataloader"
LOSS_PREFIX = "loss:"  # "loss:CrossEntropyLoss"

DATALOADER_CLASSES = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_LOSS_MODULES = frozenset({"torch.nn", "torch.nn.modules", "torch.nn.modules.loss"})


def construction_tag(ctx: "Context", value: cst.BaseExpression) -> Optional[str]:
    """The tag of a construction call: ``torch.optim.SGD(...)`` -> OPTIMIZER, ``nn.MSELoss()`` ->
    ``"loss:MSELoss"``, ``DataLoader(...)`` -> DATALOADER; anything else -> None."""
    if not isinstance(value, cst.Call):
        return None
    qualified = ctx.resolve(value.func)
    if qualified is None:
        return None
    module, _, last = qualified.rpartition(".")
    if not last[:1].isupper():
        return None
    if qualified.startswith("torch.optim.lr_scheduler.") or qualified == "torch.optim.swa_utils.SWALR":
        return SCHEDULER if last not in ("LRScheduler", "_LRScheduler") else None
    if module == "torch.optim" or (module.startswith("torch.optim.") and module != "torch.optim.swa_utils"):
        return OPTIMIZER if last != "Optimizer" else None
    if qualified in DATALOADER_CLASSES:
        return DATALOADER
    if module in _LOSS_MODULES and last in torch_facts.LOSS_CLASSES:
        return LOSS_PREFIX + last
    return None


class _Unknown:
    pass


_UNKNOWN = _Unknown()


class TrainingFacts:
    """Construction tags of one file, by scope."""

    def __init__(self, ctx: "Context") -> None:
        self.ctx = ctx
        self._scopes: dict[int, dict[str, object]] = {}
        self._classes: dict[int, dict[str, Optional[str]]] = {}

    # ------------------------------------------------------------------ tables
    def _scope_table(self, scope: cst.CSTNode) -> dict[str, object]:
        table = self._scopes.get(id(scope))
        if table is not None:
            return table
        table = {}

        def add(name: str, tag: object) -> None:
            previous = table.get(name, tag)
            table[name] = tag if previous == tag else _UNKNOWN

        if isinstance(scope, cst.FunctionDef):
            params = scope.params
            for group in (params.posonly_params, params.params, params.kwonly_params):
                for p in group:
                    add(p.name.value, _UNKNOWN)
            for star in (params.star_arg, params.star_kwarg):
                if isinstance(star, cst.Param):
                    add(star.name.value, _UNKNOWN)
            body = scope.body.body if isinstance(scope.body, cst.IndentedBlock) else [scope.body]
        else:
            body = scope.body
        for stmt in iter_statements(body, into_functions=False, into_classes=False):
            if isinstance(stmt, cst.Assign):
                tag = construction_tag(self.ctx, stmt.value)
                for t in stmt.targets:
                    if isinstance(t.target, cst.Name):
                        add(t.target.value, tag if tag is not None else _UNKNOWN)
                    else:
                        for name in bound_names(t.target):
                            add(name, _UNKNOWN)
            elif isinstance(stmt, cst.AnnAssign) and isinstance(stmt.target, cst.Name):
                tag = construction_tag(self.ctx, stmt.value) if stmt.value is not None else None
                add(stmt.target.value, tag if tag is not None else _UNKNOWN)
            elif isinstance(stmt, cst.AugAssign) and isinstance(stmt.target, cst.Name):
                add(stmt.target.value, _UNKNOWN)
            elif isinstance(stmt, (cst.For,)):
                for name in bound_names(stmt.target):
                    add(name, _UNKNOWN)
            elif isinstance(stmt, cst.With):
                for item in stmt.items:
                    if item.asname is not None:
                        for name in bound_names(item.asname.name):
                            add(name, _UNKNOWN)
            elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                add(stmt.name.value, _UNKNOWN)
            elif isinstance(stmt, (cst.Global, cst.Nonlocal)):
                for n in stmt.names:
                    add(n.name.value, _UNKNOWN)
            elif isinstance(stmt, (cst.Import, cst.ImportFrom)):
                names = stmt.names if not isinstance(stmt.names, cst.ImportStar) else ()
                for alias in names:
                    node = alias.asname.name if alias.asname is not None else alias.name
                    if isinstance(node, cst.Name):
                        add(node.value, _UNKNOWN)
        # walrus and comprehension targets are rare in training code: any NamedExpr makes its name unknown
        self._scopes[id(scope)] = table
        return table

    def _class_table(self, cls: cst.ClassDef) -> dict[str, Optional[str]]:
        table = self._classes.get(id(cls))
        if table is None:
            seen: dict[str, set] = {}
            for attr, value in iter_self_assignments(cls):
                if isinstance(value, cst.Name) and value.value == "None":
                    continue
                seen.setdefault(attr, set()).add(construction_tag(self.ctx, value))
            table = {attr: (tags.pop() if len(tags) == 1 else None) for attr, tags in seen.items()}
            self._classes[id(cls)] = table
        return table

    # ------------------------------------------------------------------ questions
    def tag_of(self, expr: cst.BaseExpression) -> Optional[str]:
        """The construction tag of a name or ``self.<attr>`` at the current point of the traversal."""
        ctx = self.ctx
        if isinstance(expr, cst.Name):
            name = expr.value
            if ctx.func_stack:
                table = self._scope_table(ctx.func_stack[-1].node)
                if name in table:
                    tag = table[name]
                    return tag if isinstance(tag, str) else None
                if name == ctx.func_stack[-1].self_name:
                    return None
                if len(ctx.func_stack) > 1:
                    return None  # a closure variable: not followed
            table = self._module_table()
            tag = table.get(name)
            return tag if isinstance(tag, str) else None
        if isinstance(expr, cst.Attribute) and ctx.is_self(expr.value):
            cls = ctx.current_class
            if cls is not None:
                return self._class_table(cls).get(expr.attr.value)
        return None

    def _module_table(self) -> dict[str, object]:
        module = getattr(self, "_module", None)
        if module is None:
            return {}
        return self._scope_table(module)


def training_facts(ctx: "Context") -> TrainingFacts:
    """The per-file :class:`TrainingFacts`, created on first use and kept on the context."""
    facts = getattr(ctx, "_training_facts", None)
    if facts is None:
        facts = TrainingFacts(ctx)
        module = ctx.stack[0] if ctx.stack else None
        if isinstance(module, cst.Module):
            facts._module = module
        ctx._training_facts = facts
    return facts


def is_loss_tag(tag: Optional[str]) -> bool:
    return tag is not None and tag.startswith(LOSS_PREFIX)


__all__ = ["OPTIMIZER", "SCHEDULER", "DATALOADER", "LOSS_PREFIX", "construction_tag", "training_facts",
           "TrainingFacts", "is_loss_tag"]
