from __future__ import annotations

from typing import Optional, Union

import libcst as cst

from ...facts.kinds import MODULE, PARAMETER, TENSOR
from ...facts.nodes import keyword_arg, walk
from ...semantic.kinds import STRONG
from ...rule import Rule

# method -> (positional arguments torch passes, with with_kwargs=True, what they are)
_MODULE_HOOKS = {
    "register_forward_hook": (3, 4, "(module, input, output)"),
    "register_forward_pre_hook": (2, 3, "(module, input)"),
    "register_full_backward_hook": (3, 3, "(module, grad_input, grad_output)"),
    "register_full_backward_pre_hook": (2, 2, "(module, grad_output)"),
}
_KWARGS_SHAPES = {
    "register_forward_hook": "(module, args, kwargs, output)",
    "register_forward_pre_hook": "(module, args, kwargs)",
}
_TENSOR_HOOKS = {"register_hook": (1, 1, "(grad)")}
_METHODS = frozenset(_MODULE_HOOKS) | frozenset(_TENSOR_HOOKS) | {"register_backward_hook"}

HookFunction = Union[cst.FunctionDef, cst.Lambda]


def _positional(params: cst.Parameters) -> tuple[int, int]:
    """(required, total) positional parameters."""
    positional = list(params.posonly_params) + list(params.params)
    required = sum(1 for p in positional if p.default is None)
    return required, len(positional)


def _returns_value(func: cst.FunctionDef) -> bool:
    return any(isinstance(sub, cst.Return) and sub.value is not None
               for sub in walk(func.body, into_scopes=False))


def _rebinding(func: cst.FunctionDef, name: str) -> Optional[cst.CSTNode]:
    """The first ``name = ...`` in the function (a plain rebinding, not an in-place change)."""
    for sub in walk(func.body, into_scopes=False):
        if isinstance(sub, cst.Assign):
            for target in sub.targets:
                if isinstance(target.target, cst.Name) and target.target.value == name:
                    return sub
    return None


def _read_after(func: cst.FunctionDef, rebinding: cst.CSTNode, name: str) -> bool:
    """``name`` is read after its rebinding: the hook rebinds it for its own use (``outputs = as_tuple(outputs)``
    then ``module.saved = outputs[0]``), an observer that means to return nothing."""
    seen = False
    targets = set()
    for sub in walk(func.body, into_scopes=False):
        if sub is rebinding:
            seen = True
            targets.update(id(t.target) for t in rebinding.targets)
            continue
        if seen and isinstance(sub, cst.AssignTarget):
            targets.add(id(sub.target))
        if seen and isinstance(sub, cst.Name) and sub.value == name and id(sub) not in targets \
                and not _inside(sub, rebinding):
            return True
    return False


def _inside(node: cst.CSTNode, root: cst.CSTNode) -> bool:
    return any(sub is node for sub in walk(root))


