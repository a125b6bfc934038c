from __future__ import annotations

import libcst as cst

from ...facts import loops
from ...rule import Rule
from ...semantic.kinds import STRONG


def _max_norm_is_infinite(call: cst.Call) -> bool:
    """``clip_grad_norm_(params, float("inf"))`` only measures the norm."""
    args = [a for a in call.args if a.keyword is None][1:2] or \
        [a for a in call.args if a.keyword is not None and a.keyword.value in ("max_norm", "clip_value")]
    return any("inf" in loops.code(a.value) for a in args)


class ClipAfterStep(Rule):
    """
    ## What it does
    Finds gradient clipping (`torch.nn.utils.clip_grad_norm_` / `clip_grad_value_`, or a wrapper's
    `x.clip_grad_norm_(...)`) that runs after the optimizer step of the same iteration, with no
    `backward()` in between, where the gradients are then cleared (`zero_grad()`, `p.grad = None`)
    before the next step -- so the clipped values are never used.

    The optimizer must be known with strong evidence. The clip must run only when the step ran (same
    condition or nested under it). Silent for `clip_grad_norm_(params, float("inf"))`, which only
    measures the norm.

    ## Why is this bad?
    `optimizer.step()` has already applied the unclipped gradients; clipping them afterwards changes
    values nobody reads before `zero_grad()` discards them. Clipping silently does nothing and
    exploding gradients go through.

    ## Example
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        optimizer.step()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    ```

    ## Use instead
    ```python
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for x, y in loader:
        optimizer.zero_grad()
        F.mse_loss(model(x), y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
    ```

    ## Fix safety
    No fix is offered: the clip has to move above the step, past whatever else sits between them.
    """

    code = "TL411"
    name = "clip-after-step"
    summary = "Gradient clipping after optimizer.step() in the same iteration has no effect."
    message = ("'{clip}' runs after '{step}' already applied the unclipped gradients, and they are cleared "
               "before the next step: clipping does nothing; clip between backward() and the step")
    triggers = ("clip_grad",)
    needs = STRONG

    def visit_For(self, node: cst.For) -> None:
        self._check(node, cyclic=True)

    def visit_While(self, node: cst.While) -> None:
        self._check(node, cyclic=True)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._check(node, cyclic=False)

    def _check(self, owner, cyclic: bool) -> None:
        ctx = self.ctx
        if not loops.may_call(ctx, owner, loops.names_clip):
            return
        events = [e for e in loops.block_events(ctx, owner) if not e.inlined]
        clips = [e for e in events if e.kind in (loops.CLIP, loops.OTHER_CLIP) and not e.loops]
        if not clips:
            return
        for c in clips:
            if _max_norm_is_infinite(c.node):
                continue
            step = None
            for e in reversed(events[:events.index(c)]):
                if e.kind in (loops.BACKWARD, loops.ENGINE_BACKWARD):
                    break
                if e.kind in (loops.STEP, loops.SCALER_STEP) and not e.loops:
                    step = e
                    break
            if step is None or not loops.runs_whenever(step, c):
                continue
            if step.kind == loops.SCALER_STEP and not loops.is_kind(ctx, step.extra["scaler"], loops.SCALER, self.needs):
                continue
            if not self._cleared_before_next_use(events, c, cyclic):
                continue
            if not loops.is_kind(ctx, step.target, loops.OPTIMIZER, self.needs):
                continue
            self.report(c.node, clip=loops.code(c.node.func), step=loops.code(step.node))

    @staticmethod
    def _cleared_before_next_use(events, c, cyclic: bool) -> bool:
        following = loops.cyclic_after(events, c) if cyclic else events[events.index(c) + 1:]
        if not cyclic:
            # a step function runs once per iteration of its caller: clearing anywhere in it counts
            following = list(following) + events[:events.index(c)]
        for e in following:
            if e.kind == loops.ZERO_GRAD:
                return True
            if e.kind in (loops.STEP, loops.SCALER_STEP, loops.BACKWARD, loops.ENGINE_BACKWARD):
                return False
        return False
