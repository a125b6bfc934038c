from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.kinds import PARAMETER_CLASSES
from ...facts.nodes import walk
from ...rule import Rule


def _is_lazy_guard(test: cst.BaseExpression) -> bool:
    """``self.x is None``, ``not hasattr(self, "x")``, ``"x" not in self._cache``, ``not self.built``: a
    one-time initialisation guard."""
    for sub in walk(test):
        if isinstance(sub, cst.Comparison):
            for target in sub.comparisons:
                if isinstance(target.operator, (cst.Is, cst.NotIn, cst.In)) or (
                        isinstance(target.operator, cst.Equal) and isinstance(target.comparator, cst.Name)
                        and target.comparator.value == "None"):
                    return True
        elif isinstance(sub, cst.Call) and isinstance(sub.func, cst.Name) and sub.func.value == "hasattr":
            return True
        elif isinstance(sub, cst.UnaryOperation) and isinstance(sub.operator, cst.Not):
            return True
    return False


class LayerConstructedInForward(Rule):
    """
    ## What it does
    Finds, inside the `forward` method of an `nn.Module`, the construction of a layer that holds
    parameters (`nn.Linear`, `nn.Conv2d`, `nn.Embedding`, `nn.LayerNorm`, `nn.BatchNorm2d`, `nn.LSTM`,
    ... per the generated torch facts, or a Module class of the same file that has such layers) or of an
    `nn.Parameter`, whether it is used on the spot or assigned to `self.x`.

    Silent on parameter-free modules (`nn.ReLU()`, `nn.Identity()`, `nn.Upsample(...)`), on modules whose
    parameters are unknown, on constructions guarded by a one-time lazy initialisation
    (`if self.proj is None:`, `if not hasattr(self, "proj"):`, or an `if self.expand:` block that sets
    `self.expand = False`: such one-time code still escapes an optimizer built before the first call,
    but it is deliberate and the rule cannot tell when the optimizer is built), and outside `forward`.

    ## Why is this bad?
    Every call of `forward` builds the layer again with fresh random weights. The optimizer was created
    from `model.parameters()` before the first call, so it never sees them: they are never trained, every
    batch uses different random weights, `state_dict()` does not save them (or saves a different one each
    time), and `.to(device)` does not move them, so the forward fails on a GPU. The loss may still go
    down through the other layers, which hides the mistake.

    ## Example
    ```python
    class Head(nn.Module):
        def forward(self, x):
            proj = nn.Linear(x.shape[-1], 10)
            return proj(x)
    ```

    ## Use instead
    ```python
    class Head(nn.Module):
        def __init__(self, in_features):
            super().__init__()
            self.proj = nn.Linear(in_features, 10)  # or nn.LazyLinear(10)

        def forward(self, x):
            return self.proj(x)
    ```

    ## Fix safety
    No fix is offered: moving the construction to `__init__` needs the sizes, which may only be known
    from the input (then use an `nn.Lazy*` layer).
    """

    code = "TL302"
    name = "layer-constructed-in-forward"
    summary = "A layer or `nn.Parameter` built in `forward` gets fresh random weights every call, never trained."
    message = ("{what} is constructed in forward(): each call makes fresh random weights that the optimizer "
               "never sees; create it in __init__ (or use an nn.Lazy* layer)")
    triggers = ("forward",)

    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        if ctx.method_name != "forward" or not ctx.in_module_class:
            return
        func = node.func
        if not isinstance(func, (cst.Name, cst.Attribute)):
            return
        what = self._constructed(node)
        if what is None or self._under_lazy_guard():
            return
        self.report(node, what=what)

    def _constructed(self, node: cst.Call) -> Optional[str]:
        ctx = self.ctx
        qualified = ctx.resolve(node.func)
        if qualified in PARAMETER_CLASSES:
            return "nn.Parameter"
        if ctx.kinds.constructs_parameterised_module(node):
            cls = ctx.kinds.module_class_of(node.func)
            return cls.replace("torch.nn.", "nn.") if cls else "a layer"
        return None

    def _under_lazy_guard(self) -> bool:
        for ancestor in reversed(self.ctx.stack):
            if isinstance(ancestor, cst.FunctionDef):
                return False
            if isinstance(ancestor, (cst.If, cst.IfExp, cst.While)) and _is_lazy_guard(ancestor.test):
                return True
            if isinstance(ancestor, cst.If) and _flag_reset_inside(ancestor, self.ctx.func_stack[-1].self_name):
                return True
        return False


def _flag_reset_inside(node: cst.If, self_name: Optional[str]) -> bool:
    """``if self.expand: ...; self.expand = False``: the block runs once, it switches its own test off."""
    flags = {sub.attr.value for sub in walk(node.test)
             if isinstance(sub, cst.Attribute) and isinstance(sub.value, cst.Name) and sub.value.value == self_name}
    if not flags:
        return False
    for sub in walk(node.body, into_scopes=False):
        if isinstance(sub, cst.Assign):
            for target in sub.targets:
                t = target.target
                if isinstance(t, cst.Attribute) and isinstance(t.value, cst.Name) and t.value.value == self_name \
                        and t.attr.value in flags:
                    return True
    return False
