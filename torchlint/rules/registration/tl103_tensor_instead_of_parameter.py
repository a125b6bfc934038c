from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety
from ...facts.kinds import TENSOR
from ...facts.nodes import is_literal_true, iter_small_statements, self_attribute
from ...facts.grad import is_requires_grad_call, requires_grad_factory
from ...rule import UNSAFE, Fix, Rule


class TensorInsteadOfParameter(Rule):
    """
    ## What it does
    Finds a tensor made trainable by hand and stored on an `nn.Module` while it is built:
    `self.w = torch.randn(3, requires_grad=True)`, `self.w = torch.zeros(3).requires_grad_()`, or
    `self.w = torch.zeros(3)` followed by `self.w.requires_grad = True` / `self.w.requires_grad_()`, or a
    local tensor made trainable and then stored (`w = torch.empty(n)`, `w.requires_grad = True`, `self.w = w`;
    reported without a fix).

    ## Why is this bad?
    Only `nn.Parameter` attributes are registered. A plain tensor with `requires_grad=True` gets a
    `.grad` after `backward()`, but `model.parameters()` does not yield it, so an optimizer built from
    the model never updates it; `state_dict()` does not save it; `.to(device)` / `.cuda()` do not move
    it, and `.double()` / `.half()` do not cast it. The model trains, minus this weight.

    ## Example
    ```python
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.ones(3, requires_grad=True)
    ```

    ## Use instead
    ```python
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))
    ```

    ## Fix safety
    Unsafe: the tensor becomes a parameter, so it appears in `parameters()` and in `state_dict()`.
    Code that added it to an optimizer by hand would now list it twice (torch raises), and
    checkpoints written before the fix lack the new key. The fix writes `nn.Parameter` only where a name
    bound to `torch.nn` (or `torch`) at run time is visible; the `requires_grad=True` argument is removed
    only when no comment is attached to it (`nn.Parameter` makes a leaf of the tensor either way). Not
    offered before `super().__init__()` (torch refuses a Parameter assigned before it).
    """

    code = "TL103"
    name = "tensor-instead-of-parameter"
    summary = "A tensor with `requires_grad=True` stored on a Module is not a parameter."
    message = ("tensor '{attr}' with requires_grad is not a registered parameter: the optimizer never sees it, "
               "state_dict() does not save it, .to() does not move it; use nn.Parameter(...)")
    fix_availability = UNSAFE
    triggers = ("requires_grad",)

    def visit_Assign(self, node: cst.Assign) -> None:
        ctx = self.ctx
        if not ctx.in_init:
            return
        self_name = ctx.func_stack[-1].self_name
        for target in node.targets:
            t = target.target
            attr = self_attribute(t, self_name)
            if attr is not None:
                value = node.value
                arg = requires_grad_factory(ctx, value)
                if arg is not None:
                    self.report(value, attr=attr, fix=self._fix_factory(value, arg))
                elif is_requires_grad_call(ctx, value):
                    self.report(value, attr=attr, fix=self._fix_wrap(value, value.func.value))
                elif isinstance(value, cst.Name) and self._local_made_trainable(value):
                    self.report(value, attr=attr)  # no fix: the local's other uses would need a look
            elif isinstance(t, cst.Attribute) and t.attr.value == "requires_grad" and is_literal_true(node.value):
                owner = self_attribute(t.value, self_name)
                if owner is not None and ctx.kinds.self_attr_kind(owner) == TENSOR:
                    self.report(t, attr=owner)

    def _local_made_trainable(self, name: cst.Name) -> bool:
        """``w = torch.empty(n)`` ... ``w.requires_grad = True`` (or ``w.requires_grad_()``) ... ``self.w = w``: the
        one binding reaching the store is a proven tensor that the function made trainable before storing it."""
        ctx = self.ctx
        model = ctx.model
        use = model.use_of(name)
        bindings = model.bindings_at(name)
        if use is None or len(bindings) != 1 or bindings[0].form != "assign" or bindings[0].value is None \
                or ctx.kind_of(bindings[0].value) != TENSOR:
            return False
        func = ctx.current_function
        trues = set()  # the ``x.requires_grad`` targets assigned a literal True in this function
        for small in iter_small_statements(func.body.body if isinstance(func.body, cst.IndentedBlock) else ()):
            if isinstance(small, cst.Assign) and is_literal_true(small.value):
                trues.update(id(t.target) for t in small.targets)
        for u in model.uses_of(bindings[0]):
            if u.pos >= use.pos:
                continue
            if u.how == "store_attr" and u.attr == "requires_grad" and id(u.parent) in trues:
                return True
            if u.how == "method" and u.attr == "requires_grad_" and isinstance(u.parent, cst.Call) \
                    and (not u.parent.args or is_literal_true(u.parent.args[0].value)):
                return True
        return False

    def visit_Expr(self, node: cst.Expr) -> None:
        ctx = self.ctx
        call = node.value
        if not ctx.in_init or not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            return
        if call.func.attr.value != "requires_grad_" or (call.args and not is_literal_true(call.args[0].value)):
            return
        owner = self_attribute(call.func.value, ctx.func_stack[-1].self_name)
        if owner is not None and ctx.kinds.self_attr_kind(owner) == TENSOR:
            self.report(call, attr=owner)

    def _parameter_call(self, inner: cst.BaseExpression, at: cst.CSTNode) -> Optional[cst.Call]:
        func = fixsafety.expr_for(self.ctx, "torch.nn.Parameter", at)
        if func is None:
            return None
        return cst.Call(func=func, args=[cst.Arg(value=inner)])

    def _fix_factory(self, call: cst.Call, arg: cst.Arg) -> Optional[Fix]:
        args = [a for a in call.args if a is not arg]
        if args:
            args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        stripped = call.with_changes(args=args)
        if not fixsafety.keeps_comments(call, stripped):
            stripped = call  # nn.Parameter(...) makes a leaf of it anyway; keep the argument and its comments
        wrapped = self._parameter_call(stripped, call)
        return fixsafety.offer(self.ctx, UNSAFE, [(call, wrapped)], "wrap in nn.Parameter",
                               verdicts=[fixsafety.module_initialised_verdict(self.ctx, call)])

    def _fix_wrap(self, call: cst.Call, tensor: cst.BaseExpression) -> Optional[Fix]:
        wrapped = self._parameter_call(tensor, call)
        return fixsafety.offer(self.ctx, UNSAFE, [(call, wrapped)], "wrap in nn.Parameter",
                               verdicts=[fixsafety.module_initialised_verdict(self.ctx, call)])
