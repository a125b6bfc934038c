"""Kinds from evidence, each with a strength.

``KindEngine.of(expr)`` answers what an expression holds (a Module, a Parameter, a Tensor, an optimizer, a
DataLoader, ...) together with how strong the evidence is:

- PROVEN: a constructor, an annotation, an in-file helper whose every return is proven, a sibling-file
  Module class, a method of a proven value that returns the same kind (``m.to(...)``, ``t.float()``);
- STRONG: what the code does with the name in its scope: Module-only API (``parameters()``,
  ``named_modules()``, ``register_forward_hook``...), being passed to ``nn.Sequential``/``DataParallel``,
  optimizer-only API (``param_groups``), every call site of a local function passing a proven kind, targets
  of a loop over a DataLoader;
- WEAK: API that other objects share (``eval``, ``train``, ``to``, ``state_dict``, ``zero_grad``, ``step``).

Contradicting evidence (``.fit``/``.predict``, values from numpy/jax/paddle/tensorflow, two different kinds
with equal strength) makes the answer unknown (None). A rule states the strength it needs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from .. import torch_facts
from . import scopes as S

if TYPE_CHECKING:  # pragma: no cover
    from .model import SemanticModel

MODULE = "module"
PARAMETER = "parameter"
TENSOR = "tensor"
OPTIMIZER = "optimizer"
SCHEDULER = "scheduler"
DATALOADER = "dataloader"
BATCH = "batch"  # what a loop over a DataLoader yields (tensors or containers of tensors)
CRITERION = "criterion"  # a role: a Module whose class is a torch loss
STATE_DICT = "state_dict"
PARAM_ITER = "param_iter"  # parameters() / named_parameters() / modules() ... generators
SAMPLER = "sampler"
SCALER = "scaler"
FOREIGN = "foreign"  # numpy / jax / paddle / tensorflow values: never a torch kind

WEAK, STRONG, PROVEN = 1, 2, 3
STRENGTH_NAMES = {WEAK: "weak", STRONG: "strong", PROVEN: "proven"}

PARAMETER_CLASSES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
LEGACY_TENSOR_CLASSES = frozenset({
    "torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor", "torch.HalfTensor", "torch.BFloat16Tensor",
    "torch.LongTensor", "torch.IntTensor", "torch.ShortTensor", "torch.CharTensor", "torch.ByteTensor",
    "torch.BoolTensor",
})
TENSOR_ANNOTATIONS = LEGACY_TENSOR_CLASSES
DATALOADER_CLASSES = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
SAMPLER_CLASSES = frozenset({"torch.utils.data.DistributedSampler", "torch.utils.data.distributed.DistributedSampler"})
SCALER_CLASSES = frozenset({"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cuda.amp.grad_scaler.GradScaler",
                            "torch.amp.grad_scaler.GradScaler"})
WRAPPER_CLASSES = frozenset({"torch.nn.DataParallel", "torch.nn.parallel.DistributedDataParallel",
                             "torch.nn.parallel.DataParallel", "torch.nn.Sequential", "torch.nn.ModuleList"})
FOREIGN_ROOTS = frozenset({"numpy", "jax", "paddle", "tensorflow", "mindspore", "oneflow", "mxnet", "jittor",
                           "cupy", "pandas", "sklearn", "flax", "keras", "tf"})
# Module methods that return the module itself.
MODULE_SELF_METHODS = frozenset({
    "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "train", "eval", "requires_grad_",
    "type", "to_empty", "share_memory", "xpu", "ipu", "mtia",
})
# API only a Module has: calling it on a name is strong evidence.
MODULE_ONLY_METHODS = frozenset({
    "parameters", "named_parameters", "modules", "named_modules", "children", "named_children", "buffers",
    "named_buffers", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_backward_hook", "register_buffer", "register_parameter",
    "register_module", "add_module", "apply", "get_submodule", "get_parameter",
})
# Module methods that return a one-shot generator of the module's own objects:
# method -> (what the items are, whether items are (name, value) pairs). The one table every rule uses.
MODULE_ITERATORS = {
    "parameters": ("parameter", False), "named_parameters": ("parameter", True),
    "buffers": ("buffer", False), "named_buffers": ("buffer", True),
    "modules": ("module", False), "named_modules": ("module", True),
    "children": ("module", False), "named_children": ("module", True),
}
OPTIMIZER_ONLY = frozenset({"param_groups", "add_param_group"})
DATALOADER_ATTRS = frozenset({"dataset", "sampler", "batch_sampler", "num_workers", "collate_fn"})
TENSOR_ONLY_METHODS = frozenset({
    "unsqueeze", "detach", "masked_fill", "masked_fill_", "contiguous", "requires_grad_", "backward",
    "numel", "permute", "view_as", "expand_as", "type_as", "new_zeros", "new_ones", "new_empty", "new_full",
    "register_hook", "retain_grad", "data_ptr", "element_size",
})
TENSOR_ONLY_ATTRS = frozenset({"grad", "grad_fn", "is_cuda", "is_leaf"})
CONTRADICTING_METHODS = frozenset({
    "fit", "predict", "predict_proba", "predict_log_proba", "fit_transform", "partial_fit", "score",
    "decision_function", "get_params", "set_params", "compile_model", "summary",
})
_PRETRAINED_NON_MODELS = ("Tokenizer", "Processor", "Config", "FeatureExtractor", "ImageProcessor", "Pipeline")
# Parameter-free torch modules whose forward depends on train/eval mode (besides every *Dropout*).
LAYER_PARAMETER_ATTRS = frozenset({"weight", "bias", "in_proj_weight", "in_proj_bias"})
_WRAPPING_ITERS = frozenset({"tqdm", "tqdm.tqdm", "tqdm.auto.tqdm", "tqdm.notebook.tqdm"})


_IDENTITY_OR_MEMBERSHIP = (cst.Is, cst.IsNot, cst.In, cst.NotIn)


class KindFact:
    __slots__ = ("kind", "strength", "reasons", "cls")

    def __init__(self, kind: str, strength: int, reasons=(), cls: Optional[str] = None) -> None:
        self.kind = kind
        self.strength = strength
        self.reasons = tuple(reasons)
        self.cls = cls

    def weaker(self, strength: int, reason: Optional[str] = None) -> "KindFact":
        reasons = self.reasons + ((reason,) if reason else ())
        return KindFact(self.kind, min(self.strength, strength), reasons, self.cls)

    def __repr__(self) -> str:
        return f"KindFact({self.kind}, {STRENGTH_NAMES.get(self.strength)}, cls={self.cls}, {list(self.reasons)})"


def join(facts) -> Optional[KindFact]:
    """The kind several bindings agree on, with the weakest of their strengths; None if they disagree."""
    facts = list(facts)
    if not facts or any(f is None for f in facts):
        return None
    kind = facts[0].kind
    if any(f.kind != kind for f in facts):
        return None
    clss = {f.cls for f in facts}
    reasons: list = []
    for f in facts:
        reasons.extend(r for r in f.reasons if r not in reasons)
    return KindFact(kind, min(f.strength for f in facts), reasons, clss.pop() if len(clss) == 1 else None)


def torch_function_name(qualified: Optional[str]) -> Optional[str]:
    if qualified and qualified.startswith("torch.") and qualified.count(".") == 1:
        return qualified[6:]
    return None


def constructor_fact(qualified: str) -> Optional[KindFact]:
    """What calling the dotted name returns, when torch says so."""
    if qualified in torch_facts.MODULE_CLASSES:
        return KindFact(MODULE, PROVEN, (f"constructed by {qualified}",), qualified)
    if qualified in PARAMETER_CLASSES:
        return KindFact(PARAMETER, PROVEN, ("nn.Parameter(...)",))
    if qualified in LEGACY_TENSOR_CLASSES:
        return KindFact(TENSOR, PROVEN, (f"{qualified}(...)",))
    name = torch_function_name(qualified)
    if name is not None and name in torch_facts.TENSOR_FUNCTIONS:
        return KindFact(TENSOR, PROVEN, (f"torch.{name}(...)",))
    if qualified.startswith("torch.nn.functional.") and qualified[20:] in torch_facts.FUNCTIONAL_TENSOR_FUNCTIONS:
        return KindFact(TENSOR, PROVEN, (f"F.{qualified[20:]}(...)",))
    module, _, last = qualified.rpartition(".")
    if last[:1].isupper():
        if qualified.startswith("torch.optim.lr_scheduler.") or qualified == "torch.optim.swa_utils.SWALR":
            if last not in ("LRScheduler", "_LRScheduler"):
                return KindFact(SCHEDULER, PROVEN, (qualified,), qualified)
        elif module == "torch.optim" or (module.startswith("torch.optim.") and module != "torch.optim.swa_utils"):
            if last != "Optimizer":
                return KindFact(OPTIMIZER, PROVEN, (qualified,), qualified)
        if qualified in DATALOADER_CLASSES:
            return KindFact(DATALOADER, PROVEN, (qualified,), qualified)
        if qualified in SAMPLER_CLASSES:
            return KindFact(SAMPLER, PROVEN, (qualified,), qualified)
        if qualified in SCALER_CLASSES:
            return KindFact(SCALER, PROVEN, (qualified,), qualified)
    if qualified.split(".", 1)[0] in FOREIGN_ROOTS:
        return KindFact(FOREIGN, PROVEN, (qualified,))
    return None


def annotation_kind_of_name(qualified: str) -> Optional[KindFact]:
    if qualified in TENSOR_ANNOTATIONS:
        return KindFact(TENSOR, PROVEN, (f"annotated {qualified}",))
    if qualified in PARAMETER_CLASSES:
        return KindFact(PARAMETER, PROVEN, ("annotated Parameter",))
    if qualified in torch_facts.MODULE_CLASSES or qualified in ("torch.nn.Module", "torch.nn.modules.module.Module"):
        return KindFact(MODULE, PROVEN, (f"annotated {qualified}",), qualified)
    if qualified in ("torch.optim.Optimizer", "torch.optim.optimizer.Optimizer"):
        return KindFact(OPTIMIZER, PROVEN, ("annotated Optimizer",))
    fact = constructor_fact(qualified)
    if fact is not None and fact.kind in (OPTIMIZER, SCHEDULER, DATALOADER, SAMPLER, SCALER):
        return KindFact(fact.kind, PROVEN, (f"annotated {qualified}",), qualified)
    if qualified in ("torch.optim.lr_scheduler.LRScheduler", "torch.optim.lr_scheduler._LRScheduler"):
        return KindFact(SCHEDULER, PROVEN, ("annotated LRScheduler",))
    return None


class KindEngine:
    """Kind queries over one file's semantic model; every answer is memoised for the file."""

    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self._binding_memo: dict[int, Optional[KindFact]] = {}
        self._return_memo: dict[int, Optional[KindFact]] = {}
        self._attr_memo: dict[int, dict] = {}
        self._attr_fact_memo: dict[tuple, Optional[KindFact]] = {}
        self._evidence_memo: dict[tuple, Optional[KindFact]] = {}
        self._in_progress: set = set()
        self._expr_memo: dict[int, Optional[KindFact]] = {}
        self.foreign_file = model.imports_foreign_framework()

    # ------------------------------------------------------------------ public
    def of(self, expr: cst.BaseExpression) -> Optional[KindFact]:
        key = id(expr)
        memo = self._expr_memo
        if key in memo:
            return memo[key]
        if key in self._in_progress:
            return None
        self._in_progress.add(key)
        try:
            fact = self._of(expr)
        finally:
            self._in_progress.discard(key)
        if fact is not None and fact.kind == FOREIGN:
            fact = None if expr is not None else fact
        memo[key] = fact
        return fact

    def is_(self, expr: cst.BaseExpression, kind: str, at_least: int = STRONG) -> bool:
        fact = self.of(expr)
        if fact is None:
            return False
        if kind == CRITERION:
            return fact.kind == MODULE and fact.strength >= at_least and self.is_loss_class(fact.cls)
        if kind == TENSOR and fact.kind in (PARAMETER, BATCH):
            return fact.strength >= at_least
        return fact.kind == kind and fact.strength >= at_least

    def is_besides(self, expr, kind: str, at_least: int, method: str) -> bool:
        """Like :meth:`is_`, but the ``.method()`` call being judged may not be its own evidence: a rule that
        checks ``x.register_forward_hook(...)`` needs other proof that ``x`` is a Module."""
        fact = self.of(expr)
        if fact is None or not self.is_(expr, kind, at_least):
            return False
        if fact.strength >= PROVEN:
            return True
        return any(r != f".{method}() called on it" for r in fact.reasons)

    def is_loss_class(self, cls: Optional[str]) -> bool:
        return bool(cls) and cls.rsplit(".", 1)[-1] in torch_facts.LOSS_CLASSES and cls.startswith("torch.")

    def legacy_kind(self, expr) -> Optional[str]:
        """The proven Module / Parameter / Tensor kind, for rules written before strengths existed."""
        fact = self.of(expr)
        if fact is None or fact.strength < PROVEN:
            return None
        if fact.kind in (MODULE, PARAMETER, TENSOR):
            return fact.kind
        return None

    # ------------------------------------------------------------------ expressions
    def _of(self, expr) -> Optional[KindFact]:
        cls = type(expr)
        if cls is cst.Name:
            return self._name(expr)
        if cls is cst.Call:
            return self._call(expr)
        if cls is cst.Attribute:
            return self._attribute(expr)
        if cls is cst.IfExp:  # ``t.unsqueeze(0) if t is not None else None``: a tensor where it is anything
            if _is_none(expr.orelse):
                return self.of(expr.body)
            if _is_none(expr.body):
                return self.of(expr.orelse)
            return join((self.of(expr.body), self.of(expr.orelse)))
        if cls is cst.BinaryOperation:
            left, right = self.of(expr.left), self.of(expr.right)
            kinds = {f.kind for f in (left, right) if f is not None}
            if kinds & {TENSOR, PARAMETER, BATCH} and MODULE not in kinds and FOREIGN not in kinds:
                strength = min(f.strength for f in (left, right) if f is not None and f.kind in (TENSOR, PARAMETER, BATCH))
                return KindFact(TENSOR, strength, ("arithmetic on a tensor",))
            return None
        if cls is cst.Subscript:
            base = self.of(expr.value)
            if base is not None and base.kind == BATCH:  # batch["input_ids"], batch[0]: one element
                return KindFact(BATCH, base.strength, base.reasons, "part")
            if base is not None and base.kind in (TENSOR, PARAMETER):
                return KindFact(TENSOR, base.strength, base.reasons + ("indexed",))
            return None
        if cls is cst.Comparison:  # x > 0 on a tensor is a bool tensor (``is`` / ``in`` give a bool)
            if any(type(c.operator) in _IDENTITY_OR_MEMBERSHIP for c in expr.comparisons):
                return None
            facts = [self.of(expr.left)] + [self.of(c.comparator) for c in expr.comparisons]
            strong = [f for f in facts if f is not None and f.kind in (TENSOR, PARAMETER)]
            if strong and not any(f is not None and f.kind in (MODULE, FOREIGN) for f in facts):
                return KindFact(TENSOR, min(f.strength for f in strong), ("comparison of a tensor",))
            return None
        if cls is cst.UnaryOperation:
            inner = self.of(expr.expression)
            if inner is not None and inner.kind in (TENSOR, PARAMETER):
                return KindFact(TENSOR, inner.strength, inner.reasons)
            return None
        return None

    def _name(self, node: cst.Name) -> Optional[KindFact]:
        model = self.model
        use = model.use_of(node)
        if use is None:
            return None
        if use.name == "self" or (use.scope.self_name and use.name == use.scope.self_name):
            fact = self._self_fact(use)
            if fact is not None:
                return fact
        bindings = model.reaching(use)
        bindings = [b for b in bindings if b.form != S.DEL and not _is_none_placeholder(b, bindings)]
        if not bindings:
            return None
        fact = join(self.binding_fact(b) for b in bindings)
        if fact is not None and fact.kind == MODULE and fact.cls is None:
            fact = self._narrowed(use, bindings, fact)
        return fact

    def _narrowed(self, use, bindings, fact: KindFact) -> KindFact:
        """Inside ``if isinstance(m, nn.Linear):`` a Module ``m`` bound before the test is an ``nn.Linear``."""
        narrowing = self.model.narrowing
        for key in reversed(use.chain):
            hit = narrowing.get(key)
            if hit is None or hit[0] != use.name or any(key in b.chain for b in bindings):
                continue
            qualified = self.model.resolve(hit[1])
            if qualified in torch_facts.MODULE_CLASSES:
                return KindFact(MODULE, fact.strength, fact.reasons + (f"isinstance(..., {qualified})",), qualified)
            if qualified in PARAMETER_CLASSES or qualified in LEGACY_TENSOR_CLASSES:
                # ``if isinstance(x, nn.Parameter): ... else: x.parameters()``: the test contradicts the
                # Module evidence inside its branch, so the kind is unknown there
                return None
            break
        return fact

    def _self_fact(self, use) -> Optional[KindFact]:
        scope = use.scope
        while scope is not None and scope.kind in (S.LAMBDA_SCOPE, S.COMPREHENSION_SCOPE):
            scope = scope.parent
        if scope is None or scope.kind != S.FUNCTION_SCOPE or scope.self_name != use.name:
            return None
        owner = self.model.reaching(use)
        if any(b.form != S.PARAM for b in owner):
            return None
        cls = scope.class_node
        if cls is not None and self.model.classes.is_module_class(cls):
            return KindFact(MODULE, PROVEN, ("self of a Module class",), cls.name.value)
        return None

    # ------------------------------------------------------------------ bindings
    def binding_fact(self, b: S.Binding) -> Optional[KindFact]:
        key = id(b)
        if key in self._binding_memo:
            return self._binding_memo[key]
        if key in self._in_progress:
            return None
        self._in_progress.add(key)
        try:
            fact = self._binding_fact(b)
        finally:
            self._in_progress.discard(key)
        self._binding_memo[key] = fact
        return fact

    def _binding_fact(self, b: S.Binding) -> Optional[KindFact]:
        form = b.form
        if b.annotation is not None:
            fact = self.annotation_fact(b.annotation)
            if fact is not None:
                return fact
        if form == S.PARAM:
            if b.scope.self_name == b.name:
                return None  # handled by _self_fact
            fact = self.evidence_from_uses(b.scope, b.name)
            if fact is None:
                fact = self._call_site_fact(b)
            return fact
        if form in (S.ASSIGN, S.ANNASSIGN, S.WALRUS):
            if b.value is not None and b.target is None or (b.value is not None and b.target is b.node):
                fact = self.of(b.value)
                if fact is not None:
                    return None if fact.kind == FOREIGN else fact
                if b.value is not None and self._is_foreign_value(b.value):
                    return None
                return self.evidence_from_uses(b.scope, b.name)
            if b.source is not None:
                src = self.of(b.source)
                if src is not None and src.kind == BATCH:
                    return src
            return None
        if form in (S.FOR, S.COMP):
            return self._iteration_fact(b)
        return None

    def iteration_item(self, b: S.Binding):
        """(iterable, target part) of a for / comprehension binding once ``enumerate``, ``zip``,
        ``list``/``tuple``/``sorted``/``reversed`` and progress bars are peeled off the iterable, the
        target narrowed alongside: ``for i, (n, m) in enumerate(model.named_modules())`` binding ``n``
        gives (``model.named_modules()``, ``(n, m)``). None when the binding is an enumerate index."""
        source = b.source
        target = b.target if b.target is not None else b.node
        node = b.node
        for _ in range(6):
            if type(source) is not cst.Call or any(a.keyword or a.star for a in source.args):
                break
            func = source.func
            if type(func) is cst.Attribute and func.attr.value == "items" and not source.args:
                mapping = func.value
                if type(mapping) is cst.Name:  # modules = dict(model.named_modules()); modules.items()
                    binds = self.model.bindings_at(mapping)
                    mapping = binds[0].value if len(binds) == 1 and binds[0].target is binds[0].node else None
                if (type(mapping) is cst.Call and type(mapping.func) is cst.Name and mapping.func.value == "dict"
                        and len(mapping.args) == 1 and not mapping.args[0].keyword):
                    source = mapping.args[0].value  # dict(model.named_modules()).items()
                    continue
                break
            name = self.model.resolve(func) or (func.value if type(func) is cst.Name else None)
            tuple_target = type(target) in (cst.Tuple, cst.List)
            if name in ("list", "tuple", "sorted", "reversed") and len(source.args) == 1:
                source = source.args[0].value
            elif name in _WRAPPING_ITERS:
                source = source.args[0].value
            elif name == "enumerate" and tuple_target and len(target.elements) == 2:
                if _contains(target.elements[0].value, node):
                    return None  # the index
                source, target = source.args[0].value, target.elements[1].value
            elif name == "zip" and tuple_target and len(target.elements) == len(source.args):
                index = next((i for i, el in enumerate(target.elements) if _contains(el.value, node)), None)
                if index is None:
                    return None
                source, target = source.args[index].value, target.elements[index].value
            else:
                break
        return source, target

    def _iteration_fact(self, b: S.Binding) -> Optional[KindFact]:
        """What a for / comprehension target holds."""
        item = self.iteration_item(b)
        if item is None:
            return None
        source, target = item
        node = b.node
        src = self.of(source)
        if src is None:
            return None
        index_in_tuple = None
        if type(target) in (cst.Tuple, cst.List):
            index_in_tuple = next((i for i, el in enumerate(target.elements) if _contains(el.value, node)), None)
        if src.kind == DATALOADER:
            # cls "part": one element of an unpacked batch; "whole": the batch object itself (a tensor, a
            # list, a dict or a custom batch class)
            part = "whole" if target is node else "part"
            return KindFact(BATCH, min(src.strength, STRONG), src.reasons + ("loop over a DataLoader",), part)
        if src.kind == PARAM_ITER:
            what, named = MODULE_ITERATORS.get(src.cls or "parameters", ("parameter", False))
            if named and index_in_tuple != 1:
                return None
            if not named and target is not node:
                return None
            kind = {"parameter": PARAMETER, "buffer": TENSOR, "module": MODULE}[what]
            return KindFact(kind, src.strength, src.reasons)
        return None

    def _is_foreign_value(self, value) -> bool:
        if type(value) is cst.Call:
            q = self.model.resolve(value.func)
            if q is None and type(value.func) is cst.Attribute:
                q = self.model.resolve(value.func.value)
            return bool(q) and q.split(".", 1)[0] in FOREIGN_ROOTS
        return False

    # ------------------------------------------------------------------ evidence from uses
    def evidence_from_uses(self, scope: S.Scope, name: str) -> Optional[KindFact]:
        """What the uses of ``name`` in ``scope`` (and the scopes nested in it) show it holds."""
        key = (id(scope), name)
        if key in self._evidence_memo:
            return self._evidence_memo[key]
        self._evidence_memo[key] = None
        found: dict[str, list] = {}
        contradiction = False
        for use in self.model.uses_in(scope, name):
            how, attr = use.how, use.attr
            if how == S.METHOD:
                if attr == "apply" and not _one_positional(use.parent):
                    contradiction = True  # nn.Module.apply(fn); flax's model.apply(params, x) is not torch
                elif attr in MODULE_ONLY_METHODS:
                    found.setdefault(MODULE, []).append(f".{attr}() called on it")
                elif attr in OPTIMIZER_ONLY:
                    found.setdefault(OPTIMIZER, []).append(f".{attr}() called on it")
                elif attr in TENSOR_ONLY_METHODS:
                    found.setdefault(TENSOR, []).append(f".{attr}() called on it")
                elif attr in CONTRADICTING_METHODS:
                    contradiction = True
            elif how == S.ATTR:
                if attr in OPTIMIZER_ONLY:
                    found.setdefault(OPTIMIZER, []).append(f".{attr} read")
                elif attr in DATALOADER_ATTRS:
                    found.setdefault(DATALOADER, []).append(f".{attr} read")
                elif attr in TENSOR_ONLY_ATTRS:
                    found.setdefault(TENSOR, []).append(f".{attr} read")
                elif attr in CONTRADICTING_METHODS:
                    contradiction = True
            elif how == S.ARG:
                callee = self.model.resolve(use.parent.func) if use.parent is not None else None
                if callee is None:
                    continue
                if callee in WRAPPER_CLASSES and use.arg_index == 0:
                    found.setdefault(MODULE, []).append(f"passed to {callee}")
                elif callee.startswith("torch.optim.lr_scheduler.") and (use.arg_index == 0 or use.keyword == "optimizer"):
                    found.setdefault(OPTIMIZER, []).append(f"passed to {callee}")
            elif how == S.ITER:
                continue
        if contradiction or len(found) != 1:
            self._evidence_memo[key] = None
            return None
        kind, reasons = next(iter(found.items()))
        strength = WEAK if self.foreign_file else STRONG
        fact = KindFact(kind, strength, reasons)
        self._evidence_memo[key] = fact
        return fact

    def _call_site_fact(self, b: S.Binding) -> Optional[KindFact]:
        """A parameter of a local function whose every call site in the file passes a proven kind."""
        func = b.scope.node
        if type(func) is not cst.FunctionDef or b.scope.self_name is not None:
            return None
        params = list(S._all_params(func.params))
        try:
            index = next(i for i, p in enumerate(params) if p is b.node)
        except StopIteration:
            return None
        param = params[index]
        if param in (func.params.star_arg, func.params.star_kwarg) or param in func.params.kwonly_params:
            positional = None
        else:
            positional = index
        calls = self.model.calls_of_function(func)
        if not calls:
            return None
        facts = []
        for call in calls:
            value = None
            for i, arg in enumerate(call.args):
                if arg.star:
                    return None
                if arg.keyword is not None and arg.keyword.value == b.name:
                    value = arg.value
                elif arg.keyword is None and positional is not None and i == positional:
                    value = arg.value
            if value is None:
                return None
            fact = self.of(value)
            if fact is None or fact.strength < PROVEN:
                return None
            facts.append(fact)
        fact = join(facts)
        if fact is None:
            return None
        return KindFact(fact.kind, STRONG, fact.reasons + ("every call site passes it",), fact.cls)

    # ------------------------------------------------------------------ calls
    def _call(self, node: cst.Call) -> Optional[KindFact]:
        model = self.model
        func = node.func
        qualified = model.resolve(func)
        if qualified is not None:
            fact = constructor_fact(qualified)
            if fact is not None:
                return fact
            if qualified == "copy.deepcopy" and node.args:
                inner = self.of(node.args[0].value)
                return inner if inner is not None and inner.kind == MODULE else None
            if qualified.startswith("torchvision.models.") and qualified.rsplit(".", 1)[-1][:1].islower():
                return KindFact(MODULE, PROVEN, (f"{qualified}()",))
            if qualified.endswith(".from_pretrained"):
                owner = qualified[: -len(".from_pretrained")]
                if owner.startswith("transformers."):
                    last = owner.rsplit(".", 1)[-1]
                    if not any(w in last for w in _PRETRAINED_NON_MODELS) and "Model" in last:
                        return KindFact(MODULE, PROVEN, (f"{owner}.from_pretrained",))
                sibling = model.project_class_is_module(owner)
                if sibling:
                    return KindFact(MODULE, PROVEN, (f"{owner}.from_pretrained",), owner)
                return None
            sibling = model.project_fact(qualified)
            if sibling is not None:
                return sibling
            return None
        ftype = type(func)
        if ftype is cst.Name:
            target = model.local_callable(func)
            if target is None:
                return None
            if type(target) is cst.ClassDef:
                if model.classes.is_module_class(target):
                    return KindFact(MODULE, PROVEN, (f"{target.name.value}(...): a Module class",), target.name.value)
                return None
            return self.return_fact(target)
        if ftype is cst.Attribute:
            method = func.attr.value
            receiver = func.value
            if method == "from_pretrained" and type(receiver) is cst.Name:
                target = model.local_callable(receiver)
                if type(target) is cst.ClassDef and model.classes.is_module_class(target):
                    return KindFact(MODULE, PROVEN, ("from_pretrained of a Module class",), target.name.value)
                return None
            if type(receiver) is cst.Name:
                use = model.use_of(receiver)
                if use is not None and use.scope.self_name == receiver.value:
                    method_node = model.method_of_self(use, method)
                    if method_node is not None:
                        return self.return_fact(method_node)
            rfact = self.of(receiver)
            if rfact is None:
                if method in MODULE_ITERATORS and type(receiver) is not cst.Name and not self.foreign_file:
                    # ``self.backbone.parameters()``: the call itself is Module-only API (for a name, the
                    # uses already spoke, and an unknown answer there means contradicting evidence)
                    return KindFact(PARAM_ITER, STRONG, (f".{method}() called on it",), method)
                return None
            if rfact.kind == MODULE:
                if method in MODULE_SELF_METHODS:
                    return rfact
                if method in MODULE_ITERATORS:
                    return KindFact(PARAM_ITER, rfact.strength, rfact.reasons, method)
                if method == "state_dict":
                    return KindFact(STATE_DICT, rfact.strength, rfact.reasons)
                return None
            if rfact.kind in (TENSOR, PARAMETER, BATCH):
                if method == "type" and not node.args:
                    return None  # .type() without arguments returns a str
                if method in torch_facts.TENSOR_METHODS or method == "type":
                    return KindFact(TENSOR, rfact.strength if rfact.kind != BATCH else min(rfact.strength, STRONG),
                                    rfact.reasons)
        return None

    def return_fact(self, func: cst.FunctionDef) -> Optional[KindFact]:
        key = id(func)
        if key in self._return_memo:
            return self._return_memo[key]
        self._return_memo[key] = None  # recursion guard
        fact = None
        if func.returns is not None:
            fact = self.annotation_fact(func.returns.annotation)
        if fact is None:
            values = self.model.returns_of(func)
            if values and all(v is not None for v in values):
                facts = [self.of(v) for v in values]
                joined = join(facts)
                if joined is not None and joined.strength >= PROVEN and joined.kind != FOREIGN:
                    fact = KindFact(joined.kind, PROVEN, joined.reasons + (f"returned by {func.name.value}()",),
                                    joined.cls)
        self._return_memo[key] = fact
        return fact

    # ------------------------------------------------------------------ attributes
    def _attribute(self, node: cst.Attribute) -> Optional[KindFact]:
        owner = node.value
        model = self.model
        if type(owner) is cst.Name:
            use = model.use_of(owner)
            if use is not None and use.scope.self_name == owner.value and use.scope.class_node is not None:
                return self.self_attr_fact(use.scope.class_node, node.attr.value)
        ofact = self.of(owner)
        if ofact is not None and ofact.kind == MODULE and ofact.cls and "." not in ofact.cls:
            cls_node = model.module_class(ofact.cls)  # model.fc of an in-file Module class
            if cls_node is not None:
                attr_fact = self.self_attr_fact(cls_node, node.attr.value)
                if attr_fact is not None:
                    return attr_fact.weaker(ofact.strength)
        if node.attr.value in LAYER_PARAMETER_ATTRS:
            if ofact is not None and ofact.kind == MODULE and ofact.cls in torch_facts.MODULES_WITH_PARAMETERS:
                return KindFact(PARAMETER, ofact.strength, ofact.reasons + (f".{node.attr.value} of a layer",))
        return None

    def self_attr_fact(self, cls: cst.ClassDef, attr: str) -> Optional[KindFact]:
        key = (id(cls), attr)
        memo = self._attr_fact_memo
        if key not in memo:
            memo[key] = None  # recursion guard
            memo[key] = self._self_attr_fact(cls, attr)
        return memo[key]

    def _self_attr_fact(self, cls: cst.ClassDef, attr: str) -> Optional[KindFact]:
        table = self._attr_memo.get(id(cls))
        if table is None:
            table = self._attr_memo[id(cls)] = {}
            assigned = self.model.self_assignments(cls)
            for name, values in assigned.items():
                table[name] = values
        values = table.get(attr)
        if not values:
            return None
        facts = []
        for value in values:
            if value is None:
                return None
            if type(value) is str:
                facts.append(KindFact(value, PROVEN, ("registered",)))
                continue
            if type(value) is cst.Name and value.value == "None":
                continue
            fact = self.of(value)
            if fact is None:
                return None
            facts.append(fact)
        return join(facts)

    # ------------------------------------------------------------------ annotations
    def annotation_fact(self, ann) -> Optional[KindFact]:
        ann = _unwrap_annotation(ann, self.model)
        if ann is None:
            return None
        if type(ann) is cst.SimpleString:
            try:
                text = ann.evaluated_value
                parsed = cst.parse_expression(text) if isinstance(text, str) and len(text) < 200 else None
            except Exception:
                parsed = None
            if parsed is None:
                return None
            ann = _unwrap_annotation(parsed, self.model)
            if ann is None:
                return None
            qualified = self.model.resolve_global(ann)
            if qualified is None and type(ann) is cst.Name:
                target = self.model.module_class(ann.value)
                if target is not None and self.model.classes.is_module_class(target):
                    return KindFact(MODULE, PROVEN, ("annotated with a Module class",), ann.value)
        else:
            qualified = self.model.resolve(ann, typing=True)
            if qualified is None and type(ann) is cst.Name:
                target = self.model.local_callable(ann)
                if type(target) is cst.ClassDef and self.model.classes.is_module_class(target):
                    return KindFact(MODULE, PROVEN, ("annotated with a Module class",), ann.value)
        if qualified is None:
            return None
        fact = annotation_kind_of_name(qualified)
        if fact is None and self.model.project_class_is_module(qualified):
            fact = KindFact(MODULE, PROVEN, (f"annotated {qualified}",), qualified)
        return fact