class HookMisuse(Rule):
    """
    ## What it does
    Checks hooks registered with `register_forward_hook`, `register_forward_pre_hook`,
    `register_full_backward_hook`, `register_full_backward_pre_hook` (on a known Module) and
    `Tensor.register_hook` (on a known tensor or parameter), when the hook is a `def` or `lambda` found in
    the same file (a module-level or local function, a lambda, or `self.<method>`):

    - its positional parameters cannot take what torch passes: `(module, input, output)` for a forward
      hook (plus `kwargs` with `with_kwargs=True`), `(module, input)` for a pre-hook,
      `(module, grad_input, grad_output)` / `(module, grad_output)` for backward hooks, `(grad)` for a
      tensor hook;
    - a forward hook assigns a new value to its `output` parameter and returns nothing, so the new value
      is dropped;
    - `register_backward_hook` is used (deprecated, and its `grad_input` is that of the module's last
      autograd node), unless its hook is a `def` of the file that never reads `grad_input` and returns
      nothing: then the wrong value reaches nothing (`grad_output` is right in the old API too).

    Signatures with `*args` and hooks that cannot be resolved in the file are not checked.

    A forward hook that rebinds its output parameter and reads it afterwards (`outputs = as_tuple(outputs)`
    then `module.saved = outputs[0]`) is an observer rebinding for its own use, and is not flagged.

    ## Why is this bad?
    A hook with the wrong arity registers without complaint and raises `TypeError` only at the first
    forward or backward, often deep inside a training run or a serving path. Rebinding `output` inside a
    forward hook changes a local name: torch only uses the hook's return value, so the intended change
    (scaling, clamping, replacing the output) silently never happens. `register_backward_hook` reports
    wrong `grad_input` values for modules whose forward has several autograd nodes, and is deprecated.

    ## Example
    ```python
    def scale(module, output):
        output = output * 2

    model = nn.Sequential(nn.Linear(4, 4))
    model.register_forward_hook(scale)
    model[0].register_backward_hook(log_grads)
    ```

    ## Use instead
    ```python
    def scale(module, input, output):
        return output * 2

    model = nn.Sequential(nn.Linear(4, 4))
    model.register_forward_hook(scale)
    model[0].register_full_backward_hook(log_grads)
    ```

    ## Fix safety
    No fix is offered: the right signature or return value depends on what the hook does.
    """

    needs = STRONG
    code = "TL305"
    name = "hook-misuse"
    summary = "A hook with the wrong arity, a forward hook that drops its new output, or `register_backward_hook`."
    message = "{problem}"
    triggers = ("register_",)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _METHODS:
            return
        method = func.attr.value
        ctx = self.ctx
        if method == "register_backward_hook":
            if self.ctx.model.kinds.is_besides(func.value, MODULE, self.needs, func.attr.value) \
                    and not self._ignores_grad_input(node):
                self.report(func.attr, problem=(
                    "register_backward_hook is deprecated and gives wrong grad_input for modules with several "
                    "autograd nodes; use register_full_backward_hook"))
            return
        if method in _MODULE_HOOKS:
            if not self.ctx.model.kinds.is_besides(func.value, MODULE, self.needs, func.attr.value):
                return
            plain, with_kwargs, shape = _MODULE_HOOKS[method]
        else:
            if ctx.kind_of(func.value) not in (TENSOR, PARAMETER):
                return
            plain, with_kwargs, shape = _TENSOR_HOOKS[method]
        hook_arg = keyword_arg(node, "hook")
        if hook_arg is None:
            if not node.args or node.args[0].keyword is not None or node.args[0].star:
                return
            hook_arg = node.args[0]
        expected = plain
        kwargs_arg = keyword_arg(node, "with_kwargs")
        if kwargs_arg is not None:
            value = kwargs_arg.value
            if not isinstance(value, cst.Name) or value.value not in ("True", "False"):
                return
            if value.value == "True":
                expected, shape = with_kwargs, _KWARGS_SHAPES.get(method, shape)
        if any(arg.star for arg in node.args):
            return
        resolved = self._resolve_hook(hook_arg.value)
        if resolved is None:
            return
        hook, bound = resolved
        params = hook.params
        if params.star_arg is not None and isinstance(params.star_arg, cst.Param):
            return  # *args takes anything
        required, total = _positional(params)
        if bound:
            required, total = max(required - 1, 0), total - 1
        if not (required <= expected <= total):
            self.report(hook_arg.value, problem=(
                f"{method} calls the hook with {_plural(expected)} {shape}; this one takes "
                f"{_describe(required, total)}: TypeError at the first "
                f"{'backward' if 'backward' in method or method == 'register_hook' else 'forward'}"))
            return
        if method == "register_forward_hook" and isinstance(hook, cst.FunctionDef):
            positional = list(params.posonly_params) + list(params.params)
            index = 2 + (1 if bound else 0)
            if len(positional) > index:
                output_name = positional[index].name.value
                rebinding = _rebinding(hook, output_name)
                if rebinding is not None and not _returns_value(hook) and not _read_after(hook, rebinding, output_name):
                    self.report(hook_arg.value, problem=(
                        f"forward hook '{hook.name.value}' assigns to '{output_name}' but returns nothing: the new "
                        f"output is dropped; return it"))

    # ------------------------------------------------------------------ hook resolution
    def _ignores_grad_input(self, call: cst.Call) -> bool:
        """The old-style backward hook is a ``def`` of the file that never reads its ``grad_input`` parameter and
        returns nothing: the wrong ``grad_input`` of the old API can reach nothing (``grad_output`` is right)."""
        hook_arg = keyword_arg(call, "hook")
        if hook_arg is None and call.args and call.args[0].keyword is None and not call.args[0].star:
            hook_arg = call.args[0]
        resolved = self._resolve_hook(hook_arg.value) if hook_arg is not None else None
        if resolved is None or not isinstance(resolved[0], cst.FunctionDef):
            return False
        hook, bound = resolved
        positional = [*hook.params.posonly_params, *hook.params.params][1 if bound else 0:]
        star = hook.params.star_arg if isinstance(hook.params.star_arg, cst.Param) else None
        model = self.ctx.model

        def unused(param: cst.Param) -> bool:
            binding = model.binding_of(param)
            return binding is not None and not model.uses_of(binding)

        if len(positional) >= 2:  # (module, grad_input, ...): grad_input never read
            if not unused(positional[1]) or (len(positional) < 3 and (star is None or not unused(star))):
                return False
        elif star is None or not unused(star):  # (*args) / (module, *args): grad_input inside args, never read
            return False
        return all(value is None or (isinstance(value, cst.Name) and value.value == "None")
                   for value in model.returns_of(hook))

    def _resolve_hook(self, value: cst.BaseExpression) -> Optional[tuple[HookFunction, bool]]:
        """(the hook's definition, whether it is a bound method)."""
        ctx = self.ctx
        if isinstance(value, cst.Lambda):
            return value, False
        if isinstance(value, cst.Name):
            name = value.value
            if name in ctx.imports.aliases:
                return None
            for scope in reversed(ctx.func_stack):
                found = _unique_def(scope.node.body, name)
                if found is not None:
                    return (found, False) if found is not False else None
            module = ctx.stack[0] if ctx.stack else None
            if isinstance(module, cst.Module):
                found = _unique_def(module, name)
                if found:
                    return found, False
            return None
        if isinstance(value, cst.Attribute) and ctx.is_self(value.value) and ctx.current_class is not None:
            found = _unique_def(ctx.current_class.body, value.attr.value)
            if found:
                if any(isinstance(d.decorator, cst.Name)
                       and d.decorator.value in ("staticmethod", "classmethod", "property")
                       for d in found.decorators):
                    return None
                return found, True
        return None


