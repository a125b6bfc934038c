"""What activation produced a value: softmax, log_softmax, sigmoid, or the raw logits of a final layer.

Shared by the loss/activation rules (TL405 cross-entropy on probabilities, TL415 loss/activation mismatch).
A value's activation is proved from the code of the same function, like the kinds of
:mod:`torchlint.facts.kinds`:

- a call of an activation function (``F.softmax``, ``torch.log_softmax``, ``torch.sigmoid``, ...), of the
  tensor method (``x.softmax(...)``, ``x.sigmoid()``), of an activation module (``nn.Softmax(dim=1)(x)``,
  a name or ``self.<attr>`` bound to one), or of an in-file Module class whose ``forward`` returns that
  activation on every path (``model = Net(); out = model(x)``);
- a name bound to one of these in the same function (rebinding to anything else forgets it);
- LOGITS: the output of an in-file Module class whose ``forward`` returns, on every path, the output of a
  ``self.<attr>`` that is only ever an ``nn.Linear`` (or an ``nn.Sequential`` ending in one): a final layer
  proven to have no activation.

Anything else is unknown (None): rules stay silent.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

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
                act = self.activation(small.value, names, self_name, attrs, in_forward=True)
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
                outputs.add(self.activation(small.value, names, self_name, attrs, in_forward=True)
                            if small.value is not None else None)
        if returned and len(outputs) == 1:
            return outputs.pop()
        return None

    # ------------------------------------------------------------------ values
    def activation(self, value: cst.BaseExpression, names: dict[str, str], self_name: Optional[str],
                   attrs: dict[str, str], in_forward: bool = False) -> Optional[str]:
        """The activation that produced ``value``; ``names`` maps local names to activations (or to
        MODULE_TAG/MODEL_TAG + activation for names bound to modules), ``attrs`` the ``self.<attr>``
        modules of the enclosing class, ``self_name`` the method's self parameter."""
        if isinstance(value, cst.Name):
            tag = names.get(value.value)
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
            tag = names.get(func.value)
            if tag is not None and tag.startswith(MODULE_TAG):
                return tag[len(MODULE_TAG):]
            if tag is not None and tag.startswith(MODEL_TAG):
                return tag[len(MODEL_TAG):]
        return None

    def binding_tag(self, value: cst.BaseExpression, names: dict[str, str], self_name: Optional[str],
                    attrs: dict[str, str]) -> Optional[str]:
        """What a name bound to ``value`` holds: an activation output, an activation module
        (MODULE_TAG + act) or an instance of an in-file Module class (MODEL_TAG + act)."""
        act = self.activation(value, names, self_name, attrs)
        if act is not None:
            return act
        if isinstance(value, cst.Call):
            module = self.module_activation(value)
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


class ActivationScopes:
    """Rule mixin: follows, through the traversal, which local names hold an activation's output (or an
    activation module, or an in-file Module class instance), per function; ``self.activation_of(expr)``
    answers at the current point."""

    def _act_scopes(self) -> list:
        scopes = getattr(self, "_activation_scopes", None)
        if scopes is None:
            scopes = self._activation_scopes = [{}]
        return scopes

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._act_scopes().append({})

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._act_scopes().pop()

    def leave_Assign(self, node: cst.Assign) -> None:
        tag = self._binding_tag(node.value)
        for t in node.targets:
            self._act_bind(t.target, tag)

    def leave_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._act_bind(node.target, self._binding_tag(node.value) if node.value is not None else None)

    def leave_AugAssign(self, node: cst.AugAssign) -> None:
        self._act_bind(node.target, None)

    def visit_For(self, node: cst.For) -> None:
        self._act_bind(node.target, None)

    def _act_bind(self, target: cst.BaseExpression, tag: Optional[str]) -> None:
        scope = self._act_scopes()[-1]
        if isinstance(target, cst.Name):
            if tag is None:
                scope.pop(target.value, None)
            else:
                scope[target.value] = tag
        elif isinstance(target, (cst.Tuple, cst.List)):
            for el in target.elements:
                self._act_bind(el.value, None)

    def _self_context(self):
        ctx = self.ctx
        self_name = ctx.func_stack[-1].self_name if ctx.func_stack else None
        facts = activations(ctx)
        return facts, self_name, facts.self_attrs(ctx.current_class) if self_name is not None else {}

    def _binding_tag(self, value: cst.BaseExpression) -> Optional[str]:
        facts, self_name, attrs = self._self_context()
        return facts.binding_tag(value, self._act_scopes()[-1], self_name, attrs)

    def activation_of(self, expr: cst.BaseExpression) -> Optional[str]:
        """The activation that produced ``expr`` at the current point of the traversal (None: unknown)."""
        facts, self_name, attrs = self._self_context()
        return facts.activation(expr, self._act_scopes()[-1], self_name, attrs)


__all__ = ["SOFTMAX", "LOG_SOFTMAX", "SIGMOID", "LOGITS", "FUNCTIONS", "METHODS", "CLASSES", "Activations",
           "activations", "ActivationScopes"]
