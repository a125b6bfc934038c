from __future__ import annotations

import libcst as cst

from ...facts import loops
from ...rule import Rule
from ...semantic.kinds import STRONG


class ClipScaledGradients(loops.ScansLoopsAndFunctions, Rule):
    """
    ## What it does
    Finds gradient clipping (`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`) between
    `scaler.scale(loss).backward()` and `scaler.step(optimizer)` with no `scaler.unscale_(optimizer)`
    before the clip, in one loop iteration or one function body.

    The scaler must be a `GradScaler` with strong evidence: a `torch.amp.GradScaler` /
    `torch.cuda.amp.GradScaler` construction bound to the name, or the scaler protocol (`scale`,
    `step` and `update` all called on it in the function). The clip must run in the same iteration as
    the backward and the step (not in another branch).

    ## Why is this bad?
    Between `scale(loss).backward()` and `step()` the gradients are multiplied by the loss scale
    (65536 at the start, adjusted dynamically). Clipping them to `max_norm=1.0` clips the scaled
    values: after `step()` divides by the scale, the real gradient norm is about `1 / 65536` of the
    intended bound and training all but stops, or the threshold never bites and clipping does
    nothing -- changing as the scale changes.

    ## Example
    ```python
    scaler = torch.amp.GradScaler()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        optimizer.zero_grad()
        scaler.scale(F.mse_loss(model(x), y)).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
    ```

    ## Use instead
    ```python
    scaler = torch.amp.GradScaler()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        optimizer.zero_grad()
        scaler.scale(F.mse_loss(model(x), y)).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
    ```

    ## Fix safety
    No fix is offered: `unscale_` takes the optimizer that owns the clipped parameters, which the rule
    cannot always name, and it may be called only once per step.
    """

    code = "TL410"
    name = "clip-scaled-gradients"
    summary = "Gradient clipping between scaler.scale(loss).backward() and scaler.step() without unscale_()."
    message = ("'{clip}' clips gradients still multiplied by the GradScaler's loss scale, so the bound is "
               "wrong by that factor; call '{scaler}.unscale_({opt})' before clipping")
    triggers = ("clip_grad",)
    needs = STRONG

    gate = staticmethod(loops.names_clip)

    def _check(self, owner) -> None:
        ctx = self.ctx
        events = [e for e in loops.block_events(ctx, owner) if not e.inlined]
        clips = [e for e in events if e.kind == loops.CLIP]
        if not clips:
            return
        for c in clips:
            if c.loops and not isinstance(owner, cst.FunctionDef):
                continue  # in a nested loop: checked there
            backward = None
            for e in reversed(events[:events.index(c)]):
                if e.kind == loops.UNSCALE:
                    backward = None
                    break
                if e.kind == loops.BACKWARD and e.scaled_by is not None and not loops.exclusive(e, c):
                    backward = e
                    break
                if e.kind in (loops.BACKWARD, loops.ENGINE_BACKWARD, loops.STEP, loops.SCALER_STEP):
                    break
            if backward is None or backward.loops != c.loops:
                continue
            step = next((e for e in events[events.index(c) + 1:]
                         if e.kind == loops.SCALER_STEP and e.extra["scaler"] is not None
                         and loops.code(e.extra["scaler"]) == backward.scaled_by), None)
            if step is None or loops.exclusive(step, c) or step.loops != c.loops:
                continue
            scaler = step.extra["scaler"]
            if not loops.is_kind(ctx, scaler, loops.SCALER, self.needs):
                continue
            self.report(c.node, clip=loops.code(c.node.func), scaler=backward.scaled_by, opt=step.text)
