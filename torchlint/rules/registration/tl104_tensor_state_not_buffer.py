from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety
from ...facts.grad import is_requires_grad_call, requires_grad_factory
from ...facts.kinds import MODULE, PARAMETER, PARAMETER_CLASSES, TENSOR, iter_self_assignments, iter_self_method_calls
from ...facts.nodes import keyword_arg, self_attribute, walk
from ...facts.usage import attr_meets_input, before_super_init, is_complex_value, mapped_by_apply, reassigned_placed
from ...rule import UNSAFE, Fix, Rule

_REGISTRATIONS = ("register_buffer", "register_parameter", "add_module")


class TensorStateNotBuffer(Rule):
    """
    ## What it does
    Finds tensor state that an `nn.Module` creates while it is built and stores as a plain attribute:
    `self.running_mean = torch.zeros(3)`, `self.mask = torch.tril(torch.ones(n, n))`,
    `self.mins = bounds.clone()` (with `bounds: torch.Tensor`), or a local tensor assigned to `self`.

    Silent on assignments outside `__init__` (and the helper methods it calls), such as caches written
    in `forward`; on `None` placeholders and non-tensor values; on aliases of other attributes
    (`self.orig = self.inv_freq`); on tensors passed in as arguments and stored as they are; on names
    also given to `register_buffer`; on 0-dim constants (`torch.tensor(1)`, which combine with tensors on
    any device); on tensors created with an explicit `device=` (the code places them itself, like
    DDP's communication buffers); and on tensors whose gradient flag the code sets (a
    `requires_grad=` argument, `self.w.requires_grad = True` later): TL103 owns those, so a line never
    gets both codes.

    Silent, too, unless the harm can happen: the attribute must be read in `forward` (its own or an
    in-file base's, or a method it calls) as a tensor, unplaced (not `.to(x.device)`, `.type_as(x)`,
    `... if device is not None else self.x`), not only in Python control flow (`if`, `is None`,
    `.item()`, `.tolist()`, a loop), together with a value derived from that method's arguments.
    Also silent on complex tensors (a buffer would be damaged by `.half()`), on values assigned
    before `super().__init__()`, on attributes a later method re-assigns from its arguments or places
    itself (`.to(...)`, `device=`), on attributes an `_apply` override of the file maps, on 0-dim
    tensors (`torch.sqrt(torch.tensor(d))`) and on `nn.Parameter(t).requires_grad_(False)`.

    ## Why is this bad?
    Only parameters and buffers belong to a Module's state. A tensor kept in a plain attribute is not
    in `state_dict()`, so a checkpoint silently loses it; `.double()` / `.half()` do not cast it; and
    `.to(device)` / `.cuda()` do not move it, so on a GPU the forward fails with "Expected all tensors
    to be on the same device" (or the code quietly copies it every step).

    ## Example
    ```python
    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.running_mean = torch.zeros(3)

        def forward(self, x):
            return x - self.running_mean
    ```

    ## Use instead
    ```python
    class Norm(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running_mean", torch.zeros(3))

        def forward(self, x):
            return x - self.running_mean
    ```
    Pass `persistent=False` for derived constants (masks, frequency tables) that should move and cast
    with the module but stay out of checkpoints.

    ## Fix safety
    Unsafe: the tensor becomes a persistent buffer, so `state_dict()` gains a key and loading a
    checkpoint written before the fix with `strict=True` fails with a missing key. Offered only when
    `register_buffer` behaves like the assignment: the attribute is assigned once in the file and nowhere
    else (not in a base class, a subclass or from outside: a later non-tensor value would raise
    `TypeError`), it is not a class attribute of the class or an in-file base (`mask: Tensor = None`
    makes `register_buffer` raise `KeyError: attribute already exists`), every base class is `nn.Module`
    or an in-file class shown clean, the name is not name-mangled (`self.__scale` is `_Cls__scale`) and not
    an attribute of `nn.Module`, and the statement is in a method whose first parameter is the Module and
    runs after `super().__init__()` (torch refuses a buffer registered before it).

    ## Precision
    Default-off: on the validation half of the corpus (code no rule was tuned on, measured blind)
    8 findings, 1 true (12%); on the tuning half 20 findings, 5 true (25%) before the conditions
    above. Enable it with `--select TL104` to audit a code base.
    """

    code = "TL104"
    default_enabled = False
    name = "tensor-state-not-buffer"
    summary = "Tensor state stored as a plain Module attribute is not saved, cast or moved."
    message = ("tensor '{attr}' is a plain attribute: not in state_dict(), not cast by .double()/.half(), "
               "not moved by .to(device); use self.register_buffer(\"{attr}\", ...)")
    fix_availability = UNSAFE

    def visit_Assign(self, node: cst.Assign) -> None:
        ctx = self.ctx
        if len(node.targets) != 1 or not ctx.in_init:
            return
        self_name = ctx.func_stack[-1].self_name
        attr = self_attribute(node.targets[0].target, self_name)
        if attr is None:
            return
        value = node.value
        if isinstance(value, (cst.Attribute, cst.Subscript)) or ctx.kind_of(value) != TENSOR:
            return
        if requires_grad_factory(ctx, value) is not None or is_requires_grad_call(ctx, value) \
                or (isinstance(value, cst.Call) and keyword_arg(value, "requires_grad") is not None):
            return  # TL103's territory: the author decided about gradients
        if _constant_scalar(value) or _zero_dim(value) or any(
                isinstance(sub, cst.Call) and keyword_arg(sub, "device") is not None for sub in walk(value)):
            return  # a scalar constant, or a tensor the code places on a device itself
        if any(isinstance(sub, cst.Attribute) and sub.attr.value == "requires_grad_" for sub in walk(value)):
            return  # nn.Parameter(t).requires_grad_(False) is the Parameter itself; TL103 owns the gradient flag
        if _moved_parameter(ctx, value) or (
                isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                and ctx.model.kinds.is_(value.func.value, "parameter", at_least=3)):
            return  # TL105's territory: nn.Parameter(t).cuda(), make_param(n).half(), ...double()
        if isinstance(value, cst.Name) and any(
                use.attr in ("requires_grad", "requires_grad_")
                for b in ctx.model.bindings_at(value) for use in ctx.model.uses_of(b)):
            return  # ``w.requires_grad = True; self.w = w``: TL103's territory
        if isinstance(value, cst.Name) and not self._created_locally(value.value):
            return
        cls = ctx.current_class
        if attr in self._registered_names(cls) or attr in self._grad_enabled_names(cls):
            return
        if any(name == attr and ctx.kinds._static_kind(v) in (PARAMETER, MODULE)
               for name, v in iter_self_assignments(cls)):
            return  # becomes a parameter or a module later: `self.w = t; self.w = nn.Parameter(self.w)`
        if not self._consequence(node, cls, attr, value):
            return
        self.report(value, attr=attr, fix=self._fix(node, cls, attr, self_name))

    def _consequence(self, node: cst.Assign, cls: cst.ClassDef, attr: str, value: cst.BaseExpression) -> bool:
        """The harm can happen here: the value may live in a buffer (not complex, where ``.half()`` would damage
        it; after ``super().__init__()``, before which ``register_buffer`` raises), and forward (or a method it
        calls) reads it unplaced together with the input; the code does not re-place it at run time, and no
        ``_apply`` override of the file maps it."""
        ctx = self.ctx
        if is_complex_value(ctx, value) or (isinstance(value, cst.Name) and any(
                is_complex_value(ctx, v) for v in self._local_values(value.value))):
            return False
        if before_super_init(ctx, ctx.current_function, node):
            return False
        if not attr_meets_input(ctx, cls, attr):
            return False
        if reassigned_placed(cls, attr, ctx.classes.init_methods(cls)):
            return False
        return not mapped_by_apply(ctx, ctx.stack[0], attr)

    def _local_values(self, name: str) -> list:
        return [sub.value for sub in walk(self.ctx.current_function.body, into_scopes=False)
                if isinstance(sub, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == name
                                                       for t in sub.targets)]

    # ------------------------------------------------------------------ helpers
    def _created_locally(self, name: str) -> bool:
        """The local name is bound in this function, only to new tensors (not a parameter, not an alias)."""
        func = self.ctx.current_function
        params = func.params
        for group in (params.posonly_params, params.params, params.kwonly_params):
            if any(p.name.value == name for p in group):
                return False
        found = False
        for sub in walk(func.body, into_scopes=False):
            if isinstance(sub, cst.Assign) and any(
                    isinstance(t.target, cst.Name) and t.target.value == name for t in sub.targets):
                if isinstance(sub.value, (cst.Name, cst.Attribute, cst.Subscript)):
                    return False
                found = True
            elif isinstance(sub, (cst.AugAssign, cst.AnnAssign)) and isinstance(sub.target, cst.Name) \
                    and sub.target.value == name:
                return False
        return found

    def _registered_names(self, cls: cst.ClassDef) -> set:
        cached = getattr(self, "_registered", None)
        if cached is not None and cached[0] is cls:
            return cached[1]
        names = set()
        for _method, args in iter_self_method_calls(cls, _REGISTRATIONS):
            if args and isinstance(args[0].value, cst.SimpleString):
                value = args[0].value.evaluated_value
                if isinstance(value, str):
                    names.add(value)
        # also register_buffer calls that are not statements of their own, or use f-strings
        for sub in walk(cls.body):
            if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                    and sub.func.attr.value in _REGISTRATIONS and sub.args:
                first = sub.args[0].value
                if isinstance(first, cst.SimpleString) and isinstance(first.evaluated_value, str):
                    names.add(first.evaluated_value)
        self._registered = (cls, names)
        return names

    def _grad_enabled_names(self, cls: cst.ClassDef) -> set:
        """Attributes later made trainable (``self.w.requires_grad = True`` / ``requires_grad_()``): TL103."""
        cached = getattr(self, "_grad_enabled", None)
        if cached is not None and cached[0] is cls:
            return cached[1]
        names = set()
        for sub in walk(cls.body):
            target = None
            if isinstance(sub, cst.Attribute) and sub.attr.value in ("requires_grad", "requires_grad_"):
                target = sub.value
            if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
                names.add(target.attr.value)
        self._grad_enabled = (cls, names)
        return names

    def _fix(self, node: cst.Assign, cls: cst.ClassDef, attr: str, self_name: str) -> Optional[Fix]:
        if sum(1 for name, _v in iter_self_assignments(cls) if name == attr) != 1:
            return None
        if fixsafety.registration_problem(self.ctx, cls, attr, node) is not None:
            return None  # register_buffer would raise KeyError or name another attribute
        call = cst.Call(
            func=cst.Attribute(value=cst.Name(self_name), attr=cst.Name("register_buffer")),
            args=[cst.Arg(value=cst.SimpleString(f'"{attr}"'),
                          comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))),
                  cst.Arg(value=node.value)])
        new = cst.Expr(value=call, semicolon=node.semicolon)
        return fixsafety.offer(self.ctx, UNSAFE, [(node, new)], "register as a buffer",
                               verdicts=[fixsafety.self_verdict(self.ctx, node, self_name),
                                         fixsafety.module_initialised_verdict(self.ctx, node)])


