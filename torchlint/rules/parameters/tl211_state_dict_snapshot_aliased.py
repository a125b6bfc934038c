from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.flow import Scope, exclusive, loops_around
from ...facts.kinds import iter_self_assignments
from ...facts.nodes import self_attribute, walk
from ...semantic.kinds import MODULE, MODULE_ONLY_METHODS, STRONG
from ...rule import Rule

# Methods only a Module has (an optimizer also has state_dict/load_state_dict, but none of these).


def _state_dict_receiver(value: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """``x.state_dict()``, ``x.state_dict().copy()`` or ``dict(x.state_dict())`` -> ``x``."""
    if isinstance(value, cst.Call) and not value.args and isinstance(value.func, cst.Attribute):
        if value.func.attr.value == "state_dict":
            return value.func.value
        if value.func.attr.value == "copy":
            return _state_dict_receiver(value.func.value)
        return None
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value == "dict" \
            and len(value.args) == 1 and not value.args[0].keyword and not value.args[0].star:
        return _state_dict_receiver(value.args[0].value)
    return None


def _same(a: cst.BaseExpression, b: cst.BaseExpression) -> bool:
    return a.deep_equals(b)


class StateDictSnapshotAliased(Rule):
    """
    ## What it does
    Finds a "best weights" snapshot taken as `best = model.state_dict()` (or `.copy()` / `dict(...)` of
    it; also kept on the object, `self.best = self.model.state_dict()`, when no method of the class stores
    anything else there) where the model is trained after the snapshot (a `.backward()`, an `optimizer.step()` or a
    `train...(model, ...)` call later in the function, or anywhere in the loop that holds the
    snapshot) and the snapshot is then restored with `load_state_dict(best)` or returned. The receiver
    must be known to be a Module: built or annotated as one, or used with `.parameters()` /
    `.modules()` / ... in the function (an optimizer's `state_dict()` is not reported). Silent when the
    snapshot is saved with `torch.save` in the next statement, or when no training follows it.

    ## Why is this bad?
    `state_dict()` returns the live parameter and buffer tensors, not copies (a shallow `.copy()` or
    `dict(...)` copies only the dict). Every later optimizer step updates the "snapshot" too, so
    `model.load_state_dict(best)` restores the current weights, not the best ones, and early stopping
    silently keeps the last epoch's model.

    ## Example
    ```python
    def fit(model, loader, epochs):
        optimizer = torch.optim.Adam(model.parameters())
        for epoch in range(epochs):
            train_one_epoch(model, optimizer, loader)
            if evaluate(model) < best_loss:
                best = model.state_dict()
        model.load_state_dict(best)
    ```

    ## Use instead
    ```python
    def fit(model, loader, epochs):
        optimizer = torch.optim.Adam(model.parameters())
        for epoch in range(epochs):
            train_one_epoch(model, optimizer, loader)
            if evaluate(model) < best_loss:
                best = copy.deepcopy(model.state_dict())
                # or: {k: v.detach().clone() for k, v in model.state_dict().items()}
        model.load_state_dict(best)
    ```

    ## Fix safety
    No fix is offered: a deep copy costs a model's worth of memory, which the author has to accept
    (or choose `torch.save` to disk instead).
    """

    code = "TL211"
    name = "state-dict-snapshot-aliased"
    summary = "A `state_dict()` snapshot kept as best weights shares storage and follows training."
    message = ("'{var}' shares storage with the live parameters: training after this snapshot changes it too, "
               "so {restore} restores nothing; use copy.deepcopy({source})")
    triggers = ("state_dict(",)
    needs = STRONG

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1:
            return
        target = node.targets[0].target
        ctx = self.ctx
        attr = None
        if not isinstance(target, cst.Name):
            # ``self.best = model.state_dict()``: the snapshot kept on the object
            attr = self_attribute(target, ctx.func_stack[-1].self_name) if ctx.func_stack else None
            if attr is None:
                return
        receiver = _state_dict_receiver(node.value)
        if receiver is None:
            return
        func = ctx.current_function
        if func is None:
            return
        var = cst.Module(body=[]).code_for_node(target)
        scope = Scope(func.body)
        if id(node) not in scope.index:
            return
        if not self._is_module(scope, receiver):
            return
        if self._saved_next(scope, node, target) or self._other_bindings(scope, node, target):
            return
        if attr is not None and ctx.current_class is not None and any(
                _state_dict_receiver(v) is None and not (isinstance(v, cst.Name) and v.value == "None")
                for a, v in iter_self_assignments(ctx.current_class) if a == attr):
            return  # another method keeps something else there (a deep copy, a loaded file)
        restore = self._restore_after_training(scope, node, receiver, target, var)
        if restore is None:
            return
        source = cst.Module(body=[]).code_for_node(receiver) + ".state_dict()"
        self.report(node.value, var=var, restore=restore, source=source)

    # ------------------------------------------------------------------ facts
    def _is_module(self, scope: Scope, receiver: cst.BaseExpression) -> bool:
        if self.is_kind(receiver, MODULE):
            return True
        if isinstance(receiver, cst.Name):
            return False  # the model already weighed every use of the name (and its rebindings)
        for sub in scope.order:
            if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                    and sub.func.attr.value in MODULE_ONLY_METHODS and _same(sub.func.value, receiver):
                return True
        return False

    @staticmethod
    def _saved_next(scope: Scope, node: cst.Assign, target: cst.BaseExpression) -> bool:
        line = scope.parent.get(id(node))
        block = scope.parent.get(id(line))
        body = getattr(block, "body", None)
        if not isinstance(body, (list, tuple)) or line not in body:
            return False
        following = list(line.body[line.body.index(node) + 1:]) if isinstance(line, cst.SimpleStatementLine) else []
        idx = body.index(line)
        if idx + 1 < len(body):
            following.append(body[idx + 1])
        for stmt in following:
            for sub in walk(stmt, into_scopes=False):
                if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) and sub.func.attr.value == "save" \
                        and sub.args and _same(sub.args[0].value, target):
                    return True
        return False

    @staticmethod
    def _other_bindings(scope: Scope, node: cst.Assign, target: cst.BaseExpression) -> bool:
        """``target`` is also bound to something that is not a snapshot (a deep copy, a loaded file...)."""
        for sub in scope.order:
            if isinstance(sub, cst.Assign) and sub is not node and any(_same(t.target, target) for t in sub.targets):
                if _state_dict_receiver(sub.value) is None and not (
                        isinstance(sub.value, cst.Name) and sub.value.value == "None"):
                    return True
        return False

    def _training_sites(self, scope: Scope, receiver: cst.BaseExpression) -> list:
        sites = []
        for sub in scope.order:
            if not isinstance(sub, cst.Call):
                continue
            func = sub.func
            # the callee may be any expression: models.__dict__[name](...), factory()(...), (lambda: m)()
            name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) \
                else ""
            if name == "backward" and isinstance(func, cst.Attribute):
                sites.append(sub)
            elif name == "step" and isinstance(func, cst.Attribute) and not sub.args \
                    and self._optimizer_name(scope, func.value):
                sites.append(sub)
            elif ("train" in name.lower() or name in ("fit",)) and any(
                    _same(a.value, receiver) for a in sub.args):
                sites.append(sub)
        return sites

    def _optimizer_name(self, scope: Scope, expr: cst.BaseExpression) -> bool:
        """``expr`` is a name bound in this function to a torch.optim optimizer."""
        if not isinstance(expr, cst.Name):
            return False
        for sub in scope.order:
            if isinstance(sub, cst.Assign) and isinstance(sub.value, cst.Call) and any(
                    isinstance(t.target, cst.Name) and t.target.value == expr.value for t in sub.targets):
                qualified = self.ctx.resolve(sub.value.func) or ""
                if qualified.startswith("torch.optim.") and "lr_scheduler" not in qualified:
                    return True
        return False

    def _restores(self, scope: Scope, target: cst.BaseExpression, var: str):
        for sub in scope.order:
            if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                    and sub.func.attr.value == "load_state_dict" and sub.args and _same(sub.args[0].value, target):
                yield sub, "load_state_dict(%s)" % var
            elif isinstance(sub, cst.Return) and sub.value is not None:
                values = sub.value.elements if isinstance(sub.value, cst.Tuple) else None
                exprs = [e.value for e in values] if values is not None else [sub.value]
                if any(_same(e, target) for e in exprs):
                    yield sub, f"returning '{var}'"

    def _restore_after_training(self, scope: Scope, snap: cst.Assign, receiver, target, var: str) -> Optional[str]:
        index = scope.index
        snap_loops = loops_around(scope, snap)
        trainings = self._training_sites(scope, receiver)
        if not trainings:
            return None
        for restore, text in self._restores(scope, target, var):
            if index[id(restore)] < index[id(snap)] and not set(map(id, snap_loops)) & set(
                    map(id, loops_around(scope, restore))):
                continue
            if exclusive(scope, snap, restore):
                continue
            for train in trainings:
                shared_loop = set(map(id, snap_loops)) & set(map(id, loops_around(scope, train)))
                after_snap = index[id(train)] > index[id(snap)] and not exclusive(scope, snap, train)
                before_restore = index[id(train)] < index[id(restore)] or bool(
                    set(map(id, loops_around(scope, train))) & set(map(id, loops_around(scope, restore))))
                if (after_snap and before_restore) or (shared_loop and (
                        index[id(restore)] > index[id(snap)] or bool(shared_loop & set(
                            map(id, loops_around(scope, restore)))))):
                    return text
        return None
