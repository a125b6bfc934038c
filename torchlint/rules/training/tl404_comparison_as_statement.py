from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety
from ...facts.kinds import MODULE, PARAMETER, TENSOR
from ...rule import UNSAFE, Fix, Rule
from ...semantic.kinds import BATCH, STRONG

_KINDS = (MODULE, PARAMETER, TENSOR)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


class ComparisonAsStatement(Rule):
    """
    ## What it does
    Finds an expression statement that is a comparison involving torch state: `p.requires_grad == False`
    (on any object: `requires_grad` is torch's name), `model.training == False` on a proved Module, or
    any comparison one of whose operands is a proved Module, Parameter or tensor (`x == 0`). Comparisons
    of unknown values are left to flake8-bugbear's B015.

    ## Why is this bad?
    The comparison is computed and thrown away. The typical case is a freezing loop,
    `for p in backbone.parameters(): p.requires_grad == False`, written for an assignment: every
    parameter stays trainable, the optimizer keeps updating the "frozen" backbone, and nothing fails.
    A comparison of tensors as a statement is likewise a lost assertion or assignment.

    ## Example
    ```python
    for p in model.backbone.parameters():
        p.requires_grad == False
    ```

    ## Use instead
    ```python
    for p in model.backbone.parameters():
        p.requires_grad = False
    ```
    (or `model.backbone.requires_grad_(False)`), and `assert ...` where a check was meant.

    ## Fix safety
    For `<x>.requires_grad == True/False` the fix turns `==` into `=`. It is unsafe: it changes what the
    program does (parameters get frozen or unfrozen, so training changes), and the author may have meant
    an `assert` instead. No fix is offered for other comparisons, nor when a comment sits inside the
    comparison.
    """

    needs = STRONG  # a DataLoader batch element counts
    code = "TL404"
    name = "comparison-as-statement"
    summary = "A comparison used as a statement (`p.requires_grad == False`) does nothing."
    message = "comparison '{text}' as a statement does nothing; {advice}"
    fix_availability = UNSAFE
    triggers = ("==", "!=", " is ", "<", ">", " in ")

    def _tensor_like(self, node) -> bool:
        """A tensor (proven), or an element of an unpacked DataLoader batch (strong)."""
        if self.ctx.kind_of(node) in _KINDS:
            return True
        fact = self.ctx.model.kinds.of(node)
        return fact is not None and fact.kind == BATCH and fact.cls == "part" and fact.strength >= self.needs

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not isinstance(value, cst.Comparison):
            return
        operands = [value.left] + [c.comparator for c in value.comparisons]
        relevant = False
        for operand in operands:
            if isinstance(operand, cst.Attribute):
                attr = operand.attr.value
                if attr == "requires_grad" or (attr == "training" and self.ctx.kind_of(operand.value) == MODULE):
                    relevant = True
                    break
        if not relevant:
            relevant = any(self._tensor_like(op) for op in operands)
        if not relevant:
            return
        fix = self._assignment_fix(node, value)
        if fix is not None:
            fix = fixsafety.offer(self.ctx, fix.applicability, fix.replacements, fix.description)
        text = _code(value)
        if fix is not None:
            advice = f"to set the flag write '{_code(value.left)} = {_code(value.comparisons[0].comparator)}'"
        elif isinstance(value.left, cst.Attribute) and value.left.attr.value == "training":
            advice = f"call '{_code(value.left.value)}.eval()' or '.train()' to switch the mode, or assert it"
        else:
            advice = "assign the value or assert the condition"
        self.report(value, text=text, advice=advice, fix=fix)

    @staticmethod
    def _assignment_fix(stmt: cst.Expr, cmp: cst.Comparison) -> Optional[Fix]:
        if len(cmp.comparisons) != 1 or cmp.lpar:
            return None
        target = cmp.left
        only = cmp.comparisons[0]
        right = only.comparator
        if not (isinstance(only.operator, cst.Equal) and isinstance(target, cst.Attribute)
                and target.attr.value == "requires_grad"
                and isinstance(right, cst.Name) and right.value in ("True", "False")):
            return None
        new = cst.Assign(targets=[cst.AssignTarget(target=target)], value=right,
                         semicolon=stmt.semicolon)
        return Fix(UNSAFE, [(stmt, new)], "assign instead of compare")
