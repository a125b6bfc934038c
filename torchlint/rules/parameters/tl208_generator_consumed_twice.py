from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.kinds import MODULE
from ...facts.flow import Scope, exclusive
from ...facts.nodes import walk
from ...rule import Rule
from ...semantic.kinds import MODULE_ITERATORS

# Module methods that return a one-shot generator.
GENERATOR_METHODS = frozenset(MODULE_ITERATORS)
_LAZY_BUILTINS = frozenset({"filter", "map"})
# Builtins that exhaust an iterable argument.
_CONSUMING_BUILTINS = frozenset({"list", "tuple", "set", "frozenset", "sorted", "sum", "any", "all", "max", "min",
                                 "dict"})
# Lazy wrappers: consuming them consumes their argument.
_WRAPPERS = frozenset({"enumerate", "zip", "map", "filter", "iter", "reversed"})
# torch functions that exhaust a parameters iterable.
_TORCH_CONSUMERS = frozenset({
    "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_norm", "torch.nn.utils.clip_grad_value_",
    "torch.nn.utils.clip_grad.clip_grad_norm_", "torch.nn.utils.clip_grad.clip_grad_value_",
    "torch.nn.utils.parameters_to_vector", "torch.nn.utils.vector_to_parameters",
    "torch.nn.utils.convert_parameters.parameters_to_vector", "torch.nn.utils.get_total_norm",
})


