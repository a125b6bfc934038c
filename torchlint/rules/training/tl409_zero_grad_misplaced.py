from __future__ import annotations

import libcst as cst

from ...facts import loops
from ...rule import Rule
from ...semantic.kinds import STRONG


class ZeroGradMisplaced(loops.ScansLoopsAndFunctions, Rule):
    """
    ## What it does
    Finds gradients cleared between `backward()` and the optimizer step that should use them:
    `loss.backward()`, then `optimizer.zero_grad()` (or `model.zero_grad()` of a model whose parameters
    that optimizer holds), then `optimizer.step()` (or `scaler.step(optimizer)`), in one loop iteration
    or one function body, with no other `backward()` between the clearing and the step and the clearing
    running whenever the step runs.

    The optimizer must be known with strong evidence (a `torch.optim` construction, optimizer-only API,
    or every call site passing one); for `model.zero_grad()` the optimizer must be built over
    `model.parameters()` in the file.

    Silent when the clearing sits in a branch the step is not in (`if not torch.isfinite(loss):
    optimizer.zero_grad(); continue`), for `optimizer.step(closure)`, and when another `backward()`
    runs between the clearing and the step.

    ## Why is this bad?
    `zero_grad()` throws away the gradients `backward()` just computed. With the default
    `set_to_none=True` every `.grad` is `None` and `step()` skips every parameter: the model never
    trains. With `set_to_none=False` the step sees zeros and only momentum or weight decay move the
    weights.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Fix safety
    No fix is offered: moving the clearing before the forward pass is usually right, but the forward
    pass may start anywhere above.
    """

    code = "TL409"
    name = "zero-grad-misplaced"
    summary = "zero_grad() between backward() and optimizer.step() discards the gradients the step needs."
    message = ("'{zero}' clears the gradients backward() just computed, so '{step}' has nothing to apply "
               "and the model does not train; clear the gradients before the forward pass or after the step")
    triggers = ("zero_grad",)
    needs = STRONG

    gate = staticmethod(loops.names_zero_grad)

    def _check(self, owner) -> None:
        ctx = self.ctx
        events = [e for e in loops.block_events(ctx, owner) if not e.inlined and not e.loops]
        zeros = [e for e in events if e.kind == loops.ZERO_GRAD and e.target is not None
                 and isinstance(e.node, cst.Call) and not loops.is_grad_attribute(e.target)]
        if not zeros:
            return
        for z in zeros:
            before = [e for e in events[:events.index(z)] if e.kind == loops.BACKWARD and not loops.exclusive(e, z)]
            if not before:
                continue
            for s in events[events.index(z) + 1:]:
                if s.kind == loops.BACKWARD or s.kind == loops.ENGINE_BACKWARD:
                    break
                if s.kind not in (loops.STEP, loops.SCALER_STEP):
                    continue
                if s.kind == loops.SCALER_STEP and not loops.is_kind(ctx, s.extra["scaler"], loops.SCALER, self.needs):
                    continue
                if not loops.runs_whenever(z, s) or not self._clears_for(z, s):
                    continue
                self.report(z.node, zero=loops.code(z.node), step=loops.code(s.node))
                return

    def _clears_for(self, z: loops.Event, s: loops.Event) -> bool:
        ctx = self.ctx
        if not loops.is_kind(ctx, s.target, loops.OPTIMIZER, self.needs):
            return False
        if z.text == s.text:
            return True
        return loops.optimizer_over(ctx, s.text, z.text)
