from __future__ import annotations

import libcst as cst

from ...facts.kinds import PARAMETER
from ...rule import SAFE
from .tl101_module_in_plain_container import ModuleInPlainContainer

_REPLACEMENT = {"list": "ParameterList", "tuple": "ParameterList", "set": "ParameterList", "dict": "ParameterDict"}


class ParameterInPlainContainer(ModuleInPlainContainer):
    """
    ## What it does
    Finds `nn.Parameter` objects of an `nn.Module` kept in a plain `list`, `tuple`, `set` or `dict`
    attribute: `self.ws = [nn.Parameter(torch.randn(3)) for _ in range(4)]`, a dict literal or
    comprehension of parameters, a dict of dicts of parameters, or an attribute initialised empty and
    filled with `append` / `extend` / `self.p[k] = nn.Parameter(...)`.

    Silent when the method also registers them with `register_parameter` (or `setattr`), and when the
    attribute is an `nn.ParameterList` / `nn.ParameterDict`.

    ## Why is this bad?
    A parameter is registered only when it is assigned to a Module attribute directly, or held by an
    `nn.ParameterList` / `nn.ParameterDict`. Inside a plain container, `parameters()` does not yield
    it, so an optimizer built from `model.parameters()` never updates it: it never trains. It is also
    missing from `state_dict()`, and `.to(device)` / `.double()` do not move or cast it.

    ## Example
    ```python
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = [nn.Parameter(torch.randn(3)) for _ in range(4)]
    ```

    ## Use instead
    ```python
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.ws = nn.ParameterList([nn.Parameter(torch.randn(3)) for _ in range(4)])
    ```
    Use `nn.ParameterDict` for a dict with string keys.

    ## Fix safety
    Wraps the value in `nn.ParameterList` / `nn.ParameterDict` under the conditions of TL101, with the
    rules of these containers: every element must be provably an `nn.Parameter` (a plain tensor such as
    `torch.zeros(2)` would silently become a trainable parameter: no fix); supported uses are indexing,
    iteration, `len`, `append`, `extend`, `+=` (and `get`, `setdefault`, `items`, `keys`, `values`, `pop(k)`,
    `update`, `clear` for a dict); `insert`, `pop` and `del` of a list, and anything TL101 refuses, mean
    no fix. Dict keys must be valid: not `"training"` or any other attribute of `nn.Module`, no `.`, not
    empty.
    """

    code = "TL102"
    name = "parameter-in-plain-container"
    summary = "Parameters kept in a plain list, tuple, set or dict attribute are never trained."
    message = ("parameters kept in a plain {container} are not registered (not in parameters(), never trained, "
               "not saved); use nn.{replacement}")
    fix_availability = SAFE
    triggers = ("Parameter",)
    item_kind = PARAMETER
    replacements = _REPLACEMENT
    registering_calls = frozenset({"register_parameter", "setattr"})

    def _construction_counts(self, node: cst.Call) -> bool:
        return True
