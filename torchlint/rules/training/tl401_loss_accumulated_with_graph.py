from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from ... import torch_facts
from ...facts.nodes import walk
from ...facts.training import OPTIMIZER, is_loss_tag, training_facts
from ...rule import Rule

_DETACHING_METHODS = frozenset({"item", "detach", "tolist", "numpy", "detach_"})
_DETACHING_BUILTINS = frozenset({"float", "int"})
_AUTOGRAD_CALLS = frozenset({"backward", "grad", "manual_backward"})
_FUNCTIONAL = ("torch.nn.functional.",)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _loop_statements(body, no_grad: bool, ctx) -> Iterator[tuple[cst.CSTNode, bool]]:
    """Small and compound statements of a loop body in source order, with "autograd is off here"."""
    for stmt in body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                yield small, no_grad
            continue
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            continue
        yield stmt, no_grad
        inner_no_grad = no_grad
        if isinstance(stmt, cst.With) and any(ctx.is_no_grad_expr(item.item) for item in stmt.items):
            inner_no_grad = True
        suites = []
        inner = getattr(stmt, "body", None)
        if isinstance(inner, cst.BaseSuite):
            suites.append(inner)
        for name in ("orelse", "finalbody"):
            extra = getattr(stmt, name, None)
            if isinstance(extra, cst.If):
                suites.append(extra)
            elif extra is not None and isinstance(getattr(extra, "body", None), cst.BaseSuite):
                suites.append(extra.body)
        for handler in getattr(stmt, "handlers", ()) or ():
            suites.append(handler.body)
        for suite in suites:
            if isinstance(suite, cst.If):
                yield from _loop_statements([suite], inner_no_grad, ctx)
            elif isinstance(suite, cst.IndentedBlock):
                yield from _loop_statements(suite.body, inner_no_grad, ctx)
            elif isinstance(suite, cst.SimpleStatementSuite):
                for small in suite.body:
                    yield small, inner_no_grad


def _assigned_names(stmt: cst.CSTNode) -> Iterator[tuple[cst.BaseExpression, cst.BaseExpression]]:
    """(target, value) of a plain or annotated assignment; tuple targets give (name, None)."""
    if isinstance(stmt, cst.Assign):
        for t in stmt.targets:
            if isinstance(t.target, (cst.Tuple, cst.List)):
                for el in t.target.elements:
                    yield el.value, None
            else:
                yield t.target, stmt.value
    elif isinstance(stmt, cst.AnnAssign) and stmt.value is not None:
        yield stmt.target, stmt.value


def _is_detached(value: cst.BaseExpression) -> bool:
    node = value
    while isinstance(node, cst.BinaryOperation):
        node = node.left
    while isinstance(node, (cst.Call, cst.Attribute, cst.Subscript)):
        if isinstance(node, cst.Call):
            if isinstance(node.func, cst.Name) and node.func.value in _DETACHING_BUILTINS:
                return True
            if isinstance(node.func, cst.Attribute) and node.func.attr.value in _DETACHING_METHODS:
                return True
            node = node.func.value if isinstance(node.func, cst.Attribute) else node.func
        else:
            node = node.value
    return not isinstance(value, (cst.Call, cst.Name, cst.BinaryOperation, cst.Attribute, cst.Subscript))


def _leaves(expr: cst.BaseExpression) -> Iterator[cst.BaseExpression]:
    """Operands of a chain of binary operations (``loss * n / k`` -> loss, n, k)."""
    if isinstance(expr, cst.BinaryOperation):
        yield from _leaves(expr.left)
        yield from _leaves(expr.right)
    else:
        yield expr


