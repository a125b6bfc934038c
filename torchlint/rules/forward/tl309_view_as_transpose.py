"""TL309: ``view``/``reshape`` with a tensor's own sizes in another order (a reinterpretation, not a transpose)."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from ...rule import Rule

_METHODS = frozenset({"view", "reshape"})
_code = cst.Module(body=[]).code_for_node


def _int(node: cst.BaseExpression) -> Optional[int]:
    return int(node.value) if isinstance(node, cst.Integer) else None


def _is_minus_one(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus) \
        and isinstance(node.expression, cst.Integer) and node.expression.value == "1"


def _size_source(node: cst.BaseExpression) -> Optional[str]:
    """``x.shape`` / ``x.size()`` -> source text of ``x``."""
    if isinstance(node, cst.Attribute) and node.attr.value == "shape":
        return _code(node.value)
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "size" \
            and not node.args:
        return _code(node.func.value)
    return None


class ViewAsTranspose(Rule):
    """
    ## What it does
    Finds `x.view(...)` / `x.reshape(...)` whose arguments are `x`'s own sizes in another order: `x.size(1)`,
    `x.shape[0]`, or names unpacked from `x.shape` / `x.size()` in the same function (`B, L, H, D = x.shape`)
    with `x` not rebound since; at most one `-1`. Fires when the dimensions named keep their sizes but not their
    order (`x.view(x.size(1), x.size(0))`, `x.view(B, H, L, -1)`), which is what a transpose or permute
    would produce.

    Evidence: the sizes are `x`'s own, read in the same function: no kind is needed (a reordering `reshape` of
    a NumPy array is the same mistake).

    ## Why is this bad?
    `view` and `reshape` keep the elements in memory order and only cut them into a new shape. Asking for the
    old sizes in a new order does not move any element between dimensions: `x.view(x.size(1), x.size(0))` is
    not `x.t()`, and `(B, L, H, D).view(B, H, L, -1)` mixes the heads of one position with the positions of
    one head. The shapes are right, so nothing fails; attention or the loss just sees scrambled data.

    ## Example
    ```python
    def heads(x):
        B, L, H, D = x.shape
        return x.view(B, H, L, D)
    ```

    ## Use instead
    ```python
    def heads(x):
        B, L, H, D = x.shape
        return x.permute(0, 2, 1, 3)
    ```

    ## Fix safety
    No fix is offered: `permute`/`transpose` return non-contiguous tensors, and whether the following code
    needs `.contiguous()` is the author's call.
    """

    code = "TL309"
    name = "view-as-transpose"
    summary = "`view`/`reshape` with the tensor's own sizes reordered: reinterprets memory instead of transposing."
    message = ("'{call}' asks for {receiver}'s own sizes in another order: view/reshape does not move elements between "
               "dimensions; use {receiver}.permute({order}) (or transpose)")
    triggers = ("view", "reshape")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.scopes: list[dict[str, tuple[str, int]]] = [{}]  # name -> (tensor source, dimension)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append({})

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def leave_Assign(self, node: cst.Assign) -> None:
        scope = self.scopes[-1]
        for t in node.targets:
            target = t.target
            for n in _targets(target):
                scope.pop(n, None)
                for key in [k for k, (src, _d) in scope.items() if src == n or src.startswith(n + ".")]:
                    scope.pop(key)  # the tensor itself is rebound: its old sizes no longer describe it
            source = _size_source(node.value)
            if source is not None and isinstance(target, (cst.Tuple, cst.List)) and all(
                    isinstance(el.value, cst.Name) for el in target.elements):
                for dim, el in enumerate(target.elements):
                    scope[el.value.value] = (source, dim)

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        if isinstance(node.target, cst.Name):
            self.scopes[-1].pop(node.target.value, None)

    def visit_For(self, node: cst.For) -> None:
        for n in _targets(node.target):
            self.scopes[-1].pop(n, None)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _METHODS:
            return
        args = node.args
        if len(args) == 1 and isinstance(args[0].value, (cst.Tuple, cst.List)) and not args[0].star:
            values = [el.value for el in args[0].value.elements]
        elif all(a.keyword is None and not a.star for a in args):
            values = [a.value for a in args]
        else:
            return
        if len(values) < 2:
            return
        receiver = _code(func.value)
        dims = []
        minus_one = 0
        for v in values:
            if _is_minus_one(v):
                minus_one += 1
                continue
            dim = self._dim_of(v, receiver)
            if dim is None:
                return
            dims.append(dim)
        if minus_one > 1 or len(dims) < 2 or len(set(dims)) != len(dims):
            return
        if dims == sorted(dims):
            return
        full = list(dims)
        if minus_one:
            missing = sorted(set(range(len(values))) - set(dims))
            if len(missing) == 1:
                full.insert(next(i for i, v in enumerate(values) if _is_minus_one(v)), missing[0])
        order = ", ".join(str(d) for d in full) if sorted(full) == list(range(len(values))) else "..."
        self.report(node, call=_code(node), receiver=receiver, order=order)

    def _dim_of(self, value: cst.BaseExpression, receiver: str) -> Optional[int]:
        if isinstance(value, cst.Name):
            found = self.scopes[-1].get(value.value)
            return found[1] if found is not None and found[0] == receiver else None
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "size" \
                and len(value.args) == 1 and _code(value.func.value) == receiver:
            return _int(value.args[0].value)
        if isinstance(value, cst.Subscript) and len(value.slice) == 1 \
                and isinstance(value.slice[0].slice, cst.Index) and _size_source(value.value) == receiver:
            return _int(value.slice[0].slice.value)
        return None


def _targets(target: cst.BaseExpression):
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            yield from _targets(el.value)
    elif isinstance(target, cst.StarredElement):
        yield from _targets(target.value)
