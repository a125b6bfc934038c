from __future__ import annotations

import libcst as cst

from ...rule import SAFE, Fix, Rule
from ...semantic.kinds import MODULE, OPTIMIZER, PARAMETER, PROVEN, SCHEDULER, STRONG, TENSOR

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
    such a bound method as a statement does nothing whatever the object is (in a file that imports
    paddle, jax or another framework that shares these names, only a proven torch receiver counts). The
    generic names need strong evidence of the receiver's kind: `eval` / `train` a Module (constructed,
    annotated, `self` in an `nn.Module` subclass, or a parameter on which the function calls Module-only
    API such as `model.parameters()`), `cuda` a Module or a tensor, `step` an optimizer (constructed,
    annotated, or given to a scheduler) or a learning-rate scheduler. An unknown receiver, or one with
    contradicting evidence (`model.fit(...)`), stays silent.

    ## Why is this bad?
    Without the parentheses the statement looks up the bound method and throws it away. Nothing
    happens and nothing fails: `model.eval` leaves dropout and batch-norm in training mode during
    evaluation, `optimizer.step` never updates the weights, `optimizer.zero_grad` lets gradients
    accumulate across batches, `loss.backward` computes no gradients.

    ## Example
    ```python
    def evaluate(model, loader):
        model.eval
        with torch.no_grad():
            return [model(x) for x, _ in loader], sum(p.numel() for p in model.parameters())
    ```

    ## Use instead
    ```python
    def evaluate(model, loader):
        model.eval()
        with torch.no_grad():
            return [model(x) for x, _ in loader], sum(p.numel() for p in model.parameters())
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
    needs = STRONG
    triggers = ("zero_grad", "backward", "requires_grad_", ".eval", ".train", ".cuda", ".step")

    def visit_Expr(self, node: cst.Expr) -> None:
        value = node.value
        if not isinstance(value, cst.Attribute) or value.lpar:
            return
        method = value.attr.value
        receiver = value.value
        if method not in DISTINCTIVE:
            wanted = GENERIC.get(method)
            if wanted is None or not any(self.is_kind(receiver, kind) for kind in wanted):
                return
        elif self.ctx.model.kinds.foreign_file and not any(
                self.ctx.model.kinds.is_(receiver, kind, at_least=PROVEN) for kind in (MODULE, TENSOR, OPTIMIZER)):
            return  # paddle, jax, ... share these names: in such a file only a proven torch receiver counts
        text = self.ctx_code(value)
        fix = Fix(SAFE, [(value, cst.Call(func=value))], "call the method")
        self.report(value, text=text, fix=fix)

    @staticmethod
    def ctx_code(node: cst.BaseExpression) -> str:
        return cst.Module(body=[]).code_for_node(node)
