"""TL418: forcing ``requires_grad`` on a computed loss (hides a cut graph, or raises)."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import torch_facts
from ...facts.nodes import keyword_arg
from ...facts.training import construction_tag, is_loss_tag, training_facts
from ...rule import Rule

_REWRAP = frozenset({"torch.tensor", "torch.as_tensor", "torch.autograd.Variable", "torch.autograd.variable.Variable"})
_REDUCTIONS = frozenset({"mean", "sum"})
_DETACHING = frozenset({"item", "detach"})


def _unwrap(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``loss.item()``, ``loss.detach()``, ``loss.data`` -> ``loss``."""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in _DETACHING \
            and not expr.args:
        return expr.func.value
    if isinstance(expr, cst.Attribute) and expr.attr.value == "data":
        return expr.value
    return expr


class LossRequiresGradForced(Rule):
    """
    ## What it does
    Finds `loss.requires_grad = True`, `loss.requires_grad_()` / `loss.requires_grad_(True)`, and
    `torch.tensor(loss.item(), requires_grad=True)` / `Variable(loss.data, requires_grad=True)`, where `loss` is, in the same
    function, the result of a loss: `F.<loss>(...)` (`cross_entropy`, `mse_loss`, ...), a call of a loss module
    (`nn.CrossEntropyLoss()`, or a name / `self.<attr>` bound only to one), a sum, product or `.mean()`/`.sum()`
    of such losses, or a name bound to one of these.

    Evidence: PROVEN (the loss computation is in the same function); a loss passed in as a parameter is unknown.

    ## Why is this bad?
    A loss computed from the model's parameters already requires grad; `loss.requires_grad = True` on it raises
    ("you can only change requires_grad flags of leaf variables") and `requires_grad_()` does nothing. When the
    line *is* needed to silence "element 0 of tensors does not require grad", the graph was cut upstream
    (`.detach()`, `.item()`, `.numpy()`, `torch.no_grad()`, a `torch.tensor(...)` re-wrap, frozen parameters):
    the flag makes the loss a new leaf, `backward()` then runs without error and reaches no parameter, and the
    optimizer never changes the model. Re-wrapping with `torch.tensor(loss, requires_grad=True)` cuts the graph
    in the same way.

    ## Example
    ```python
    loss = F.cross_entropy(model(x).detach(), y)
    loss.requires_grad = True
    loss.backward()
    ```

    ## Use instead
    ```python
    loss = F.cross_entropy(model(x), y)  # find and remove the cut: detach/item/numpy/no_grad
    loss.backward()
    ```

    ## Fix safety
    No fix is offered: removing the line brings back the error, which points at the real cut.
    """

    code = "TL418"
    name = "loss-requires-grad-forced"
    summary = "`requires_grad` forced on a computed loss: hides a cut graph (the model trains nothing) or raises."
    message = ("'{loss}' is a computed loss: forcing requires_grad on it makes a new leaf (backward() then reaches no "
               "parameter) or raises; find where the graph is cut (detach/item/numpy/no_grad) instead")
    triggers = ("requires_grad",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._memo: dict[int, bool] = {}

    # ------------------------------------------------------------------ what holds a loss (asked of the model)
    def _binding_is_loss(self, b) -> bool:
        key = id(b)
        if key not in self._memo:
            self._memo[key] = False  # recursion guard (a loop that rebinds the name)
            if b.form == "augassign":  # `total += loss` keeps a loss a loss, makes nothing else one
                self._memo[key] = self._is_loss(b.node)
            elif b.form in ("assign", "annassign") and b.value is not None and b.target is b.node:
                self._memo[key] = self._is_loss(b.value)
        return self._memo[key]

    def _is_loss(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.Name):
            bindings = self.ctx.model.bindings_at(value)
            return bool(bindings) and all(self._binding_is_loss(b) for b in bindings)
        if isinstance(value, cst.BinaryOperation):
            return self._is_loss(value.left) or self._is_loss(value.right)
        if not isinstance(value, cst.Call):
            return False
        func = value.func
        qualified = self.ctx.resolve(func)
        if qualified is not None:
            module, _, last = qualified.rpartition(".")
            return module == "torch.nn.functional" and last in torch_facts.FUNCTIONAL_LOSSES
        if isinstance(func, cst.Attribute) and func.attr.value in _REDUCTIONS and not value.args:
            return self._is_loss(func.value)
        if isinstance(func, cst.Call):
            return is_loss_tag(construction_tag(self.ctx, func))
        if isinstance(func, (cst.Name, cst.Attribute)):
            return is_loss_tag(training_facts(self.ctx).tag_of(func))
        return False

    # ------------------------------------------------------------------ the forcing
    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if not (isinstance(value, cst.Name) and value.value == "True"):
            return
        for t in node.targets:
            target = t.target
            if isinstance(target, cst.Attribute) and target.attr.value == "requires_grad" \
                    and self._loss_name(target.value) is not None:
                self.report(target, loss=self._loss_name(target.value))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value == "requires_grad_":
            if node.args and not (isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "True"):
                return
            name = self._loss_name(func.value)
            if name is not None:
                self.report(node, loss=name)
            return
        if not node.args or node.args[0].keyword is not None:
            return
        flag = keyword_arg(node, "requires_grad")
        if flag is None or not (isinstance(flag.value, cst.Name) and flag.value.value == "True"):
            return
        if self.ctx.resolve(func) in _REWRAP:
            name = self._loss_name(_unwrap(node.args[0].value))
            if name is not None:
                self.report(node, loss=name)

    def _loss_name(self, expr: cst.BaseExpression) -> Optional[str]:
        if isinstance(expr, cst.Name) and self._is_loss(expr):
            return expr.value
        return None
