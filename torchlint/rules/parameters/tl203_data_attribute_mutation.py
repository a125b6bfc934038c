from __future__ import annotations

import libcst as cst

from ...facts.kinds import PARAMETER, TENSOR
from ...facts.param_targets import INPLACE, ParameterTargetsRule, _code


class DataAttributeMutation(ParameterTargetsRule):
    """
    ## What it does
    Finds writes through `.data` of a provable parameter or tensor: `w.data.mul_(10)`, `p.data = t`,
    `p.data += 1`, `p.data[:] = 0`. The owner must be the loop variable of a `parameters()` loop,
    `.weight` / `.bias` of a known torch layer, or a name or `self.<attr>` bound to `nn.Parameter(...)`
    or a tensor factory. Reads of `.data` are never flagged.

    Off by default: `.data` writes are the traditional way to initialise weights (`m.weight.data.normal_()`)
    and are harmless when no forward pass is pending; the rule cannot tell from the code whether a
    graph that saved the tensor is still waiting for `backward()`. On transformers 5.23.0, timm 1.0.31
    and torchvision 0.29.1 it finds 61 `.data` writes, every one on a real parameter, and all in
    initialisation, weight resizing or conv-bn fusion code (or a clamp before the weight's use) where no
    backward is pending: correct detections of the pattern, but none a bug. Enable it with
    `--select TL203` to migrate a code base to `torch.no_grad()`. A variant restricted to writes after
    a forward call on the same object in the same function is not implemented yet.

    ## Why is this bad?
    `.data` gives a tensor that shares storage with the parameter but is hidden from autograd: its
    version counter does not record the change. If the parameter was used in a forward pass whose
    `backward()` has not run yet, autograd uses the changed values with no error and computes wrong
    gradients. The same change under `torch.no_grad()` is recorded, so autograd raises instead of
    silently computing the wrong thing.

    ## Example
    ```python
    w = nn.Parameter(torch.randn(3))
    loss = (w * x).sum()
    w.data.mul_(0.5)
    loss.backward()
    ```

    ## Use instead
    ```python
    w = nn.Parameter(torch.randn(3))
    loss = (w * x).sum()
    with torch.no_grad():
        w.mul_(0.5)
    loss.backward()  # raises: w was modified in place, instead of wrong gradients
    ```
    Usually: run the update after `backward()`, under `torch.no_grad()`.

    ## Fix safety
    No fix is offered: moving a write under `no_grad` can turn silent wrong gradients into an error,
    which is the point but must be reviewed.
    """

    code = "TL203"
    name = "data-attribute-mutation"
    summary = "Writing through `.data` bypasses autograd's checks; use `torch.no_grad()`."
    message = ("writing through '{target}.data' ({op}) hides the change from autograd, so a pending backward() "
               "computes wrong gradients silently; change '{target}' under torch.no_grad() instead")
    default_enabled = False
    triggers = (".data",)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in INPLACE:
            self._check(func.value, f".{func.attr.value}()", node)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check(node.target, "augmented assignment", node)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if isinstance(t, cst.Subscript):
                self._check(t.value, "item assignment", node)
            else:
                self._check(t, "assignment", node)

    def _check(self, data: cst.BaseExpression, op: str, node: cst.CSTNode) -> None:
        if not (isinstance(data, cst.Attribute) and data.attr.value == "data"):
            return
        owner = data.value
        if not isinstance(owner, (cst.Name, cst.Attribute)):
            return
        if self.targets.describe(owner) is None and self.ctx.kind_of(owner) not in (PARAMETER, TENSOR):
            return
        self.report(node, target=_code(owner), op=op)
