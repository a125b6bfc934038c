from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety
from ...facts.grad import requires_grad_factory
from ...facts.kinds import PARAMETER_CLASSES
from ...facts.nodes import self_attribute, walk
from ...rule import UNSAFE, Fix, Rule

MOVES = frozenset({"to", "cuda", "cpu", "double", "float", "half", "bfloat16", "type"})


class ParameterMovedAfterWrapping(Rule):
    """
    ## What it does
    Finds `nn.Parameter(t).to(...)` and the same chain with `.cuda()`, `.cpu()`, `.double()`,
    `.float()`, `.half()`, `.bfloat16()` or `.type(...)` (also on a call of an in-file helper whose every
    `return` is an `nn.Parameter(...)`: `make_param(n).half()`); and, in an `nn.Module`, a tensor made with
    `requires_grad=True` and then moved or cast before it is stored on `self`
    (`self.w = torch.randn(3, requires_grad=True).cuda()`).

    Silent when the wrapped local was already moved or cast with the same argument in the same function
    (`t = v.to(device)` ... `nn.Parameter(t).to(device)`): the move is then a no-op and the leaf stays
    a leaf.

    ## Why is this bad?
    Moving or casting returns a *new* tensor whenever the device or dtype changes. That tensor is the
    output of an operation: a plain, non-leaf `Tensor`, not an `nn.Parameter`. Stored on a Module it is
    not registered (not in `parameters()`, not in `state_dict()`), and after `backward()` its `.grad`
    stays `None` (torch warns about reading `.grad` of a non-leaf); an optimizer given it raises
    `ValueError: can't optimize a non-leaf Tensor`. The code works on the CPU in float32, where the
    move is a no-op, and silently stops training on a GPU or in another precision.

    ## Example
    ```python
    self.scale = nn.Parameter(torch.ones(3)).cuda()
    ```

    ## Use instead
    ```python
    self.scale = nn.Parameter(torch.ones(3, device="cuda"))  # or nn.Parameter(torch.ones(3).cuda())
    # or create it on the CPU and move the whole module: model.cuda()
    ```

    ## Fix safety
    Unsafe: the move goes inside `nn.Parameter(...)`, so the attribute becomes a registered parameter
    (it appears in `parameters()` and `state_dict()`, and trains). Not offered for a chain of moves, nor before `super().__init__()`;
    `.type()` without a dtype is not a move (it returns the type's name) and is not reported.
    """

    code = "TL105"
    name = "parameter-moved-after-wrapping"
    summary = "`nn.Parameter(t).to(...)`/`.cuda()`/`.half()` returns a plain non-leaf tensor, not a parameter."
    message = (".{method}() on {what} returns a plain non-leaf tensor whenever the device or dtype changes: "
               "not a parameter, .grad stays None; move or cast inside nn.Parameter(...) or move the whole module")
    fix_availability = UNSAFE
    triggers = ("Parameter", "requires_grad")

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in MOVES):
            return
        receiver = func.value
        if not isinstance(receiver, cst.Call):
            return
        if func.attr.value == "type" and not node.args:
            return  # .type() without a dtype returns the type's name (a str) and moves nothing
        ctx = self.ctx
        if ctx.resolve(receiver.func) in PARAMETER_CLASSES:
            if self._already_placed(receiver, node):
                return
            self.report(node, what="nn.Parameter(...)", method=func.attr.value, fix=self._fix(node, receiver))
        elif self._helper_returns_parameter(receiver):
            helper = receiver.func.value
            self.report(node, what=f"{helper}(...) (it returns an nn.Parameter)", method=func.attr.value)
        elif self._stored_on_module(node) and requires_grad_factory(ctx, receiver) is not None:
            self.report(node, what="a requires_grad=True tensor", method=func.attr.value)

    def _helper_returns_parameter(self, call: cst.Call) -> bool:
        """``make_param(n)``: an in-file function whose every return is an ``nn.Parameter(...)`` construction."""
        if not isinstance(call.func, cst.Name):
            return False
        model = self.ctx.model
        helper = model.callee_of(call)
        returns = model.returns_of(helper) if helper is not None else []
        return bool(returns) and all(isinstance(r, cst.Call) and self.ctx.resolve(r.func) in PARAMETER_CLASSES
                                     for r in returns)

    def _already_placed(self, param: cst.Call, move: cst.Call) -> bool:
        """``t = v.to(device)`` ... ``nn.Parameter(t).to(device)``: the wrapped local was already moved or cast with
        the same first argument in this function, so the code means the move to be a no-op (a leaf stays a leaf)."""
        func = self.ctx.current_function
        if func is None or not param.args or not isinstance(param.args[0].value, cst.Name) or not move.args:
            return False
        name = param.args[0].value.value
        wanted = _code(move.args[0].value)
        for sub in walk(func.body, into_scopes=False):
            if isinstance(sub, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == name
                                                   for t in sub.targets):
                value = sub.value
                if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
                        and value.func.attr.value == move.func.attr.value and value.args \
                        and _code(value.args[0].value) == wanted:
                    return True
        return False

    def _stored_on_module(self, node: cst.Call) -> bool:
        ctx = self.ctx
        if not ctx.in_module_class or ctx.current_function is None:
            return False
        parent = ctx.parent()
        if not isinstance(parent, cst.Assign) or parent.value is not node:
            return False
        self_name = ctx.func_stack[-1].self_name
        return any(self_attribute(t.target, self_name) is not None for t in parent.targets)

    def _fix(self, node: cst.Call, param: cst.Call) -> Optional[Fix]:
        parent = self.ctx.parent()
        if isinstance(parent, cst.Attribute) and parent.attr.value in MOVES:
            return None  # a chain: fix the outermost move by hand
        if not param.args or param.args[0].keyword is not None or param.args[0].star:
            return None
        inner = param.args[0]
        moved = node.with_changes(func=node.func.with_changes(value=inner.value))
        new_param = param.with_changes(args=[inner.with_changes(value=moved), *param.args[1:]])
        return fixsafety.offer(self.ctx, UNSAFE, [(node, new_param)], "move or cast inside nn.Parameter(...)",
                               verdicts=[fixsafety.module_initialised_verdict(self.ctx, node)])


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)
