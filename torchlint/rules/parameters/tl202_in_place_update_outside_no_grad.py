from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import torch_facts
from ...facts.kinds import LAYER_PARAMETER_ATTRS, PARAMETER
from ...facts.nodes import walk
from ...facts.param_targets import LoopTracker, layer_class_of_value, self_attr_layer_class
from ...rule import Rule

# In-place methods that do not write the tensor's data.
_NOT_WRITES = frozenset({"requires_grad_", "share_memory_", "retain_grad", "detach_"})
INPLACE = frozenset(m for m in torch_facts.INPLACE_METHODS if m not in _NOT_WRITES)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def mentions_requires_grad(node: cst.CSTNode) -> bool:
    for sub in walk(node):
        if isinstance(sub, cst.Attribute) and sub.attr.value in ("requires_grad", "requires_grad_"):
            return True
        if isinstance(sub, cst.Arg) and sub.keyword is not None and sub.keyword.value == "requires_grad":
            return True
    return False


class ParameterTargets:
    """Which expressions are provably a parameter that requires grad: the value variable of a
    ``parameters()`` / ``named_parameters()`` loop, or ``.weight`` / ``.bias`` of a known torch layer
    (``nn.Linear(...)`` constructed here, bound to a local name, or assigned to ``self.<attr>``).
    Shared by TL202 and TL203; the owning rule forwards For/Assign events."""

    def __init__(self, ctx) -> None:
        self.ctx = ctx
        self.loops = LoopTracker()
        self.layers: dict[tuple[int, str], Optional[str]] = {}  # (scope id, local name) -> torch layer class
        self._no_grad_callees: Optional[set] = None

    def scope(self) -> cst.CSTNode:
        func = self.ctx.current_function
        return func if func is not None else self.ctx.stack[0]

    def enter_for(self, node: cst.For) -> None:
        self.loops.enter(node, roles=("value",), aug_rebinds=False)

    def leave_for(self, node: cst.For) -> None:
        self.loops.leave(node)

    def after_assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Name):
                key = (id(self.scope()), target.target.value)
                cls = layer_class_of_value(self.ctx, node.value)
                # a name bound twice to different things is unknown
                self.layers[key] = cls if key not in self.layers or self.layers[key] == cls else None

    def describe(self, node: cst.BaseExpression) -> Optional[tuple[str, cst.CSTNode]]:
        """(description, node whose text must not freeze it) when ``node`` is a known parameter, else None."""
        ctx = self.ctx
        if isinstance(node, cst.Name):
            hit = self.loops.lookup(node.value)
            if hit is not None:
                role, info, loop = hit
                if role == "value" and info["what"] == "parameter":
                    return f"loop variable of {info['method']}()", loop.body
            return None
        if isinstance(node, cst.Attribute) and node.attr.value in LAYER_PARAMETER_ATTRS:
            owner = node.value
            if isinstance(owner, cst.Call):
                if ctx.kind_of(node) == PARAMETER:
                    return "a layer's parameter", owner
                return None
            if ctx.is_self(owner) or not isinstance(owner, (cst.Name, cst.Attribute)):
                return None
            if isinstance(owner, cst.Name):
                cls = self.layers.get((id(self.scope()), owner.value))
                if cls is not None:
                    return f"parameter of {cls.rsplit('.', 1)[-1]}", self.scope()
                return None
            if ctx.is_self(owner.value) and ctx.in_module_class:
                cls = self_attr_layer_class(ctx, owner.attr.value)
                if cls is not None:
                    return f"parameter of {cls.rsplit('.', 1)[-1]}", ctx.current_class
        return None

    def grad_may_be_off(self, frozen_scope: cst.CSTNode) -> bool:
        """Autograd may be off here, or the parameter may not require grad: stay silent."""
        ctx = self.ctx
        if ctx.in_no_grad or mentions_requires_grad(frozen_scope):
            return True
        func = ctx.current_function
        if func is None:
            return False
        for sub in walk(func.body):
            if isinstance(sub, cst.Call):
                q = ctx.resolve(sub.func)
                if q and q.endswith("set_grad_enabled"):
                    return True
        return self._called_under_no_grad(func.name.value)

    def _called_under_no_grad(self, name: str) -> bool:
        """The function is referenced (called, passed to ``apply``) inside a no_grad block of this file."""
        if self._no_grad_callees is None:
            names: set[str] = set()
            ctx = self.ctx
            for sub in walk(ctx.stack[0]):
                body = None
                if isinstance(sub, cst.With) and any(ctx.is_no_grad_expr(item.item) for item in sub.items):
                    body = sub.body
                elif isinstance(sub, cst.FunctionDef) and any(ctx.is_no_grad_expr(d.decorator)
                                                              for d in sub.decorators):
                    body = sub.body
                if body is not None:
                    for inner in walk(body):
                        if isinstance(inner, cst.Name):
                            names.add(inner.value)
            self._no_grad_callees = names
        return name in self._no_grad_callees