def _moved_parameter(ctx, value: cst.BaseExpression) -> bool:
    from .tl105_parameter_moved_after_wrapping import MOVES

    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value in MOVES:
        value = value.func.value
        if isinstance(value, cst.Call) and (ctx.resolve(value.func) in PARAMETER_CLASSES
                                            or requires_grad_factory(ctx, value) is not None):
            return True
    return False


_ELEMENTWISE = frozenset({"sqrt", "rsqrt", "exp", "log", "float", "double", "half", "abs", "neg", "reciprocal"})


def _zero_dim(value: cst.BaseExpression) -> bool:
    """``torch.tensor(d)`` of one non-sequence value, possibly through elementwise ops (``torch.sqrt(...).float()``):
    a 0-dim tensor, which combines with tensors on any device."""
    while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
        name = value.func.attr.value
        if name == "tensor" and len(value.args) >= 1 and value.args[0].keyword is None:
            return isinstance(value.args[0].value, (cst.Name, cst.Integer, cst.Float, cst.UnaryOperation))
        if name not in _ELEMENTWISE:
            return False
        if isinstance(value.func.value, cst.Call) and not value.args:
            value = value.func.value  # x.float()
        elif len(value.args) == 1 and value.args[0].keyword is None:
            value = value.args[0].value  # torch.sqrt(x)
        else:
            return False
    return False


def _constant_scalar(value: cst.BaseExpression) -> bool:
    """``torch.tensor(1)``, ``torch.tensor(-0.5)``: a 0-dim constant (combines with tensors on any device)."""
    if not (isinstance(value, cst.Call) and len(value.args) >= 1 and value.args[0].keyword is None):
        return False
    arg = value.args[0].value
    if isinstance(arg, cst.UnaryOperation):
        arg = arg.expression
    return isinstance(arg, (cst.Integer, cst.Float)) and isinstance(value.func, cst.Attribute) \
        and value.func.attr.value == "tensor"
