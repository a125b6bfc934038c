from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety
from ...facts.nodes import uses_name, walk
from ...rule import UNSAFE, Fix, Rule
from ...semantic.kinds import MODULE, STRONG


class SharedModuleInstance(Rule):
    """
    ## What it does
    Finds one module instance repeated where copies were meant: `[nn.Linear(4, 4)] * 3`,
    `3 * [block]`, `nn.Sequential(*[layer] * n)`, or a comprehension that repeats a module built
    outside it, `nn.ModuleList([layer for _ in range(n)])`.

    Silent on parameter-free modules (`[nn.ReLU()] * 2` shares nothing that learns), on lists of
    numbers (`[hidden] * n`), on modules whose class is unknown, and on explicit weight tying by
    attribute assignment (`self.head.weight = self.embed.weight`).

    Silent on a comprehension inside an `if` whose other branch builds copies of the same module
    (`copy.deepcopy(layer)`): sharing is then an option the author chose, not a slip.

    ## Why is this bad?
    List repetition and a comprehension over a name copy the *reference*, not the module. Every
    "layer" is the same object with one set of weights: the model has a third of the parameters you
    think, gradients from every position accumulate into that one weight, and a 12-layer stack is
    really one layer applied 12 times. Nothing raises.

    ## Example
    ```python
    self.layers = nn.ModuleList([nn.Linear(4, 4)] * 3)
    ```

    ## Use instead
    ```python
    self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
    # or, from an existing instance:
    self.layers = nn.ModuleList([copy.deepcopy(layer) for _ in range(3)])
    ```

    ## Fix safety
    Unsafe: `[Layer(...)] * n` becomes a comprehension that constructs a new layer each time, so the
    model gains parameters (and a different initialisation), which changes training and the
    parameter count. Offered only for a one-element list holding a construction; a repeated name
    needs `copy.deepcopy`, which is left to the author. The whole repetition is fixed or none of it:
    `[Layer()] * n * 2` becomes one comprehension over `n * 2`, and a repetition inside another
    (`[[Layer()] * 2] * 3`) gets no fix. In a class body the fix is not offered when the layer reads a
    name of the class (a comprehension there cannot see it); comments are kept.
    """

    code = "TL108"
    name = "shared-module-instance"
    summary = "One module instance repeated by `[layer] * n` or a comprehension shares its weights."
    message = ("{how} repeats one {cls} instance: every copy shares the same weights and gradients accumulate; "
               "construct a new module per item ([{cls}(...) for _ in range(n)]) or use copy.deepcopy")
    fix_availability = UNSAFE
    needs = STRONG

    def visit_BinaryOperation(self, node: cst.BinaryOperation) -> None:
        if not isinstance(node.operator, cst.Multiply):
            return
        if isinstance(node.left, cst.List):
            lst, count = node.left, node.right
        elif isinstance(node.right, cst.List):
            lst, count = node.right, node.left
        else:
            return
        for el in lst.elements:
            if not isinstance(el, cst.Element):
                continue
            cls = self._shared_class(el.value)
            if cls is not None:
                self.report(node, how="list repetition '[...] * n'", cls=cls, fix=self._fix(node, lst, count))
                return

    def visit_ListComp(self, node: cst.ListComp) -> None:
        self._check_comprehension(node)

    def visit_GeneratorExp(self, node: cst.GeneratorExp) -> None:
        self._check_comprehension(node)

    def _check_comprehension(self, node) -> None:
        elt = node.elt
        if not isinstance(elt, cst.Name):
            return
        bound = set()
        comp = node.for_in
        while comp is not None:
            for sub in walk(comp.target):
                if isinstance(sub, cst.Name):
                    bound.add(sub.value)
            comp = comp.inner_for_in
        if elt.value in bound:
            return
        cls = self._shared_class(elt)
        if cls is not None and not self._copies_in_other_branch(elt.value):
            self.report(node, how=f"the comprehension over '{elt.value}'", cls=cls)

    def _copies_in_other_branch(self, name: str) -> bool:
        """An enclosing ``if`` copies the same module in its other branch (``copy.deepcopy(name)``): sharing here
        is the author's choice between two behaviours (a "share the layers" option), not a slip."""
        ctx = self.ctx
        for depth in range(1, len(ctx.stack)):
            node = ctx.parent(depth)
            if isinstance(node, (cst.FunctionDef, cst.ClassDef)) or node is None:
                return False
            if not isinstance(node, cst.If):
                continue
            inside = ctx.parent(depth - 1)
            other = node.orelse if inside is node.body else node.body
            if other is None:
                continue
            for sub in walk(other):
                if isinstance(sub, cst.Call) and ctx.resolve(sub.func) == "copy.deepcopy" and sub.args \
                        and isinstance(sub.args[0].value, cst.Name) and sub.args[0].value.value == name:
                    return True
        return False

    # ------------------------------------------------------------------ helpers
    def _shared_class(self, value: cst.BaseExpression) -> Optional[str]:
        """Class name of a module with parameters that ``value`` evaluates to, else None."""
        if isinstance(value, cst.Call):
            return self._construction_class(value)
        if isinstance(value, cst.Name) and self.is_kind(value, MODULE):
            bindings = self.ctx.model.bindings_at(value)
            if len(bindings) == 1 and isinstance(bindings[0].value, cst.Call) and bindings[0].target is bindings[0].node:
                return self._construction_class(bindings[0].value)
            fact = self.ctx.model.kinds.of(value)
            return self._evidence_class(fact.cls)
        return None

    def _construction_class(self, call: cst.Call) -> Optional[str]:
        kinds = self.ctx.kinds
        if self.ctx.resolve(call.func) == "copy.deepcopy" and call.args:
            return self._shared_class(call.args[0].value)
        cls, direct = kinds.module_class_of_call(call)
        if cls is None:
            return None
        if not direct:  # a helper's or a sibling file's Module: its own arguments say nothing
            return self._evidence_class(cls)
        if kinds.class_has_parameters(cls) is True:
            return cls.rsplit(".", 1)[-1]
        from ... import torch_facts

        if cls in torch_facts.CONTAINER_CLASSES and any(
                isinstance(a.value, cst.Call) and self._construction_class(a.value) for a in call.args):
            return cls.rsplit(".", 1)[-1]
        return None

    def _evidence_class(self, cls: Optional[str]) -> Optional[str]:
        """A Module known from evidence rather than its constructor: shared unless known parameter-free."""
        from ... import torch_facts

        if cls is None or cls == "?":
            return "Module"
        if cls not in torch_facts.CONTAINER_CLASSES and self.ctx.kinds.class_has_parameters(cls) is False:
            return None
        return cls.rsplit(".", 1)[-1]

    def _fix(self, node: cst.BinaryOperation, lst: cst.List, count: cst.BaseExpression) -> Optional[Fix]:
        if len(lst.elements) != 1 or not isinstance(lst.elements[0].value, cst.Call):
            return None
        element = lst.elements[0]
        value = element.value
        if self.ctx.resolve(value.func) == "copy.deepcopy" or uses_name(value, "_") or uses_name(count, "_"):
            return None
        # `[layer] * n * 2`: the repetition is repeated again; fix all of it (one comprehension over n * 2).
        top, counts, operators = node, [count], [node.operator]
        stack = self.ctx.stack
        i = len(stack) - 2
        while i >= 0:
            parent = stack[i]
            if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, cst.Multiply) \
                    and (parent.left is top or parent.right is top):
                other = parent.right if parent.left is top else parent.left
                if isinstance(other, (cst.List, cst.ListComp, cst.Tuple)) or uses_name(other, "_"):
                    return None
                counts.append(other)
                operators.append(parent.operator)
                top = parent
                i -= 1
                continue
            break
        # `[[layer] * 2] * 3`: an enclosing repetition would share the fixed list; fix none of it.
        while i >= 0:
            parent = stack[i]
            if isinstance(parent, (cst.BaseSmallStatement, cst.BaseCompoundStatement, cst.Lambda)):
                break
            if isinstance(parent, cst.BinaryOperation) and isinstance(parent.operator, cst.Multiply):
                return None
            i -= 1
        verdicts = [fixsafety.comprehension_sees(self.ctx, top, value)]
        total = counts[0]
        for extra in counts[1:]:
            total = cst.BinaryOperation(left=total, operator=cst.Multiply(), right=extra)
        comments = [w for op in operators for w in (op.whitespace_before, op.whitespace_after)
                    if fixsafety.comments_of(w)]
        range_call = cst.Call(func=cst.Name("range"), args=[cst.Arg(value=total)])
        compfor_ws = comments.pop(0) if comments else cst.SimpleWhitespace(" ")
        if comments:
            range_call = range_call.with_changes(whitespace_before_args=comments.pop(0))
        if comments:
            return None
        comp = cst.ListComp(
            elt=value,
            for_in=cst.CompFor(target=cst.Name("_"), iter=range_call, whitespace_before=compfor_ws),
            lbracket=lst.lbracket, rbracket=lst.rbracket, lpar=top.lpar, rpar=top.rpar)
        if element.comma is not cst.MaybeSentinel.DEFAULT and fixsafety.comments_of(element.comma):
            return None
        return fixsafety.offer(self.ctx, UNSAFE, [(top, comp)], "construct a new module per item", verdicts=verdicts)
