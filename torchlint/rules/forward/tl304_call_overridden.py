from __future__ import annotations

import libcst as cst

from ...facts.nodes import walk
from ...facts.usage import class_methods, first_argument_is_module, forwards_to_public_method, only_raises
from ...rule import Rule

# Calls inside an override that still go through Module.__call__ (and so run the hooks).
_DELEGATES = frozenset({"__call__", "_call_impl", "_wrapped_call_impl"})


_INERT = (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis)  # a docstring or ``...`` statement


def _abstract_stub(func: cst.FunctionDef) -> bool:
    """An ``@abstractmethod`` whose body does nothing (a docstring, ``pass``, ``...``, ``raise NotImplementedError``)."""
    names = set()
    for dec in func.decorators:
        d = dec.decorator
        names.add(d.attr.value if isinstance(d, cst.Attribute) else getattr(d, "value", None))
    if "abstractmethod" not in names:
        return False
    body = func.body.body if isinstance(func.body, cst.IndentedBlock) else [func.body]
    for stmt in body:
        if not isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return False
        for small in stmt.body:
            if isinstance(small, cst.Pass) or isinstance(small, cst.Raise):
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, _INERT):
                continue
            return False
    return True


class CallOverridden(Rule):
    """
    ## What it does
    Finds an `nn.Module` subclass that defines `__call__` and does not delegate to the Module's own
    `__call__` (`super().__call__(...)`, `nn.Module.__call__(self, ...)`, `self._call_impl(...)`).

    Silent on classes that are not Modules, on overrides that only add type hints or logging around
    `super().__call__(...)`, on "processor" objects whose `__call__(self, attn, hidden_states, ...)`
    takes another Module as its first argument (annotated as one, or one of its layers is applied to
    another argument: a calling protocol, not a layer applied to data), and on a `__call__` that only
    returns `self.<public method>(...)` in a class without `forward` (a shorthand for that method), and
    on a `__call__` that only raises (a container that refuses to be called), on a `__call__`
    that takes no argument besides `self` (a lazy getter: no input for a hook to see), on an
    `@abstractmethod` `__call__` that does nothing (a declaration: each concrete subclass's own
    `__call__` is judged where it stands), and on a class one of whose bases (of the file or of the
    project) already replaced `__call__` with one that never reaches `nn.Module.__call__`: the hooks
    were already lost there, and that base is the finding. Also silent when the class's `__init__` never
    calls an `__init__` at all: `nn.Module.__init__` never runs and no hook can be registered on an instance
    (TL107 reports the missing call where the class is used as a Module).

    ## Why is this bad?
    `nn.Module.__call__` is where forward pre-hooks, forward hooks and backward hooks run, and where
    `torch.compile`, FSDP, DDP, pruning, quantization observers and `torch.utils.hooks` plug in. A
    subclass that replaces `__call__` bypasses all of them: `register_forward_hook` returns a handle and
    the hook never runs, and wrappers relying on hooks silently do nothing.

    ## Example
    ```python
    class Scale(nn.Module):
        def __call__(self, x):
            return x * 2
    ```

    ## Use instead
    ```python
    class Scale(nn.Module):
        def forward(self, x):
            return x * 2
    ```

    ## Fix safety
    No fix is offered: renaming `__call__` to `forward` changes the class, and other code may call it
    by name.

    ## Precision
    On the corpus (tests/corpus_precision.md): tuning half 5 findings, 2 true (40%) before the
    conditions above; validation half (measured blind) 22 findings, 21 true (95%); the false one, a
    `__call__(self)` lazy getter, is now silent.

    ## Precision
    Default-off: on code no rule was tuned on, measured blind before any change: 21 true of 22 on the validation
    half of the corpus (blind), 1 of 1 on that half after the evidence-based kinds landed, and 5 of 6 on twelve
    libraries no rule was tuned on (tests/holdout_precision.md): 27 of 29 (93%). The false shapes found there
    are silent now (near-miss fixtures), but the rule stays off until a new blind measurement reaches 95%.
    Enable it with `--extend-select TL304` (or `extend-select = ["TL304"]` under `[tool.torchlint]`).
    """

    code = "TL304"
    default_enabled = False
    name = "call-overridden"
    summary = "An nn.Module subclass that defines `__call__` never runs its hooks; implement `forward`."
    message = "{cls} overrides nn.Module.__call__: forward/backward hooks never run; implement forward() instead"
    triggers = ("__call__",)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value != "__call__":
            return
        ctx = self.ctx
        if ctx.method_name != "__call__" or not ctx.in_module_class:
            return
        for sub in walk(node.body, into_scopes=False):
            if isinstance(sub, cst.Attribute) and sub.attr.value in _DELEGATES:
                return
        params = node.params
        if not (params.posonly_params or params.params[1:] or params.kwonly_params
                or isinstance(params.star_arg, cst.Param) or params.star_kwarg is not None) and params.params:
            return  # __call__(self): no input, a lazy getter rather than a layer applied to data
        if only_raises(node):
            return  # calling the object is refused on purpose: there is no call for a hook to wrap
        if first_argument_is_module(ctx, node):
            return  # processor(attn, hidden_states, ...): a protocol, not a layer applied to data
        if forwards_to_public_method(node) and "forward" not in class_methods(ctx, ctx.current_class):
            return  # __call__ = a shorthand for self.predict(...) on a Module without forward
        if _abstract_stub(node):
            return  # a declaration: every concrete subclass brings its own __call__, judged where it stands
        if ctx.model.call_replaced(ctx.current_class, own=False):
            return  # a base's __call__ already never reaches nn.Module.__call__ (reported on that base)
        init = class_methods(ctx, ctx.current_class).get("__init__")
        if init is not None and "__init__" not in ctx.model.called_names(init):
            return  # nn.Module.__init__ never runs: no hook can be registered on it at all
        self.report(node.name, cls=ctx.current_class.name.value)
