from __future__ import annotations

import re
from typing import Optional

import libcst as cst

from ...rule import Rule

_TARGET = "requiresgrad"


def _distance(a: str, b: str, limit: int = 2) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, cut off above ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: Optional[list[int]] = None
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if prev2 is not None and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


def misspelling_of_requires_grad(attr: str) -> bool:
    """``require_grad``, ``required_grad``, ``requires_grads``, ``requieres_grad``, ``requiresGrad``,
    ``requires_gradient``, ... but not ``requires_grad`` itself nor the method ``requires_grad_``."""
    if attr == "requires_grad" or attr == "requires_grad_" or attr.startswith("_"):
        return False  # a leading underscore marks a private attribute of one's own (transformers' _requires_grad)
    norm = attr.lower().replace("_", "")
    norm = re.sub(r"gradients?$", "grad", norm)
    if "grad" not in norm or not norm.startswith("req"):
        return False
    return _distance(norm, _TARGET) <= 2 or norm == _TARGET


class RequiresGradMisspelt(Rule):
    """
    ## What it does
    Finds assignments to a misspelling of `requires_grad` (`require_grad`, `required_grad`,
    `requires_grads`, `requieres_grad`, `requiresGrad`, `requires_gradient`, ...) and assignments to
    the method name `requires_grad_` (`m.requires_grad_ = False`), on any receiver. A misspelt
    attribute that the file reads somewhere (`if self.require_grad:`) is a deliberate attribute of its
    own and is not reported, and so is a private name with a leading underscore (`self._requires_grad`,
    which transformers' audio encoders keep next to the real flags and read in another file).

    ## Why is this bad?
    Tensors, Parameters and Modules accept any new attribute, so the misspelt assignment succeeds and
    does nothing: `requires_grad` stays `True`, the "frozen" weights keep receiving gradients and the
    optimizer keeps updating them. Assigning to `requires_grad_` has the same non-effect and also
    replaces the method with a bool on that object, so a later `m.requires_grad_(False)` raises
    `TypeError: 'bool' object is not callable`.

    ## Example
    ```python
    for p in backbone.parameters():
        p.require_grad = False
    head.requires_grad_ = False
    ```

    ## Use instead
    ```python
    for p in backbone.parameters():
        p.requires_grad = False
    head.requires_grad_(False)
    ```

    ## Fix safety
    No fix is offered: correcting the name freezes weights that train today, which changes the
    results of the program; the author has to confirm that freezing was meant.
    """

    code = "TL207"
    name = "requires-grad-misspelt"
    summary = "Assignment to a misspelling of `requires_grad` (or to the method `requires_grad_`) freezes nothing."
    message = ("'{attr}' is not a torch flag: this assignment creates a new attribute and requires_grad "
               "stays True{extra}; write '.requires_grad = ...' or call '.requires_grad_(...)'")
    triggers = ("grad",)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self._check(node.target)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node.target)

    def _check(self, target: cst.BaseExpression) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._check(el.value)
            return
        if not isinstance(target, cst.Attribute):
            return
        attr = target.attr.value
        if attr == "requires_grad_":
            self.report(target.attr, attr=attr,
                        extra=", and the method requires_grad_ is replaced by a value (later calls raise TypeError)")
            return
        if "rad" not in attr.lower() or not misspelling_of_requires_grad(attr):
            return
        if self._read_elsewhere(attr):
            return
        self.report(target.attr, attr=attr, extra="")

    def _read_elsewhere(self, attr: str) -> bool:
        """The file reads ``.attr`` somewhere other than as an assignment target, or names it in a string."""
        model = self.ctx.model
        return model.attribute_read(attr) or model.names_in_string(attr)
