from __future__ import annotations

import libcst as cst

from ... import fixsafety
from ...facts.nodes import iter_statements
from ...rule import SAFE, Rule
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
    no effect to preserve. When a class of the file defines one of these names as a property or a data
    attribute (`@property def backward`), a receiver of unknown kind is not reported: reading the
    attribute may be the whole point, and calling its value would fail.
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
        if method in DISTINCTIVE and self.ctx.kind_of(receiver) not in (MODULE, TENSOR, PARAMETER) \
                and method in self._user_attributes():
            return  # a class of this file has a property or data attribute of that name: reading it may be all
        if method not in DISTINCTIVE:
            wanted = GENERIC.get(method)
            if wanted is None or not any(self.is_kind(receiver, kind) for kind in wanted):
                return
        elif self.ctx.model.kinds.foreign_file and not any(
                self.ctx.model.kinds.is_(receiver, kind, at_least=PROVEN) for kind in (MODULE, TENSOR, OPTIMIZER)):
            return  # paddle, jax, ... share these names: in such a file only a proven torch receiver counts
        text = self.ctx_code(value)
        fix = fixsafety.offer(self.ctx, SAFE, [(value, cst.Call(func=value))], "call the method")
        self.report(value, text=text, fix=fix)

    def _user_attributes(self) -> frozenset:
        """Names of DISTINCTIVE that some class of this file defines as a property or a data attribute
        (``@property def backward``, ``backward = ...`` in the class body, ``self.backward = ...``)."""
        cached = getattr(self, "_user_attrs", None)
        if cached is not None:
            return cached
        found = set()
        root = self.ctx.stack[0]
        for stmt in iter_statements(root.body, into_classes=True):
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value in DISTINCTIVE and any(
                    _decorator_name(d.decorator) in ("property", "cached_property") for d in stmt.decorators):
                found.add(stmt.name.value)
            elif isinstance(stmt, (cst.Assign, cst.AnnAssign)):
                targets = [t.target for t in stmt.targets] if isinstance(stmt, cst.Assign) else [stmt.target]
                for t in targets:
                    name = t.attr.value if isinstance(t, cst.Attribute) else t.value if isinstance(t, cst.Name) \
                        else None
                    if name in DISTINCTIVE:
                        found.add(name)
        self._user_attrs = frozenset(found)
        return self._user_attrs

    @staticmethod
    def ctx_code(node: cst.BaseExpression) -> str:
        return cst.Module(body=[]).code_for_node(node)


def _decorator_name(node: cst.BaseExpression):
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None
