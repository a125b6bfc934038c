from __future__ import annotations

import libcst as cst

from ...facts.nodes import walk
from ...rule import Rule

# Words in a class name that say it is meant for evaluation only.
_EVAL_WORDS = ("eval", "inference", "frozen", "teacher", "ema", "metric", "predictor", "export")


def _freezes_itself(cls: cst.ClassDef) -> bool:
    """``requires_grad_(False)``, ``p.requires_grad = False``, ``.eval()`` or ``torch.no_grad`` is part of
    the class's own set-up: it is not meant to train."""
    for sub in walk(cls.body, into_scopes=True):
        if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute):
            name = sub.func.attr.value
            if name == "requires_grad_" and sub.args and isinstance(sub.args[0].value, cst.Name) \
                    and sub.args[0].value.value == "False":
                return True
            if name in ("eval", "freeze"):
                return True
        elif isinstance(sub, cst.Assign):
            for target in sub.targets:
                if isinstance(target.target, cst.Attribute) and target.target.attr.value == "requires_grad":
                    return True
    return False


class NoGradForward(Rule):
    """
    ## What it does
    Finds `@torch.no_grad()` or `@torch.inference_mode()` on the `forward` of an `nn.Module` whose class
    holds trainable layers (parameters, per the generated torch facts and the classes of the file).

    Silent when the class freezes itself (`requires_grad_(False)`, `p.requires_grad = False`,
    `self.eval()`, a `freeze()` call) or its name says it is evaluation-only (`...EMA`, `...Teacher`,
    `...Inference`, `...Frozen`, `...Eval...`).

    **Off by default**: whether a no-grad forward is a bug depends on how the module is used, which the
    file alone does not say. On transformers 5.23 it finds 11 such forwards and every one is deliberate:
    the sparse-attention "indexer" modules of DeepSeek-V3.2-style models (trained separately, run under
    no-grad inside the model) and the streaming video-propagation forwards of SAM2/SAM3/EdgeTAM video
    models (inference-only entry points). Enable it with `--select TL307` on training code you own.

    ## Why is this bad?
    The decorator turns autograd off for the whole forward: the output has no `grad_fn`, so
    `loss.backward()` raises "element 0 of tensors does not require grad" or, when the output is mixed
    with other trainable branches, silently gives this module's layers no gradient: they never train.

    ## Example
    ```python
    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        @torch.no_grad()
        def forward(self, x):
            return self.fc(x)
    ```

    ## Use instead
    ```python
    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(x)

    with torch.no_grad():  # at the call site, for inference only
        logits = model(x)
    ```

    ## Fix safety
    No fix is offered: removing the decorator changes memory use and behaviour where no-grad was meant.
    """

    code = "TL307"
    name = "no-grad-forward"
    summary = "`@torch.no_grad()` on the `forward` of a Module with trainable layers: nothing in it trains."
    message = ("@{decorator} on {cls}.forward turns autograd off: its layers get no gradient and never train; "
               "remove it and use `with torch.no_grad():` at inference call sites")
    default_enabled = False
    triggers = ("no_grad", "inference_mode")

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if node.name.value != "forward" or not node.decorators:
            return
        ctx = self.ctx
        if ctx.method_name != "forward" or not ctx.in_module_class:
            return
        decorator = next((d for d in node.decorators if ctx.is_no_grad_expr(d.decorator)), None)
        if decorator is None:
            return
        cls = ctx.current_class
        name = cls.name.value
        if any(word in name.lower() for word in _EVAL_WORDS):
            return
        if ctx.kinds.class_has_parameters(name) is not True or _freezes_itself(cls):
            return
        expr = decorator.decorator
        text = cst.Module(body=[]).code_for_node(expr.func if isinstance(expr, cst.Call) else expr)
        self.report(decorator.decorator, decorator=text + "()", cls=name)
