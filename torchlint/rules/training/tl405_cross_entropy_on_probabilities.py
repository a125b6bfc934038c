from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.activations import SOFTMAX, activation_at
from ...facts.nodes import keyword_arg
from ...facts.training import LOSS_PREFIX, construction_tag, training_facts
from ...rule import Rule

CE_FUNCTIONS = {"torch.nn.functional.cross_entropy": "cross_entropy", "torch.nn.functional.nll_loss": "nll_loss"}
CE_TAGS = {LOSS_PREFIX + "CrossEntropyLoss": "CrossEntropyLoss", LOSS_PREFIX + "NLLLoss": "NLLLoss"}

_ADVICE = {
    "cross_entropy": "cross_entropy applies log_softmax itself; pass the logits",
    "CrossEntropyLoss": "CrossEntropyLoss applies log_softmax itself; pass the logits",
    "nll_loss": "nll_loss expects log-probabilities; use log_softmax (or cross_entropy on the logits)",
    "NLLLoss": "NLLLoss expects log-probabilities; use log_softmax (or CrossEntropyLoss on the logits)",
}


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def loss_input(node: cst.Call) -> Optional[cst.BaseExpression]:
    """The ``input`` argument of a loss call (keyword or first positional), or None."""
    arg = keyword_arg(node, "input")
    if arg is None:
        arg = node.args[0] if node.args and node.args[0].keyword is None and not node.args[0].star else None
    return arg.value if arg is not None else None


def loss_name(rule: Rule, node: cst.Call, functions: dict, tags: dict) -> Optional[str]:
    """The loss a call computes, from ``functions`` (qualified name -> loss) or ``tags`` (construction tag of
    the loss module called -> loss), or None."""
    func = node.func
    qualified = rule.ctx.resolve(func)
    if qualified is not None:
        return functions.get(qualified)
    if isinstance(func, cst.Call):
        return tags.get(construction_tag(rule.ctx, func) or "")
    if isinstance(func, (cst.Name, cst.Attribute)):
        return tags.get(training_facts(rule.ctx).tag_of(func) or "")
    return None


def may_be_loss(rule: Rule, node: cst.Call, functions: dict, tags: dict) -> bool:
    """A cheap gate before :func:`loss_name` and the input's activation: a call of a torch function that is one
    of ``functions``, or any other call in a file whose text names one of the loss classes of ``tags`` (a loss
    module is known only from its constructor or an annotation in this file)."""
    qualified = rule.ctx.resolve(node.func)
    if qualified is not None:
        return qualified in functions
    memo = rule.ctx.__dict__.setdefault("_loss_class_named", {})
    key = id(tags)
    if key not in memo:
        memo[key] = any(tag[len(LOSS_PREFIX):] in rule.ctx.text for tag in tags)
    return memo[key]


class CrossEntropyOnProbabilities(Rule):
    """
    ## What it does
    Finds `F.cross_entropy`, `F.nll_loss`, `nn.CrossEntropyLoss()(...)`, `nn.NLLLoss()(...)` or a name
    (or `self.<attr>`) bound to such a loss module, applied to a value that is the result of a softmax in
    the same function: `F.softmax(...)`, `torch.softmax(...)`, `x.softmax(...)`, an `nn.Softmax`
    instance, or a name bound to one of these. Also fires when the input is the output of a Module class
    of the same file whose `forward` returns a softmax (`model = Net(); probs = model(x)`, or a parameter
    annotated `model: Net`), or of a module built by an in-file helper whose every return is a softmax module
    (`net = make_classifier()` returning `nn.Sequential(..., nn.Softmax(dim=1))`).
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

    def visit_Call(self, node: cst.Call) -> None:
        if not may_be_loss(self, node, CE_FUNCTIONS, CE_TAGS):
            return
        value = loss_input(node)  # a softmax input is rare, a call of something bound to a loss module less so
        if value is None or activation_at(self.ctx, value) != SOFTMAX:
            return
        loss = loss_name(self, node, CE_FUNCTIONS, CE_TAGS)
        if loss is not None:
            self.report(value, arg=_code(value), advice=_ADVICE[loss])
