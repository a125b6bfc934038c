"""TL417: an optimizer built over a model's parameters, then a layer of that model replaced."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import torch_facts
from ...facts.nodes import walk
from ...facts.training import OPTIMIZER, construction_tag
from ...rule import Rule
from ...semantic.kinds import MODULE, PARAMETER, PROVEN

_PARAMETER_CLASSES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
_PARAM_METHODS = frozenset({"parameters", "named_parameters"})


def _chain(node: cst.BaseExpression) -> Optional[str]:
    """``model.backbone.fc`` -> "model.backbone.fc"; None for anything but names and attributes."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


class OptimizerBeforeLayerSwap(Rule):
    """
    ## What it does
    Finds, in one function (or at module level), an optimizer built over `m.parameters()` (also inside
    `list(...)`, `filter(...)`, a generator or a `{"params": ...}` group) followed by an assignment that replaces
    a submodule or parameter of `m` with a new one (`m.fc = nn.Linear(...)`, `m.head.proj = MyBlock()`,
    `m.scale = nn.Parameter(...)`), when the same optimizer is still used afterwards (`optimizer.step()`, passed
    to a training function) and is neither rebuilt nor given the new parameters (`add_param_group`) first.

    Evidence: PROVEN: the optimizer is a `torch.optim` construction; the replacement is a constructor of a torch
    Module class with parameters, of an in-file or sibling-file Module class, or `nn.Parameter(...)`.

    ## Why is this bad?
    An optimizer keeps references to the parameter tensors it was given. Replacing `model.fc` afterwards
    registers new parameters on the model that the optimizer has never seen: they get gradients but are never
    updated, so the new head keeps its random initialisation while the optimizer steps the old, detached layer
    (and, with weight decay, keeps it alive). Fine-tuning then "trains" everything but the part that was meant
    to learn the new task.

    ## Example
    ```python
    model = torchvision.models.resnet18()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    model.fc = nn.Linear(512, 10)
    optimizer.step()
    ```

    ## Use instead
    ```python
    model = torchvision.models.resnet18()
    model.fc = nn.Linear(512, 10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    optimizer.step()
    ```

    ## Fix safety
    No fix is offered: moving the optimizer's construction may cross other code (a scheduler built on it,
    a loaded optimizer state).
    """

    code = "TL417"
    name = "optimizer-before-layer-swap"
    summary = "A layer replaced after the optimizer was built over the model's parameters: the new layer never trains."
    message = ("'{target}' is replaced after '{optimizer}' was built over {owner}.parameters(): the new layer's "
               "parameters are not in the optimizer and never train; build the optimizer after the swap "
               "(or add_param_group)")
    triggers = ("optim",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        # per scope: optimizer name -> chains whose parameters it holds; swaps waiting for a later use
        self.optimizers: list[dict[str, set]] = [{}]
        self.pending: list[list] = [[]]

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.optimizers.append({})
        self.pending.append([])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.optimizers.pop()
        self._flush(node.body, self.pending.pop())

    def leave_Module(self, node: cst.Module) -> None:
        self._flush(node, self.pending[0])

    # ------------------------------------------------------------------ optimizer construction
    def visit_Assign(self, node: cst.Assign) -> None:
        value = node.value
        if isinstance(value, cst.Call) and construction_tag(self.ctx, value) == OPTIMIZER:
            owners = self._param_owners(value)
            for t in node.targets:
                if isinstance(t.target, cst.Name):
                    if owners:
                        self.optimizers[-1][t.target.value] = owners
                    else:
                        self.optimizers[-1].pop(t.target.value, None)
            return
        for t in node.targets:
            target = t.target
            if isinstance(target, cst.Name):
                self.optimizers[-1].pop(target.value, None)
            elif isinstance(target, cst.Attribute) and self.optimizers[-1]:
                self._check_swap(node, target, value)

    def _param_owners(self, call: cst.Call) -> set:
        owners = set()
        args = [a for a in call.args if a.keyword is None or a.keyword.value == "params"][:1]
        for arg in args:
            for n in walk(arg.value):
                if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) \
                        and n.func.attr.value in _PARAM_METHODS:
                    chain = _chain(n.func.value)
                    if chain is not None:
                        owners.add(chain)
        return owners

    # ------------------------------------------------------------------ the swap
    def _check_swap(self, node: cst.Assign, target: cst.Attribute, value: cst.BaseExpression) -> None:
        chain = _chain(target)
        if chain is None or not self._new_layer(value):
            return
        for opt, owners in self.optimizers[-1].items():
            for owner in owners:
                if chain.startswith(owner + ".") or (chain == owner and "." in owner):
                    self.pending[-1].append((node, opt, owner, chain))
                    return

    def _new_layer(self, value: cst.BaseExpression) -> bool:
        if not isinstance(value, cst.Call):
            return False
        qualified = self.ctx.resolve(value.func)
        if qualified in _PARAMETER_CLASSES:
            return True
        fact = self.ctx.model.kinds.of(value)
        if fact is None or fact.strength < PROVEN or fact.kind not in (MODULE, PARAMETER):
            return False
        if fact.cls is not None and fact.cls in torch_facts.CONTAINER_CLASSES:
            # nn.Sequential(...) / nn.ModuleList([...]): new parameters if an element brings some
            return any(n is not value and isinstance(n, cst.Call) and self._new_layer(n)
                       for a in value.args for n in walk(a.value))
        if fact.cls is not None and fact.cls in torch_facts.MODULES_WITHOUT_PARAMETERS:
            return False
        return True

    # ------------------------------------------------------------------ used afterwards?
    def _flush(self, body: cst.CSTNode, pending: list) -> None:
        for swap, opt, owner, chain in pending:
            after = used = False
            for n in walk(body, into_scopes=False):
                if n is swap:
                    after = True
                    continue
                if not after:
                    continue
                if isinstance(n, (cst.Assign, cst.AnnAssign)) and any(
                        isinstance(t, cst.Name) and t.value == opt
                        for t in ([x.target for x in n.targets] if isinstance(n, cst.Assign) else [n.target])):
                    break  # rebuilt
                if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) \
                        and n.func.attr.value == "add_param_group" and _chain(n.func.value) == opt:
                    break
                if isinstance(n, cst.Name) and n.value == opt:
                    used = True
                    break
            if used:
                self.report(swap.targets[0].target, target=chain, optimizer=opt, owner=owner)
