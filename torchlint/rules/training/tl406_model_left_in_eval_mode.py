from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts import loops
from ...rule import UNSAFE, Fix, Rule
from ...semantic.kinds import STRONG

# A training step is recognised by its backward(): a bare x.step() may be a scheduler's.
_TRAINING = (loops.BACKWARD, loops.ENGINE_BACKWARD)


def _same_model(a: Optional[str], b: Optional[str]) -> bool:
    """``model`` and ``model`` / ``model.module`` (a wrapper's inner model) name the same model."""
    if a is None or b is None:
        return False
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


class ModelLeftInEvalMode(loops.ScansLoops, Rule):
    """
    ## What it does
    Finds a training loop (an epoch loop, or a batch loop that evaluates every N steps) whose body
    trains a model and then puts it in eval mode -- `model.eval()` directly, or through an in-file helper
    such as `validate(model, loader)` or `self.evaluate()` whose body calls it -- with no
    `model.train()` on the way back to the next iteration's training step (directly, in a helper
    such as `train_one_epoch(model, ...)`, or inside the batch loop).

    The model must be a Module with strong evidence (a construction, Module-only API such as
    `model.parameters()`, or every call site passing one) and must be called outside `torch.no_grad()`
    in the loop with a result that is not detached at once (a frozen teacher run under `no_grad`, or a
    DQN target network read as `target_net(s).max(1)[0].detach()`, is left alone). The eval call must
    come after a training step of the same iteration (a `backward()`, directly, in a
    nested loop or in a helper); an `eval()` at the top of the body, before training, is deliberate.

    Silent when the model is passed to a function that is not defined in the file between the eval
    and the next training step (it may switch the mode back), and when any `model.train(flag)` runs
    there.

    ## Why is this bad?
    `eval()` switches dropout off and makes batch norm use (and stop updating) its running statistics.
    From the second epoch on, the model trains in eval mode: no dropout regularisation, batch-norm
    statistics frozen at the values of the first epoch, and a different model from the one the
    first epoch trained.

    ## Example
    ```python
    def validate(model, loader):
        model.eval()
        with torch.no_grad():
            return [model(x) for x, _ in loader]

    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        for x, y in loader:
            optimizer.zero_grad()
            F.mse_loss(model(x), y).backward()
            optimizer.step()
        validate(model, val_loader)
    ```

    ## Use instead
    ```python
    def validate(model, loader):
        model.eval()
        with torch.no_grad():
            return [model(x) for x, _ in loader]

    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(10):
        model.train()
        for x, y in loader:
            optimizer.zero_grad()
            F.mse_loss(model(x), y).backward()
            optimizer.step()
        validate(model, val_loader)
    ```

    ## Fix safety
    The fix inserts `model.train()` at the top of the loop body. It is unsafe: a model meant to keep
    some layers frozen in eval mode (batch norm during fine-tuning) must re-freeze them after
    `train()`.
    """

    code = "TL406"
    name = "model-left-in-eval-mode"
    summary = "A model put in eval mode inside the training loop is never switched back to train mode."
    message = ("'{model}' is put in eval mode here and nothing calls '{model}.train()' before the next "
               "iteration trains it: from then on dropout is off and batch-norm statistics are frozen; "
               "call '{model}.train()' at the top of the loop body")
    fix_availability = UNSAFE
    triggers = (".eval(", ".train(False")
    needs = STRONG

    gate = staticmethod(loops.names_mode)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._reported: set[int] = set()

    def _check(self, loop) -> None:
        ctx = self.ctx
        events = loops.block_events(ctx, loop)
        evals = [e for e in events if e.kind == loops.EVAL and not e.extra.get("foreign")]
        if not evals:
            return
        trains = [e for e in events if e.kind in _TRAINING]
        if not trains:
            return
        for v in evals:
            where = v.via if v.via is not None else v.node
            if id(where) in self._reported:
                continue
            if not any(t.index < v.index and not loops.exclusive(t, v) for t in trains):
                continue
            if not self._left_in_eval(events, v):
                continue
            if not self._trained_model(events, v.text):
                continue
            if not loops.is_kind(ctx, v.target, loops.MODULE, self.needs):
                continue
            self._reported.add(id(where))
            self.report(where, model=v.text, fix=self._fix(loop, v.text))

    @staticmethod
    def _left_in_eval(events, v) -> bool:
        """From the eval, around the loop to the next training step, nothing switches the model back."""
        helpers_with_model = set()
        for e in loops.cyclic_after(events, v):
            if e.kind in _TRAINING:
                return True
            if e.kind in (loops.TRAIN, loops.MODE):
                if _same_model(e.text, v.text) or (e.inlined and id(e.via) in helpers_with_model):
                    return False
                if e.inlined and e.extra.get("foreign"):
                    return False
            if e.kind == loops.EVAL and e.inlined and e.via is not None:
                helpers_with_model.add(id(e.via))
            if e.kind == loops.FORWARD and not e.inlined and isinstance(e.node, cst.Call):
                # an unknown function receiving the model may switch its mode back
                if any(loops.code(a.value) in (v.text, v.text + ".module") for a in e.node.args) \
                        and not _same_model(e.text, v.text):
                    return False
            if e.kind == loops.FORWARD and e.inlined is False and e.text is not None \
                    and e.text.startswith(v.text + ".") and e.text.rsplit(".", 1)[-1] in ("apply", "train"):
                return False
        return False

    @staticmethod
    def _trained_model(events, text) -> bool:
        """The model is run with autograd on in the loop (its output can reach the loss)."""
        return any(e.kind == loops.FORWARD and not e.no_grad and not e.extra.get("detached") and e.text == text
                   for e in events)

    @staticmethod
    def _fix(loop, text: str) -> Optional[Fix]:
        body = loop.body
        if not isinstance(body, cst.IndentedBlock) or not body.body:
            return None
        try:
            stmt = cst.parse_statement(f"{text}.train()\n")
        except Exception:  # pragma: no cover - the text came from the tree
            return None
        new_body = body.with_changes(body=(stmt, *body.body))
        return Fix(UNSAFE, [(body, new_body)], f"call '{text}.train()' at the top of the loop body")