def _unwrap_annotation(ann, model):
    """``Optional[X]``, ``Union[X, None]``, ``X | None`` -> X; other unions of one torch kind are kept
    only when every member agrees, which the caller cannot see: they are refused (None)."""
    while True:
        cls = type(ann)
        if cls is cst.Subscript:
            head = model.resolve(ann.value, typing=True) or ""
            elems = [e.slice.value for e in ann.slice if type(e.slice) is cst.Index]
            if head in ("typing.Optional", "typing_extensions.Optional") and len(elems) == 1:
                ann = elems[0]
                continue
            if head in ("typing.Union", "typing_extensions.Union"):
                rest = [e for e in elems if not _is_none(e)]
                if len(rest) == 1:
                    ann = rest[0]
                    continue
            return None
        if cls is cst.BinaryOperation and type(ann.operator) is cst.BitOr:
            if _is_none(ann.right):
                ann = ann.left
                continue
            if _is_none(ann.left):
                ann = ann.right
                continue
            return None
        return ann


def _is_none(node) -> bool:
    return type(node) is cst.Name and node.value == "None"


def _is_none_placeholder(b: S.Binding, others) -> bool:
    """``x = None`` beside other bindings: a placeholder that does not change what ``x`` holds."""
    return (b.form == S.ASSIGN and b.value is not None and _is_none(b.value) and len(others) > 1)


def _one_positional(call) -> bool:
    return type(call) is cst.Call and len(call.args) == 1 and call.args[0].keyword is None and not call.args[0].star


def _contains(tree, node) -> bool:
    if tree is node:
        return True
    if type(tree) in (cst.Tuple, cst.List):
        return any(_contains(el.value, node) for el in tree.elements)
    if type(tree) is cst.StarredElement:
        return _contains(tree.value, node)
    return False
