"""Tensors made trainable by hand: a torch factory called with ``requires_grad=``, ``t.requires_grad_()``.

Shared by the rules about trainable state that is not a parameter (TL103, TL104) and about moves that lose it
(TL105, TL402).
"""
from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import torch_facts
from .kinds import TENSOR, torch_function_name
from .nodes import is_literal_false, is_literal_true, keyword_arg


def requires_grad_factory(ctx, node: cst.BaseExpression) -> Optional[cst.Arg]:
    """The ``requires_grad=`` argument of a torch factory call that turns it on, else None."""
    if not isinstance(node, cst.Call):
        return None
    name = torch_function_name(ctx.resolve(node.func))
    if name is None or name not in torch_facts.TENSOR_FACTORIES:
        return None
    arg = keyword_arg(node, "requires_grad")
    if arg is None or is_literal_false(arg.value):
        return None
    return arg


def is_requires_grad_call(ctx, node: cst.BaseExpression) -> bool:
    """``<tensor>.requires_grad_()`` or ``.requires_grad_(True)`` on a value known to be a tensor."""
    if not (isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and node.func.attr.value == "requires_grad_"):
        return False
    if node.args and not is_literal_true(node.args[0].value):
        return False
    return ctx.kind_of(node.func.value) == TENSOR
