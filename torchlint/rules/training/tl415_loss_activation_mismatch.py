"""TL415: a loss paired with the wrong activation (sigmoid twice, probabilities expected but logits given)."""
from __future__ import annotations

import libcst as cst

from ...facts.activations import LOG_SOFTMAX, LOGITS, SIGMOID, SOFTMAX, activation_at
from ...facts.training import LOSS_PREFIX
from ...rule import Rule
from .tl405_cross_entropy_on_probabilities import _code, loss_input, loss_name, may_be_loss

FUNCTIONS = {
    "torch.nn.functional.binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits",
    "torch.binary_cross_entropy_with_logits": "binary_cross_entropy_with_logits",
    "torch.nn.functional.binary_cross_entropy": "binary_cross_entropy",
    "torch.nn.functional.nll_loss": "nll_loss",
}
TAGS = {LOSS_PREFIX + "BCEWithLogitsLoss": "BCEWithLogitsLoss", LOSS_PREFIX + "BCELoss": "BCELoss",
        LOSS_PREFIX + "NLLLoss": "NLLLoss"}

_WITH_LOGITS = ("binary_cross_entropy_with_logits", "BCEWithLogitsLoss")
_BCE = ("binary_cross_entropy", "BCELoss")
_NLL = ("nll_loss", "NLLLoss")

_PROBLEMS = {
    # (loss family, activation) -> what goes wrong and what to write
    (_WITH_LOGITS, SIGMOID): "{loss} applies sigmoid itself, so sigmoid runs twice (loss bounded, gradients squashed); "
                             "pass the logits",
    (_WITH_LOGITS, SOFTMAX): "{loss} applies sigmoid itself; softmax probabilities squashed again train nothing "
                             "useful; pass the logits",
    (_BCE, LOG_SOFTMAX): "{loss} expects probabilities in [0, 1]; log_softmax output is <= 0 and raises (a CUDA "
                         "device-side assert on GPU); use nll_loss, or sigmoid + {loss}",
    (_BCE, LOGITS): "{loss} expects probabilities in [0, 1], not raw logits of a final Linear (raises, or a CUDA "
                    "device-side assert); use the *_with_logits loss on the logits",
    (_NLL, LOGITS): "{loss} expects log-probabilities: on raw logits of a final Linear it minimises -logit, "
                    "unbounded below; use cross_entropy on the logits (or log_softmax first)",
}


def _problem(loss: str, activation: str):
    for (family, act), text in _PROBLEMS.items():
        if loss in family and act == activation:
            return text.format(loss=loss)
    return None


class LossActivationMismatch(Rule):
    """
    ## What it does
    Finds a loss applied to a value produced by an activation that does not match what the loss expects,
    proved in the same function (the value is the call, or a name bound to it, or the output of an in-file
    Module class whose `forward` ends that way on every path):

    - `BCEWithLogitsLoss` / `F.binary_cross_entropy_with_logits` on a `sigmoid` (or `softmax`) output;
    - `BCELoss` / `F.binary_cross_entropy` on a `log_softmax` output, or on the raw output of a final
      `nn.Linear` (an in-file Module whose `forward` returns `self.fc(x)` with `self.fc` only ever an
      `nn.Linear`, or an `nn.Sequential` ending in one);
    - `NLLLoss` / `F.nll_loss` on the raw output of such a final `nn.Linear`.

    `nll_loss` on `softmax` output is TL405's. `CrossEntropyLoss` on `log_softmax` output is deliberately
    not reported: `log_softmax` is idempotent (`log_softmax(log_softmax(x)) == log_softmax(x)`), so the loss
    and its gradients are exactly those of the logits (the proof test checks this); it only costs a kernel.

    Evidence: PROVEN activations only (a resolved torch function or class, the tensor method, or an in-file
    class's `forward`); a model passed in as a parameter, or a class from another file, is unknown: silent.

    ## Why is this bad?
    `BCEWithLogitsLoss` applies sigmoid itself: on sigmoid output the sigmoid runs twice, the loss can never
    go below ~0.31 per element, and gradients shrink by the extra sigmoid's slope (at most 1/4): training
    converges slowly to a worse model, with no error. `NLLLoss` on raw logits minimises `-logit[target]`,
    which has no lower bound: the loss runs off to minus infinity. `BCELoss` on values outside [0, 1]
    raises on CPU and triggers a device-side assert on CUDA.

    ## Example
    ```python
    probs = torch.sigmoid(model(x))
    loss = nn.BCEWithLogitsLoss()(probs, y)
    ```

    ## Use instead
    ```python
    logits = model(x)
    loss = nn.BCEWithLogitsLoss()(logits, y)
    probs = torch.sigmoid(logits)  # for metrics only
    ```

    ## Fix safety
    No fix is offered: the activation's output may be used elsewhere, and which of the loss or the
    activation to change depends on the model.
    """

    code = "TL415"
    name = "loss-activation-mismatch"
    summary = "A loss applied to the wrong activation's output: sigmoid before `BCEWithLogitsLoss`, logits into `NLLLoss`/`BCELoss`."
    message = "'{arg}' is {what}: {problem}"
    triggers = ("binary_cross_entropy", "BCE", "nll_loss", "NLLLoss")

    def visit_Call(self, node: cst.Call) -> None:
        if not may_be_loss(self, node, FUNCTIONS, TAGS):
            return
        value = loss_input(node)  # the input's activation first: known far less often than a call is made
        if value is None:
            return
        activation = activation_at(self.ctx, value)
        if activation is None:
            return
        loss = loss_name(self, node, FUNCTIONS, TAGS)
        if loss is None:
            return
        problem = _problem(loss, activation)
        if problem is not None:
            what = "raw logits" if activation == LOGITS else f"{activation} output"
            self.report(value, arg=_code(value), what=what, problem=problem)
