from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts import loops
from ...facts.nodes import walk
from ...rule import Rule
from ...semantic.kinds import STRONG

_SCALING_OPS = (cst.Divide, cst.Multiply, cst.FloorDivide)
_SCALING_AUG = (cst.DivideAssign, cst.MultiplyAssign)


def _modulus(test: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """The ``k`` of an accumulation test: ``(i + 1) % k == 0``, ``not step % k``, ``... or last``."""
    for sub in walk(test):
        if isinstance(sub, cst.BinaryOperation) and isinstance(sub.operator, cst.Modulo):
            return sub.right
    return None


def _scaled(expr: cst.BaseExpression) -> bool:
    return any(isinstance(sub, cst.BinaryOperation) and isinstance(sub.operator, _SCALING_OPS)
               for sub in walk(expr, into_scopes=False))


class GradAccumulationUnscaled(loops.ScansLoops, Rule):
    """
    ## What it does
    Finds gradient accumulation whose loss is never divided by the number of accumulated
    micro-batches: a loop that runs `loss.backward()` every iteration and steps the optimizer (and
    clears the gradients) only under an `if (i + 1) % k == 0:`-style condition, where the loss
    backpropagated is bound in the loop body without any division or multiplication, `k` is never
    a divisor anywhere in the function (`loss / k`, `lr / k`, `loss /= k`), and no loss in the function
    is built with `reduction="sum"` (summed losses accumulate to the sum over the combined batch).

    The optimizer must be known with strong evidence. Silent for engine backwards
    (`accelerator.backward(loss)` divides by the accumulation steps itself) and whenever the loss comes
    from an expression that already scales it.

    ## Why is this bad?
    A mean-reduced loss gives each micro-batch's average gradient; summing `k` of them without
    dividing gives `k` times the gradient of the combined batch. With SGD the step is `k` times
    larger than intended (the effective learning rate grows with the accumulation count), gradient
    clipping thresholds mean something else, and changing `k` changes the training dynamics.
    Adam-style optimizers are nearly invariant to the scale, so there the harm is limited to epsilon,
    weight decay and clipping -- but the code still does not compute what it claims.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for i, (x, y) in enumerate(loader):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        if (i + 1) % accum_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for i, (x, y) in enumerate(loader):
        loss = F.cross_entropy(model(x), y) / accum_steps
        loss.backward()
        if (i + 1) % accum_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
    ```

    ## Fix safety
    No fix is offered: dividing the loss also changes any value logged from it.
    """

    code = "TL412"
    name = "grad-accumulation-unscaled"
    summary = "Gradient accumulation over k micro-batches without dividing the loss by k: steps are k times larger."
    message = ("'{loss}' is backpropagated every micro-batch and the optimizer steps every '{k}' of them, but "
               "the loss is never divided by '{k}': the step is '{k}' times larger than one batch's; "
               "backpropagate '{loss} / {k}'")
    triggers = ("backward",)
    needs = STRONG

    gate = staticmethod(loops.names_backward)

    def _check(self, loop) -> None:
        ctx = self.ctx
        events = [e for e in loops.block_events(ctx, loop) if not e.inlined]
        backwards = [e for e in events if e.kind == loops.BACKWARD and not e.guards]
        if not backwards:
            return
        kinds = {e.kind for e in events}
        if loops.ENGINE_BACKWARD in kinds:
            return
        for s in events:
            if s.kind not in (loops.STEP, loops.SCALER_STEP) or s.loops or not s.conditions:
                continue
            k = None
            for guard, arm in s.conditions:
                if isinstance(guard, cst.If) and arm == "body":
                    k = _modulus(guard.test) or k
            if k is None:
                continue
            if not any(e.kind == loops.ZERO_GRAD and loops.runs_whenever(s, e)
                       and not loops.runs_whenever(e, backwards[0]) for e in events):
                continue
            bw = next((b for b in backwards if b.index < s.index), None)
            if bw is None or not self._unscaled_loss(loop, bw):
                continue
            if self._divided_somewhere(k):
                continue
            if s.kind == loops.SCALER_STEP and not loops.is_kind(ctx, s.extra["scaler"], loops.SCALER, self.needs):
                continue
            if not loops.is_kind(ctx, s.target, loops.OPTIMIZER, self.needs):
                continue
            self.report(bw.node, loss=bw.text, k=loops.code(k))
            return

    @staticmethod
    def _unscaled_loss(loop, bw: loops.Event) -> bool:
        target = bw.target
        if not isinstance(target, cst.Name):
            return isinstance(target, (cst.Call, cst.Attribute, cst.Subscript)) and not _scaled(target)
        name = target.value
        bound = False
        for sub in walk(loop.body, into_scopes=False):
            if isinstance(sub, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == name
                                                   for t in sub.targets):
                if _scaled(sub.value) or not isinstance(sub.value, (cst.Call, cst.Attribute, cst.Subscript)):
                    return False
                bound = True
            elif isinstance(sub, (cst.AugAssign, cst.AnnAssign)) and isinstance(sub.target, cst.Name) \
                    and sub.target.value == name:
                return False
            elif isinstance(sub, (cst.For, cst.With)) and sub is not loop:
                for t in ([sub.target] if isinstance(sub, cst.For) else
                          [i.asname.name for i in sub.items if i.asname is not None]):
                    if any(isinstance(n, cst.Name) and n.value == name for n in walk(t)):
                        return False
        return bound

    def _divided_somewhere(self, k: cst.BaseExpression) -> bool:
        ctx = self.ctx
        scope = ctx.current_function if ctx.current_function is not None else (ctx.stack[0] if ctx.stack else None)
        if scope is None:
            return True
        source = loops.code(scope)
        if "reduction='sum'" in source or 'reduction="sum"' in source:
            return True
        text = loops.code(k)
        for sub in walk(scope):
            if isinstance(sub, cst.BinaryOperation) and isinstance(sub.operator, _SCALING_OPS) \
                    and text in loops.code(sub.right if isinstance(sub.operator, (cst.Divide, cst.FloorDivide))
                                           else sub):
                return True
            if isinstance(sub, cst.AugAssign) and isinstance(sub.operator, _SCALING_AUG) \
                    and text in loops.code(sub.value):
                return True
        return False
