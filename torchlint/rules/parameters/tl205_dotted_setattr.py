from __future__ import annotations

import libcst as cst

from ...facts.nodes import keyword_arg, is_literal_false, walk
from ...facts.param_targets import LoopTracker
from ...rule import Rule
from ...semantic.kinds import MODULE_ITERATORS

# Iterations whose names are dotted paths ("layer1.0.conv1", "encoder.weight").
# named_* iterators whose names can be dotted ("encoder.layer.0"): named_children's never are
_DOTTED_METHODS = frozenset(m for m, (_what, named) in MODULE_ITERATORS.items() if named and m != "named_children")
# Methods that split or inspect a name on ".": the code already handles dotted names.
_SPLITTING_METHODS = frozenset({"split", "rsplit", "partition", "rpartition", "count", "find", "rfind", "index",
                                "rindex", "replace", "removeprefix"})


class DottedSetattr(Rule):
    """
    ## What it does
    Finds `setattr(obj, name, value)` and `delattr(obj, name)` where `name` is the name of a loop over
    `.named_modules()`, `.named_parameters()` or `.named_buffers()`, and so may be a dotted path such
    as `"layer1.0.conv1"`.

    Names from `.named_children()` (never dotted), loops over `named_parameters(recurse=False)`, and
    names the loop already handles (`name.split(".")`, `name.rpartition(".")`, `"." in name`, a
    rebinding of the name) are not flagged.

    ## Why is this bad?
    `setattr` does not follow dots. `setattr(model, "layer1.0.conv1", new_conv)` registers a *new*
    child of `model` literally named `"layer1.0.conv1"`; the old convolution stays inside `layer1[0]`
    and is the one the forward pass still uses. The replacement is silently ignored (and its
    parameters are trained for nothing). With a Parameter value, `setattr` raises
    `KeyError: parameter name can't contain "."`; `delattr` with a dotted name raises `AttributeError`.

    ## Example
    ```python
    for name, module in model.named_modules():
        if isinstance(module, nn.ReLU):
            setattr(model, name, nn.GELU())
    ```

    ## Use instead
    ```python
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.ReLU):
            model.set_submodule(name, nn.GELU())
    ```
    or split the path: `parent, _, child = name.rpartition(".")` then
    `setattr(model.get_submodule(parent), child, nn.GELU())`.

    ## Fix safety
    No fix is offered: the right replacement depends on the object the name is relative to.
    """

    code = "TL205"
    name = "dotted-setattr"
    summary = "`setattr(model, name, ...)` with a dotted name from `named_modules()` adds a new attribute."
    message = "'{var}' comes from {method}() and may contain dots: {func}() does not follow them ({effect}); {advice}"
    triggers = ("setattr(", "delattr(")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.loops = LoopTracker()

    def visit_For(self, node: cst.For) -> None:
        self.loops.enter(node, roles=("key",))

    def leave_For(self, node: cst.For) -> None:
        self.loops.leave(node)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Name) and func.value in ("setattr", "delattr")):
            return
        if not self.loops.active or len(node.args) < 2 or func.value in self.ctx.imports.aliases:
            return
        arg = node.args[1].value
        if not isinstance(arg, cst.Name) or node.args[1].star:
            return
        hit = self.loops.lookup(arg.value)
        if hit is None:
            return
        role, info, loop = hit
        if role != "key" or info["method"] not in _DOTTED_METHODS:
            return
        recurse = keyword_arg(info["call"], "recurse")
        if recurse is not None and is_literal_false(recurse.value):
            return
        if _handles_dots(loop.body, arg.value):
            return
        var = arg.value
        if func.value == "setattr":
            effect = "it adds a new attribute named with the dots and the old one stays in use"
            advice = f"use model.set_submodule({var}, ...) or split it with {var}.rpartition('.')"
        else:
            effect = "it raises AttributeError for a dotted name"
            advice = (f"split it with parent, _, child = {var}.rpartition('.') and "
                      "delattr(model.get_submodule(parent), child)")
        self.report(node, var=var, method=info["method"], func=func.value, effect=effect, advice=advice)


def _handles_dots(body: cst.CSTNode, name: str) -> bool:
    for sub in walk(body):
        if isinstance(sub, cst.Attribute) and isinstance(sub.value, cst.Name) and sub.value.value == name \
                and sub.attr.value in _SPLITTING_METHODS:
            return True
        if isinstance(sub, cst.Comparison):
            parts = [sub.left] + [c.comparator for c in sub.comparisons]
            if any(isinstance(p, cst.Name) and p.value == name for p in parts) and any(
                    isinstance(p, cst.SimpleString) and p.evaluated_value == "." for p in parts):
                return True
    return False