def _generator_source(node: cst.BaseExpression) -> Optional[tuple[cst.Call, bool]]:
    """(the ``x.parameters()``-like call, whether the one-shot-ness is proven whatever x is) for
    ``x.parameters()``, ``filter(f, x.parameters())``, ``map(f, ...)`` or ``(p for p in x.parameters())``."""
    if isinstance(node, cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in GENERATOR_METHODS:
            return node, False
        if isinstance(func, cst.Name) and func.value in _LAZY_BUILTINS:
            for arg in node.args:
                inner = _generator_source(arg.value)
                if inner is not None:
                    return inner[0], True
        return None
    if isinstance(node, cst.GeneratorExp):
        inner = _generator_source(node.for_in.iter)
        if inner is not None:
            return inner[0], True
    return None


class GeneratorConsumedTwice(Rule):
    """
    ## What it does
    Finds a name bound to `.parameters()`, `.named_parameters()`, `.buffers()`, `.modules()`,
    `.children()` (or their `named_` forms), or to `filter(...)` / `map(...)` / a generator expression
    over one of them, that is then consumed twice in the same scope with no rebinding between: passed
    to an optimizer constructor, to `clip_grad_norm_` / `clip_grad_value_`, iterated by a `for` loop or
    a comprehension, or exhausted by `list()`, `tuple()`, `sum()`, `sorted()`, `any()`, ... A single
    consumption inside a loop that does not rebind the name counts as consumed on every iteration. Uses
    in mutually exclusive branches (`if`/`else`, `except` arms, `match` cases, or a branch that ends in
    `return`) are not two uses. A bare `x.parameters()` is reported only when `x` is known to be a
    Module or one of the uses is a torch optimizer or gradient-clipping call.

    ## Why is this bad?
    These methods return generators, which can be iterated only once. The second consumer sees an empty
    iterator: `clip_grad_norm_` clips nothing and returns a norm of 0 (torch 2.13 only emits a
    `UserWarning` that is easy to miss in a training log), a second
    optimizer raises "optimizer got an empty parameter list" (or, inside a param group, silently trains
    nothing), and a second loop does nothing.

    ## Example
    ```python
    params = model.parameters()
    optimizer = torch.optim.SGD(params, lr=0.1)
    ...
    torch.nn.utils.clip_grad_norm_(params, 1.0)  # clips nothing
    ```

    ## Use instead
    ```python
    params = list(model.parameters())
    optimizer = torch.optim.SGD(params, lr=0.1)
    ...
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    ```

    ## Fix safety
    No fix is offered: the right place for `list(...)` is the binding, which may be far from the
    reported use; the message names it.
    """

    code = "TL208"
    name = "generator-consumed-twice"
    summary = "A `parameters()`/`modules()` generator bound to a name is consumed twice; the second use sees nothing."
    message = ("'{var}' holds a one-shot generator ({source}) that is {how}: this use sees an empty iterator; "
               "bind list({source}) instead")
    triggers = ("parameters(", "buffers(", "modules(", "children(")

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        found = _generator_source(node.value)
        if found is None:
            return
        call, proven = found
        receiver_is_module = proven or self.ctx.kind_of(call.func.value) == MODULE
        var = node.targets[0].target.value
        scope_node = self._scope_root()
        if scope_node is None:
            return
        scope = Scope(scope_node)
        if id(node) not in scope.index:
            return
        uses = self._uses_after(scope, node, var)
        if not uses:
            return
        if not receiver_is_module and not any(torch_api for _n, _site, torch_api in uses):
            return
        source = _code(node.value)
        # a single use repeated by a loop that does not rebind the name
        first_name = uses[0][0]
        loop = self._repeating_loop(scope, node, first_name, var)
        if loop is not None:
            self.report(first_name, var=var, source=source,
                        how="consumed again on every iteration of the enclosing loop")
            return
        for i in range(1, len(uses)):
            earlier = [u for u in uses[:i] if not exclusive(scope, u[1], uses[i][1])]
            if earlier:
                self.report(uses[i][0], var=var, source=source,
                            how="already consumed above")
                return

    # ------------------------------------------------------------------ scope and uses
    def _scope_root(self) -> Optional[cst.CSTNode]:
        for anc in reversed(self.ctx.stack):
            if isinstance(anc, (cst.FunctionDef, cst.Module)):
                return anc.body if isinstance(anc, cst.FunctionDef) else anc
            if isinstance(anc, (cst.ClassDef, cst.Lambda)):
                return None
        return None

    def _uses_after(self, scope: Scope, binding: cst.Assign, var: str):
        """[(Name node, consuming site node, is a torch API)] after the binding, up to a rebinding."""
        uses = []
        start = scope.index[id(binding)]
        end_of_binding = start
        for sub in walk(binding):
            end_of_binding = max(end_of_binding, scope.index.get(id(sub), end_of_binding))
        for node in scope.order[end_of_binding + 1:]:
            if self._rebinds(node, var):
                # uses inside the rebinding statement's value come before it in source order already
                if not exclusive(scope, binding, node):
                    break
                continue
            if isinstance(node, cst.Name) and node.value == var:
                if exclusive(scope, binding, node):
                    continue
                site = self._consuming_site(scope, node)
                if site is not None:
                    uses.append((node, site[0], site[1]))
        return uses

    @staticmethod
    def _rebinds(node: cst.CSTNode, var: str) -> bool:
        def is_var(t):
            return isinstance(t, cst.Name) and t.value == var or (
                isinstance(t, (cst.Tuple, cst.List)) and any(is_var(e.value) for e in t.elements))

        if isinstance(node, cst.AssignTarget):
            return is_var(node.target)
        if isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            return is_var(node.target)
        if isinstance(node, (cst.For, cst.CompFor)):
            return is_var(node.target)
        if isinstance(node, cst.AsName):
            return is_var(node.name)
        if isinstance(node, cst.NamedExpr):
            return is_var(node.target)
        if isinstance(node, cst.Del):
            return uses_var(node.target, var)
        return False

    def _consuming_site(self, scope: Scope, name: cst.Name) -> Optional[tuple[cst.CSTNode, bool]]:
        """The node whose evaluation exhausts ``name`` (and whether it is a torch API), or None."""
        ctx = self.ctx
        node: cst.CSTNode = name
        while True:
            parent = scope.parent.get(id(node))
            if parent is None:
                return None
            if isinstance(parent, cst.For) and parent.iter is node:
                return parent, False
            if isinstance(parent, cst.CompFor) and parent.iter is node:
                comp = scope.parent.get(id(parent))
                while isinstance(comp, cst.CompFor):
                    comp = scope.parent.get(id(comp))
                if isinstance(comp, cst.GeneratorExp):
                    node = comp  # consumed when the generator expression is consumed
                    continue
                return (comp, False) if comp is not None else None
            if isinstance(parent, (cst.StarredElement,)) and parent.value is node:
                return parent, False
            if isinstance(parent, cst.Arg) and parent.value is node:
                call = scope.parent.get(id(parent))
                if not isinstance(call, cst.Call):
                    return None
                if parent.star == "*":
                    return call, False
                if isinstance(call.func, cst.Name) and call.func.value in _WRAPPERS \
                        and call.func.value not in ctx.imports.aliases:
                    node = call
                    continue
                consumer = self._consumer(call)
                return (call, consumer) if consumer is not None else None
            if isinstance(parent, (cst.DictElement,)) and parent.value is node:
                # {"params": gen} inside an optimizer's param groups
                up = parent
                for _ in range(6):
                    up = scope.parent.get(id(up))
                    if up is None:
                        return None
                    if isinstance(up, cst.Arg):
                        call = scope.parent.get(id(up))
                        if isinstance(call, cst.Call) and self._consumer(call):
                            return call, True
                        return None
                    if not isinstance(up, (cst.Dict, cst.Element, cst.List, cst.Tuple)):
                        return None
                return None
            return None

    def _consumer(self, call: cst.Call) -> Optional[bool]:
        """None: not known to consume; False: a builtin consumer; True: a torch API consumer."""
        func = call.func
        if isinstance(func, cst.Name) and func.value in _CONSUMING_BUILTINS \
                and func.value not in self.ctx.imports.aliases:
            return False
        qualified = self.ctx.resolve(func)
        if qualified is None:
            return None
        if qualified in _TORCH_CONSUMERS:
            return True
        head, _, last = qualified.rpartition(".")
        if head.startswith("torch.optim") and last[:1].isupper() and "lr_scheduler" not in head \
                and "swa_utils" not in head:
            return True
        return None

    def _repeating_loop(self, scope: Scope, binding: cst.CSTNode, use: cst.Name, var: str):
        """The loop around the first use that does not hold the binding and repeats the use."""
        binding_ancestors = {id(n) for n in scope.ancestors(binding)}
        for anc in scope.ancestors(use):
            if id(anc) in binding_ancestors:
                return None
            if isinstance(anc, (cst.For, cst.While)):
                if isinstance(anc, cst.For) and any(sub is use for sub in walk(anc.iter)):
                    continue  # the loop's own iterable is evaluated once
                for sub in walk(anc.body, into_scopes=False):
                    if isinstance(sub, (cst.Break, cst.Return, cst.Raise)) or self._rebinds(sub, var):
                        return None
                return anc
        return None


def uses_var(node: cst.CSTNode, var: str) -> bool:
    return any(isinstance(sub, cst.Name) and sub.value == var for sub in walk(node))


def _code(node: cst.CSTNode) -> str:
    text = cst.Module(body=[]).code_for_node(node)
    return text if len(text) <= 60 else text[:57] + "..."
