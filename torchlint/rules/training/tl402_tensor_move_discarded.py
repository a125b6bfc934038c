from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety
from ...facts.grad import is_requires_grad_call, requires_grad_factory
from ...rule import SAFE, Fix, Rule
from ...semantic.kinds import BATCH, PARAMETER, PROVEN, STRONG, TENSOR

# Tensor methods that return a new tensor (or the same one) and never change the receiver.
MOVE_METHODS = frozenset({"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "long", "int", "type",
                          "contiguous"})


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


class TensorMoveDiscarded(Rule):
    """
    ## What it does
    Finds an expression statement `x.to(device)`, `x.cuda()`, `x.cpu()`, `x.float()`, `x.half()`,
    `x.double()`, `x.bfloat16()`, `x.long()`, `x.int()`, `x.type(dtype)` or `x.contiguous()` whose
    result is thrown away, where `x` is a tensor: proven (bound to a torch factory or tensor operation, a
    parameter annotated `torch.Tensor`, a tensor attribute of the Module, an `nn.Parameter`), or, on strong
    evidence, a name unpacked from a `for x, y in loader` loop over a DataLoader (built, annotated, or
    shown by its use). A whole batch (`for batch in loader: batch.to(device)`) stays silent: custom batch
    classes (transformers' `BatchEncoding`, PyG's `Batch`) move themselves in place. Modules (`model.to(device)` moves the module
    in place and is correct) and receivers of unknown kind stay silent.

    Silent when every binding of the name that reaches the statement was created with that same `dtype=`
    or `device=` (`t = torch.zeros(n, dtype=q.dtype)` ... `t.to(q.dtype)`): the move would change nothing.

    ## Why is this bad?
    Unlike `nn.Module.to()`, these tensor methods return a new tensor and leave the receiver as it
    was. The statement moves or converts a copy and drops it: the batch stays on the CPU while the
    model is on the GPU (a device-mismatch error, or silently slow CPU work), or keeps its old dtype.

    ## Example
    ```python
    def train(model, loader: DataLoader, device):
        for x, y in loader:
            x.to(device)
            y.to(device)
            out = model(x)
    ```

    ## Use instead
    ```python
    def train(model, loader: DataLoader, device):
        for x, y in loader:
            x = x.to(device)
            y = y.to(device)
            out = model(x)
    ```

    ## Fix safety
    Safe when the receiver is a plain name bound to a plain tensor: the fix rebinds the name to the
    result, `x = x.to(device)`, which is what the statement was written for; nothing else observed the
    discarded copy. No fix when the name holds an `nn.Parameter` or a tensor made trainable
    (`requires_grad=True`, `.requires_grad_()`): the copy is a plain non-leaf tensor, so rebinding would
    unregister the parameter or stop its gradient. Attribute or subscript receivers (`self.buf.cuda()`)
    get no fix, because assigning to them can change a Module's registered state.
    """

    code = "TL402"
    name = "tensor-move-discarded"
    summary = "`x.to(device)` / `x.float()` on a tensor as a statement changes nothing."
    message = ("'{text}' returns a new tensor and leaves '{receiver}' unchanged (tensors are not moved or "
               "converted in place); write '{receiver} = {text}'")
    fix_availability = SAFE
    needs = STRONG
    triggers = (".to(", ".cuda(", ".cpu(", ".float(", ".half(", ".double(", ".bfloat16(", ".long(", ".int(",
                ".type(", ".contiguous(")

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
        if method == "to" and self._already_there(receiver, call):
            return
        fix: Optional[Fix] = None
        if isinstance(receiver, cst.Name):
            new = cst.Assign(targets=[cst.AssignTarget(target=receiver)], value=call, semicolon=node.semicolon)
            fix = fixsafety.offer(self.ctx, SAFE, [(node, new)], "assign the result back to the name",
                                  verdicts=[self._rebind_verdict(receiver)])
        self.report(call, text=_code(call), receiver=_code(receiver), fix=fix)

    def _already_there(self, receiver: cst.BaseExpression, call: cst.Call) -> bool:
        """Every binding that reaches the receiver was created with the very dtype/device moved to."""
        if not isinstance(receiver, cst.Name) or len(call.args) != 1 or call.args[0].keyword:
            return False
        wanted = _code(call.args[0].value)
        bindings = self.ctx.model.bindings_at(receiver)
        return bool(bindings) and all(
            isinstance(b.value, cst.Call) and b.target is b.node and any(
                a.keyword is not None and a.keyword.value in ("dtype", "device") and _code(a.value) == wanted
                for a in b.value.args)
            for b in bindings)

    def _rebind_verdict(self, receiver: cst.Name):
        """Rebinding the name to the moved copy keeps what it stands for only for a plain tensor: a Parameter
        (or a tensor made a trainable leaf) would become a non-leaf plain tensor and lose its registration."""
        fact = self.ctx.model.kinds.of(receiver)
        if fact is not None and fact.kind == PARAMETER:
            return fixsafety.NO, f"'{receiver.value}' is a Parameter: rebinding it to a copy unregisters it"
        model = self.ctx.model
        for binding in model.bindings_at(receiver):
            if binding.value is not None and (requires_grad_factory(self.ctx, binding.value) is not None
                                              or is_requires_grad_call(self.ctx, binding.value)):
                return fixsafety.NO, f"'{receiver.value}' is a trainable leaf: its copy would not be"
            if any(use.attr in ("requires_grad", "requires_grad_") for use in model.uses_in(binding.scope, binding.name)):
                return fixsafety.NO, f"'{receiver.value}' is made trainable: its copy would not be a leaf"
        return fixsafety.OK

    def _is_tensor(self, receiver: cst.BaseExpression) -> bool:
        fact = self.ctx.model.kinds.of(receiver)
        if fact is None:
            return False
        if fact.kind in (TENSOR, PARAMETER):
            return fact.strength >= PROVEN
        # one element of an unpacked DataLoader batch; the whole batch may be a custom class whose
        # .to() moves it in place (transformers' BatchEncoding, PyG's Batch)
        return fact.kind == BATCH and fact.cls == "part" and fact.strength >= self.needs
