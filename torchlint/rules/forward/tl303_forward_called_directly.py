from __future__ import annotations

import libcst as cst

from ...facts.usage import unescaped_local_module
from ...rule import Rule
from ...semantic.kinds import MODULE, STRONG


class ForwardCalledDirectly(Rule):
    """
    ## What it does
    Finds `model.forward(x)` / `self.encoder.forward(x)` where the receiver is known to be an
    `nn.Module` (a construction, a name bound to one, a sub-module attribute, `self` in a Module).

    Silent on `super().forward(...)` and `Base.forward(self, ...)` (calling the parent's implementation
    from an override is how overrides work), on `self.forward(...)` inside the module's own methods
    (recursion for auxiliary losses, helpers such as `get_features()`: the outer call already ran the
    hooks, and tools such as accelerate wrap `forward` itself), on receivers not known to be Modules,
    on passing the bound method around without calling it, on a module constructed in the same
    function that has not escaped it (never passed to a call, stored, returned or given a hook), on
    which no hook can be registered, and on a receiver whose class (of the file or of the project)
    replaces `__call__` with one that never reaches `nn.Module.__call__` (its own or a base's, followed
    through `super().__call__`): calling `receiver(...)` would run no hook either, and its `__call__`
    usually does something else than `forward` (a kernel that evaluates lazily, a GP that conditions).

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

    ## Precision
    On the corpus (tests/corpus_precision.md): tuning half 5 findings, 4 true (80%) before the
    unescaped-local condition, which removed the false one; validation half (measured blind) 1
    finding, 1 true.
    """

    needs = STRONG
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
        if not self.is_kind(receiver, MODULE):
            return
        func = self.ctx.current_function
        if isinstance(receiver, cst.Name) and func is not None and unescaped_local_module(self.ctx, func, receiver.value):
            return  # built here and never handed out: no hook can have been registered on it
        model = self.ctx.model
        fact = model.kinds.of(receiver)
        if fact is not None and model.class_call_replaced(fact.cls):
            return  # its class's own __call__ never reaches nn.Module.__call__: receiver(...) would run no hook either
        self.report(node, receiver=_code(receiver))


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)
