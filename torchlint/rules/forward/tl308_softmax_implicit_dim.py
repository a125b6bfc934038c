"""TL308: softmax / log_softmax with no ``dim`` (or over the batch dimension of a (batch, classes) output)."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.nodes import keyword_arg
from ...rule import Rule

_FUNCTIONS = {"torch.nn.functional.softmax": "softmax", "torch.nn.functional.log_softmax": "log_softmax",
              "torch.nn.functional.softmin": "softmin"}
_PATHS = ("torch.nn.", "torch.nn.modules.", "torch.nn.modules.activation.")
_CLASSES = {p + c: c for p in _PATHS for c in ("Softmax", "LogSoftmax", "Softmin")}
# calls that take dim as their 2nd positional argument (1st for the tensor methods)
_DIM_FUNCTIONS = frozenset({"torch.softmax", "torch.log_softmax", "torch.nn.functional.softmax",
                            "torch.nn.functional.log_softmax", "torch.special.softmax", "torch.special.log_softmax"})
_DIM_METHODS = frozenset({"softmax", "log_softmax"})
_ARG_REDUCTIONS = frozenset({"argmax", "max"})  # over the class dimension: dim 1


def _has_star(call: cst.Call) -> bool:
    return any(a.star for a in call.args)


def _positional(call: cst.Call) -> list:
    return [a for a in call.args if a.keyword is None and not a.star]


def _int_value(node: Optional[cst.BaseExpression]) -> Optional[int]:
    if isinstance(node, cst.Integer):
        return int(node.value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) \
            and isinstance(node.expression, cst.Integer):
        return -int(node.expression.value)
    return None


class SoftmaxImplicitDim(Rule):
    """
    ## What it does
    Finds `F.softmax(x)`, `F.log_softmax(x)`, `F.softmin(x)` with no `dim`, and `nn.Softmax()`,
    `nn.LogSoftmax()`, `nn.Softmin()` built with no `dim` (or `dim=None`).

    Also finds a softmax taken over dimension 0 whose result is then reduced over dimension 1 in the same
    function (`p = F.softmax(logits, dim=0)` then `p.argmax(1)` / `p.max(dim=1)` / `torch.argmax(p, 1)`): the
    normalisation runs across the batch while the prediction is read across the classes.

    Evidence: PROVEN (the torch function or class resolved through the imports; the tensor methods
    `x.softmax(0)` and `x.log_softmax(0)` for the dim-0 case).

    ## Why is this bad?
    Without `dim`, PyTorch guesses: dim 0 for 0-, 1- and 3-dimensional inputs, dim 1 otherwise (and warns
    that the guess is deprecated). For a `(batch, seq, classes)` output the "probabilities" are normalised
    across the batch: each sample's output depends on the other samples of the batch, rows do not sum to one,
    and a model trained this way behaves differently at another batch size. A softmax over dim 0 of a
    `(batch, classes)` output does the same on purpose-looking code.

    ## Example
    ```python
    probs = F.softmax(logits)
    head = nn.LogSoftmax()
    ```

    ## Use instead
    ```python
    probs = F.softmax(logits, dim=-1)
    head = nn.LogSoftmax(dim=-1)
    ```

    ## Fix safety
    No fix is offered: the intended dimension depends on the tensor's layout (for 4-dimensional inputs the
    guess is the channel dimension 1, not -1).
    """

    code = "TL308"
    name = "softmax-implicit-dim"
    summary = "`softmax`/`log_softmax`/`nn.Softmax` with no `dim` (PyTorch guesses; dim 0 for 3-D input), or over the batch dim."
    message = "{what} without dim: PyTorch guesses the dimension (0, the batch, for 1-D and 3-D inputs); pass dim=-1 (or the class dim)"
    message_batch = ("softmax over dim 0 (the batch) of '{name}' whose prediction is read over dim 1: each sample's "
                     "probabilities depend on the rest of the batch; use dim=1")
    triggers = ("softmax", "Softmax", "softmin", "Softmin")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.scopes: list[dict[str, cst.Call]] = [{}]  # names bound to a softmax over dim 0
        self.reported: set[int] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append({})

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def leave_Assign(self, node: cst.Assign) -> None:
        call = node.value if isinstance(node.value, cst.Call) and self._softmax_dim(node.value) == 0 else None
        for t in node.targets:
            if isinstance(t.target, cst.Name):
                if call is not None:
                    self.scopes[-1][t.target.value] = call
                else:
                    self.scopes[-1].pop(t.target.value, None)

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self.scopes[-1].pop(node.target.value, None)

    def visit_For(self, node: cst.For) -> None:
        if isinstance(node.target, cst.Name):
            self.scopes[-1].pop(node.target.value, None)

    # ------------------------------------------------------------------ checks
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _ARG_REDUCTIONS:
            self._check_reduction(node, func)
        qualified = self.ctx.resolve(func)
        if qualified is None or _has_star(node):
            return
        if qualified in _FUNCTIONS:
            if len(_positional(node)) < 2 and keyword_arg(node, "dim") is None:
                self.report(node, what=f"{_FUNCTIONS[qualified]}()")
        elif qualified in _CLASSES:
            dim = keyword_arg(node, "dim")
            positional = _positional(node)
            value = dim.value if dim is not None else (positional[0].value if positional else None)
            if value is None or (isinstance(value, cst.Name) and value.value == "None"):
                self.report(node, what=f"nn.{_CLASSES[qualified]}()")
        elif qualified in ("torch.argmax", "torch.max"):
            positional = _positional(node)
            dim = keyword_arg(node, "dim")
            dim_value = dim.value if dim is not None else (positional[1].value if len(positional) > 1 else None)
            if positional and _int_value(dim_value) == 1:
                self._report_batch(positional[0].value)

    def _check_reduction(self, node: cst.Call, func: cst.Attribute) -> None:
        positional = _positional(node)
        dim = keyword_arg(node, "dim")
        dim_value = dim.value if dim is not None else (positional[0].value if positional else None)
        if _int_value(dim_value) == 1:
            self._report_batch(func.value)

    def _report_batch(self, value: cst.BaseExpression) -> None:
        if isinstance(value, cst.Name):
            call = self.scopes[-1].get(value.value)
            name = value.value
        elif isinstance(value, cst.Call) and self._softmax_dim(value) == 0:
            call, name = value, cst.Module(body=[]).code_for_node(value)
        else:
            return
        if call is not None and id(call) not in self.reported:
            self.reported.add(id(call))
            self.report(call, message=self.message_batch.format(name=name))

    def _softmax_dim(self, call: cst.Call) -> Optional[int]:
        """The literal dim of a softmax / log_softmax call, or None."""
        if _has_star(call):
            return None
        func = call.func
        qualified = self.ctx.resolve(func)
        dim = keyword_arg(call, "dim")
        positional = _positional(call)
        if qualified is not None:
            if qualified not in _DIM_FUNCTIONS:
                return None
            value = dim.value if dim is not None else (positional[1].value if len(positional) > 1 else None)
            return _int_value(value)
        if isinstance(func, cst.Attribute) and func.attr.value in _DIM_METHODS:
            value = dim.value if dim is not None else (positional[0].value if positional else None)
            return _int_value(value)
        return None