def _unique_def(body: Union[cst.Module, cst.BaseSuite], name: str):
    """The only definition of ``name`` directly in this body: a def; False when the name is bound some
    other way (or defined twice) there; None when it is not bound there at all."""
    statements = body.body if isinstance(body, (cst.Module, cst.IndentedBlock)) else ()
    found = None
    for stmt in statements:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            if found is not None or stmt.decorators and not _plain_decorators(stmt):
                return False
            found = stmt
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Assign, cst.AnnAssign)):
                    targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                    if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                        return False
    return found


# TorchScript markers return the function itself in eager mode: the signature torch calls is the def's own.
_TRANSPARENT_DECORATORS = frozenset({"torch.jit.unused", "torch.jit.ignore", "torch.jit.export"})


def _plain_decorators(func: cst.FunctionDef) -> bool:
    return all((isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod"))
               or _dotted(d.decorator) in _TRANSPARENT_DECORATORS for d in func.decorators)


def _dotted(node: cst.BaseExpression) -> Optional[str]:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr.value}" if head is not None else None
    return None


def _plural(count: int) -> str:
    return f"{count} positional argument{'s' if count != 1 else ''}"


def _describe(required: int, total: int) -> str:
    if required == total:
        return f"{total}"
    return f"{required} to {total}"
