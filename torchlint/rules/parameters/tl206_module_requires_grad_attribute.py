from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.nodes import walk
from ...rule import SAFE, UNSAFE, Fix, Rule
from ...semantic.kinds import MODULE, PROVEN, STRONG


class ModuleRequiresGradAttribute(Rule):
    """
    ## What it does
    Finds `model.requires_grad = False` (or `True`, or any value) where `model` is an `nn.Module` by
    strong evidence: `self` in a Module class, `self.<attr>` assigned a Module in the class, a name bound to
    a Module construction, `.from_pretrained(...)` or a torchvision model constructor, the loop
    variable of a `.modules()` / `.children()` loop (and their `named_` forms), or a function parameter on
    which Module-only API is called (`model.parameters()`) or that is passed to `nn.Sequential`,
    `DataParallel` and the like.

    On a tensor or a parameter the same assignment is correct and is never flagged; where the receiver's
    kind cannot be established the rule stays silent. `self.requires_grad = ...` in a class that reads
    `self.requires_grad` back (a configuration flag of its own) is not flagged either.

    ## Why is this bad?
    `requires_grad` is an attribute of tensors, not of modules. On an `nn.Module` the assignment simply
    creates a new plain Python attribute named `requires_grad`; no parameter changes. The layer meant to
    be frozen keeps training (its parameters still get gradients and the optimizer still updates them),
    and nothing reports an error.

    ## Example
    ```python
    def freeze(backbone, head):
        backbone.requires_grad = False
        return torch.optim.SGD(head.parameters(), lr=0.1), nn.Sequential(backbone, head)
    ```

    ## Use instead
    ```python
    def freeze(backbone, head):
        backbone.requires_grad_(False)
        return torch.optim.SGD(head.parameters(), lr=0.1), nn.Sequential(backbone, head)
    ```

    ## Fix safety
    Safe when the receiver is proven a Module (a constructor, an annotation, `self` of a Module class): the
    assignment is rewritten to `model.requires_grad_(value)`, which sets the flag on every parameter of the
    module, as the assignment intended. Unsafe when the evidence is only strong (what the code does with
    the name), because an object that merely behaves like a Module may define its own attribute.
    """

    code = "TL206"
    name = "module-requires-grad-attribute"
    summary = "`module.requires_grad = False` sets a plain attribute; nothing is frozen."
    message = ("assigning .requires_grad on an nn.Module only adds a plain attribute and freezes nothing; "
               "use {receiver}.requires_grad_({value})")
    fix_availability = SAFE
    needs = STRONG
    triggers = (".requires_grad =", ".requires_grad=")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._flag_classes: dict[int, bool] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1:
            return
        target = node.targets[0].target
        if not (isinstance(target, cst.Attribute) and target.attr.value == "requires_grad"):
            return
        receiver = target.value
        if not self._is_module(receiver):
            return
        code = self.ctx_code(receiver)
        value_code = self.ctx_code(node.value)
        new = cst.Expr(value=cst.Call(
            func=cst.Attribute(value=receiver, attr=cst.Name("requires_grad_")),
            args=[cst.Arg(value=node.value)]))
        proven = self.ctx.is_self(receiver) or self.ctx.model.kinds.is_(receiver, MODULE, at_least=PROVEN)
        fix = Fix(SAFE if proven else UNSAFE, [(node, new)], "call requires_grad_() on the module")
        self.report(target, receiver=code, value=value_code, fix=fix)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def ctx_code(node: cst.CSTNode) -> str:
        return cst.Module(body=[]).code_for_node(node)

    def _is_module(self, receiver: cst.BaseExpression) -> bool:
        ctx = self.ctx
        if ctx.is_self(receiver):
            return ctx.in_module_class and not self._class_uses_own_flag()
        return self.is_kind(receiver, MODULE)

    def _class_uses_own_flag(self) -> bool:
        """The class reads ``self.requires_grad`` back or defines it: a flag of its own, not a mistake."""
        cls = self.ctx.current_class
        if cls is None:
            return True
        cached = self._flag_classes.get(id(cls))
        if cached is not None:
            return cached
        assigned: set[int] = set()
        seen: list[cst.Attribute] = []
        result = False
        for sub in walk(cls.body):
            if isinstance(sub, cst.FunctionDef) and sub.name.value == "requires_grad":
                result = True
                break
            if isinstance(sub, cst.Assign):
                for t in sub.targets:
                    assigned.add(id(t.target))
            elif isinstance(sub, cst.Attribute) and sub.attr.value == "requires_grad" \
                    and isinstance(sub.value, cst.Name) and sub.value.value in ("self", _self_name(self.ctx)):
                seen.append(sub)
        if not result:
            result = any(id(a) not in assigned for a in seen)
        self._flag_classes[id(cls)] = result
        return result


def _self_name(ctx) -> Optional[str]:
    return ctx.func_stack[-1].self_name if ctx.func_stack else None
