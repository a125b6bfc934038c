from __future__ import annotations

import libcst as cst

from ...facts import loops
from ...facts.nodes import walk
from ...rule import Rule
from ...semantic.kinds import STRONG


class ZeroGradMissing(loops.ScansLoops, Rule):
    """
    ## What it does
    Finds a training loop whose body runs `backward()` and steps an optimizer (`optimizer.step()` or
    `scaler.step(optimizer)`) but never clears the gradients: no `optimizer.zero_grad()`,
    `model.zero_grad()`, `p.grad = None` / `p.grad.zero_()` loop or `del p.grad` anywhere in the loop
    body, in a nested loop of it, or in an in-file helper it calls.

    The optimizer must be known with strong evidence: a `torch.optim` construction bound to the name,
    optimizer-only API on it (`param_groups`, `add_param_group`), being the optimizer of a scheduler or
    of `scaler.step(...)`, or every call site of the enclosing function passing one. The backward and
    the step must sit in the same loop (not only in a nested loop: that loop is checked itself).

    Silent when the loop body ends with an unconditional `break` / `return` (it steps once, so clearing
    before the loop is enough), when the backward goes through a training engine
    (`accelerator.backward(loss)`, `engine.backward(loss)`, `self.manual_backward(loss)`: engines such as
    DeepSpeed clear gradients inside `step()`), and for `optimizer.step(closure)` (the closure
    recomputes the gradients).

    ## Why is this bad?
    `backward()` adds into `.grad`; it never overwrites it. Without clearing, every step applies the
    sum of the gradients of all previous iterations, so updates grow without bound and the loss first
    falls, then diverges.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
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
    Gradient accumulation clears under the same condition as the step (`if (i + 1) % k == 0:
    optimizer.step(); optimizer.zero_grad()`), which this rule accepts.

    ## Fix safety
    No fix is offered: where to clear depends on whether the loop is meant to accumulate.
    """

    code = "TL408"
    name = "zero-grad-missing"
    summary = "A training loop runs backward() and optimizer.step() but never clears the gradients."
    message = ("'{step}' runs after backward() every iteration but gradients are never cleared in this loop: "
               "they accumulate across steps; call '{opt}.zero_grad()' once per iteration")
    triggers = ("backward",)
    needs = STRONG

    gate = staticmethod(loops.names_backward)

    def _check(self, loop) -> None:
        ctx = self.ctx
        if ctx.in_no_grad:
            return
        events = loops.block_events(ctx, loop)
        backwards = [e for e in events if e.kind == loops.BACKWARD and not e.inlined]
        if not backwards:
            return
        steps = [e for e in events if e.kind in (loops.STEP, loops.SCALER_STEP) and not e.inlined]
        if not steps:
            return
        kinds = {e.kind for e in events}
        if loops.ZERO_GRAD in kinds or loops.ENGINE_BACKWARD in kinds or loops.ends_early(loop):
            return
        if self._clears_in_nested_def(loop):
            return
        for step in steps:
            opt = step.target
            if step.kind == loops.SCALER_STEP and not loops.is_kind(ctx, step.extra["scaler"], loops.SCALER, self.needs):
                continue  # optimizer.step(closure) or an unknown x.step(y)
            for bw in backwards:
                if loops.exclusive(bw, step):
                    continue
                if bw.loops and step.loops and bw.loops[0] is step.loops[0]:
                    continue  # both in one nested loop: that loop is checked itself
                if loops.is_kind(ctx, opt, loops.OPTIMIZER, self.needs):
                    self.report(step.node, step=loops.code(step.node), opt=step.text)
                    return
                break

    @staticmethod
    def _clears_in_nested_def(loop) -> bool:
        for sub in walk(loop.body):
            if isinstance(sub, (cst.FunctionDef, cst.Lambda)):
                for inner in walk(sub):
                    if isinstance(inner, cst.Attribute) and inner.attr.value in ("zero_grad", "grad"):
                        return True
        return False