class ParameterTargetsRule(Rule):
    """Base of the rules that ask :class:`ParameterTargets` (TL202, TL203): forwards the loop and
    assignment events it learns from. Not a rule itself (no code)."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.targets = ParameterTargets(ctx)

    def visit_For(self, node: cst.For) -> None:
        self.targets.enter_for(node)

    def leave_For(self, node: cst.For) -> None:
        self.targets.leave_for(node)

    def leave_Assign(self, node: cst.Assign) -> None:
        self.targets.after_assign(node)


class InPlaceUpdateOutsideNoGrad(ParameterTargetsRule):
    """
    ## What it does
    Finds an in-place change of a parameter outside `torch.no_grad()` / `torch.inference_mode()` /
    `@torch.no_grad()`: `p += 1`, `p.mul_(2)`, `p[:] = 0`, `p.copy_(t)`, `p.uniform_(-a, a)`, or passing
    the parameter to a function of the same file that changes its argument in place without `no_grad`.
    The target must provably be a parameter: the loop variable of a `.parameters()` /
    `.named_parameters()` loop, or `.weight` / `.bias` of a known torch layer (constructed here, bound
    to a local name, or assigned to `self.<attr>` in the Module class).

    Writes through `.data` (TL203), `nn.init.*_` functions (they disable autograd themselves), code
    that touches `requires_grad` on the target, functions called under `no_grad` elsewhere in the file
    and functions using `torch.set_grad_enabled` are not flagged.

    ## Why is this bad?
    A parameter is a leaf tensor that requires grad; autograd forbids changing it in place while it is
    recording, and the call fails with `RuntimeError: a leaf Variable that requires grad is being used
    in an in-place operation.` Initialisation, weight surgery or a hand-written optimizer step crashes
    the first time it runs.

    ## Example
    ```python
    for p in model.parameters():
        p.uniform_(-0.1, 0.1)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.1, 0.1)
    ```
    or `nn.init.uniform_(p, -0.1, 0.1)`, which disables autograd itself.

    ## Fix safety
    No fix is offered: the right extent of the `no_grad` block is a choice for the author.
    """

    code = "TL202"
    name = "in-place-update-outside-no-grad"
    summary = "In-place change of a parameter outside `torch.no_grad()` raises a leaf-variable error."
    message = ("in-place {op} on '{target}' ({what}) outside torch.no_grad() raises 'a leaf Variable that "
               "requires grad is being used in an in-place operation'; wrap it in `with torch.no_grad():`")
    triggers = ("parameters(", ".weight", ".bias", "in_proj_")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._functions: Optional[dict[str, cst.FunctionDef]] = None

    # ------------------------------------------------------------------ the three in-place forms
    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute):
            if func.attr.value in INPLACE:
                self._check(func.value, f".{func.attr.value}()", node)
        elif isinstance(func, cst.Name) and node.args:
            self._check_helper_call(node, func.value)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check(node.target, "augmented assignment", node)

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            if isinstance(target.target, cst.Subscript):
                self._check(target.target.value, "item assignment", node)

    def _check(self, target: cst.BaseExpression, op: str, node: cst.CSTNode) -> bool:
        if not isinstance(target, (cst.Name, cst.Attribute)):
            return False
        found = self.targets.describe(target)
        if found is None:
            return False
        what, frozen_scope = found
        if self.targets.grad_may_be_off(frozen_scope):
            return False
        self.report(node, op=op, target=_code(target), what=what)
        return True

    # ------------------------------------------------------------------ custom init helpers
    def _check_helper_call(self, node: cst.Call, name: str) -> None:
        helper = self._module_functions().get(name)
        if helper is None or name in self.ctx.imports.aliases:
            return
        params = helper.params.posonly_params + helper.params.params
        for index, arg in enumerate(node.args):
            if arg.keyword is not None or arg.star or index >= len(params):
                return
            if not isinstance(arg.value, (cst.Name, cst.Attribute)):
                continue
            if self.targets.describe(arg.value) is None:
                continue
            op = _in_place_on(self.ctx, helper, params[index].name.value)
            if op is not None:
                self._check(arg.value, f"{op} in {name}()", node)

    def _module_functions(self) -> dict[str, cst.FunctionDef]:
        if self._functions is None:
            root = self.ctx.stack[0]
            self._functions = {}
            seen: set[str] = set()
            for stmt in root.body:
                if isinstance(stmt, cst.FunctionDef):
                    key = stmt.name.value
                    if key in seen:
                        self._functions.pop(key, None)  # defined twice: unknown
                    else:
                        self._functions[key] = stmt
                    seen.add(key)
        return self._functions


def _in_place_on(ctx, helper: cst.FunctionDef, param: str) -> Optional[str]:
    """The in-place method the helper calls directly on its parameter ``param``, when the helper never
    turns autograd off; else None."""
    if any(ctx.is_no_grad_expr(d.decorator) for d in helper.decorators):
        return None
    found = None
    for sub in walk(helper.body):
        if isinstance(sub, cst.With) and any(ctx.is_no_grad_expr(item.item) for item in sub.items):
            return None
        if isinstance(sub, cst.Call):
            q = ctx.resolve(sub.func)
            if q and q.endswith("set_grad_enabled"):
                return None
            f = sub.func
            if found is None and isinstance(f, cst.Attribute) and f.attr.value in INPLACE \
                    and isinstance(f.value, cst.Name) and f.value.value == param:
                found = f".{f.attr.value}()"
        if isinstance(sub, (cst.Assign, cst.AugAssign)) and _binds_name(sub, param):
            return None
    return found


def _binds_name(node, name: str) -> bool:
    targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
    return any(isinstance(t, cst.Name) and t.value == name for t in targets)
