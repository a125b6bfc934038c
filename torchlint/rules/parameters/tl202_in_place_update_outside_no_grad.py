from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.nodes import walk
from ...facts.param_targets import INPLACE, ParameterTargets, _code
from ...rule import Rule
from ...semantic.kinds import STRONG


class InPlaceUpdateOutsideNoGrad(Rule):
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
    and functions using `torch.set_grad_enabled` are not flagged. Nor is a loop over `m.parameters()`
    when the code freezes that module's parameters in another loop over `m.parameters()` (`p.detach_()`,
    `p.requires_grad_(False)`, `p.requires_grad = False`): in any method of the class for `self.m`, earlier
    in the same function for a local `m` (an EMA copy whose parameters no longer require grad).

    ## Why is this bad?
    A parameter is a leaf tensor that requires grad; autograd forbids changing it in place while it is
    recording, and the call fails with `RuntimeError: a leaf Variable that requires grad is being used
    in an in-place operation.` Initialisation, weight surgery or a hand-written optimizer step crashes
    the first time it runs.

    ## Example
    ```python
    def reset(model):
        for p in model.parameters():
            p.uniform_(-0.1, 0.1)
    ```

    ## Use instead
    ```python
    def reset(model):
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
    needs = STRONG

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.targets = ParameterTargets(ctx, self.needs)
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
        if self.targets.grad_may_be_off(frozen_scope) or self._owner_frozen(target):
            return False
        self.report(node, op=op, target=_code(target), what=what)
        return True

    def _owner_frozen(self, target: cst.BaseExpression) -> bool:
        """The loop runs over ``<m>.parameters()`` of a module whose parameters the code freezes in another
        loop over the same ``<m>.parameters()`` (``p.detach_()``, ``p.requires_grad_(False)``,
        ``p.requires_grad = False``): ``self.<attr>`` anywhere in the class, a local name in the function.
        (before this loop, in a function). Such a parameter does not require grad (an EMA copy), and changing
        it in place is allowed."""
        ctx = self.ctx
        if not isinstance(target, cst.Name):
            return False
        bindings = ctx.model.bindings_at(target)
        item = ctx.model.kinds.iteration_item(bindings[0]) if len(bindings) == 1 else None
        source = item[0] if item is not None else None
        if not (isinstance(source, cst.Call) and isinstance(source.func, cst.Attribute)
                and source.func.attr.value == "parameters"):
            return False
        owner = source.func.value
        if isinstance(owner, cst.Attribute) and ctx.is_self(owner.value) and ctx.current_class is not None:
            places = [(m, m.params.params[0].name.value) for m in ctx.current_class.body.body
                      if isinstance(m, cst.FunctionDef) and m.params.params]
            key = ("self", owner.attr.value)
        elif isinstance(owner, cst.Name) and ctx.current_function is not None:
            places, key = [(ctx.current_function, None)], ("name", owner.value)
        else:
            return False
        frozen = False
        loops = [(loop, self_name) for func, self_name in places for loop in walk(func.body, into_scopes=False)
                 if isinstance(loop, cst.For)]
        if key[0] == "name":  # in one function: only a freezing loop that runs before this one counts
            mine = next((i for i, (loop, _n) in enumerate(loops) if loop is bindings[0].stmt), len(loops))
            loops = loops[:mine]
        for loop, self_name in loops:
            if not (isinstance(loop.target, cst.Name) and isinstance(loop.iter, cst.Call)
                    and isinstance(loop.iter.func, cst.Attribute) and loop.iter.func.attr.value == "parameters"
                    and _owner_key(loop.iter.func.value, self_name) == key):
                continue
            var = loop.target.value
            for sub in walk(loop.body):
                if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                        and isinstance(sub.func.value, cst.Name) and sub.func.value.value == var:
                    if sub.func.attr.value == "detach_" or (
                            sub.func.attr.value == "requires_grad_" and _false_arg(sub)):
                        frozen = True
                    elif sub.func.attr.value == "requires_grad_":
                        return False
                elif isinstance(sub, cst.Assign) and any(
                        isinstance(t.target, cst.Attribute) and t.target.attr.value == "requires_grad"
                        and isinstance(t.target.value, cst.Name) and t.target.value.value == var for t in sub.targets):
                    if not (isinstance(sub.value, cst.Name) and sub.value.value == "False"):
                        return False
                    frozen = True
        return frozen

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


def _owner_key(node: cst.BaseExpression, self_name: Optional[str]) -> Optional[tuple]:
    """("self", attr) for ``<the method's first parameter>.attr``, ("name", n) for a plain name."""
    if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and node.value.value == self_name:
        return ("self", node.attr.value)
    if isinstance(node, cst.Name):
        return ("name", node.value)
    return None


def _false_arg(call: cst.Call) -> bool:
    return len(call.args) == 1 and isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == "False"


def _binds_name(node, name: str) -> bool:
    targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
    return any(isinstance(t, cst.Name) and t.value == name for t in targets)
