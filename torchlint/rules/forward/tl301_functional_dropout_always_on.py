from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety
from ...facts.nodes import walk
from ...facts.usage import forward_methods, run_by_forward
from ...rule import SAFE, Fix, Rule

_DROPOUT_FUNCTIONS = frozenset({
    "torch.nn.functional.dropout", "torch.nn.functional.dropout1d", "torch.nn.functional.dropout2d",
    "torch.nn.functional.dropout3d",
})
_SDPA = frozenset({"torch.nn.functional.scaled_dot_product_attention"})
_NAMES = frozenset({"dropout", "dropout1d", "dropout2d", "dropout3d", "scaled_dot_product_attention"})
_TRAINING_POSITION = 2  # F.dropout(input, p, training, inplace)
_DROPOUT_P_POSITION = 4  # F.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, ...)


def _is_zero(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.Integer):
        return node.evaluated_value == 0
    if isinstance(node, cst.Float):
        return node.evaluated_value == 0.0
    return False


def mentions_training(node: cst.CSTNode) -> bool:
    """The expression reads a ``training`` flag (``self.training``, ``training``, ``module.training``)."""
    for sub in walk(node):
        if isinstance(sub, cst.Attribute) and sub.attr.value == "training":
            return True
        if isinstance(sub, cst.Name) and sub.value in ("training", "train", "is_training"):
            return True
    return False


