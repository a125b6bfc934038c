from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.kinds import iter_self_assignments
from ...facts.nodes import iter_small_statements, keyword_arg
from ...facts.training import LOSS_PREFIX, construction_tag, training_facts
from ...rule import Rule

SOFTMAX_FUNCTIONS = frozenset({"torch.softmax", "torch.nn.functional.softmax", "torch.special.softmax"})
SOFTMAX_CLASSES = frozenset({"torch.nn.Softmax", "torch.nn.modules.Softmax", "torch.nn.modules.activation.Softmax"})
CE_FUNCTIONS = {"torch.nn.functional.cross_entropy": "cross_entropy", "torch.nn.functional.nll_loss": "nll_loss"}
CE_TAGS = {LOSS_PREFIX + "CrossEntropyLoss": "CrossEntropyLoss", LOSS_PREFIX + "NLLLoss": "NLLLoss"}

SOFTMAX = "softmax"  # a softmax output
SOFTMAX_MODULE = "softmax-module"  # an nn.Softmax instance
MODEL_PREFIX = "softmax-model:"  # an instance of a Module class whose forward returns softmax

_ADVICE = {
    "cross_entropy": "cross_entropy applies log_softmax itself; pass the logits",
    "CrossEntropyLoss": "CrossEntropyLoss applies log_softmax itself; pass the logits",
    "nll_loss": "nll_loss expects log-probabilities; use log_softmax (or cross_entropy on the logits)",
    "NLLLoss": "NLLLoss expects log-probabilities; use log_softmax (or CrossEntropyLoss on the logits)",
}


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


