"""What kind of value is this expression: a Module, a Parameter, a Tensor, or unknown?

Unknown is the common answer and means "stay silent". Every positive answer is proved from the code
in the file: a call of a known class or factory, a name bound to one in the same function, a parameter
annotated ``torch.Tensor``, or an attribute assigned one in the class.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from .. import torch_facts
from .nodes import iter_small_statements, self_attribute

if TYPE_CHECKING:  # pragma: no cover
    from ..context import Context

MODULE = "module"
PARAMETER = "parameter"
TENSOR = "tensor"

PARAMETER_CLASSES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
TENSOR_CLASSES = frozenset({"torch.Tensor"})
# Module methods that return the module itself.
MODULE_SELF_METHODS = frozenset({
    "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "train", "eval", "requires_grad_",
    "type", "to_empty", "share_memory", "xpu", "ipu", "mtia",
})
_PRETRAINED_NON_MODELS = ("Tokenizer", "Processor", "Config", "FeatureExtractor", "ImageProcessor", "Pipeline")
# Parameter-free torch modules whose forward depends on train/eval mode (besides every *Dropout*).
TRAINING_DEPENDENT_NAMES = frozenset({"RReLU"})
# Known parameter attributes of torch layers.
LAYER_PARAMETER_ATTRS = frozenset({"weight", "bias", "in_proj_weight", "in_proj_bias"})


def torch_function_name(qualified: Optional[str]) -> Optional[str]:
    """``torch.zeros`` -> ``zeros``; anything else -> None."""
    if qualified and qualified.startswith("torch.") and qualified.count(".") == 1:
        return qualified[6:]
    return None


def constructor_kind(qualified: str) -> Optional[str]:
    """Kind of what calling the torch name ``qualified`` returns: a torch.nn Module class, nn.Parameter,
    or a torch function documented to return a Tensor."""
    if qualified in torch_facts.MODULE_CLASSES:
        return MODULE
    if qualified in PARAMETER_CLASSES:
        return PARAMETER
    name = torch_function_name(qualified)
    if name is not None and name in torch_facts.TENSOR_FUNCTIONS:
        return TENSOR
    return None


def is_tensor_annotation(ctx: "Context", annotation: cst.BaseExpression) -> bool:
    return ctx.resolve(annotation) in TENSOR_CLASSES


class KindResolver:
    """Kind queries for one file. Results that depend only on the file are cached."""

    def __init__(self, ctx: "Context") -> None:
        self.ctx = ctx
        self._class_attr_cache: dict[int, dict[str, Optional[str]]] = {}
        self._class_params_cache: dict[str, Optional[bool]] = {}

    # ----------------------------------------------------------------- module classes
    def module_class_of(self, func: cst.BaseExpression) -> Optional[str]:
        """If calling ``func`` constructs a Module, the class's qualified name (torch) or local name."""
        ctx = self.ctx
        qualified = ctx.resolve(func)
        if qualified is not None:
            if qualified in torch_facts.MODULE_CLASSES:
                return qualified
            return None
        if isinstance(func, cst.Name) and ctx.classes.is_module_class_name(func.value):
            return func.value
        return None

    def class_has_parameters(self, class_name: str) -> Optional[bool]:
        """True if the class (torch or in-file) is known to hold parameters, False if known not to."""
        if class_name in torch_facts.MODULES_WITH_PARAMETERS:
            return True
        if class_name in torch_facts.MODULES_WITHOUT_PARAMETERS:
            return False
        if class_name in torch_facts.MODULE_CLASSES:
            return None
        if class_name in self._class_params_cache:
            return self._class_params_cache[class_name]
        self._class_params_cache[class_name] = None  # recursion guard
        cls = self.ctx.classes.class_named(class_name)
        result: Optional[bool] = None
        if cls is not None:
            for value in iter_self_assigned_values(cls):
                if isinstance(value, cst.Call):
                    if self.ctx.resolve(value.func) in PARAMETER_CLASSES or self.call_has_parameters(value):
                        result = True
                        break
                elif isinstance(value, cst.Name):  # a layer built elsewhere: a parameter, a local name
                    fact = self.ctx.model.kinds.of(value)
                    if fact is not None and fact.kind == MODULE and fact.strength >= 3 and fact.cls \
                            and fact.cls != class_name and self.class_has_parameters(fact.cls):
                        result = True
                        break
        self._class_params_cache[class_name] = result
        return result

    def module_class_of_call(self, node: cst.Call) -> tuple[Optional[str], bool]:
        """(class, direct) of the Module a call proves to return: a constructor (direct), or, through the
        semantic model, an in-file or sibling helper whose every return is a Module, a sibling class.
        The class is None when the call is no proven Module; "?" when the class itself is unknown."""
        cls = self.module_class_of(node.func)
        if cls is not None:
            return cls, True
        fact = self.ctx.model.kinds.of(node)
        if fact is not None and fact.kind == MODULE and fact.strength >= 3:
            return fact.cls or "?", False
        return None, False

    def construction_matters(self, node: cst.BaseExpression) -> bool:
        """A Module construction whose registration matters: it holds (or may hold) parameters, or
        behaves differently in train and eval mode (dropout). ``nn.ReLU()``, a loss, an empty
        ``nn.Sequential()`` lose nothing by not being registered."""
        if not isinstance(node, cst.Call):
            return False
        cls, direct = self.module_class_of_call(node)
        if cls is None:
            return False
        if cls in torch_facts.CONTAINER_CLASSES:
            return bool(node.args) or not direct
        if self.class_has_parameters(cls) is not False:
            return True
        return cls.rsplit(".", 1)[-1] in TRAINING_DEPENDENT_NAMES or "Dropout" in cls

    def constructs_parameterised_module(self, node: cst.BaseExpression) -> bool:
        return isinstance(node, cst.Call) and self.call_has_parameters(node) is True

    def call_has_parameters(self, node: cst.Call, depth: int = 0) -> Optional[bool]:
        """Does the Module this call builds hold parameters? Containers by their arguments, helpers (in-file
        functions and methods) by what they return; None when unknown."""
        cls = self.module_class_of(node.func)
        if cls is not None:
            if cls in torch_facts.CONTAINER_CLASSES and node.args:
                found = [self.call_has_parameters(a.value, depth + 1) for a in node.args
                         if isinstance(a.value, cst.Call) and depth < 6]
                return True if any(found) else None
            return self.class_has_parameters(cls)
        helper = self.ctx.model.callee_of(node) if depth < 6 else None
        if helper is not None:
            returned = [v for v in self.ctx.model.returns_of(helper) if isinstance(v, cst.Call)]
            if any(self.call_has_parameters(v, depth + 1) for v in returned):
                return True
        return None

    # ----------------------------------------------------------------- kinds (asked of the semantic model)
    def kind_of(self, node: cst.BaseExpression) -> Optional[str]:
        return self.ctx.model.kinds.legacy_kind(node)

    def self_attr_kind(self, attr: str) -> Optional[str]:
        """Proven kind of ``self.<attr>`` in the current class, from what its methods assign."""
        cls = self.ctx.current_class
        if cls is None:
            return None
        fact = self.ctx.model.kinds.self_attr_fact(cls, attr)
        if fact is None or fact.strength < 3 or fact.kind not in (MODULE, PARAMETER, TENSOR):
            return None
        return fact.kind

    def _static_kind(self, value: cst.BaseExpression) -> Optional[str]:
        """Kind of an expression without any local-name knowledge (for class attribute tables)."""
        if isinstance(value, cst.Name) and value.value == "None":
            return "none"
        if isinstance(value, cst.Call):
            qualified = self.ctx.resolve(value.func)
            if qualified is not None:
                return constructor_kind(qualified)
            if isinstance(value.func, cst.Name) and self.ctx.classes.is_module_class_name(value.func.value):
                return MODULE
        return None


