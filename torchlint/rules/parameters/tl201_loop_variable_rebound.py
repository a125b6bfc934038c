from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import torch_facts
from ...facts.nodes import iter_statements
from ...rule import Rule
from ...semantic.kinds import MODULE, MODULE_ITERATORS, PARAMETER, PROVEN, STRONG

# Methods whose result, iterated, yields the model's own objects: rebinding the loop variable changes none.
ITERATION_METHODS = {method: what for method, (what, _named) in MODULE_ITERATORS.items()}
_NAMED = {method for method, (_what, named) in MODULE_ITERATORS.items() if named}
_ADVICE = {
    "parameter": "use {var}.copy_(...), {var}.zero_() or {var}[...] = ... under torch.no_grad()",
    "buffer": "use {var}.copy_(...), {var}.zero_() or {var}[...] = ... under torch.no_grad()",
    "module": "use setattr(parent, name, new_module) to replace a sub-module",
}


def iterated_model_objects(node: cst.BaseExpression) -> Optional[tuple[str, bool]]:
    """(what is iterated, whether items are (name, value) pairs) for ``m.parameters()`` and friends,
    ``m.state_dict().values()`` / ``.items()``; else None."""
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
        return None
    method = node.func.attr.value
    if method in ITERATION_METHODS:
        return ITERATION_METHODS[method], method in _NAMED
    if method in ("values", "items") and not node.args:
        inner = node.func.value
        if isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) \
                and inner.func.attr.value == "state_dict":
            return "state_dict entry", method == "items"
    return None


def loop_value_name(target: cst.BaseExpression, named: bool) -> Optional[str]:
    if not named and isinstance(target, cst.Name):
        return target.value
    if named and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
        value = target.elements[1].value
        if isinstance(value, cst.Name):
            return value.value
    return None


class LoopVariableRebound(Rule):
    """
    ## What it does
    Finds a `for` loop over `.parameters()`, `.named_parameters()`, `.buffers()`, `.modules()`,
    `.children()` (and their `named_` forms) or `.state_dict().values()` / `.items()` whose loop variable
    is assigned a new value that the rest of the loop body never reads. A module rebound to the result of a
    Module method that converts it in place and returns it (`module = module.to(dtype)`, `.half()`,
    `.eval()`, ...; generated from the installed torch) is not reported: the model does change.

    ## Why is this bad?
    The loop variable is a local name bound to the model's own tensor or module. Assigning to it rebinds
    the name and changes nothing in the model: `p = torch.zeros_like(p)` leaves every parameter as it
    was, and `layer = nn.Identity()` leaves the old layer in place. The code runs without an error and
    the intended re-initialisation, pruning or replacement never happens.

    ## Example
    ```python
    for p in model.parameters():
        p = torch.zeros_like(p)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()  # or p.copy_(new_value)
    ```
    To replace a sub-module, use `setattr(parent, name, new_module)`.

    ## Fix safety
    No fix is offered: the in-place form depends on what the assignment meant.
    """

    code = "TL201"
    name = "loop-variable-rebound"
    summary = "Assigning to the loop variable of a `parameters()`/`modules()` loop changes nothing."
    message = "assigning to loop variable '{var}' does not change the {what} in the model; {advice}"
    triggers = ("parameters(", "buffers(", "modules(", "children(", "state_dict(")
    needs = STRONG

    def visit_For(self, node: cst.For) -> None:
        found = iterated_model_objects(node.iter)
        if found is not None:
            what, named = found
            var = loop_value_name(node.target, named)
            if var is None or self._other_framework(node.iter):
                return
        else:
            var, what = self._model_object_target(node.target)
            if var is None:
                return
        for stmt in iter_statements(node.body.body, into_functions=False):
            if not isinstance(stmt, cst.Assign):
                continue
            target = next((t.target for t in stmt.targets
                           if isinstance(t.target, cst.Name) and t.target.value == var), None)
            if target is None:
                continue
            if what == "module" and _module_method_in_place(stmt.value, var):
                continue  # module = module.to(dtype): Module.to/.half/... change the module itself and return it
            binding = self.ctx.model.binding_of(target)
            if binding is None or self.ctx.model.uses_of(binding):
                continue  # the new value is read later (in the body, after the loop, or in a closure)
            kind = "parameter" if what == "state_dict entry" else what
            advice = _ADVICE[kind].format(var=var)
            self.report(target, var=var, what=what, advice=advice)

    def _model_object_target(self, target: cst.BaseExpression):
        """(name, what) of a loop target the model proves to hold the model's own parameter or module
        (``for p in params`` with ``params = model.parameters()``, ``zip(model.parameters(), ...)``,
        ``enumerate(list(model.parameters()))``)."""
        model = self.ctx.model
        names = [target] if isinstance(target, cst.Name) else [
            el.value for el in getattr(target, "elements", ()) if isinstance(el.value, cst.Name)]
        for name in names:
            binding = model.binding_of(name)
            fact = model.kinds.binding_fact(binding) if binding is not None else None
            if fact is not None and fact.strength >= self.needs and fact.kind in (PARAMETER, MODULE):
                return name.value, fact.kind
        return None, None

    def _other_framework(self, iterable: cst.BaseExpression) -> bool:
        """paddle, jax (flax), ... have the same iteration methods: there, only a proven torch receiver counts."""
        kinds = self.ctx.model.kinds
        if not kinds.foreign_file:
            return False
        call = iterable
        while type(call) is cst.Call and type(call.func) is cst.Attribute:
            receiver = call.func.value
            if kinds.is_(receiver, MODULE, at_least=PROVEN):
                return False
            call = receiver
        return True


def _module_method_in_place(value: cst.BaseExpression, var: str) -> bool:
    """``var.<method>(...)`` (possibly chained) of Module methods that change the module in place and return it
    (``module = module.to(dtype)`` changes the model; torch_facts.MODULE_METHODS_RETURNING_SELF)."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
            and value.func.attr.value in torch_facts.MODULE_METHODS_RETURNING_SELF:
        value = value.func.value
        if isinstance(value, cst.Name):
            return value.value == var
    return False
