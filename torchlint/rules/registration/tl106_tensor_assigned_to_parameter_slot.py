from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.flow import Scope, exclusive
from ...facts.kinds import PARAMETER_CLASSES, iter_self_assignments, iter_self_method_calls
from ...facts.nodes import self_attribute, walk
from ...rule import Rule
from ...semantic.kinds import MODULE, PARAMETER, STRONG, TENSOR

_WB = frozenset({"weight", "bias"})
# Parameters every instance of these torch layers registers (possibly as None), whatever its arguments.
LAYER_PARAMETERS = {
    **{f"torch.nn.{name}": _WB for name in (
        "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
        "ConvTranspose3d", "LayerNorm", "GroupNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
        "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")},
    "torch.nn.Embedding": frozenset({"weight"}),
    "torch.nn.PReLU": frozenset({"weight"}),
    "torch.nn.RMSNorm": frozenset({"weight"}),
}


class TensorAssignedToParameterSlot(Rule):
    """
    ## What it does
    Finds a plain tensor assigned to a name that is a registered parameter: `layer.weight =
    torch.zeros(2, 2)` where `layer` is a known torch layer (a local or `self.` attribute built from
    `nn.Linear`, `nn.Conv2d`, `nn.LayerNorm`, ...), or `self.weight = <tensor>` in a class that
    registers `weight` as an `nn.Parameter`.

    Silent for `nn.Parameter(...)` and `None` values, for values whose kind is unknown, for receivers
    whose class is unknown, after `del self.weight` in the same method, and in `__init__` before the
    parameter is created or on a branch exclusive with every creation of it there (`if bias: self.b =
    nn.Parameter(...)` / `else: self.b = torch.zeros(...)`: on that path nothing named `b` is registered).

    ## Why is this bad?
    `nn.Module.__setattr__` refuses a plain tensor for a name in `_parameters`: it raises
    `TypeError: cannot assign 'torch.FloatTensor' as parameter 'weight' (torch.nn.Parameter or None
    expected)` at run time, typically deep inside a weight-loading or initialisation helper, far from
    what the author meant (copy the values in, or replace the parameter).

    ## Example
    ```python
    layer = nn.Linear(2, 2)
    layer.weight = torch.zeros(2, 2)
    ```

    ## Use instead
    ```python
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.zeros(2, 2))
    # or replace it: layer.weight = nn.Parameter(torch.zeros(2, 2))
    ```

    ## Fix safety
    No automatic fix: copying values in and replacing the parameter differ (optimizer state, shape).

    ## Precision
    Default-off: on code no rule was tuned on, measured blind before any change: 2 true of 2 on the validation
    half of the corpus (blind, with the rules after tuning), then 0 true of 9 on that half's findings after the
    evidence-based kinds landed (the same exclusive if/else shape, measured before fixing): 2 of 11 (18%). The
    false shapes found there are silent now (near-miss fixtures), but the rule stays off until a new blind
    measurement reaches 95%. Enable it with `--extend-select TL106` (or `extend-select = ["TL106"]` under
    `[tool.torchlint]`).
    """

    code = "TL106"
    default_enabled = False
    name = "tensor-assigned-to-parameter-slot"
    summary = "A plain tensor assigned to a registered parameter's name raises TypeError."
    needs = STRONG
    message = ("'{attr}' is a registered parameter: assigning a plain tensor raises TypeError: cannot assign ... "
               "as parameter; use `with torch.no_grad(): {target}.copy_(t)` or nn.Parameter(t)")

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if not isinstance(t, cst.Attribute):
                continue
            attr = t.attr.value
            owner = t.value
            ctx = self.ctx
            if ctx.is_self(owner):
                if not ctx.in_module_class or attr not in self._parameter_attrs(ctx.current_class) \
                        or ctx.kind_of(node.value) != TENSOR:
                    continue
                if self._self_parameter(attr, node):
                    self.report(node, attr=attr, target=f"{owner.value}.{attr}")
            elif attr in _WB:
                kinds = ctx.model.kinds
                if kinds.is_(node.value, PARAMETER, at_least=self.needs) or not kinds.is_(node.value, TENSOR, self.needs):
                    continue
                fact = kinds.of(owner)
                cls = fact.cls if fact is not None and fact.kind == MODULE and fact.strength >= self.needs else None
                if cls is not None and attr in LAYER_PARAMETERS.get(cls, ()):
                    self.report(node, attr=attr, target=_dotted(owner, attr) or attr)

    # ------------------------------------------------------------------ helpers
    def _parameter_attrs(self, cls: cst.ClassDef) -> set:
        """Attributes the class creates as nn.Parameter (assigned or registered): computed once per class."""
        cache = self.__dict__.setdefault("_param_attrs", {})
        found = cache.get(id(cls))
        if found is None:
            ctx = self.ctx
            found = {name for name, value in iter_self_assignments(cls)
                     if isinstance(value, cst.Call) and ctx.resolve(value.func) in PARAMETER_CLASSES}
            for _m, args in iter_self_method_calls(cls, ("register_parameter",)):
                if args and isinstance(args[0].value, cst.SimpleString) and isinstance(args[0].value.evaluated_value, str):
                    found.add(args[0].value.evaluated_value)
            cache[id(cls)] = found
        return found

    def _self_parameter(self, attr: str, node: cst.Assign) -> bool:
        """``self.<attr>`` is created as an nn.Parameter in the class, and this assignment does not come
        before that (in the same method) nor after a ``del self.<attr>``."""
        ctx = self.ctx
        if attr not in self._parameter_attrs(ctx.current_class):
            return False
        func = ctx.current_function
        self_name = ctx.func_stack[-1].self_name
        seen_self = False
        created_before = []  # creations of the parameter earlier in this method
        for sub in walk(func.body, into_scopes=False):
            if sub is node:
                seen_self = True
            elif isinstance(sub, cst.Del) or (
                    isinstance(sub, cst.Call) and isinstance(sub.func, cst.Name) and sub.func.value == "delattr"):
                return False
            elif not seen_self and isinstance(sub, cst.Assign):
                if any(self_attribute(tt.target, self_name) == attr for tt in sub.targets) \
                        and isinstance(sub.value, cst.Call) and ctx.resolve(sub.value.func) in PARAMETER_CLASSES:
                    created_before.append(sub)
                continue
            elif not seen_self and isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                    and sub.func.attr.value == "register_parameter":
                name = sub.args[0].value if sub.args else None
                if not (isinstance(name, cst.SimpleString) and name.evaluated_value != attr):
                    created_before.append(sub)
            elif seen_self and isinstance(sub, cst.Assign) and any(
                    self_attribute(tt.target, self_name) == attr for tt in sub.targets):
                return False  # the parameter is created after this assignment
            elif seen_self and isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                    and sub.func.attr.value == "register_parameter":
                return False
        if created_before and ctx.method_name == "__init__":
            # __init__ starts without the parameter: when its only creations here sit in branches that
            # exclude this assignment (``if bias: self.b = Parameter(..) else: self.b = tensor``), the
            # name is not registered on this path and the assignment keeps a plain tensor attribute.
            scope = Scope(func.body)
            if all(exclusive(scope, made, node) for made in created_before):
                return False
        return True


def _dotted(owner: cst.BaseExpression, attr: str) -> Optional[str]:
    parts = [attr]
    while isinstance(owner, cst.Attribute):
        parts.append(owner.attr.value)
        owner = owner.value
    if isinstance(owner, cst.Name):
        parts.append(owner.value)
        return ".".join(reversed(parts))
    return None