def _self_name(func: cst.FunctionDef) -> Optional[str]:
    params = func.params.posonly_params or func.params.params
    if params:
        return params[0].name.value
    return None


def iter_methods(cls: cst.ClassDef):
    for stmt in cls.body.body:
        if isinstance(stmt, cst.FunctionDef):
            yield stmt


# Per-file memo of the class scans below (the engine clears it for every file). Rules ask about the
# same class once per statement; without it each question rescans every method of the class.
_CLASS_MEMO: dict = {}


def clear_class_memo() -> None:
    _CLASS_MEMO.clear()


def _class_statements(cls: cst.ClassDef) -> list:
    """(self name, small statement) for every small statement of every method of the class."""
    key = ("stmts", id(cls))
    hit = _CLASS_MEMO.get(key)
    if hit is not None and hit[0] is cls:
        return hit[1]
    result = []
    for method in iter_methods(cls):
        self_name = _self_name(method)
        if self_name is None:
            continue
        for small in iter_small_statements(method.body.body):
            result.append((self_name, small))
    _CLASS_MEMO[key] = (cls, result)
    return result


def iter_self_assignments(cls: cst.ClassDef) -> list:
    """(attr, value) for every ``self.attr = value`` in any method of the class (a list, memoised)."""
    key = ("assign", id(cls))
    hit = _CLASS_MEMO.get(key)
    if hit is not None and hit[0] is cls:
        return hit[1]
    result = []
    for self_name, small in _class_statements(cls):
        if isinstance(small, cst.Assign):
            for target in small.targets:
                attr = self_attribute(target.target, self_name)
                if attr is not None:
                    result.append((attr, small.value))
                else:
                    result.extend(_unpacked(target.target, small.value, self_name))
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            attr = self_attribute(small.target, self_name)
            if attr is not None:
                result.append((attr, small.value))
    _CLASS_MEMO[key] = (cls, result)
    return result


def _unpacked(target: cst.BaseExpression, value: cst.BaseExpression, self_name: str) -> list:
    """``self.a, self.b = [], []``: (attr, element) pairs of a literal tuple/list unpacked element by element
    (same length, no starred parts); anything else gives nothing."""
    if not (isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List))):
        return []
    targets, values = target.elements, value.elements
    if len(targets) != len(values) or any(isinstance(e, cst.StarredElement) for e in (*targets, *values)):
        return []
    pairs = []
    for t, v in zip(targets, values):
        attr = self_attribute(t.value, self_name)
        if attr is not None:
            pairs.append((attr, v.value))
        else:
            pairs.extend(_unpacked(t.value, v.value, self_name))
    return pairs


def self_assignments_by_attr(cls: cst.ClassDef) -> dict:
    """attr -> values assigned to ``self.<attr>`` in the class's methods (memoised per file like the list)."""
    key = ("by_attr", id(cls))
    hit = _CLASS_MEMO.get(key)
    if hit is not None and hit[0] is cls:
        return hit[1]
    table: dict = {}
    for name, value in iter_self_assignments(cls):
        table.setdefault(name, []).append(value)
    _CLASS_MEMO[key] = (cls, table)
    return table


def iter_self_assigned_values(cls: cst.ClassDef):
    for _attr, value in iter_self_assignments(cls):
        yield value


def iter_self_method_calls(cls: cst.ClassDef, methods):
    """(method, args) for statement-level ``self.<method>(...)`` calls in any method of the class."""
    for self_name, small in _class_statements(cls):
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            func = small.value.func
            if (isinstance(func, cst.Attribute) and func.attr.value in methods
                    and isinstance(func.value, cst.Name) and func.value.value == self_name):
                yield func.attr.value, small.value.args