class CrossEntropyOnProbabilities(Rule):
    """
    ## What it does
    Finds `F.cross_entropy`, `F.nll_loss`, `nn.CrossEntropyLoss()(...)`, `nn.NLLLoss()(...)` or a name
    (or `self.<attr>`) bound to such a loss module, applied to a value that is the result of a softmax in
    the same function: `F.softmax(...)`, `torch.softmax(...)`, `x.softmax(...)`, an `nn.Softmax`
    instance, or a name bound to one of these. Also fires when the input is the output of a Module class
    of the same file whose `forward` returns a softmax (`model = Net(); probs = model(x)`).
    `log_softmax` with `nll_loss` is correct and stays silent.

    ## Why is this bad?
    `cross_entropy` computes `log_softmax` of its input itself. Feeding it probabilities applies softmax
    twice: the loss is bounded away from zero, its gradients are squashed (at most 1/e of their size per
    logit), and training converges slowly to a worse model without any error. `nll_loss` expects
    log-probabilities; on probabilities it minimises `-p`, which is not a proper loss.

    ## Example
    ```python
    probs = F.softmax(model(x), dim=1)
    loss = F.cross_entropy(probs, y)
    ```

    ## Use instead
    ```python
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    probs = F.softmax(logits, dim=1)  # for metrics only
    ```

    ## Fix safety
    No fix is offered: the probabilities may be used elsewhere, and the logits must be threaded to the
    loss by hand (for a Module, `forward` should return logits).
    """

    code = "TL405"
    name = "cross-entropy-on-probabilities"
    summary = "`cross_entropy` / `nll_loss` applied to softmax output applies softmax twice."
    message = "'{arg}' holds softmax probabilities: {advice}"
    triggers = ("softmax", "Softmax")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.scopes: list[dict[str, str]] = [{}]
        self._softmax_classes: Optional[set[str]] = None
        self._softmax_attrs: dict[int, frozenset] = {}

    # ------------------------------------------------------------------ scopes
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.append({})

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.scopes.pop()

    def leave_Assign(self, node: cst.Assign) -> None:
        tag = self._value_tag(node.value)
        for t in node.targets:
            self._bind(t.target, tag)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._bind(node.target, self._value_tag(node.value) if node.value is not None else None)

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        self._bind(node.target, None)

    def visit_For(self, node: cst.For) -> None:
        self._bind(node.target, None)

    def _bind(self, target: cst.BaseExpression, tag: Optional[str]) -> None:
        scope = self.scopes[-1]
        if isinstance(target, cst.Name):
            if tag is None:
                scope.pop(target.value, None)
            else:
                scope[target.value] = tag
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._bind(el.value, None)

    # ------------------------------------------------------------------ what a value is
    def _value_tag(self, value: cst.BaseExpression) -> Optional[str]:
        if self._is_softmax(value, self.scopes[-1]):
            return SOFTMAX
        if isinstance(value, cst.Call):
            qualified = self.ctx.resolve(value.func)
            if qualified in SOFTMAX_CLASSES:
                return SOFTMAX_MODULE
            if isinstance(value.func, cst.Name) and qualified is None \
                    and value.func.value in self.softmax_classes():
                return MODEL_PREFIX + value.func.value
        return None

    def _is_softmax(self, value: cst.BaseExpression, names: dict[str, str]) -> bool:
        if isinstance(value, cst.Name):
            return names.get(value.value) == SOFTMAX
        if not isinstance(value, cst.Call):
            return False
        func = value.func
        qualified = self.ctx.resolve(func)
        if qualified is not None:
            return qualified in SOFTMAX_FUNCTIONS
        if isinstance(func, cst.Attribute) and self.ctx.is_self(func.value):
            return func.attr.value in self._self_softmax_attrs(self.ctx.current_class)
        if isinstance(func, cst.Attribute) and func.attr.value == "softmax":
            return True
        if isinstance(func, cst.Call):  # nn.Softmax(dim=1)(x), Net()(x)
            inner = self.ctx.resolve(func.func)
            if inner in SOFTMAX_CLASSES:
                return True
            return isinstance(func.func, cst.Name) and inner is None and func.func.value in self.softmax_classes()
        if isinstance(func, cst.Name):
            tag = names.get(func.value)
            return tag == SOFTMAX_MODULE or (tag is not None and tag.startswith(MODEL_PREFIX))
        return False

    def _self_softmax_attrs(self, cls: Optional[cst.ClassDef]) -> frozenset:
        if cls is None:
            return frozenset()
        cached = self._softmax_attrs.get(id(cls))
        if cached is None:
            attrs: dict[str, bool] = {}
            for attr, value in iter_self_assignments(cls):
                ok = isinstance(value, cst.Call) and self.ctx.resolve(value.func) in SOFTMAX_CLASSES
                attrs[attr] = attrs.get(attr, True) and ok
            cached = self._softmax_attrs[id(cls)] = frozenset(a for a, ok in attrs.items() if ok)
        return cached

    def softmax_classes(self) -> set[str]:
        """Module classes of the file whose ``forward`` returns a softmax."""
        if self._softmax_classes is None:
            found: set[str] = set()
            for name, defs in self.ctx.classes.by_name.items():
                if not self.ctx.classes.is_module_class_name(name):
                    continue
                cls = defs[-1]
                forward = next((s for s in cls.body.body
                                if isinstance(s, cst.FunctionDef) and s.name.value == "forward"), None)
                if forward is not None and self._forward_returns_softmax(cls, forward):
                    found.add(name)
            self._softmax_classes = found
        return self._softmax_classes

    def _forward_returns_softmax(self, cls: cst.ClassDef, forward: cst.FunctionDef) -> bool:
        params = forward.params.params
        self_name = params[0].name.value if params else None
        softmax_attrs = self._self_softmax_attrs(cls)
        names: dict[str, str] = {}
        returns = []
        for small in iter_small_statements(forward.body.body, into_functions=False):
            if isinstance(small, cst.Assign):
                is_sm = self._static_softmax(small.value, names, self_name, softmax_attrs)
                for t in small.targets:
                    if isinstance(t.target, cst.Name):
                        if is_sm:
                            names[t.target.value] = SOFTMAX
                        else:
                            names.pop(t.target.value, None)
            elif isinstance(small, cst.Return):
                returns.append(small.value)
        return bool(returns) and all(v is not None and self._static_softmax(v, names, self_name, softmax_attrs)
                                     for v in returns)

    def _static_softmax(self, value, names, self_name, softmax_attrs) -> bool:
        """A softmax in ``forward``, without the traversal's state (self is ``self_name``)."""
        if isinstance(value, cst.Name):
            return names.get(value.value) == SOFTMAX
        if not isinstance(value, cst.Call):
            return False
        func = value.func
        qualified = self.ctx.resolve(func)
        if qualified is not None:
            return qualified in SOFTMAX_FUNCTIONS
        if isinstance(func, cst.Attribute):
            if isinstance(func.value, cst.Name) and func.value.value == self_name:
                return func.attr.value in softmax_attrs
            return func.attr.value == "softmax"
        if isinstance(func, cst.Call):
            return self.ctx.resolve(func.func) in SOFTMAX_CLASSES
        return False

    # ------------------------------------------------------------------ the loss call
    def visit_Call(self, node: cst.Call) -> None:
        loss = self._loss_name(node)
        if loss is None:
            return
        arg = keyword_arg(node, "input")
        if arg is None:
            arg = node.args[0] if node.args and node.args[0].keyword is None and not node.args[0].star else None
        if arg is None:
            return
        if self._is_softmax(arg.value, self.scopes[-1]):
            self.report(arg.value, arg=_code(arg.value), advice=_ADVICE[loss])

    def _loss_name(self, node: cst.Call) -> Optional[str]:
        func = node.func
        qualified = self.ctx.resolve(func)
        if qualified is not None:
            return CE_FUNCTIONS.get(qualified)
        if isinstance(func, cst.Call):
            return CE_TAGS.get(construction_tag(self.ctx, func) or "")
        if isinstance(func, (cst.Name, cst.Attribute)):
            return CE_TAGS.get(training_facts(self.ctx).tag_of(func) or "")
        return None
