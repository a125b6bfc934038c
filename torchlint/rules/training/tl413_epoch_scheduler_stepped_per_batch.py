from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts import loops
from ...facts.nodes import keyword_arg, walk
from ...rule import Rule

# Schedulers whose arguments count epochs in their documentation, and the argument that says how many.
_EPOCH_SCHEDULERS = {
    "torch.optim.lr_scheduler.StepLR": ("step_size", 1),
    "torch.optim.lr_scheduler.MultiStepLR": ("milestones", 1),
    "torch.optim.lr_scheduler.ExponentialLR": ("gamma", 1),
}
_ITERATION_WORDS = ("iter", "step", "batch", "len(")


def _argument(call: cst.Call, name: str, position: int) -> Optional[cst.BaseExpression]:
    arg = keyword_arg(call, name)
    if arg is not None:
        return arg.value
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[position].value if len(positional) > position else None


def _counts_iterations(cls: str, value: Optional[cst.BaseExpression]) -> bool:
    """The configuration reads as iteration-counted (or we cannot tell): stay silent."""
    if value is None:
        return cls != "torch.optim.lr_scheduler.ExponentialLR"
    text = loops.code(value).lower()
    if cls == "torch.optim.lr_scheduler.ExponentialLR":
        try:
            return float(text) >= 0.999  # a per-iteration decay rate
        except ValueError:
            return True
    if any(word in text for word in _ITERATION_WORDS) or "*" in text:
        return True
    numbers = [n for n in walk(value) if isinstance(n, cst.Integer)]
    if not numbers:
        return True  # a setting from elsewhere: unknown unit
    return any(int(n.value.replace("_", ""), 0) >= 1000 for n in numbers)


class EpochSchedulerSteppedPerBatch(loops.ScansLoops, Rule):
    """
    ## What it does
    Finds `scheduler.step()` of a `StepLR`, `MultiStepLR` or `ExponentialLR` scheduler called inside the
    batch loop of an epoch loop: the step sits directly (unconditionally) in a loop that is itself
    inside another loop of the function, or in an in-file helper such as
    `train_one_epoch(model, loader, optimizer, scheduler)` whose batch loop steps it, called from the
    epoch loop.

    The scheduler's class must be proven: a construction bound to the name in the function, at module
    level, or to `self.<name>` in the class. The configuration must read as epoch-counted: literal
    `step_size` / `milestones` below 1000 (no `len(...)`, products, or `iter`/`step`/`batch` names), or
    an `ExponentialLR` `gamma` below 0.999.

    Silent for per-batch schedulers (`OneCycleLR`, `CyclicLR`, `LambdaLR` warm-ups, ...), for a step
    under a condition (`if i % steps_per_epoch == 0`), and for schedulers passed in as parameters.

    ## Why is this bad?
    These schedulers count their argument in calls to `step()`. Stepping once per batch instead of once
    per epoch divides every milestone by the number of batches: `StepLR(step_size=30, gamma=0.1)` decays
    the learning rate tenfold every 30 *batches*, and after a few hundred batches it is effectively
    zero, so training stalls.

    ## Example
    ```python
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(epochs):
        for x, y in loader:
            train_step(x, y)
            scheduler.step()
    ```

    ## Use instead
    ```python
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(epochs):
        for x, y in loader:
            train_step(x, y)
        scheduler.step()
    ```

    ## Fix safety
    No fix is offered: if per-iteration decay was meant, the arguments must be rescaled instead.
    """

    code = "TL413"
    name = "epoch-scheduler-stepped-per-batch"
    summary = "An epoch-counted scheduler (StepLR, MultiStepLR, ExponentialLR) stepped once per batch."
    message = ("'{step}' steps a {cls} every batch, but its {arg} counts epochs: the learning rate decays "
               "once per batch and soon reaches zero; step it once per epoch, after the batch loop")
    triggers = ("StepLR", "ExponentialLR")

    gate = staticmethod(loops.names_step)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._reported: set[int] = set()

    def _check(self, outer) -> None:
        ctx = self.ctx
        for e in loops.block_events(ctx, outer):
            if e.kind != loops.STEP or not e.loops or id(e.node) in self._reported:
                continue
            if e.inlined and e.extra.get("foreign"):
                continue
            if e.guards[-1][1] != "loop":
                continue  # under a condition inside the batch loop
            call = loops.constructed_class(ctx, e.target)
            if call is None:
                continue
            cls = ctx.resolve(call.func)
            spec = _EPOCH_SCHEDULERS.get(cls or "")
            if spec is None:
                continue
            arg_name, position = spec
            if _counts_iterations(cls, _argument(call, arg_name, position)):
                continue
            self._reported.add(id(e.node))
            self.report(e.node, step=loops.code(e.node), cls=cls.rsplit(".", 1)[-1], arg=arg_name)
