from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety, torch_facts
from ...rule import SAFE, Fix, Rule

# Fully qualified deprecated alias -> qualified in-place function it forwards to.
_CLIP = {
    "torch.nn.utils.clip_grad_norm": "torch.nn.utils.clip_grad_norm_",
    "torch.nn.utils.clip_grad.clip_grad_norm": "torch.nn.utils.clip_grad.clip_grad_norm_",
}
DEPRECATED = dict(_CLIP)
for _name in torch_facts.DEPRECATED_INIT_ALIASES:
    DEPRECATED[f"torch.nn.init.{_name}"] = f"torch.nn.init.{_name}_"
_LAST_NAMES = frozenset(q.rsplit(".", 1)[-1] for q in DEPRECATED)


class DeprecatedInitAlias(Rule):
    """
    ## What it does
    Finds uses of the deprecated `torch.nn.init` aliases without the trailing underscore (`normal`,
    `uniform`, `constant`, `xavier_normal`, `xavier_uniform`, `kaiming_normal`, `kaiming_uniform`,
    `orthogonal`, `sparse`, `dirac`, `eye`) and of `torch.nn.utils.clip_grad_norm`, however they were
    imported (`nn.init.normal`, `from torch.nn import init`, `import torch.nn.init as init`,
    `from torch.nn.init import xavier_uniform`). `torch.normal` (sampling) and functions of the same
    name that do not come from `torch.nn.init` are never reported.

    ## Why is this bad?
    These names are deprecated wrappers around the in-place functions: every call emits a
    `FutureWarning` ("`nn.init.normal` is now deprecated in favor of `nn.init.normal_`") and they are
    slated for removal, at which point the code fails with an `AttributeError`. The name without an
    underscore also hides that the tensor is modified in place.

    ## Example
    ```python
    nn.init.xavier_uniform(layer.weight)
    torch.nn.utils.clip_grad_norm(model.parameters(), 1.0)
    ```

    ## Use instead
    ```python
    nn.init.xavier_uniform_(layer.weight)
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    ```

    ## Fix safety
    Safe: each alias only warns and forwards its arguments to the underscore function, so appending
    the underscore changes nothing but the warning. Names are resolved where they are used: a parameter
    or local variable named `init` or `nn` is not `torch.nn.init` (nothing is reported). A name imported
    directly (`from torch.nn.init import normal`) is fixed only when a name bound at run time where the
    call is (`torch`, `nn`, `init` imported in that scope or at module level, not only in another
    function or under `if TYPE_CHECKING:`) can name the underscore form; otherwise the import has to be
    changed by hand.
    """

    code = "TL209"
    name = "deprecated-init-alias"
    summary = "Deprecated `nn.init` / `clip_grad_norm` aliases without the trailing underscore."
    message = "'{alias}' is a deprecated alias that warns on every call and will be removed; use '{fixed}'"
    fix_availability = SAFE
    triggers = ("init", "clip_grad_norm")

    # Only a use as a value fires: called, passed (as a callback) or assigned. A table of names, as
    # torch's own overrides.py keeps to exclude deprecated functions from testing, calls nothing.
    # Handlers sit on Call/Arg/Assign rather than on every Name and Attribute of the file.
    def visit_Call(self, node: cst.Call) -> None:
        self._check(node.func)

    def visit_Arg(self, node: cst.Arg) -> None:
        self._check(node.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        self._check(node.value)

    def _check(self, node: cst.BaseExpression) -> None:
        kind = type(node)
        if kind is cst.Attribute:
            attr = node.attr.value
            if attr not in _LAST_NAMES:
                return
            qualified = self.ctx.resolve(node)
            if qualified is None or DEPRECATED.get(qualified) is None:
                return
            if fixsafety.resolve_at(self.ctx, node) != qualified:
                return  # the head name is bound to something else here (a parameter, a local)
            fix = fixsafety.offer(self.ctx, SAFE, [(node.attr, cst.Name(attr + "_"))], f"use {attr}_")
            self.report(node, alias=attr, fixed=attr + "_", fix=fix)
        elif kind is cst.Name:
            if node.value not in _LAST_NAMES:
                return
            qualified = self.ctx.resolve(node)
            target = DEPRECATED.get(qualified) if qualified else None
            if target is None or fixsafety.resolve_at(self.ctx, node) != qualified:
                return
            fix: Optional[Fix] = None
            local = fixsafety.expr_for(self.ctx, target, node)
            if local is not None:
                fix = fixsafety.offer(self.ctx, SAFE, [(node, local)], f"use {fixsafety.name_for(self.ctx, target, node)}")
            self.report(node, alias=node.value, fixed=node.value + "_", fix=fix)
