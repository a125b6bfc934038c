from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import torch_facts
from ...facts.flow import Scope
from ...facts.nodes import is_literal_true, keyword_arg, walk
from ...rule import Rule

# Methods that give back the same leaf tensor (or a new leaf), or no tensor at all.
_KEEPS_LEAF = frozenset({"requires_grad_", "detach", "detach_", "retain_grad", "share_memory_", "pin_memory",
                         "item", "tolist", "numpy", "size", "dim", "numel", "register_hook", "data_ptr"})
# No-ops on a tensor made by a factory with default dtype and device.
_NOOP_WITHOUT_KWARGS = {"float": "dtype", "cpu": "device", "contiguous": None}
# The legacy wrapper: Variable(t, requires_grad=True) is a leaf that requires grad.
_VARIABLE = frozenset({"torch.autograd.Variable", "torch.autograd.variable.Variable"})


class NonLeafRequiresGrad(Rule):
    """
    ## What it does
    Finds a tensor created by a torch factory with `requires_grad=True` and then moved, cast or computed
    on in the same expression (`torch.randn(3, requires_grad=True).cuda()`, `.to(device)`, `.double()`,
    `* 0.01`, `.view(...)`), bound to a name that is later given to a torch optimizer or whose `.grad`
    is read in the same function. The leaf may also come from the legacy `Variable(t, requires_grad=True)`,
    from an in-file helper whose every return is such a factory, or from a name whose every binding that
    reaches the expression is one (`a = torch.tensor(..., requires_grad=True)` then `a = a.to(device)`).
    A move that is provably a no-op (`.to("cpu")` of a tensor made on the CPU) stays silent.

    ## Why is this bad?
    Only the tensor the factory made is a leaf of the autograd graph; the result of `.to()`, `.cuda()`,
    `.double()` or an arithmetic op is a non-leaf computed from it. Its `.grad` stays `None` after
    `backward()` (torch only warns when `.grad` is read), so hand-written updates crash or do nothing,
    and `torch.optim` refuses it with "can't optimize a non-leaf Tensor".

    ## Example
    ```python
    w = torch.randn(10, 10, requires_grad=True).to(device)
    b = torch.zeros(10, requires_grad=True) * 0.01
    optimizer = torch.optim.SGD([w, b], lr=0.1)
    ```

    ## Use instead
    ```python
    w = torch.randn(10, 10, device=device, requires_grad=True)
    b = (torch.zeros(10) * 0.01).requires_grad_()
    optimizer = torch.optim.SGD([w, b], lr=0.1)
    ```

    ## Fix safety
    No fix is offered: moving arguments into the factory call (`device=`, `dtype=`) or the flag after
    the operation depends on what the operation was for.
    """

    code = "TL212"
    name = "non-leaf-requires-grad"
    summary = "`torch.randn(..., requires_grad=True).to(...)` (or any op after creation) binds a non-leaf: `.grad` stays None."
    message = ("'{var}' is not a leaf: {op} after creating it with requires_grad=True returns a new tensor whose "
               ".grad stays None and that optimizers refuse; pass device=/dtype= to the factory or call "
               ".requires_grad_() after the {op}")
    triggers = ("requires_grad=True",)

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        op = self._op_after_factory(node.value)
        if op is None:
            return
        var = node.targets[0].target.value
        func = self.ctx.current_function
        root = func.body if func is not None else (self.ctx.stack[0] if self.ctx.stack else None)
        if root is None or not self._used_as_leaf(Scope(root), node, var):
            return
        self.report(node.value, var=var, op=op)

    # ------------------------------------------------------------------ the expression
    def _is_grad_factory(self, node: cst.BaseExpression, depth: int = 0) -> bool:
        """A fresh leaf that requires grad: ``torch.<factory>(..., requires_grad=True)``, the legacy
        ``Variable(t, requires_grad=True)``, an in-file helper whose every return is one, or a name whose every
        reaching binding is one (``a = torch.tensor(..., requires_grad=True)``, then ``a = a.to(device)``)."""
        if depth > 4:
            return False
        model = self.ctx.model
        if isinstance(node, cst.Name):
            bindings = model.bindings_at(node)
            return bool(bindings) and all(b.form == "assign" and b.value is not None
                                          and self._is_grad_factory(b.value, depth + 1) for b in bindings)
        if not isinstance(node, cst.Call):
            return False
        qualified = self.ctx.resolve(node.func)
        if qualified in _VARIABLE:
            flag = keyword_arg(node, "requires_grad")
            return flag is not None and is_literal_true(flag.value)
        if qualified is None and isinstance(node.func, cst.Name):
            helper = model.callee_of(node)
            returns = model.returns_of(helper) if helper is not None else []
            return bool(returns) and all(r is not None and self._is_grad_factory(r, depth + 1)
                                         for r in returns)
        if not qualified or not qualified.startswith("torch.") or qualified.count(".") != 1:
            return False
        if qualified[6:] not in torch_facts.TENSOR_FACTORIES:
            return False
        flag = keyword_arg(node, "requires_grad")
        return flag is not None and is_literal_true(flag.value)

    def _op_after_factory(self, value: cst.BaseExpression) -> Optional[str]:
        if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
            method = value.func.attr.value
            inner = value.func.value
            if not self._is_grad_factory(inner):
                return None
            # .type(dtype) casts like .to(dtype) (without an argument it returns the type's name, a str)
            casts = method == "type" and bool(value.args)
            known = method in torch_facts.TENSOR_METHODS or casts
            if method in _KEEPS_LEAF or method.endswith("_") or not known:
                return None
            factory = self._source_call(inner)  # the factory call itself, for its device=/dtype= keywords
            if method in _NOOP_WITHOUT_KWARGS:
                needed = _NOOP_WITHOUT_KWARGS[method]
                if needed is None or factory is None or keyword_arg(factory, needed) is None:
                    return None
            if method in ("to", "type") and (factory is None or self._to_is_noop(value, factory)):
                return None
            return f".{method}()"
        if isinstance(value, cst.BinaryOperation):
            if self._is_grad_factory(value.left) or self._is_grad_factory(value.right):
                return "an arithmetic operation"
        if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Minus) \
                and self._is_grad_factory(value.expression):
            return "negation"
        return None

    def _source_call(self, node: cst.BaseExpression, depth: int = 0) -> Optional[cst.Call]:
        """The one factory call ``node`` comes from (itself, a name's only binding, a helper's only return)."""
        model = self.ctx.model
        if depth > 4:
            return None
        if isinstance(node, cst.Name):
            bindings = model.bindings_at(node)
            if len(bindings) == 1 and bindings[0].value is not None:
                return self._source_call(bindings[0].value, depth + 1)
            return None
        if not isinstance(node, cst.Call):
            return None
        if self.ctx.resolve(node.func) is None and isinstance(node.func, cst.Name):
            helper = model.callee_of(node)
            returns = model.returns_of(helper) if helper is not None else []
            return self._source_call(returns[0], depth + 1) if len(returns) == 1 and returns[0] is not None else None
        return node

    def _to_is_noop(self, call: cst.Call, factory: cst.Call) -> bool:
        """``.to("cpu")`` / ``.to(torch.float32)`` on a factory tensor with default device and dtype."""
        if len(call.args) != 1:
            return False
        arg = call.args[0].value
        if isinstance(arg, cst.SimpleString) and arg.evaluated_value == "cpu":
            return keyword_arg(factory, "device") is None
        if self.ctx.resolve(arg) in ("torch.float32", "torch.float"):
            return keyword_arg(factory, "dtype") is None
        return False

    # ------------------------------------------------------------------ the later use
    def _used_as_leaf(self, scope: Scope, binding: cst.Assign, var: str) -> bool:
        start = scope.index.get(id(binding))
        if start is None:
            return False
        inside = {id(n) for n in walk(binding)}
        for sub in scope.order[start + 1:]:
            if id(sub) in inside:
                continue
            if isinstance(sub, cst.AssignTarget) and isinstance(sub.target, cst.Name) and sub.target.value == var:
                return False
            if isinstance(sub, cst.Attribute) and sub.attr.value == "grad" and isinstance(sub.value, cst.Name) \
                    and sub.value.value == var:
                return True
            if isinstance(sub, cst.Call) and self._is_optimizer(sub.func) and self._mentions(sub, var):
                return True
        return False

    def _is_optimizer(self, func: cst.BaseExpression) -> bool:
        qualified = self.ctx.resolve(func) or ""
        head, _, last = qualified.rpartition(".")
        return head.startswith("torch.optim") and last[:1].isupper() and "lr_scheduler" not in head

    @staticmethod
    def _mentions(call: cst.Call, var: str) -> bool:
        return any(isinstance(n, cst.Name) and n.value == var for a in call.args for n in walk(a.value))
