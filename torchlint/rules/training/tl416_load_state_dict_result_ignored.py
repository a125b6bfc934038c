"""TL416: ``load_state_dict(..., strict=False)`` whose result (the missing and unexpected keys) is discarded."""
from __future__ import annotations

import libcst as cst

from ...facts.kinds import PARAMETER, TENSOR
from ...facts.nodes import keyword_arg
from ...rule import Rule


LOADERS = frozenset({
    "torch.load", "torch.serialization.load", "torch.hub.load_state_dict_from_url", "torch.utils.model_zoo.load_url",
    "safetensors.torch.load_file", "safetensors.torch.load",
})


def _is_false(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "False"


class LoadStateDictResultIgnored(Rule):
    """
    ## What it does
    Finds `<module>.load_state_dict(state_dict, strict=False)` used as a statement (or assigned to `_`), where
    the state dict comes from a file in the same function: `torch.load(...)`,
    `torch.hub.load_state_dict_from_url(...)`, `safetensors.torch.load_file(...)`, a subscript of one
    (`checkpoint["model"]`), or a name bound to one of these. The returned `missing_keys` /
    `unexpected_keys` are thrown away.

    A state dict built in the code (a dict literal, another module's `state_dict()`, a filtered or
    converted copy) is a deliberate partial load and stays silent: its missing keys are by design.

    Evidence: the call itself. `strict=` is a keyword of `nn.Module.load_state_dict` only (an optimizer's,
    a scheduler's or a `GradScaler`'s `load_state_dict` takes none), so a literal `strict=False` names the
    Module API; a receiver proven to be a tensor is not reported. `strict=<variable>` is silent.

    Default off. On the real-code corpus (38 packages: transformers, timm, torchvision, fairseq, espnet,
    speechbrain, torchmetrics, ...) it reports 10 calls: 7 load a whole model from a file and would not notice
    a mismatched checkpoint (demucs' solver, fairseq's LM decoders, fastai's xresnet whose TODO says other sizes
    "will fail", ...); 3 are deliberate partial loads whose missing keys are by design (speechbrain adapters,
    torchmetrics' LPIPS heads over a torchvision backbone, espnet's fairseq import), though their unexpected
    keys go unchecked too. 7/10 is below the 95% bar for a default rule: enable it for training scripts.

    ## Why is this bad?
    With `strict=False`, keys that do not match are skipped without an error or a warning. A checkpoint saved
    from `DataParallel`/`DistributedDataParallel` (every key prefixed `module.`), from a `torch.compile`d model
    (`_orig_mod.`), from a Lightning module (`model.`) or from a slightly different architecture then loads
    *nothing*: the model keeps its random initialisation and trains or evaluates as if the checkpoint had
    been loaded. The return value is the only place that says so.

    ## Example
    ```python
    model.load_state_dict(torch.load(path), strict=False)
    ```

    ## Use instead
    ```python
    result = model.load_state_dict(torch.load(path), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise RuntimeError(f"checkpoint mismatch: {result}")
    ```
    or, when a part is meant to stay uninitialised (a new head), check that only that part is missing.

    ## Fix safety
    No fix is offered: which keys may legitimately be missing is the author's decision.
    """

    code = "TL416"
    name = "load-state-dict-result-ignored"
    summary = "`load_state_dict(..., strict=False)` of a checkpoint file with the missing/unexpected keys discarded."
    message = ("load_state_dict(strict=False) skips every key that does not match, silently; check the returned "
               "missing_keys/unexpected_keys (a 'module.'-prefixed checkpoint loads nothing)")
    default_enabled = False
    triggers = ("load_state_dict",)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._memo: dict[int, bool] = {}

    def _from_file(self, value: cst.BaseExpression) -> bool:
        """A checkpoint read from a file: a loader call, a name bound to one, or a subscript of these."""
        while isinstance(value, cst.Subscript):
            value = value.value
        if isinstance(value, cst.Name):  # every binding that reaches the name holds such a checkpoint
            bindings = self.ctx.model.bindings_at(value)
            return bool(bindings) and all(self._binding_from_file(b) for b in bindings)
        return isinstance(value, cst.Call) and self.ctx.resolve(value.func) in LOADERS

    def _binding_from_file(self, b) -> bool:
        if id(b) not in self._memo:
            self._memo[id(b)] = False  # recursion guard
            self._memo[id(b)] = (b.form in ("assign", "annassign") and b.value is not None and b.target is b.node
                                 and self._from_file(b.value))
        return self._memo[id(b)]

    def visit_Expr(self, node: cst.Expr) -> None:
        self._check(node.value)

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) == 1 and isinstance(node.targets[0].target, cst.Name) \
                and node.targets[0].target.value == "_":
            self._check(node.value)

    def _check(self, value: cst.BaseExpression) -> None:
        if not isinstance(value, cst.Call):
            return
        func = value.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "load_state_dict":
            return
        strict = keyword_arg(value, "strict")
        if strict is None or not _is_false(strict.value):
            return
        if self.ctx.kind_of(func.value) in (TENSOR, PARAMETER):
            return
        state = value.args[0] if value.args and value.args[0].keyword is None and not value.args[0].star \
            else keyword_arg(value, "state_dict")
        if state is None or not self._from_file(state.value):
            return
        self.report(value)
