"""TL414: a DataLoader with a DistributedSampler iterated every epoch without ``set_epoch``."""
from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.nodes import keyword_arg, walk
from ...rule import Rule
from ...semantic.kinds import PROVEN, SAMPLER, SAMPLER_CLASSES

DATALOADER_CLASSES = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_WRAPPERS = frozenset({"enumerate", "tqdm", "iter"})


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _calls_set_epoch(node: cst.CSTNode) -> bool:
    return any(isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "set_epoch"
               for n in walk(node))


class SamplerEpochNotSet(Rule):
    """
    ## What it does
    Finds a `DataLoader` built with `sampler=<DistributedSampler>` that is iterated inside an outer loop (the
    epoch loop) of the same function, directly (`for batch in loader`, `enumerate(loader)`, `tqdm(loader)`) or
    by passing it to an in-file function that iterates it, when neither the epoch loop nor that function calls
    `set_epoch(...)` on anything. A sampler built with `shuffle=False` is not reported.

    Evidence: PROVEN: the sampler is a `DistributedSampler(...)` construction (or `... if distributed else None`)
    or a parameter annotated as one, and the loader a `DataLoader(...)` construction, in the same function.
    A loader handed to a function of another file (a trainer) is not followed: it may call `set_epoch` itself.

    ## Why is this bad?
    `DistributedSampler` shuffles with a generator seeded by `seed + epoch`, and the epoch only changes through
    `set_epoch`. Without it every epoch visits the data in exactly the same order on every rank: the shuffle the
    author asked for happens once, and the model sees the same batches, in the same order, epoch after epoch.
    Nothing warns.

    ## Example
    ```python
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=2, rank=0)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler)
    for epoch in range(10):
        for x, y in loader:
            train_step(x, y)
    ```

    ## Use instead
    ```python
    sampler = torch.utils.data.DistributedSampler(dataset, num_replicas=2, rank=0)
    loader = DataLoader(dataset, batch_size=32, sampler=sampler)
    for epoch in range(10):
        sampler.set_epoch(epoch)
        for x, y in loader:
            train_step(x, y)
    ```

    ## Fix safety
    No fix is offered: the epoch variable to pass is the author's (resumed runs start from a saved epoch).
    """

    code = "TL414"
    name = "sampler-epoch-not-set"
    summary = "A `DistributedSampler` loader iterated every epoch without `set_epoch`: the same order every epoch."
    message = ("'{loader}' uses a DistributedSampler but set_epoch() is never called in this epoch loop: every epoch "
               "sees the same order; call {sampler}.set_epoch(epoch) at the top of the epoch loop")
    triggers = ("DistributedSampler",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        # per function: names bound to a distributed sampler, names bound to a DataLoader using one, open loops
        self.samplers: list[set[str]] = [set()]
        self.assigned: list[set[str]] = [set()]  # names assigned in the function (their kind is what we saw)
        self.loaders: list[dict[str, str]] = [{}]
        self.loops: list[list[cst.CSTNode]] = [[]]
        self._functions: Optional[dict[str, cst.FunctionDef]] = None
        self.reported: set[int] = set()

    # ------------------------------------------------------------------ scopes and bindings
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.samplers.append(set())
        self.assigned.append(set())
        self.loaders.append({})
        self.loops.append([])

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.samplers.pop()
        self.assigned.pop()
        self.loaders.pop()
        self.loops.pop()

    def visit_While(self, node: cst.While) -> None:
        self.loops[-1].append(node)

    def leave_While(self, node: cst.While) -> None:
        self.loops[-1].pop()

    def leave_For(self, node: cst.For) -> None:
        self.loops[-1].pop()

    def leave_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            for t in node.targets:
                for n in walk(t.target):
                    if isinstance(n, cst.Name):
                        self._forget(n.value)
            return
        name = node.targets[0].target.value
        value = node.value
        if _is_none(value) and name in self.samplers[-1]:
            return  # `sampler = None` placeholder of the non-distributed branch
        self._forget(name)
        if self._distributed_sampler(value):
            self.samplers[-1].add(name)
            return
        sampler = self._loader_sampler(value)
        if sampler is not None:
            self.loaders[-1][name] = sampler

    def _forget(self, name: str) -> None:
        self.assigned[-1].add(name)
        self.samplers[-1].discard(name)
        self.loaders[-1].pop(name, None)

    def _distributed_sampler(self, value: cst.BaseExpression) -> bool:
        if isinstance(value, cst.IfExp):
            arms = (value.body, value.orelse)
            return any(self._distributed_sampler(a) for a in arms) and all(
                _is_none(a) or self._distributed_sampler(a) for a in arms)
        if isinstance(value, cst.Name):
            if value.value in self.samplers[-1]:
                return True
            if value.value in self.assigned[-1]:
                return False
            fact = self.ctx.model.kinds.of(value)
            return fact is not None and fact.kind == SAMPLER and fact.strength >= PROVEN and fact.cls in SAMPLER_CLASSES
        if not isinstance(value, cst.Call) or self.ctx.resolve(value.func) not in SAMPLER_CLASSES:
            return False
        shuffle = keyword_arg(value, "shuffle")
        return shuffle is None or not (isinstance(shuffle.value, cst.Name) and shuffle.value.value == "False")

    def _loader_sampler(self, value: cst.BaseExpression) -> Optional[str]:
        """The source of the distributed sampler of a ``DataLoader(...)`` construction, or None."""
        if not isinstance(value, cst.Call) or self.ctx.resolve(value.func) not in DATALOADER_CLASSES:
            return None
        sampler = keyword_arg(value, "sampler")
        if sampler is None or not self._distributed_sampler(sampler.value):
            return None
        return cst.Module(body=[]).code_for_node(sampler.value) if isinstance(sampler.value, cst.Name) \
            else "the sampler"

    # ------------------------------------------------------------------ iteration
    def visit_For(self, node: cst.For) -> None:
        loader = self._iterated_loader(node.iter)
        if loader is not None:
            self._check(node.iter, loader)
        self.loops[-1].append(node)

    def visit_Call(self, node: cst.Call) -> None:
        if not self.loops[-1] or not isinstance(node.func, cst.Name):
            return
        for index, arg in enumerate(node.args):
            if arg.star or not isinstance(arg.value, cst.Name) or arg.value.value not in self.loaders[-1]:
                continue
            func = self._local_function(node.func.value)
            if func is None or _calls_set_epoch(func):
                continue
            param = self._parameter(func, index, arg)
            if param is not None and self._iterates(func, param):
                self._check(arg.value, arg.value.value, outer_needed=False)

    def _iterated_loader(self, expr: cst.BaseExpression) -> Optional[str]:
        while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value in _WRAPPERS \
                and expr.args:
            expr = expr.args[0].value
        if isinstance(expr, cst.Name) and expr.value in self.loaders[-1]:
            return expr.value
        return None

    def _check(self, node: cst.CSTNode, loader: str, outer_needed: bool = True) -> None:
        loops = self.loops[-1]
        if not loops or id(node) in self.reported:
            return  # a single pass over the data: nothing to reshuffle
        epoch_loop = loops[0]
        if _calls_set_epoch(epoch_loop):
            return
        self.reported.add(id(node))
        self.report(node, loader=loader, sampler=self.loaders[-1][loader] if self.loaders[-1][loader] != "the sampler"
                    else f"{loader}.sampler")

    # ------------------------------------------------------------------ in-file helpers
    def _local_function(self, name: str) -> Optional[cst.FunctionDef]:
        if self._functions is None:
            module = self.ctx.stack[0] if self.ctx.stack else None
            found: dict[str, list] = {}
            if isinstance(module, cst.Module):
                for stmt in module.body:
                    if isinstance(stmt, cst.FunctionDef):
                        found.setdefault(stmt.name.value, []).append(stmt)
            self._functions = {k: v[0] for k, v in found.items() if len(v) == 1}
        return self._functions.get(name)

    @staticmethod
    def _parameter(func: cst.FunctionDef, index: int, arg: cst.Arg) -> Optional[str]:
        params = list(func.params.posonly_params) + list(func.params.params)
        if arg.keyword is not None:
            names = {p.name.value for p in params} | {p.name.value for p in func.params.kwonly_params}
            return arg.keyword.value if arg.keyword.value in names else None
        return params[index].name.value if index < len(params) else None

    def _iterates(self, func: cst.FunctionDef, param: str) -> bool:
        for n in walk(func.body):
            if isinstance(n, cst.For):
                expr = n.iter
                while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) \
                        and expr.func.value in _WRAPPERS and expr.args:
                    expr = expr.args[0].value
                if isinstance(expr, cst.Name) and expr.value == param:
                    return True
        return False
