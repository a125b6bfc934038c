from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.nodes import walk

from ...facts.kinds import PARAMETER, TENSOR
from ...facts.training import DATALOADER, construction_tag, training_facts
from ...rule import SAFE, Fix, Rule

# Tensor methods that return a new tensor (or the same one) and never change the receiver.
MOVE_METHODS = frozenset({"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "long", "int", "type",
                          "contiguous"})


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _names(target: cst.BaseExpression):
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            yield from _names(el.value)


class TensorMoveDiscarded(Rule):
    """
    ## What it does
    Finds an expression statement `x.to(device)`, `x.cuda()`, `x.cpu()`, `x.float()`, `x.half()`,
    `x.double()`, `x.bfloat16()`, `x.long()`, `x.int()`, `x.type(dtype)` or `x.contiguous()` whose
    result is thrown away, where `x` is proved to be a tensor: bound in the same function to a torch
    factory or tensor operation, a parameter annotated `torch.Tensor`, a tensor attribute of the
    Module, an `nn.Parameter`, or a name unpacked from a `for x, y in loader` loop over a
    `torch.utils.data.DataLoader` built in the same scope. Modules (`model.to(device)` moves the module
    in place and is correct) and receivers of unknown kind stay silent.

    Silent when every binding of the name in the function was created with that same `dtype=` or
    `device=` (`t = torch.zeros(n, dtype=q.dtype)` ... `t.to(q.dtype)`): the move would change nothing.

    ## Why is this bad?
    Unlike `nn.Module.to()`, these tensor methods return a new tensor and leave the receiver as it
    was. The statement moves or converts a copy and drops it: the batch stays on the CPU while the
    model is on the GPU (a device-mismatch error, or silently slow CPU work), or keeps its old dtype.

    ## Example
    ```python
    for x, y in loader:
        x.to(device)
        y.to(device)
        out = model(x)
    ```

    ## Use instead
    ```python
    for x, y in loader:
        x = x.to(device)
        y = y.to(device)
        out = model(x)
    ```

    ## Fix safety
    Safe when the receiver is a plain name: the fix rebinds the name to the result, `x = x.to(device)`,
    which is what the statement was written for; nothing else observed the discarded copy. Attribute
    or subscript receivers (`self.buf.cuda()`) get no fix, because assigning to them can change a
    Module's registered state.

    ## Precision
    On the corpus (tests/corpus_precision.md): tuning half 2 findings, 2 true; validation half
    (measured blind) 3 findings, 2 true (67%): the false one, a tensor created with the very dtype
    it was then discarded-cast to, is now left alone. Too few validation findings to judge the default.
    """

    code = "TL402"
    name = "tensor-move-discarded"
    summary = "`x.to(device)` / `x.float()` on a tensor as a statement changes nothing."
    message = ("'{text}' returns a new tensor and leaves '{receiver}' unchanged (tensors are not moved or "
               "converted in place); write '{receiver} = {text}'")
    fix_availability = SAFE
    triggers = (".to(", ".cuda(", ".cpu(", ".float(", ".half(", ".double(", ".bfloat16(", ".long(", ".int(",
                ".type(", ".contiguous(")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        # names unpacked from a DataLoader loop -> the For node, while inside that loop and not rebound
        self.batch_names: dict[str, cst.For] = {}
        self._added: dict[int, list[str]] = {}

    # ------------------------------------------------------------------ batch names
    def visit_For(self, node: cst.For) -> None:
        if self.batch_names:
            self._rebind(node.target)  # an inner loop rebinds its target names
        iterable = node.iter
        target = node.target
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name) \
                and iterable.func.value == "enumerate" and iterable.args \
                and isinstance(target, (cst.Tuple, cst.List)) and len(target.elements) == 2:
            iterable, target = iterable.args[0].value, target.elements[1].value
        if not isinstance(target, (cst.Tuple, cst.List)):
            return  # a single batch name may be a list or a dict
        if construction_tag(self.ctx, iterable) != DATALOADER and \
                training_facts(self.ctx).tag_of(iterable) != DATALOADER:
            return
        added = [n for n in _names(target) if n not in self.batch_names]
        for name in added:
            self.batch_names[name] = node
        self._added[id(node)] = added

    def leave_For(self, node: cst.For) -> None:
        for name in self._added.pop(id(node), ()):
            self.batch_names.pop(name, None)

    def _rebind(self, target: cst.BaseExpression) -> None:
        for name in _names(target):
            self.batch_names.pop(name, None)

    def leave_Assign(self, node: cst.Assign) -> None:
        if self.batch_names:
            for t in node.targets:
                self._rebind(t.target)

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        if self.batch_names:
            self._rebind(node.target)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        if self.batch_names:
            self._rebind(node.target)

    def _already_there(self, receiver: cst.BaseExpression, call: cst.Call, stmt: cst.Expr) -> bool:
        """``t = torch.zeros(..., dtype=q.dtype)`` ... ``t.to(q.dtype)``: every binding of the name before this
        statement was created with that same dtype (or device), so the discarded move would change nothing."""
        func = self.ctx.current_function
        if func is None or not isinstance(receiver, cst.Name) or len(call.args) != 1 or call.args[0].keyword:
            return False
        wanted = cst.Module(body=[]).code_for_node(call.args[0].value)
        found = False
        for sub in walk(func.body, into_scopes=False):
            if sub is stmt:
                break
            if isinstance(sub, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == receiver.value
                                                   for t in sub.targets):
                value = sub.value
                if not (isinstance(value, cst.Call) and any(
                        a.keyword is not None and a.keyword.value in ("dtype", "device")
                        and cst.Module(body=[]).code_for_node(a.value) == wanted for a in value.args)):
                    return False
                found = True
        return found

    # ------------------------------------------------------------------ the statement
    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not isinstance(call, cst.Call) or not isinstance(call.func, cst.Attribute):
            return
        method = call.func.attr.value
        if method not in MOVE_METHODS or (method == "type" and not call.args):
            return
        receiver = call.func.value
        if not self._is_tensor(receiver):
            return
        if method == "to" and self._already_there(receiver, call, node):
            return
        fix: Optional[Fix] = None
        if isinstance(receiver, cst.Name):
            new = cst.Assign(targets=[cst.AssignTarget(target=receiver)], value=call, semicolon=node.semicolon)
            fix = Fix(SAFE, [(node, new)], "assign the result back to the name")
        self.report(call, text=_code(call), receiver=_code(receiver), fix=fix)

    def _is_tensor(self, receiver: cst.BaseExpression) -> bool:
        if isinstance(receiver, cst.Name) and self.batch_names.get(receiver.value) is not None:
            return True
        return self.ctx.kind_of(receiver) in (TENSOR, PARAMETER)
