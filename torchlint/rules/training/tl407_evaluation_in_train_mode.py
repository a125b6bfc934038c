from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts import loops
from ...facts.nodes import walk
from ...rule import Rule
from ...semantic.kinds import STRONG

_MODE_WORDS = ("Dropout", "dropout", "BatchNorm", "InstanceNorm", "RReLU", "training", "Transformer", "LSTM",
               "GRU", "RNN", "MultiheadAttention", ".train(", ".eval(")
# A training step is recognised by its backward(): a bare x.step() may be a scheduler's.
_TRAINING = (loops.BACKWARD, loops.ENGINE_BACKWARD)


def _class_is_mode_free(ctx, cls: cst.ClassDef) -> bool:
    source = loops.code(cls)
    if any(word in source for word in _MODE_WORDS):
        return False
    for sub in walk(cls):
        if isinstance(sub, cst.Call) and isinstance(sub.func, (cst.Name, cst.Attribute)):
            name = loops.code(sub.func)
            if name[:1].isupper() or "." in name and name.rsplit(".", 1)[-1][:1].isupper():
                qualified = ctx.resolve(sub.func)
                if qualified is None or not qualified.startswith("torch.nn."):
                    return False  # a sub-model of unknown class
    return True


def mode_free(ctx, expr) -> bool:
    """The model provably has no layer whose forward depends on train/eval mode."""
    call = loops.constructed_class(ctx, expr)
    if call is None:
        return False
    qualified = ctx.resolve(call.func)
    if qualified is not None:
        if not qualified.startswith("torch.nn."):
            return False
        if any(word in qualified for word in _MODE_WORDS):
            return False
        if qualified.rsplit(".", 1)[-1] in ("Sequential", "ModuleList", "ModuleDict"):
            return not any(word in loops.code(call) for word in _MODE_WORDS) and all(
                isinstance(a.value, cst.Call) and (ctx.resolve(a.value.func) or "").startswith("torch.nn.")
                for a in call.args)
        return True
    if isinstance(call.func, cst.Name):
        cls = ctx.classes.class_named(call.func.value)
        if cls is not None:
            return _class_is_mode_free(ctx, cls)
    return False


class EvaluationInTrainMode(Rule):
    """
    ## What it does
    Finds a model run under `torch.no_grad()` / `torch.inference_mode()` (or in an in-file helper
    decorated with them, such as `validate(model, loader)`) after the same function put it in train
    mode -- `model.train()` directly or in an in-file helper like `train_one_epoch(model, ...)` -- and
    trained it (a `backward()` since the `train()`), with no `model.eval()` in
    between. A `train()` followed by no-grad forwards and no training is batch-norm recalibration
    (`torch.optim.swa_utils.update_bn`) and is left alone. Only evaluation outside the training iteration counts: the no-grad call
    must not sit in the same loop level as a `backward()` (a GAN's generator sampled
    under `no_grad`, a pseudo-labelling pass or an EMA teacher inside the training step are deliberate).

    The model must be a Module with strong evidence, and either of unknown class or of a class with
    mode-dependent layers (dropout, batch norm, recurrent or transformer layers with dropout); a model
    proven free of them (`nn.Linear`, an in-file class of plain layers) is left alone. Silent when the
    model is passed, between the `train()` and the evaluation, to a function not defined in the file.

    **Off by default** until real code confirms it. Measured on the corpus (transformers, timm,
    torchvision, torch and the other packages under `~/.cache/torchlint-corpus`) and on 15 public
    repositories of training scripts (pytorch/examples, pytorch-tutorial, pytorch-cifar, nanoGPT,
    Pytorch-UNet, pytorch-image-models, PyTorch-GAN, ignite, opacus, deit, moco, mae, ConvNeXt,
    pytorch-cifar100, pytorch-classification): the first version made 2 findings, both false (botorch's
    in-sample GP fit runs an ExactGP under no-grad in train mode on purpose); requiring a `backward()`
    between `train()` and the evaluation removed them, and the rule now reports nothing there -- no true
    positive on real code yet, hence no precision figure. Enable it with `--select TL407`.

    ## Why is this bad?
    `no_grad()` only turns off gradient tracking; it does not change the mode. In train mode dropout
    still drops activations, so validation metrics are noisy and too pessimistic, and batch norm
    normalises with the statistics of each validation batch and *updates* its running statistics with
    validation data, which then leak into the model used for inference.

    ## Example
    ```python
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean()
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 3))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_val).argmax(1) == y_val).float().mean()
    ```

    ## Fix safety
    No fix is offered: `model.eval()` must be paired with a `model.train()` before training resumes,
    which TL406 checks.
    """

    code = "TL407"
    name = "evaluation-in-train-mode"
    summary = "A model put in train mode is evaluated under no_grad() without model.eval()."
    message = ("'{model}' is still in train mode here ('{train}' above) and runs under no_grad for evaluation: "
               "dropout stays on and batch norm uses and updates batch statistics; call '{model}.eval()' first")
    default_enabled = False
    triggers = ("no_grad", "inference_mode")
    needs = STRONG

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._reported: set[int] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._check(node)

    def visit_Module(self, node: cst.Module) -> None:
        self._check(node)

    def _check(self, owner) -> None:
        ctx = self.ctx
        if not loops.may_call(ctx, owner, loops.names_mode):
            return
        events = loops.block_events(ctx, owner)
        trains = [e for e in events if e.kind == loops.TRAIN and not e.extra.get("foreign")]
        if not trains:
            return
        for f in events:
            if f.kind != loops.FORWARD or not f.no_grad or f.text is None or f.extra.get("foreign"):
                continue
            where = f.via if f.via is not None else f.node
            if id(where) in self._reported:
                continue
            train = self._mode_at(events, f)
            if train is None or (train.via is not None and train.via is f.via):
                continue  # both inside one helper call: the helper is checked on its own
            if not any(t.kind in _TRAINING and train.index < t.index for t in events[:f.index]):
                continue  # train() without training since (batch-norm recalibration runs no_grad in train mode)
            if any(t.kind in _TRAINING and t.loops == f.loops and f.loops for t in events):
                continue
            if any(t.kind in _TRAINING and t.loops == f.loops and t.via is f.via and t.inlined for t in events):
                continue
            if not loops.is_kind(ctx, f.target, loops.MODULE, self.needs) or mode_free(ctx, f.target):
                continue
            self._reported.add(id(where))
            self.report(where, model=f.text, train=loops.code(train.node))

    @staticmethod
    def _mode_at(events, f) -> Optional[loops.Event]:
        """The ``train()`` event that sets the mode ``f`` runs in, if nothing changes it in between."""
        for e in reversed(events[:f.index]):
            if e.kind in (loops.EVAL, loops.MODE) and (e.text == f.text or e.extra.get("foreign")):
                return None
            if e.kind == loops.TRAIN and e.text == f.text:
                return e if not loops.exclusive(e, f) else None
            if e.kind == loops.FORWARD and not e.inlined and isinstance(e.node, cst.Call) \
                    and e.text != f.text and any(loops.code(a.value) == f.text for a in e.node.args):
                return None  # an unknown function receiving the model may set its mode
        return None
