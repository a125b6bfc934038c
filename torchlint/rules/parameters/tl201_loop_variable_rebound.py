from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.nodes import iter_statements, uses_name
from ...rule import Rule
from ...semantic.kinds import MODULE_ITERATORS

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
    is assigned a new value that the rest of the loop body never reads.

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

    def visit_For(self, node: cst.For) -> None:
        found = iterated_model_objects(node.iter)
        if found is None:
            return
        what, named = found
        var = loop_value_name(node.target, named)
        if var is None:
            return
        statements = list(iter_statements(node.body.body, into_functions=False))
        for index, stmt in enumerate(statements):
            if not isinstance(stmt, cst.Assign):
                continue
            target = next((t.target for t in stmt.targets
                           if isinstance(t.target, cst.Name) and t.target.value == var), None)
            if target is None:
                continue
            if self._read_later(statements, index, var, stmt):
                continue
            kind = "parameter" if what == "state_dict entry" else what
            advice = _ADVICE[kind].format(var=var)
            self.report(target, var=var, what=what, advice=advice)

    @staticmethod
    def _read_later(statements, index, var, assign) -> bool:
        for later in statements[index + 1:]:
            if isinstance(later, cst.SimpleStatementLine):
                continue  # its small statements follow in the list
            if isinstance(later, (cst.Assign, cst.AnnAssign)):
                if uses_name(later.value, var) if later.value is not None else False:
                    return True
                for t in getattr(later, "targets", ()):
                    if not isinstance(t.target, cst.Name) and uses_name(t.target, var):
                        return True
                continue
            if isinstance(later, cst.BaseSmallStatement):
                if uses_name(later, var):
                    return True
                continue
            # compound statements: their headers (tests, iterables, with-items) may read the name
            for field in ("test", "iter", "items", "subject"):
                part = getattr(later, field, None)
                if part is None:
                    continue
                parts = part if isinstance(part, (list, tuple)) else [part]
                if any(uses_name(p, var) for p in parts):
                    return True
        return False