class FunctionalDropoutAlwaysOn(Rule):
    """
    ## What it does
    Inside a method of an `nn.Module`, finds `F.dropout`, `F.dropout1d`, `F.dropout2d` and `F.dropout3d`
    called without a `training` argument (keyword or third positional), and
    `F.scaled_dot_product_attention(..., dropout_p=<non-zero>)` whose dropout probability does not depend
    on `self.training`.

    The rule stays silent when the method reads a training flag anywhere (`if self.training:`,
    `dropout_p = self.p if self.training else 0.0`, an early `if not self.training: return`), on an
    explicit `training=` value (`training=True` is deliberate Monte-Carlo dropout), on `p=0`, outside
    Module classes (except in a plain function of the file that a Module's `forward` calls, directly or
    through other such functions: its dropout is on in evaluation too; no fix is offered there, the flag
    has to come from the caller), and in methods that `forward` does not reach (its own or an in-file base's `forward`
    and the methods it calls on `self`): a sampling method that applies dropout to noise on purpose is
    not what `model.eval()` is about. `torch.dropout(input, p, train)` is not checked: its `train` argument is required, so
    leaving it out raises a `TypeError` instead of silently misbehaving.

    ## Why is this bad?
    The functional dropouts default to `training=True`, and `scaled_dot_product_attention` applies
    `dropout_p` whenever it is non-zero. Neither knows about the module's mode, so `model.eval()` does
    not turn them off: evaluation and inference stay random, accuracy drops, and two runs on the same
    input disagree. Unlike `nn.Dropout`, nothing reports the mistake.

    ## Example
    ```python
    class Block(nn.Module):
        def forward(self, x):
            return F.dropout(self.fc(x), p=0.1)
    ```

    ## Use instead
    ```python
    class Block(nn.Module):
        def forward(self, x):
            return F.dropout(self.fc(x), p=0.1, training=self.training)
    ```
    For attention: `F.scaled_dot_product_attention(q, k, v, dropout_p=self.p if self.training else 0.0)`.

    ## Fix safety
    Safe: `training=self.training` (or `dropout_p=<p> if self.training else 0.0`) keeps training behaviour
    as it was and only turns the dropout off in eval mode, which is what `model.eval()` promises. Offered
    only where `self` is the Module: inside the body of a method whose first parameter it is (not in a
    decorator or a default value, which run in the class body; not in a static or class method, also not
    one made by `helper = staticmethod(helper)`; not in a nested function or lambda that rebinds the
    name). Nested calls are fixed together: every always-on dropout inside the reported call gets
    `training=` too, since once the method reads `training` the inner ones would no longer be reported.

    ## Precision
    On the corpus (tests/corpus_precision.md): tuning half 1 finding, 1 true; validation half
    (measured blind) 4 findings, 4 true. Two of the true ones (Tacotron 2 prenets) keep dropout on
    at inference on purpose: `training=True` says so and silences the rule.
    """

    code = "TL301"
    name = "functional-dropout-always-on"
    summary = "Functional dropout (or SDPA `dropout_p`) without `self.training` stays on after `model.eval()`."
    message = "{call} ignores model.eval(): dropout stays active at inference; pass {advice}"
    fix_availability = SAFE
    triggers = ("dropout",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._training_cache: tuple[Optional[cst.CSTNode], bool] = (None, False)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None
        if name not in _NAMES:
            return
        ctx = self.ctx
        if ctx.current_function is None:
            return
        if not ctx.in_module_class:
            # a plain function that a Module's forward calls: its dropout follows no mode either
            qualified = ctx.resolve(func)
            if qualified in _DROPOUT_FUNCTIONS and ctx.class_stack == [] \
                    and run_by_forward(ctx, ctx.current_function):
                self._check_dropout(node, name, None)
            return
        self_name = ctx.func_stack[-1].self_name
        if self_name is None:
            return
        qualified = ctx.resolve(func)
        if qualified not in _DROPOUT_FUNCTIONS and qualified not in _SDPA:
            return
        if not any(m is ctx.current_function for m in forward_methods(ctx, ctx.current_class)):
            return  # not run by model(x): sampling helpers and the like choose their own noise
        if qualified in _DROPOUT_FUNCTIONS:
            self._check_dropout(node, name, self_name)
        elif qualified in _SDPA:
            self._check_sdpa(node, self_name)

    # ------------------------------------------------------------------ checks
    def _function_reads_training(self) -> bool:
        func = self.ctx.current_function
        cached_func, cached = self._training_cache
        if cached_func is func:
            return cached
        result = mentions_training(func.body)
        self._training_cache = (func, result)
        return result

    def _check_dropout(self, node: cst.Call, name: str, self_name: str) -> None:
        positional = 0
        p_value = None
        for arg in node.args:
            if arg.star:
                return  # *args / **kwargs may carry training
            if arg.keyword is None:
                if positional == 1:
                    p_value = arg.value
                positional += 1
            elif arg.keyword.value == "training":
                return
            elif arg.keyword.value == "p":
                p_value = arg.value
        if positional > _TRAINING_POSITION:
            return
        if p_value is not None and _is_zero(p_value):
            return
        if self._function_reads_training():
            return
        if self_name is None:  # a helper function: the caller has to hand it the module's flag
            self.report(node, call=f"F.{name}(...) without training=",
                        advice=f"training= from the calling module (add a parameter to "
                               f"'{self.ctx.current_function.name.value}' and pass self.training)")
            return
        self.report(node, call=f"F.{name}(...) without training=", advice=f"training={self_name}.training",
                    fix=self._add_training_fix(node, self_name))

    def _check_sdpa(self, node: cst.Call, self_name: str) -> None:
        value = None
        positional = 0
        for arg in node.args:
            if arg.star:
                return
            if arg.keyword is None:
                if positional == _DROPOUT_P_POSITION:
                    value = arg.value
                positional += 1
            elif arg.keyword.value == "dropout_p":
                value = arg.value
        if value is None or _is_zero(value) or mentions_training(value):
            return
        if self._function_reads_training():
            return
        self.report(node, call="scaled_dot_product_attention(dropout_p=...)",
                    advice=f"dropout_p=<p> if {self_name}.training else 0.0",
                    fix=self._condition_fix(value, self_name))

    # ------------------------------------------------------------------ fixes
    def _add_training_fix(self, node: cst.Call, self_name: str) -> Optional[Fix]:
        """``training=<self>.training`` on this call and on every other always-on dropout call nested in it
        (all or none: once the method reads ``training``, the others would no longer be reported)."""
        ctx = self.ctx
        verdicts = [fixsafety.self_verdict(ctx, node, self_name)]
        inner: list[cst.Call] = []
        for sub in walk(node):
            if sub is node or not isinstance(sub, cst.Call):
                continue
            name = _call_last_name(sub)
            if name not in _NAMES:
                continue
            qualified = ctx.resolve(sub.func)
            if qualified in _SDPA:
                value = _sdpa_dropout_value(sub)
                if value is not None and not _is_zero(value) and not mentions_training(value):
                    return None  # a nested attention call would stay on; fix by hand
            elif qualified in _DROPOUT_FUNCTIONS and _dropout_needs_training(sub):
                inner.append(sub)
                verdicts.append(fixsafety.self_verdict(ctx, sub, self_name))
        targets = {id(c) for c in inner}

        class _AddTraining(cst.CSTTransformer):
            def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
                if id(original) in targets:
                    return _with_training(updated, self_name)
                return updated

        new = node.with_changes(args=[a.visit(_AddTraining()) for a in node.args]) if inner else node
        new = _with_training(new, self_name)
        return fixsafety.offer(ctx, SAFE, [(node, new)], f"pass training={self_name}.training", verdicts=verdicts)

    def _condition_fix(self, value: cst.BaseExpression, self_name: str) -> Optional[Fix]:
        body = value
        if isinstance(value, (cst.IfExp, cst.Lambda, cst.NamedExpr)):
            body = value.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        new = cst.IfExp(test=cst.parse_expression(f"{self_name}.training"), body=body, orelse=cst.Float("0.0"))
        return fixsafety.offer(self.ctx, SAFE, [(value, new)], f"use dropout_p only when {self_name}.training",
                               verdicts=[fixsafety.self_verdict(self.ctx, value, self_name)])


def _call_last_name(node: cst.Call) -> Optional[str]:
    func = node.func
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else None


def _dropout_needs_training(node: cst.Call) -> bool:
    """A dropout call with no ``training`` argument (keyword or third positional) and a non-zero ``p``."""
    positional = 0
    p_value = None
    for arg in node.args:
        if arg.star:
            return False
        if arg.keyword is None:
            if positional == 1:
                p_value = arg.value
            positional += 1
        elif arg.keyword.value == "training":
            return False
        elif arg.keyword.value == "p":
            p_value = arg.value
    return positional <= _TRAINING_POSITION and not (p_value is not None and _is_zero(p_value))


def _sdpa_dropout_value(node: cst.Call) -> Optional[cst.BaseExpression]:
    positional = 0
    for arg in node.args:
        if arg.star:
            return None
        if arg.keyword is None:
            if positional == _DROPOUT_P_POSITION:
                return arg.value
            positional += 1
        elif arg.keyword.value == "dropout_p":
            return arg.value
    return None


def _with_training(node: cst.Call, self_name: str) -> cst.Call:
    new_arg = cst.Arg(keyword=cst.Name("training"), value=cst.parse_expression(f"{self_name}.training"),
                      equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                            whitespace_after=cst.SimpleWhitespace("")))
    args = list(node.args)
    if args:
        last = args[-1]
        new_arg = new_arg.with_changes(comma=last.comma)
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    args.append(new_arg)
    return node.with_changes(args=args)
