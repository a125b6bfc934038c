"""What activation produced a value: softmax, log_softmax, sigmoid, or the raw logits of a final layer.

Shared by the loss/activation rules (TL405 cross-entropy on probabilities, TL415 loss/activation mismatch).
A value's activation is proved from the code of the same function, like the kinds of
:mod:`torchlint.facts.kinds`:

- a call of an activation function (``F.softmax``, ``torch.log_softmax``, ``torch.sigmoid``, ...), of the
  tensor method (``x.softmax(...)``, ``x.sigmoid()``), of an activation module (``nn.Softmax(dim=1)(x)``,
  a name or ``self.<attr>`` bound to one), or of an in-file Module class whose ``forward`` returns that
  activation on every path (``model = Net(); out = model(x)``);
- a name whose every binding that may reach the use (the semantic model's reaching definitions) is a direct
  assignment of one and the same of these;
- LOGITS: the output of an in-file Module class whose ``forward`` returns, on every path, the output of a
  ``self.<attr>`` that is only ever an ``nn.Linear`` (or an ``nn.Sequential`` ending in one): a final layer
  proven to have no activation.

Anything else is unknown (None): rules stay silent.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

import libcst as cst

from .kinds import iter_self_assignments
from .nodes import iter_small_statements

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Context

SOFTMAX = "softmax"
LOG_SOFTMAX = "log_softmax"
SIGMOID = "sigmoid"
LOGITS = "logits"  # output of a final nn.Linear with no activation after it

FUNCTIONS = {
    "torch.softmax": SOFTMAX, "torch.nn.functional.softmax": SOFTMAX, "torch.special.softmax": SOFTMAX,
    "torch.log_softmax": LOG_SOFTMAX, "torch.nn.functional.log_softmax": LOG_SOFTMAX,
    "torch.special.log_softmax": LOG_SOFTMAX,
    "torch.sigmoid": SIGMOID, "torch.nn.functional.sigmoid": SIGMOID, "torch.special.expit": SIGMOID,
}
METHODS = {"softmax": SOFTMAX, "log_softmax": LOG_SOFTMAX, "sigmoid": SIGMOID}
_MODULE_PATHS = ("torch.nn.", "torch.nn.modules.", "torch.nn.modules.activation.")
CLASSES = {p + cls: act for p in _MODULE_PATHS
           for cls, act in (("Softmax", SOFTMAX), ("LogSoftmax", LOG_SOFTMAX), ("Sigmoid", SIGMOID))}
LINEAR_CLASSES = frozenset({"torch.nn.Linear", "torch.nn.modules.Linear", "torch.nn.modules.linear.Linear"})
SEQUENTIAL_CLASSES = frozenset({"torch.nn.Sequential", "torch.nn.modules.Sequential",
                                "torch.nn.modules.container.Sequential"})

NameTags = Callable[[cst.Name], Optional[str]]  # a Name node -> its tag where it is read (None: unknown)

MODULE_TAG = "module:"  # a name bound to an activation module instance: "module:softmax"
MODEL_TAG = "model:"  # a name bound to an instance of an in-file Module class with that output: "model:sigmoid"


class Activations:
    """Per-file answers (cached on the context): in-file Module classes' outputs, ``self.<attr>`` modules."""

    def __init__(self, ctx: "Context") -> None:
        self.ctx = ctx
        self._class_outputs: Optional[dict[str, str]] = None
        self._attrs: dict[int, dict[str, str]] = {}

    # ------------------------------------------------------------------ modules
    def module_activation(self, call: cst.BaseExpression) -> Optional[str]:
        """The output of a module built by ``call``: an activation module, a Linear (LOGITS), or a
        Sequential whose last element is one of these."""
        if not isinstance(call, cst.Call):
            return None
        qualified = self.ctx.resolve(call.func)
        if qualified is None:
            return None
        if qualified in CLASSES:
            return CLASSES[qualified]
        if qualified in LINEAR_CLASSES:
            return LOGITS
        if qualified in SEQUENTIAL_CLASSES and call.args:
            last = call.args[-1]
            if last.keyword is None and not last.star:
                return self.module_activation(last.value)
        return None

    def self_attrs(self, cls: Optional[cst.ClassDef]) -> dict[str, str]:
        """``self.<attr>`` of ``cls`` that is only ever one activation-producing module: attr -> activation."""
        if cls is None:
            return {}
        cached = self._attrs.get(id(cls))
        if cached is None:
            seen: dict[str, Optional[str]] = {}
            for attr, value in iter_self_assignments(cls):
                act = self.module_activation(value)
                seen[attr] = act if seen.get(attr, act) == act else None
            cached = self._attrs[id(cls)] = {a: act for a, act in seen.items() if act is not None}
        return cached

    def class_outputs(self) -> dict[str, str]:
        """Module classes of the file whose ``forward`` returns one activation (or LOGITS) on every path."""
        if self._class_outputs is None:
            found: dict[str, str] = {}
            for name, defs in self.ctx.classes.by_name.items():
                if not self.ctx.classes.is_module_class_name(name):
                    continue
                cls = defs[-1]
                forward = next((s for s in cls.body.body
                                if isinstance(s, cst.FunctionDef) and s.name.value == "forward"), None)
                if forward is not None:
                    act = self._forward_output(cls, forward)
                    if act is not None:
                        found[name] = act
            self._class_outputs = found
        return self._class_outputs

    def _forward_output(self, cls: cst.ClassDef, forward: cst.FunctionDef) -> Optional[str]:
        params = forward.params.params
        self_name = params[0].name.value if params else None
        attrs = self.self_attrs(cls)
        names: dict[str, str] = {}
        outputs = set()
        returned = False
        for small in iter_small_statements(forward.body.body, into_functions=False):
            if isinstance(small, cst.Assign):
                act = self.activation(small.value, lambda n: names.get(n.value), self_name, attrs, in_forward=True)
                for t in small.targets:
                    if isinstance(t.target, cst.Name):
                        if act is not None:
                            names[t.target.value] = act
                        else:
                            names.pop(t.target.value, None)
            elif isinstance(small, (cst.AugAssign, cst.AnnAssign)) and isinstance(small.target, cst.Name):
                names.pop(small.target.value, None)
            elif isinstance(small, cst.Return):
                returned = True
                outputs.add(self.activation(small.value, lambda n: names.get(n.value), self_name, attrs, in_forward=True)
                            if small.value is not None else None)
        if returned and len(outputs) == 1:
            return outputs.pop()
        return None

    # ------------------------------------------------------------------ values
    def activation(self, value: cst.BaseExpression, names: NameTags, self_name: Optional[str],
                   attrs: dict[str, str], in_forward: bool = False) -> Optional[str]:
        """The activation that produced ``value``; ``names`` gives a Name node's tag: an activation, or
        MODULE_TAG/MODEL_TAG + activation for names bound to modules (None: unknown); ``attrs`` the
        ``self.<attr>`` modules of the enclosing class, ``self_name`` the method's self parameter."""
        if isinstance(value, cst.Name):
            tag = names(value)
            return tag if tag is not None and ":" not in tag else None
        if not isinstance(value, cst.Call):
            return None
        func = value.func
        qualified = self.ctx.resolve(func)
        if qualified is not None:
            return FUNCTIONS.get(qualified)
        if isinstance(func, cst.Attribute):
            if isinstance(func.value, cst.Name) and func.value.value == self_name and self_name is not None:
                return attrs.get(func.attr.value)
            return METHODS.get(func.attr.value)
        if isinstance(func, cst.Call):  # nn.Softmax(dim=1)(x), Net()(x)
            act = self.module_activation(func)
            if act is not None:
                return act
            if not in_forward and isinstance(func.func, cst.Name) and self.ctx.resolve(func.func) is None:
                return self.class_outputs().get(func.func.value)
            return None
        if isinstance(func, cst.Name):
            tag = names(func)
            if tag is not None and tag.startswith(MODULE_TAG):
                return tag[len(MODULE_TAG):]
            if tag is not None and tag.startswith(MODEL_TAG):
                return tag[len(MODEL_TAG):]
            if tag is None and not in_forward:  # model(x) with ``model: Net`` proven an in-file Module class
                fact = self.ctx.model.kinds.of(func)
                if fact is not None and fact.kind == "module" and fact.strength >= 3 and fact.cls \
                        and "." not in fact.cls:
                    return self.class_outputs().get(fact.cls)
        return None

    def _helper_module(self, call: cst.Call) -> Optional[str]:
        """``make_classifier()``: an in-file function whose every return builds the same activation module."""
        if not isinstance(call.func, cst.Name) or self.ctx.resolve(call.func) is not None:
            return None
        model = self.ctx.model
        helper = model.callee_of(call)
        returns = model.returns_of(helper) if helper is not None else []
        found = {self.module_activation(r) if r is not None else None for r in returns}
        return found.pop() if len(found) == 1 else None

    def binding_tag(self, value: cst.BaseExpression, names: NameTags, self_name: Optional[str],
                    attrs: dict[str, str]) -> Optional[str]:
        """What a name bound to ``value`` holds: an activation output, an activation module
        (MODULE_TAG + act) or an instance of an in-file Module class (MODEL_TAG + act)."""
        act = self.activation(value, names, self_name, attrs)
        if act is not None:
            return act
        if isinstance(value, cst.Call):
            module = self.module_activation(value) or self._helper_module(value)
            if module is not None:
                return MODULE_TAG + module
            if isinstance(value.func, cst.Name) and self.ctx.resolve(value.func) is None:
                out = self.class_outputs().get(value.func.value)
                if out is not None:
                    return MODEL_TAG + out
        return None


