from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.nodes import walk
from ...semantic.kinds import MODULE, STATE_DICT, STRONG
from ...rule import Rule

# Uses of the dict that read keys only, never the (possibly replaced) values.
_KEY_METHODS = frozenset({"keys"})
# Calls on the dict allowed inside the value written back into the same dict (key renaming).
_MOVE_METHODS = frozenset({"pop", "get"})


class StateDictEntryNotLoaded(Rule):
    """
    ## What it does
    Finds `sd[key] = value` where `sd = model.state_dict()` of an `nn.Module` (proven, or on strong
    evidence such as a parameter `model` whose `.parameters()` the function also uses), and the dict
    is never used afterwards except for more such writes, key tests (`key in sd`, `sd.keys()`,
    `len(sd)`) and deletions: no `model.load_state_dict(sd)`, no `torch.save(sd, ...)`, no
    `return sd`, no other use of any kind in the function. Also finds
    `model.state_dict()[key] = value`, which is always discarded.

    In-place edits of an entry (`sd[key].copy_(value)`, `sd[key].fill_(0)`, `sd[key][0] = 1`,
    `sd[key] += 1`) change the model's own tensors and are never flagged. Where the receiver of
    `state_dict()` cannot be established as a Module, the rule stays silent.

    ## Why is this bad?
    `state_dict()` returns a new dictionary each call. Its values are the model's tensors, but its
    *slots* belong to the dictionary only: `sd[key] = value` puts another tensor in the dictionary and
    leaves the model's parameter untouched. Unless the dictionary is then loaded
    (`model.load_state_dict(sd)`) or saved, the assignment has no effect at all: the intended
    re-initialisation, weight surgery or checkpoint patch silently never happens.

    ## Example
    ```python
    def reset_head(model: nn.Module):
        sd = model.state_dict()
        sd["fc.bias"] = torch.zeros(10)
    ```

    ## Use instead
    ```python
    def reset_head(model: nn.Module):
        sd = model.state_dict()
        sd["fc.bias"] = torch.zeros(10)
        model.load_state_dict(sd)
    ```
    or change the tensor in place: `with torch.no_grad(): sd["fc.bias"].copy_(torch.zeros(10))`.

    ## Fix safety
    No fix is offered: loading the dict back and copying in place differ (strictness, shapes, dtypes).
    """

    code = "TL204"
    name = "state-dict-entry-not-loaded"
    summary = "`sd = model.state_dict(); sd[key] = value` never loaded back: the model is unchanged."
    message = ("assigning an entry of {what} does not change the model's tensor; call "
               "load_state_dict() with the dict afterwards, or write in place: {target}.copy_(...)")
    triggers = ("state_dict(",)
    needs = STRONG

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._verdicts: dict[int, bool] = {}

    def _scope(self) -> cst.CSTNode:
        func = self.ctx.current_function
        return func if func is not None else self.ctx.stack[0]

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            t = target.target
            if not isinstance(t, cst.Subscript):
                continue
            base = t.value
            direct = _state_dict_receiver(base)
            if direct is not None:
                if self.is_kind(direct, MODULE):
                    self.report(t, what=f"{_code(direct)}.state_dict() (a new dict each call)",
                                target=_code(t))
                continue
            if not isinstance(base, cst.Name) or not self.is_kind(base, STATE_DICT):
                continue
            bindings = [b for b in self.ctx.model.bindings_at(base) if b.value is not None]
            owners = {_code(r) for r in (_state_dict_receiver(b.value) for b in bindings) if r is not None}
            if len(owners) != 1:
                continue
            key = id(bindings[0])
            verdict = self._verdicts.get(key)
            if verdict is None:
                verdict = self._verdicts[key] = _only_written(self._scope(), base.value)
            if verdict:
                self.report(t, what=f"'{base.value}' = {owners.pop()}.state_dict() that is never loaded or saved",
                            target=_code(t))


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _state_dict_receiver(node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """``X.state_dict()`` (no destination, prefix or positional arguments) -> X."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "state_dict":
        if all(arg.keyword is not None and arg.keyword.value == "keep_vars" for arg in node.args):
            return node.func.value
    return None


def _only_written(scope: cst.CSTNode, name: str) -> bool:
    """Every occurrence of ``name`` in the scope is its one ``= X.state_dict()`` binding, a write
    ``name[k] = v``, a deletion, a key test, or a read inside a value written back into ``name``."""
    allowed: set[int] = set()
    bindings = 0
    for sub in walk(scope):
        if isinstance(sub, cst.Assign):
            writes_back = False
            for target in sub.targets:
                t = target.target
                if isinstance(t, cst.Name) and t.value == name:
                    if _state_dict_receiver(sub.value) is None:
                        return False
                    bindings += 1
                    allowed.add(id(t))
                elif isinstance(t, cst.Subscript) and isinstance(t.value, cst.Name) and t.value.value == name:
                    allowed.add(id(t.value))
                    writes_back = True
            if writes_back:
                for inner in walk(sub.value):
                    if isinstance(inner, cst.Subscript) and isinstance(inner.value, cst.Name) \
                            and inner.value.value == name:
                        allowed.add(id(inner.value))
                    elif isinstance(inner, cst.Call) and isinstance(inner.func, cst.Attribute) \
                            and inner.func.attr.value in _MOVE_METHODS and isinstance(inner.func.value, cst.Name) \
                            and inner.func.value.value == name:
                        allowed.add(id(inner.func.value))
        elif isinstance(sub, cst.Del):
            targets = sub.target.elements if isinstance(sub.target, cst.Tuple) else []
            for t in [sub.target, *(el.value for el in targets)]:
                if isinstance(t, cst.Subscript) and isinstance(t.value, cst.Name) and t.value.value == name:
                    allowed.add(id(t.value))
        elif isinstance(sub, cst.Comparison):
            for comp in sub.comparisons:
                if isinstance(comp.operator, (cst.In, cst.NotIn)) and isinstance(comp.comparator, cst.Name) \
                        and comp.comparator.value == name:
                    allowed.add(id(comp.comparator))
        elif isinstance(sub, cst.Call):
            func = sub.func
            if isinstance(func, cst.Attribute) and func.attr.value in _KEY_METHODS \
                    and isinstance(func.value, cst.Name) and func.value.value == name:
                allowed.add(id(func.value))
            elif isinstance(func, cst.Name) and func.value == "len" and len(sub.args) == 1 \
                    and isinstance(sub.args[0].value, cst.Name) and sub.args[0].value.value == name:
                allowed.add(id(sub.args[0].value))
        elif isinstance(sub, cst.Expr) and isinstance(sub.value, cst.Call):
            func = sub.value.func
            if isinstance(func, cst.Attribute) and func.attr.value == "pop" and isinstance(func.value, cst.Name) \
                    and func.value.value == name:
                allowed.add(id(func.value))
    if bindings != 1:
        return False
    for sub in walk(scope):
        if isinstance(sub, cst.Name) and sub.value == name and id(sub) not in allowed:
            return False
    return True
