from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import torch_facts
from ...facts.kinds import iter_self_assignments
from ...facts.nodes import walk
from ...rule import Rule

_CHILD_METHODS = {"children": False, "named_children": True}


class InitLoopOverChildren(Rule):
    """
    ## What it does
    Finds, in an `nn.Module` class, a loop over `self.children()` / `self.named_children()` whose body
    tests `isinstance(m, <layer type>)` and then initialises or freezes `m` (an `nn.init` call, an
    in-place method on `m`'s tensors, a `requires_grad` assignment), when the class provably also holds
    layers of that type one level down: inside an `nn.Sequential` / `nn.ModuleList` / `nn.ModuleDict`
    child, or inside a child built from another Module class of the same file. It stays silent when
    every layer of that type is a direct child, when the nested layers cannot be seen (a block class
    imported from elsewhere), and when the nested class initialises its own layers.

    ## Why is this bad?
    `children()` yields only the direct sub-modules. A `Linear` inside a `Sequential` child is never
    seen by the loop, so it keeps torch's default initialisation (or stays trainable) while the code
    reads as if every `Linear` was handled. Nothing fails; the model just trains differently than
    intended.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(8, 2)
            self.body = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
            for m in self.children():
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(8, 2)
            self.body = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
            for m in self.modules():  # or: self.apply(init_fn)
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
    ```

    ## Fix safety
    No fix is offered: `.modules()` also yields `self` and nested modules that may be meant to keep
    their own initialisation.

    This rule is off by default: a loop over `children()` is sometimes deliberate (nested blocks
    initialise themselves, or are initialised later by another loop), and on real code whether the
    skipped layers were meant to be skipped cannot be decided from the class alone. Enable it with
    `--select TL210`.
    """

    code = "TL210"
    name = "init-loop-over-children"
    summary = "An init/freeze loop over `children()` misses layers nested in containers or blocks."
    message = ("children() yields only direct sub-modules: the {layer} layers nested in '{where}' are never "
               "initialised or frozen by this loop; iterate self.modules() or use self.apply(fn)")
    default_enabled = False
    triggers = ("children()",)

    def visit_For(self, node: cst.For) -> None:
        it = node.iter
        if not (isinstance(it, cst.Call) and isinstance(it.func, cst.Attribute)
                and it.func.attr.value in _CHILD_METHODS and not it.args):
            return
        ctx = self.ctx
        if not ctx.in_module_class or not ctx.is_self(it.func.value):
            return
        var = _loop_var(node.target, _CHILD_METHODS[it.func.attr.value])
        if var is None:
            return
        types = self._initialised_types(node.body, var)
        if not types:
            return
        cls = ctx.current_class
        if cls is None:
            return
        for attr, value in iter_self_assignments(cls):
            found = self._nested_layer(value, types, depth=0)
            if found is not None:
                self.report(node.iter, layer=found.rsplit(".", 1)[-1], where=f"self.{attr}")
                return

    # ------------------------------------------------------------------ the loop body
    def _initialised_types(self, body: cst.BaseSuite, var: str) -> set[str]:
        types: set[str] = set()
        for sub in walk(body, into_scopes=False):
            if not isinstance(sub, cst.If):
                continue
            tested = self._isinstance_types(sub.test, var)
            if tested and self._initialises(sub.body, var):
                types |= tested
        return types

    def _isinstance_types(self, test: cst.BaseExpression, var: str) -> set[str]:
        out: set[str] = set()
        for sub in walk(test):
            if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Name) and sub.func.value == "isinstance" \
                    and len(sub.args) == 2 and isinstance(sub.args[0].value, cst.Name) \
                    and sub.args[0].value.value == var:
                kinds = sub.args[1].value
                elements = [e.value for e in kinds.elements] if isinstance(kinds, cst.Tuple) else [kinds]
                for el in elements:
                    qualified = self.ctx.resolve(el)
                    if qualified in torch_facts.MODULES_WITH_PARAMETERS:
                        out.add(qualified)
        return out

    def _initialises(self, body: cst.BaseSuite, var: str) -> bool:
        for sub in walk(body, into_scopes=False):
            if isinstance(sub, cst.Call):
                qualified = self.ctx.resolve(sub.func) or ""
                if qualified.startswith("torch.nn.init.") and any(_rooted_at(a.value, var) for a in sub.args):
                    return True
                if isinstance(sub.func, cst.Attribute) and sub.func.attr.value.endswith("_") \
                        and _rooted_at(sub.func.value, var):
                    return True
            if isinstance(sub, cst.AssignTarget) and isinstance(sub.target, cst.Attribute) \
                    and sub.target.attr.value == "requires_grad":
                return True
        return False

    # ------------------------------------------------------------------ the class's children
    def _nested_layer(self, value: cst.BaseExpression, types: set[str], depth: int) -> Optional[str]:
        """A layer of one of ``types`` built one level or more below a child built by ``value``."""
        if depth > 4 or not isinstance(value, cst.Call):
            return None
        ctx = self.ctx
        cls = ctx.kinds.module_class_of(value.func)
        if cls is None:
            helper = ctx.model.callee_of(value)  # a layer built by a helper function or method
            for returned in (ctx.model.returns_of(helper) if helper is not None else ()):
                found = self._nested_layer(returned, types, depth + 1) if returned is not None else None
                if found:
                    return found
            return None
        if cls in torch_facts.CONTAINER_CLASSES:
            for arg in value.args:
                for sub in self._built_from(arg.value):
                    if isinstance(sub, cst.Call):
                        inner = ctx.kinds.module_class_of(sub.func)
                        if inner in types:
                            return inner
                        if inner is not None and inner not in torch_facts.MODULE_CLASSES:
                            found = self._layer_in_class(inner, types, depth + 1)
                            if found:
                                return found
            return None
        if cls not in torch_facts.MODULE_CLASSES:
            return self._layer_in_class(cls, types, depth + 1)
        return None

    def _built_from(self, expr: cst.BaseExpression):
        """Every node of ``expr`` and, for a local list (``nn.Sequential(*layers)``), of what its bindings assign and
        what ``.append`` / ``.extend`` / ``+=`` put in it (the model's bindings and uses of the name)."""
        yield from walk(expr)
        if not isinstance(expr, cst.Name):
            return
        model = self.ctx.model
        for binding in model.bindings_at(expr):
            if binding.value is not None:
                yield from walk(binding.value)
            for use in model.uses_of(binding):
                if use.how == "method" and use.attr in ("append", "extend", "insert") \
                        and isinstance(use.parent, cst.Call):
                    for a in use.parent.args:
                        yield from walk(a.value)

    def _layer_in_class(self, name: str, types: set[str], depth: int) -> Optional[str]:
        """An in-file Module class that builds a layer of ``types`` and does not initialise it itself."""
        if depth > 4:
            return None
        cls = self.ctx.classes.class_named(name)
        if cls is None or cls is self.ctx.current_class:
            return None
        if any(self._initialises_itself(stmt) for stmt in cls.body.body):
            return None
        for _attr, value in iter_self_assignments(cls):
            if isinstance(value, cst.Call):
                inner = self.ctx.kinds.module_class_of(value.func)
                if inner in types:
                    return inner
            found = self._nested_layer(value, types, depth)
            if found:
                return found
        return None

    def _initialises_itself(self, stmt: cst.CSTNode) -> bool:
        for sub in walk(stmt):
            if isinstance(sub, cst.Call):
                qualified = self.ctx.resolve(sub.func) or ""
                if qualified.startswith("torch.nn.init.") or (
                        isinstance(sub.func, cst.Attribute) and sub.func.attr.value in ("apply", "reset_parameters")):
                    return True
        return False


def _loop_var(target: cst.BaseExpression, named: bool) -> Optional[str]:
    if not named and isinstance(target, cst.Name):
        return target.value
    if named and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2 \
            and isinstance(target.elements[1].value, cst.Name):
        return target.elements[1].value.value
    return None


def _rooted_at(expr: cst.BaseExpression, var: str) -> bool:
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        expr = expr.value if not isinstance(expr, cst.Call) else expr.func
    return isinstance(expr, cst.Name) and expr.value == var