def activations(ctx: "Context") -> Activations:
    """The per-file :class:`Activations`, created on first use and kept on the context."""
    facts = getattr(ctx, "_activations", None)
    if facts is None:
        facts = ctx._activations = Activations(ctx)
    return facts


_DIRECT = frozenset({"assign", "annassign", "walrus"})
_BUSY = "busy"  # a binding whose tag is being computed: a cycle (x = f(x) in a loop) is unknown


def _method_context(ctx: "Context", facts: Activations, node: cst.CSTNode) -> tuple:
    """(self name, ``self.<attr>`` activation modules) of the method ``node`` stands in."""
    scope = ctx.model.scope_of(node)
    while scope is not None and scope.kind in ("lambda", "comprehension"):
        scope = scope.parent
    if scope is None or scope.kind != "function" or scope.self_name is None or scope.class_node is None:
        return None, {}
    memo: dict = ctx.__dict__.setdefault("_activation_contexts", {})
    found = memo.get(id(scope))
    if found is None:
        found = memo[id(scope)] = (scope.self_name, facts.self_attrs(scope.class_node))
    return found


def activation_at(ctx: "Context", expr: cst.BaseExpression) -> Optional[str]:
    """The activation that produced ``expr`` where it stands (None: unknown). Names are followed through the
    semantic model: every binding that may reach the use must directly assign the same tag."""
    answers: dict = ctx.__dict__.setdefault("_activation_answers", {})  # TL405 and TL415 ask of the same inputs
    key = id(expr)
    if key in answers and answers[key][0] is expr:
        return answers[key][1]
    facts = activations(ctx)
    model = ctx.model
    memo: dict = ctx.__dict__.setdefault("_activation_binding_tags", {})

    def name_tag(name: cst.Name) -> Optional[str]:
        tags = set()
        for b in model.bindings_at(name):
            if b.form not in _DIRECT or b.value is None:
                return None
            if id(b) not in memo:
                memo[id(b)] = _BUSY
                memo[id(b)] = facts.binding_tag(b.value, name_tag, *_method_context(ctx, facts, b.value))
            tag = memo[id(b)]
            if tag == _BUSY:
                return None
            tags.add(tag)
        return tags.pop() if len(tags) == 1 else None

    found = facts.activation(expr, name_tag, *_method_context(ctx, facts, expr))
    answers[key] = (expr, found)
    return found


__all__ = ["SOFTMAX", "LOG_SOFTMAX", "SIGMOID", "LOGITS", "FUNCTIONS", "METHODS", "CLASSES", "Activations",
           "activations", "activation_at"]
