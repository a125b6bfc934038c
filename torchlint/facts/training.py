"""Training-loop facts: which names hold an optimizer, a scheduler, a DataLoader or a loss module.

The tags are answered by the semantic model (``ctx.model.kinds``); this module keeps the tag vocabulary
that older rules speak.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from .. import torch_facts

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

OPTIMIZER = "optimizer"
SCHEDULER = "scheduler"
DATALOADER = "dataloader"
LOSS_PREFIX = "loss:"  # "loss:CrossEntropyLoss"

DATALOADER_CLASSES = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
_LOSS_MODULES = frozenset({"torch.nn", "torch.nn.modules", "torch.nn.modules.loss"})


def construction_tag(ctx: "Context", value: cst.BaseExpression) -> Optional[str]:
    """The tag of a construction call: ``torch.optim.SGD(...)`` -> OPTIMIZER, ``nn.MSELoss()`` ->
    ``"loss:MSELoss"``, ``DataLoader(...)`` -> DATALOADER; anything else -> None."""
    if not isinstance(value, cst.Call):
        return None
    qualified = ctx.resolve(value.func)
    if qualified is None:
        return None
    module, _, last = qualified.rpartition(".")
    if not last[:1].isupper():
        return None
    if qualified.startswith("torch.optim.lr_scheduler.") or qualified == "torch.optim.swa_utils.SWALR":
        return SCHEDULER if last not in ("LRScheduler", "_LRScheduler") else None
    if module == "torch.optim" or (module.startswith("torch.optim.") and module != "torch.optim.swa_utils"):
        return OPTIMIZER if last != "Optimizer" else None
    if qualified in DATALOADER_CLASSES:
        return DATALOADER
    if module in _LOSS_MODULES and last in torch_facts.LOSS_CLASSES:
        return LOSS_PREFIX + last
    return None


class TrainingFacts:
    """Construction tags asked of the semantic model: a name (or ``self.<attr>``) whose every reaching
    binding is a proven construction of the same tag. Function parameters and other unknown origins have
    no tag (rules that accept strong evidence ask ``ctx.model.kinds`` directly)."""

    _TAGS = {"optimizer": OPTIMIZER, "scheduler": SCHEDULER, "dataloader": DATALOADER}

    def __init__(self, ctx: "Context") -> None:
        self.ctx = ctx

    def tag_of(self, expr: cst.BaseExpression) -> Optional[str]:
        fact = self.ctx.model.kinds.of(expr)
        if fact is None or fact.strength < 3:
            return None
        if fact.kind in self._TAGS:
            return self._TAGS[fact.kind]
        if fact.kind == "module" and fact.cls and fact.cls.startswith("torch.") \
                and fact.cls.rsplit(".", 1)[-1] in torch_facts.LOSS_CLASSES:
            return LOSS_PREFIX + fact.cls.rsplit(".", 1)[-1]
        return None


def training_facts(ctx: "Context") -> TrainingFacts:
    """The per-file :class:`TrainingFacts`, created on first use and kept on the context."""
    facts = getattr(ctx, "_training_facts", None)
    if facts is None:
        facts = ctx._training_facts = TrainingFacts(ctx)
    return facts


def is_loss_tag(tag: Optional[str]) -> bool:
    return tag is not None and tag.startswith(LOSS_PREFIX)


__all__ = ["OPTIMIZER", "SCHEDULER", "DATALOADER", "LOSS_PREFIX", "construction_tag", "training_facts",
           "TrainingFacts", "is_loss_tag"]
