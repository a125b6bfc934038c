from __future__ import annotations

from typing import Iterator, Optional, Sequence

import libcst as cst

from ...facts.kinds import MODULE
from ...facts.nodes import uses_name
from ...rule import Rule


def _block(part) -> Sequence[cst.CSTNode]:
    body = getattr(part, "body", None)
    return body.body if isinstance(body, cst.IndentedBlock) else ()


def _suites(stmt: cst.CSTNode) -> Iterator[Sequence[cst.CSTNode]]:
    """The statement lists directly inside a compound statement (not nested functions or classes)."""
    if isinstance(stmt, (cst.SimpleStatementLine, cst.FunctionDef, cst.ClassDef)):
        return
    yield _block(stmt)
    orelse = getattr(stmt, "orelse", None)
    if isinstance(orelse, cst.If):
        yield from _suites(orelse)
    elif orelse is not None:
        yield _block(orelse)
    for handler in getattr(stmt, "handlers", ()) or ():
        yield _block(handler)
    for case in getattr(stmt, "cases", ()) or ():
        yield _block(case)
    finalbody = getattr(stmt, "finalbody", None)
    if finalbody is not None:
        yield _block(finalbody)


def _single_assign(stmt: cst.CSTNode) -> Optional[cst.Assign]:
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Assign):
        assign = stmt.body[0]
        if len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name):
            return assign
    return None


class SubmoduleOutputDiscarded(Rule):
    """
    ## What it does
    In the `forward` of an `nn.Module`, finds a local name assigned the result of a sub-module call
    (`out = self.mlp(x)`) and then assigned again in the same block (`out = self.head(x)`) before
    anything reads it.

    Only a plain reassignment in the same block counts: a read anywhere in between (also inside an `if`,
    a loop or a nested function), `out = self.head(out)`, `out += ...`, a `return` before the
    reassignment, or an assignment inside a branch keep the rule silent. The callee must be known to be
    a sub-module (`self.<attr>` assigned a Module in the class).

    ## Why is this bad?
    The first sub-module runs, costs time and memory, and its output is thrown away, so it takes no part
    in the loss: its parameters get no gradient (`.grad` stays `None`) and never train. Under
    `DistributedDataParallel` the backward fails with "Expected to have finished reduction in the prior
    iteration ... parameters that were not used in producing loss". Usually the second call was meant to
    take the first one's output (`self.head(out)`).

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            out = self.mlp(x)
            out = self.head(x)
            return out
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = nn.Linear(8, 8)
            self.head = nn.Linear(8, 2)

        def forward(self, x):
            out = self.mlp(x)
            out = self.head(out)
            return out
    ```

    ## Fix safety
    No fix is offered: whether the output should be used or the call removed depends on the model.
    """

    code = "TL306"
    name = "submodule-output-discarded"
    summary = "A sub-module's output in `forward` is overwritten before use; its parameters get no gradient."
    message = ("output of self.{attr}(...) in '{var}' is overwritten before it is read: self.{attr}'s parameters "
               "get no gradient (DDP errors on unused parameters); use the value or remove the call")
    triggers = ("forward",)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        ctx = self.ctx
        if node.name.value != "forward" or ctx.method_name != "forward" or not ctx.in_module_class:
            return
        if not isinstance(node.body, cst.IndentedBlock):
            return
        self._self_name = ctx.func_stack[-1].self_name
        if self._self_name is None:
            return
        self._check_suite(node.body.body)

    def _submodule_attr(self, value: cst.BaseExpression) -> Optional[str]:
        if not isinstance(value, cst.Call):
            return None
        func = value.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) \
                and func.value.value == self._self_name:
            attr = func.attr.value
            if self.ctx.kinds.self_attr_kind(attr) == MODULE:
                return attr
        return None

    def _check_suite(self, statements: Sequence[cst.CSTNode]) -> None:
        for index, stmt in enumerate(statements):
            for inner in _suites(stmt):
                self._check_suite(inner)
            assign = _single_assign(stmt)
            if assign is None:
                continue
            attr = self._submodule_attr(assign.value)
            if attr is None:
                continue
            var = assign.targets[0].target.value
            if uses_name(assign.value, var):
                continue  # out = self.a(out): the old value was read
            later = self._overwritten_unread(statements[index + 1:], var)
            if later:
                self.report(assign.value, attr=attr, var=var)

    @staticmethod
    def _overwritten_unread(statements: Sequence[cst.CSTNode], var: str) -> bool:
        for stmt in statements:
            assign = _single_assign(stmt)
            if assign is not None and assign.targets[0].target.value == var:
                return not uses_name(assign.value, var)
            if uses_name(stmt, var):
                return False
            if isinstance(stmt, cst.SimpleStatementLine) and any(
                    isinstance(s, (cst.Return, cst.Raise)) for s in stmt.body):
                return False
        return False
