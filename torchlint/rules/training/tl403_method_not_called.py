from __future__ import annotations

import libcst as cst

from ...facts.kinds import MODULE, PARAMETER, TENSOR
from ...facts.training import OPTIMIZER, SCHEDULER, training_facts
from ...rule import SAFE, Fix, Rule

# Names no other common API uses for an attribute read as a statement: the name alone is the proof.
DISTINCTIVE = frozenset({"zero_grad", "backward", "requires_grad_"})
# Generic names: the receiver must be proved to be one of these kinds / construction tags.
GENERIC = {
    "eval": (MODULE,),
    "train": (MODULE,),
    "cuda": (MODULE, TENSOR, PARAMETER),
    "step": (OPTIMIZER, SCHEDULER),
}


class MethodNotCalled(Rule):
    """
    ## What it does
    Finds an expression statement that only names a method that has to be called: `model.eval`,
    `model.train`, `optimizer.zero_grad`, `optimizer.step`, `scheduler.step`, `loss.backward`,
    `model.zero_grad`, `x.requires_grad_`, `model.cuda`.

    `zero_grad`, `backward` and `requires_grad_` are torch's own names and fire on any receiver: reading
    such a bound method as a statement does nothing whatever the object is. The generic names need a
    proved receiver: `eval` / `train` a Module (a Module constructed in the function, a Module-typed
    parameter, `self` in an `nn.Module` subclass), `cuda` a Module or a tensor, `step` an optimizer or
    learning-rate scheduler constructed from `torch.optim` in the same scope (or assigned to
    `self.<attr>` in the class). An unknown receiver stays silent.

    ## Why is this bad?
    Without the parentheses the statement looks up the bound method and throws it away. Nothing
    happens and nothing fails: `model.eval` leaves dropout and batch-norm in training mode during
    evaluation, `optimizer.step` never updates the weights, `optimizer.zero_grad` lets gradients
    accumulate across batches, `loss.backward` computes no gradients.

    ## Example
    ```python
    model.eval
    optimizer.zero_grad
    loss.backward
    optimizer.step
    ```

    ## Use instead
    ```python
    model.eval()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    ```

    ## Fix safety
    Safe: the fix adds `()`, which is what the statement can only have meant; the bare reference has
    no effect to preserve.
    """

    code = "TL403"
    name = "method-not-called"
    summary = "A bare `model.eval` / `optimizer.step` / `loss.backward` statement does nothing."
    message = "'{text}' is not called, so nothing happens; write '{text}()'"
    fix_availability = SAFE
    triggers = ("zero_grad", "backward", "requires_grad_", ".eval", ".train", ".cuda", ".step")

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not isinstance(value, cst.Attribute) or value.lpar:
            return
        method = value.attr.value
        if method not in DISTINCTIVE:
            wanted = GENERIC.get(method)
            if wanted is None:
                return
            receiver = value.value
            kind = self.ctx.kind_of(receiver)
            if kind not in wanted and (method != "step" or training_facts(self.ctx).tag_of(receiver) not in wanted):
                return
        text = self.ctx_code(value)
        fix = Fix(SAFE, [(value, cst.Call(func=value))], "call the method")
        self.report(value, text=text, fix=fix)

    @staticmethod
    def ctx_code(node: cst.BaseExpression) -> str:
        return cst.Module(body=[]).code_for_node(node)
