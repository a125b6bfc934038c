from __future__ import annotations

import libcst as cst

from ...facts.kinds import MODULE
from ...rule import Rule


class ForwardCalledDirectly(Rule):
    """
    ## What it does
    Finds `model.forward(x)` / `self.encoder.forward(x)` where the receiver is known to be an
    `nn.Module` (a construction, a name bound to one, a sub-module attribute, `self` in a Module).

    Silent on `super().forward(...)` and `Base.forward(self, ...)` (calling the parent's implementation
    from an override is how overrides work), on `self.forward(...)` inside the module's own methods
    (recursion for auxiliary losses, helpers such as `get_features()`: the outer call already ran the
    hooks, and tools such as accelerate wrap `forward` itself), on receivers not known to be Modules,
    and on passing the bound method around without calling it.

    ## Why is this bad?
    `Module.__call__` is what runs the hooks: forward pre-hooks, forward hooks and backward hooks. Calling
    `forward` directly skips them, and with them everything built on hooks: pruning masks
    (`torch.nn.utils.prune`), quantization observers, weight and spectral norm re-computation, FSDP/DDP
    communication hooks, activation checkpoint and profiling hooks. The call returns a result and nothing
    tells you that those features were silently bypassed.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head.forward(self.encoder.forward(x))
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            return self.head(self.encoder(x))
    ```

    ## Fix safety
    No fix is offered: running the hooks that were skipped may change results (that is the point), and
    `self.forward(...)` inside a method that `__call__` itself reaches could recurse.
    """

    code = "TL303"
    name = "forward-called-directly"
    summary = "`module.forward(x)` skips forward/backward hooks; call `module(x)`."
    message = "calling {receiver}.forward(...) directly skips the module's hooks (pruning, quantization, FSDP/DDP); call {receiver}(...)"
    triggers = (".forward(",)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "forward"):
            return
        receiver = func.value
        if isinstance(receiver, cst.Call):
            return  # super().forward(...), or a value built on the spot
        if self.ctx.is_self(receiver):
            return  # the module's own methods: recursion inside forward, helpers the hooks already wrap
        if self.ctx.kind_of(receiver) != MODULE:
            return
        self.report(node, receiver=_code(receiver))


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)