class LossAccumulatedWithGraph(Rule):
    """
    ## What it does
    Finds a loss tensor accumulated across the iterations of a training loop with its autograd graph:
    `total += loss`, `total = total + loss` or `losses.append(loss)` inside a loop, where `loss` is
    assigned in the same loop iteration and either backpropagated there (`loss.backward()`,
    `scaler.scale(loss).backward()`, `accelerator.backward(loss)`), or is the result of a loss module
    (`nn.CrossEntropyLoss()` bound to a name or `self.<attr>`) or a `torch.nn.functional` loss in a loop
    that calls `.backward()` or steps an optimizer, or in an evaluation loop run with autograd on (the
    function calls `model.eval()` before the loop, which never backpropagates; returning that total is a
    metric, not a sum handed to a caller's `backward()`). The accumulator must outlive the iteration (it is
    not reassigned anywhere in the loop body, on any branch: a total reset when the optimizer steps spans one
    accumulation window), and the value must not be detached (`.item()`, `.detach()`, `float()`).

    Silent inside `torch.no_grad()` / `torch.inference_mode()`; silent when the accumulator is
    backpropagated, passed to `torch.autograd.grad`, or returned from the function (a sum of loss terms
    built for one `backward()`, such as a loop over heads or micro-batches); silent when the loss name
    is of unknown origin.

    ## Why is this bad?
    A loss tensor holds a reference to the autograd graph that produced it. Adding it to a running
    total (or keeping it in a list) keeps every iteration's graph, with its saved activations, alive
    for as long as the total lives, so memory grows with every step until the process runs out of it;
    the total itself becomes a tensor with a `grad_fn` spanning the whole epoch.

    ## Example
    ```python
    running_loss = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss
    ```

    ## Use instead
    ```python
    running_loss = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
    ```
    (or `loss.detach()` to keep the total on the device).

    ## Fix safety
    No fix is offered: `.item()` turns the total into a Python float and `.detach()` keeps a tensor;
    which one fits depends on how the total is used afterwards.

    ## Precision
    Default-off: on code no rule was tuned on, measured blind before any change: 0 true of 1 on the validation
    half of the corpus (blind) and 0 of 11 on twelve libraries no rule was tuned on (tests/holdout_precision.md;
    one gradient-accumulation shape repeated): 0 of 12. The false shapes found there are silent now (near-miss
    fixtures), but the rule stays off until a new blind measurement reaches 95%. Enable it with `--extend-select
    TL401` (or `extend-select = ["TL401"]` under `[tool.torchlint]`).
    """

    code = "TL401"
    default_enabled = False
    name = "loss-accumulated-with-graph"
    summary = "Accumulating a loss tensor across loop iterations keeps every autograd graph alive."
    message = ("'{acc}' accumulates '{loss}' with its autograd graph: every iteration's graph stays alive "
               "and memory grows; accumulate '{loss}.item()' (or '{loss}.detach()') instead")
    triggers = ("backward", ".step(")

    # ------------------------------------------------------------------ statements
    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if not self.ctx.loop_stack or self.ctx.in_no_grad or not isinstance(node.operator, cst.AddAssign):
            return
        self._check(node, node.target, node.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        if not self.ctx.loop_stack or self.ctx.in_no_grad or len(node.targets) != 1:
            return
        target = node.targets[0].target
        value = node.value
        if not isinstance(target, cst.Name) or not isinstance(value, cst.BinaryOperation) \
                or not isinstance(value.operator, cst.Add):
            return
        if isinstance(value.left, cst.Name) and value.left.value == target.value:
            self._check(node, target, value.right)
        elif isinstance(value.right, cst.Name) and value.right.value == target.value:
            self._check(node, target, value.left)

    def visit_Expr(self, node: cst.Expr) -> None:
        call = node.value
        if not self.ctx.loop_stack or self.ctx.in_no_grad or not isinstance(call, cst.Call):
            return
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "append" and len(call.args) == 1
                and not call.args[0].star):
            return
        self._check(node, func.value, call.args[0].value)

    # ------------------------------------------------------------------ the analysis
    def _check(self, stmt: cst.CSTNode, acc: cst.BaseExpression, value: cst.BaseExpression) -> None:
        if not isinstance(acc, (cst.Name, cst.Attribute, cst.Subscript)):
            return
        leaves = [leaf for leaf in _leaves(value) if isinstance(leaf, (cst.Name, cst.Call))]
        if not leaves:
            return
        ctx = self.ctx
        loop = ctx.loop_stack[-1]
        statements = list(_loop_statements(loop.body.body, False, ctx)) \
            if isinstance(loop.body, cst.IndentedBlock) else []
        index = next((i for i, (s, _ng) in enumerate(statements) if s is stmt), None)
        if index is None:
            return
        before = statements[:index]
        acc_text = _code(acc)
        # an accumulator (re)set anywhere in the loop body, on any branch (``if step % k == 0: ...; total = 0``),
        # lives one iteration or one accumulation window, not the whole run
        for s, _ng in statements:
            if s is stmt:
                continue
            for target, _v in _assigned_names(s):
                if _code(target) == acc_text:
                    return
        loop_backward = None  # computed lazily
        for leaf in leaves:
            backpropagated = evaluating = False
            if isinstance(leaf, cst.Call):
                if not self._is_loss_call(leaf):
                    continue
                if loop_backward is None:
                    loop_backward = self._trains(loop)
                if not loop_backward:
                    continue
                name = _code(leaf)
            else:
                name = leaf.value
                binding = self._last_binding(before, name)
                if binding is None:
                    continue
                value_bound, no_grad = binding
                if no_grad or (value_bound is not None and _is_detached(value_bound)):
                    continue
                backpropagated = self._backpropagated_in(loop, name)
                if not backpropagated:
                    if value_bound is None or not any(isinstance(v, cst.Call) and self._is_loss_call(v)
                                                      for v in _leaves(value_bound)):
                        continue
                    if loop_backward is None:
                        loop_backward = self._trains(loop)
                    if not loop_backward:
                        evaluating = self._evaluates(loop)
                        if not evaluating:
                            continue
            # an evaluation loop's total is a metric: returning it hands no graph to a caller's backward()
            if self._escapes_to_autograd(acc_text, returned=not backpropagated and not evaluating):
                return
            self.report(stmt, acc=acc_text, loss=name)
            return

    @staticmethod
    def _last_binding(before, name: str) -> Optional[tuple[Optional[cst.BaseExpression], bool]]:
        found = None
        for s, no_grad in before:
            for target, value in _assigned_names(s):
                if isinstance(target, cst.Name) and target.value == name:
                    found = (value, no_grad)
            if isinstance(s, cst.AugAssign) and isinstance(s.target, cst.Name) and s.target.value == name \
                    and found is not None:
                found = (found[0] if not _is_detached(s.value) else s.value, found[1])
        return found

    def _is_loss_call(self, call: cst.Call) -> bool:
        qualified = self.ctx.resolve(call.func)
        if qualified is not None:
            if qualified.startswith(_FUNCTIONAL) and qualified.rsplit(".", 1)[-1] in torch_facts.FUNCTIONAL_LOSSES:
                return True
            return False
        if isinstance(call.func, cst.Call):  # nn.MSELoss()(out, y)
            from ...facts.training import construction_tag

            return is_loss_tag(construction_tag(self.ctx, call.func))
        return is_loss_tag(training_facts(self.ctx).tag_of(call.func))

    def _backpropagated_in(self, loop: cst.CSTNode, name: str) -> bool:
        for sub in walk(loop.body, into_scopes=False):
            if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                    and sub.func.attr.value in ("backward", "manual_backward"):
                # what is backpropagated: the receiver of t.backward(...), the argument of manual_backward(loss);
                # not the gradient handed to backward (t.backward(weight * d.grad))
                if sub.func.attr.value == "backward":
                    subject = sub.func.value
                else:
                    subject = sub.args[0].value if sub.args else sub
                if any(isinstance(n, cst.Name) and n.value == name for n in walk(subject)):
                    return True
        return False

    def _evaluates(self, loop: cst.CSTNode) -> bool:
        """An evaluation loop run with autograd on: a statement of the function, before the loop, puts the model
        in eval mode (``model.eval()``) and the loop itself never backpropagates (the caller checked that)."""
        func = self.ctx.current_function
        if func is None or not isinstance(func.body, cst.IndentedBlock) or loop not in func.body.body:
            return False
        for stmt in func.body.body[:func.body.body.index(loop)]:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                call = small.value if isinstance(small, cst.Expr) else None
                # any receiver: this only tells a metric from a sum of loss terms handed back for backward()
                if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
                        and call.func.attr.value == "eval" and not call.args:
                    return True
        return False

    def _trains(self, loop: cst.CSTNode) -> bool:
        """The loop body calls ``.backward()`` or steps a proved optimizer."""
        facts = training_facts(self.ctx)
        for sub in walk(loop.body, into_scopes=False):
            if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute):
                method = sub.func.attr.value
                if method in ("backward", "manual_backward"):
                    return True
                if method == "step" and facts.tag_of(sub.func.value) == OPTIMIZER:
                    return True
        return False

    def _escapes_to_autograd(self, acc_text: str, returned: bool) -> bool:
        """The accumulator is backpropagated or differentiated somewhere in the function (or, when
        ``returned``, returned from it: a sum of loss terms for the caller's ``backward()``)."""
        ctx = self.ctx
        scope = ctx.current_function if ctx.current_function is not None else (ctx.stack[0] if ctx.stack else None)
        if scope is None:
            return True
        for sub in walk(scope.body if isinstance(scope, cst.FunctionDef) else scope, into_scopes=False):
            if returned and isinstance(sub, (cst.Return, cst.Yield)) and sub.value is not None:
                if acc_text in _code(sub.value):
                    return True
            elif isinstance(sub, cst.Call):
                func = sub.func
                name = func.attr.value if isinstance(func, cst.Attribute) else (
                    func.value if isinstance(func, cst.Name) else None)
                if name in _AUTOGRAD_CALLS and acc_text in _code(sub):
                    return True
        return False
