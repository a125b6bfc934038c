"""How a Module class uses its own attributes at run time (issue 12: rules that fire on consequences).

- ``forward_methods(ctx, cls)``: ``forward`` (the class's own or an in-file ancestor's) and every method it calls
  on ``self``, transitively: the code that runs when the module is called.
- ``attr_meets_input(ctx, cls, attr)``: somewhere in those methods ``self.<attr>`` is read as a tensor, not moved
  or cast on the spot (``.to(x.device)``, ``.type_as(x)``, ``.cuda()``, ``.item()``, ...), not only in Python
  control flow (``if``, ``is None``, ``len()``), and meets a value derived from the method's arguments (or a
  local computed from the read does): that is where a tensor left on the wrong device or dtype breaks.
- ``reassigned_placed(cls, attr)``: a method that does not build the module assigns ``self.<attr>`` a value the
  code places itself (``... .to(...)``, ``device=``): the first value is a placeholder.
- ``mapped_by_apply(ctx, attr)``: a class of the file overrides ``_apply`` and handles ``.<attr>`` there, so
  ``.to()`` / ``.half()`` reach it.

Every answer is memoised per class (or per file) for the file being linted; nothing is kept between files.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from .nodes import children, iter_small_statements, self_attribute, walk

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Context

# Methods whose result is placed (device or dtype) by the code itself, or leaves tensor land.
PLACING_METHODS = frozenset({"to", "type_as", "cuda", "cpu", "type", "item", "tolist", "numpy", "new_tensor",
                             "to_dense", "expand_as", "view_as", "reshape_as"})
# Reads that only inspect the tensor (shape, device, dtype, flags), never combine it with another one.
_INSPECTIONS = frozenset({"shape", "device", "dtype", "size", "dim", "ndim", "numel", "is_cuda", "requires_grad",
                          "is_complex", "is_floating_point", "nelement", "data_ptr", "stride", "__len__"})
_CONTROL_FUNCTIONS = frozenset({"len", "bool", "int", "float", "isinstance", "id", "type", "hasattr", "print",
                                "str", "repr", "enumerate", "zip", "range", "list", "tuple", "iter"})


def _memo(ctx: "Context", key):
    memo = getattr(ctx, "_usage_memo", None)
    if memo is None:
        memo = {}
        try:
            ctx._usage_memo = memo
        except AttributeError:  # a context class with __slots__: no memo, still correct
            return {}
    return memo


def _self_name(func: cst.FunctionDef) -> Optional[str]:
    params = func.params.posonly_params or func.params.params
    if not params:
        return None
    if any(isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod")
           for d in func.decorators):
        return None
    return params[0].name.value


def class_methods(ctx: "Context", cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    """Methods of the class and of its in-file ancestors (the class's own win)."""
    memo = _memo(ctx, None)
    key = ("methods", id(cls))
    hit = memo.get(key)
    if hit is not None and hit[0] is cls:
        return hit[1]
    methods: dict[str, cst.FunctionDef] = {}
    seen: set[int] = set()
    todo = [cls]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        for stmt in current.body.body:
            if isinstance(stmt, cst.FunctionDef):
                methods.setdefault(stmt.name.value, stmt)
        for base in current.bases:
            value = base.value.value if isinstance(base.value, cst.Subscript) else base.value
            if isinstance(value, cst.Name):
                parent = ctx.classes.class_named(value.value)
                if parent is not None and parent is not current:
                    todo.append(parent)
    memo[key] = (cls, methods)
    return methods


def forward_methods(ctx: "Context", cls: cst.ClassDef) -> list[cst.FunctionDef]:
    """``forward`` and the methods it calls on self, transitively; [] when the class has no known forward."""
    memo = _memo(ctx, None)
    key = ("forward", id(cls))
    hit = memo.get(key)
    if hit is not None and hit[0] is cls:
        return hit[1]
    methods = class_methods(ctx, cls)
    result: list[cst.FunctionDef] = []
    done: set[str] = set()
    todo = ["forward"] if "forward" in methods else []
    while todo:
        name = todo.pop()
        if name in done:
            continue
        done.add(name)
        method = methods[name]
        result.append(method)
        self_name = _self_name(method)
        if self_name is None:
            continue
        for sub in ctx.model.calls_in(method):
            if isinstance(sub.func, cst.Attribute) and isinstance(sub.func.value, cst.Name) \
                    and sub.func.value.value == self_name and sub.func.attr.value in methods:
                todo.append(sub.func.attr.value)
    memo[key] = (cls, result)
    return result


def run_by_forward(ctx: "Context", func: cst.FunctionDef) -> bool:
    """``func`` is a plain function (not a method) that the ``forward`` of an in-file Module class runs: called
    by name from one of its :func:`forward_methods`, directly or through other such functions."""
    memo = _memo(ctx, None)
    found = memo.get("run_by_forward")
    if found is None:
        model = ctx.model
        found = set()
        todo = []
        for defs in ctx.classes.by_name.values():
            for cls in defs:
                if ctx.classes.is_module_class(cls):
                    todo.extend(forward_methods(ctx, cls))
        seen = {id(m) for m in todo}
        while todo:
            for call in model.calls_in(todo.pop()):
                if type(call.func) is not cst.Name:
                    continue
                target = model.callee_of(call)
                if target is not None and id(target) not in seen:
                    seen.add(id(target))
                    scope = model.function_scope(target)
                    if scope is not None and scope.class_node is None:
                        found.add(id(target))
                        todo.append(target)
        memo["run_by_forward"] = found
    return id(func) in found


def _parents(func: cst.FunctionDef) -> dict[int, cst.CSTNode]:
    parents: dict[int, cst.CSTNode] = {}
    stack = [func.body]
    while stack:
        node = stack.pop()
        for child in children(node):
            parents[id(child)] = node
            if not isinstance(child, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
                stack.append(child)
    return parents


def _function_facts(ctx: "Context", func: cst.FunctionDef):
    """(parents, input-derived names) of one method, memoised."""
    memo = _memo(ctx, None)
    key = ("facts", id(func))
    hit = memo.get(key)
    if hit is not None and hit[0] is func:
        return hit[1]
    self_name = _self_name(func)
    params = func.params
    tainted = {p.name.value for group in (params.posonly_params, params.params, params.kwonly_params) for p in group}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            tainted.add(star.name.value)
    tainted.discard(self_name)
    for _ in range(2):  # loops can feed names back: two passes reach what matters
        for stmt in _statements(func):
            value, targets = _value_and_targets(stmt)
            if value is not None and _mentions(value, tainted):
                tainted.update(targets)
    facts = (_parents(func), frozenset(tainted))
    memo[key] = (func, facts)
    return facts


def _statements(func: cst.FunctionDef):
    from .nodes import iter_statements

    for stmt in iter_statements(func.body.body, into_functions=False):
        yield stmt


def _value_and_targets(stmt: cst.CSTNode):
    from .nodes import bound_names

    if isinstance(stmt, cst.Assign):
        names = [n for t in stmt.targets for n in bound_names(t.target)]
        return stmt.value, names
    if isinstance(stmt, (cst.AnnAssign, cst.AugAssign)) and stmt.value is not None:
        return stmt.value, list(bound_names(stmt.target))
    if isinstance(stmt, cst.For):
        return stmt.iter, list(bound_names(stmt.target))
    if isinstance(stmt, cst.With):
        names = [n for item in stmt.items if item.asname is not None for n in bound_names(item.asname.name)]
        return (stmt.items[0].item if stmt.items else None), names
    return None, []


def _mentions(node: cst.CSTNode, names) -> bool:
    return any(isinstance(sub, cst.Name) and sub.value in names for sub in walk(node))


def _climb(read: cst.CSTNode, parents: dict[int, cst.CSTNode]):
    """From a read of ``self.x``, the expression that uses the tensor, or None when the read is placed on the spot
    (``self.x.to(d)``, ``self.x[:n].type_as(y)``), only inspected (``self.x.shape``) or only used in control flow."""
    node = read
    while True:
        parent = parents.get(id(node))
        if parent is None:
            return node
        if isinstance(parent, cst.Subscript) and parent.value is node:
            node = parent
            continue
        if isinstance(parent, cst.Attribute) and parent.value is node:
            name = parent.attr.value
            if name in _INSPECTIONS or name in PLACING_METHODS:
                return None
            grand = parents.get(id(parent))
            if isinstance(grand, cst.Call) and grand.func is parent:
                node = grand  # a tensor method: its result is still the attribute's tensor (on its device)
                continue
            return None  # another attribute of the value: not a tensor use
        if isinstance(parent, (cst.If, cst.While, cst.IfExp)) and getattr(parent, "test", None) is node:
            return None
        if isinstance(parent, cst.IfExp) and _places(parent.orelse if parent.body is node else parent.body):
            return None  # x.to(device) if device is not None else self.x: placed whenever a place is given
        if isinstance(parent, (cst.Comparison, cst.BooleanOperation, cst.UnaryOperation)):
            if isinstance(parent, cst.Comparison) and any(
                    isinstance(t.operator, (cst.Is, cst.IsNot, cst.In, cst.NotIn)) for t in parent.comparisons):
                return None
        if isinstance(parent, cst.Arg):
            call = parents.get(id(parent))
            if isinstance(call, cst.Call):
                if isinstance(call.func, cst.Name) and call.func.value in _CONTROL_FUNCTIONS:
                    return None
                if any(a.keyword is not None and a.keyword.value == "device" for a in call.args):
                    return None  # torch.as_tensor(self.x, device=...): placed on the spot
                if isinstance(call.func, cst.Attribute) and call.func.attr.value in PLACING_METHODS:
                    return None  # y.to(self.x)? no: x.new_tensor(self.x) / y.type_as(self.x) use it as a template
        return node


def _places(node: cst.CSTNode) -> bool:
    return any(isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute)
               and sub.func.attr.value in PLACING_METHODS for sub in walk(node))


def _statement_of(node: cst.CSTNode, parents: dict[int, cst.CSTNode]) -> Optional[cst.CSTNode]:
    current = node
    while current is not None:
        if isinstance(current, cst.BaseSmallStatement) or isinstance(current, (cst.If, cst.While, cst.For, cst.With)):
            return current
        current = parents.get(id(current))
    return None


def attr_meets_input(ctx: "Context", cls: cst.ClassDef, attr: str) -> bool:
    """``self.<attr>`` is read in forward (or a method forward calls) as a tensor, without being placed on the
    spot, in an expression that also holds a value derived from the method's arguments (directly or through a
    local computed from the read)."""
    memo = _memo(ctx, None)
    key = ("meets", id(cls), attr)
    hit = memo.get(key)
    if hit is not None and hit[0] is cls:
        return hit[1]
    result = False
    for method in forward_methods(ctx, cls):
        self_name = _self_name(method)
        if self_name is None:
            continue
        parents, tainted = _function_facts(ctx, method)
        if not tainted:
            continue
        carriers: set[str] = set()
        for sub in walk(method.body, into_scopes=False):
            if not (isinstance(sub, cst.Attribute) and sub.attr.value == attr and isinstance(sub.value, cst.Name)
                    and sub.value.value == self_name):
                continue
            parent = parents.get(id(sub))
            if isinstance(parent, cst.AssignTarget):
                continue
            if isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.target is sub:
                continue
            if isinstance(parent, cst.Call) and parent.func is sub:
                continue  # self.attr(...): a callable, not a tensor
            use = _climb(sub, parents)
            if use is None:
                continue
            stmt = _statement_of(use, parents)
            if stmt is None:
                continue
            scope = stmt.test if isinstance(stmt, (cst.If, cst.While)) else \
                stmt.iter if isinstance(stmt, cst.For) else stmt
            if isinstance(stmt, (cst.If, cst.While, cst.For)):
                continue  # the read sits in a test or is iterated in Python: control flow
            if _mentions(scope, tainted):
                result = True
                break
            _value, targets = _value_and_targets(stmt)
            carriers.update(targets)
        if result:
            break
        if carriers:
            result = _carriers_meet_input(method, parents, carriers, tainted)
            if result:
                break
    memo[key] = (cls, result)
    return result


def _carriers_meet_input(method: cst.FunctionDef, parents, carriers: set, tainted) -> bool:
    """A local computed from the read meets an input-derived value in a later statement, unplaced."""
    others = set(tainted) - carriers
    for sub in walk(method.body, into_scopes=False):
        if isinstance(sub, cst.Name) and sub.value in carriers:
            parent = parents.get(id(sub))
            if isinstance(parent, cst.AssignTarget):
                continue
            use = _climb(sub, parents)
            if use is None:
                continue
            stmt = _statement_of(use, parents)
            if stmt is None or isinstance(stmt, (cst.If, cst.While, cst.For)):
                continue
            scope = stmt
            if _mentions(scope, others):
                return True
    return False


def reassigned_placed(cls: cst.ClassDef, attr: str, init_methods) -> bool:
    """A method outside ``init_methods`` assigns ``self.<attr>`` a value it places itself (ends in ``.to(...)``,
    ``.cuda()``, ``.type_as(...)``, or is created with ``device=``) or a value computed from its arguments (a
    cache of run-time data): the value set while building is a placeholder."""
    for method in cls.body.body:
        if not isinstance(method, cst.FunctionDef) or method.name.value in init_methods:
            continue
        self_name = _self_name(method)
        if self_name is None:
            continue
        params = method.params
        arguments = {p.name.value for group in (params.posonly_params, params.params, params.kwonly_params)
                     for p in group} - {self_name}
        for small in iter_small_statements(method.body.body, into_functions=False):
            if isinstance(small, cst.Assign) and any(self_attribute(t.target, self_name) == attr
                                                     for t in small.targets):
                if placed_value(small.value) or _mentions(small.value, arguments):
                    return True
    return False


def placed_value(value: cst.BaseExpression) -> bool:
    """The value is placed by the code itself: ``... .to(...)``, ``.cuda()``, ``.type_as(x)``, ``device=``."""
    while isinstance(value, cst.Subscript):
        value = value.value
    if not isinstance(value, cst.Call):
        return False
    if isinstance(value.func, cst.Attribute) and value.func.attr.value in ("to", "cuda", "type_as", "cpu"):
        return True
    return any(a.keyword is not None and a.keyword.value == "device" for a in value.args)


def mapped_by_apply(ctx: "Context", module: cst.Module, attr: str) -> bool:
    """A class of the file overrides ``_apply(fn)`` and handles ``.<attr>`` there."""
    memo = _memo(ctx, None)
    key = ("apply", id(module))
    hit = memo.get(key)
    if hit is None or hit[0] is not module:
        names: set[str] = set()
        for cls in (c for defs in ctx.classes.by_name.values() for c in defs):
            for stmt in cls.body.body:
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == "_apply":
                    names.update(sub.attr.value for sub in walk(stmt.body) if isinstance(sub, cst.Attribute))
        hit = memo[key] = (module, frozenset(names))
    return attr in hit[1]


def is_complex_value(ctx: "Context", value: cst.BaseExpression) -> bool:
    """The expression builds a complex tensor (``torch.polar``, ``view_as_complex``, a complex dtype, ``1j``)."""
    for sub in walk(value):
        if isinstance(sub, cst.Imaginary):
            return True
        if isinstance(sub, (cst.Attribute, cst.Name)):
            name = sub.attr.value if isinstance(sub, cst.Attribute) else sub.value
            if name in ("polar", "view_as_complex", "complex", "cfloat", "cdouble", "chalf", "complex32",
                        "complex64", "complex128"):
                return True
    return False


def before_super_init(ctx: "Context", func: cst.FunctionDef, stmt: cst.CSTNode) -> bool:
    """In ``__init__``, the statement runs before ``super().__init__()`` / ``Base.__init__(self)`` (or there is no
    such call): ``register_buffer`` there would raise."""
    if func.name.value != "__init__":
        return False
    for sub in walk(func.body, into_scopes=False):
        if sub is stmt:
            return True
        if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) and sub.func.attr.value == "__init__":
            return False
    return False


# Calls on a module that let other code run around its forward (hooks, parametrizations, prune, apply(fn)).
_HOOKING_METHODS = frozenset({"register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
                              "register_backward_hook", "register_full_backward_pre_hook", "apply",
                              "register_module", "add_module", "register_parametrization"})


def unescaped_local_module(ctx: "Context", func: cst.FunctionDef, name: str) -> bool:
    """``name`` is a local of ``func`` bound only to Module constructions made there, and has not escaped: it is
    never passed to a call, stored, returned, yielded, captured by a nested scope, or given a hook, so no hook can
    be registered on it (calling its ``forward`` directly skips nothing)."""
    params = func.params
    if any(p.name.value == name for group in (params.posonly_params, params.params, params.kwonly_params)
           for p in group):
        return False
    parents = _parents(func)
    bound = False
    for sub in walk(func.body):
        if isinstance(sub, (cst.Global, cst.Nonlocal)) and any(n.name.value == name for n in sub.names):
            return False
        if isinstance(sub, (cst.FunctionDef, cst.Lambda, cst.ClassDef)) and sub is not func:
            if any(isinstance(n, cst.Name) and n.value == name for n in walk(sub)):
                return False
            continue
        if not (isinstance(sub, cst.Name) and sub.value == name):
            continue
        parent = parents.get(id(sub))
        if parent is None:
            return False
        if isinstance(parent, cst.AssignTarget):
            assign = parents.get(id(parent))
            if not (isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Call)
                    and _hookless_construction(ctx, assign.value)):
                return False
            bound = True
            continue
        if isinstance(parent, cst.Attribute) and parent.value is sub:
            if parent.attr.value in _HOOKING_METHODS:
                return False
            grand = parents.get(id(parent))
            if isinstance(grand, (cst.AssignTarget, cst.AugAssign)):
                continue  # name.attr = ...: the module stays here
            continue  # name.forward(...), name.eval(), name.weight: uses that keep it local
        return False  # passed, stored, returned, compared, called as name(x) (fine, but not what we look for)
    return bound


def _hookless_construction(ctx: "Context", call: cst.Call) -> bool:
    """A Module construction whose class registers no hook on itself while it is built (lazy modules do)."""
    cls_name = ctx.kinds.module_class_of(call.func)
    if cls_name is None or "Lazy" in cls_name.rsplit(".", 1)[-1]:
        return False
    local = ctx.classes.class_named(cls_name) if "." not in cls_name else None
    if local is not None and any(isinstance(sub, cst.Attribute) and sub.attr.value.startswith("register_")
                                 and "hook" in sub.attr.value for sub in walk(local)):
        return False
    return True


def only_raises(func: cst.FunctionDef) -> bool:
    """The method's body is a ``raise`` (after an optional docstring): calling it is refused on purpose."""
    body = func.body.body if isinstance(func.body, cst.IndentedBlock) else [func.body]
    if not all(isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) for stmt in body):
        return False
    smalls = [small for stmt in body for small in stmt.body]
    if smalls and isinstance(smalls[0], cst.Expr) and isinstance(smalls[0].value, (cst.SimpleString,
                                                                                   cst.ConcatenatedString)):
        smalls = smalls[1:]
    return len(smalls) == 1 and isinstance(smalls[0], cst.Raise)


def forwards_to_public_method(func: cst.FunctionDef) -> bool:
    """The method's body only returns ``self.<public method>(...)`` (after an optional docstring)."""
    self_name = _self_name(func)
    body = func.body.body if isinstance(func.body, cst.IndentedBlock) else [func.body]
    smalls = []
    for stmt in body:
        if not isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return False
        smalls.extend(stmt.body)
    if smalls and isinstance(smalls[0], cst.Expr) and isinstance(smalls[0].value, (cst.SimpleString,
                                                                                   cst.ConcatenatedString)):
        smalls = smalls[1:]
    if len(smalls) != 1 or not isinstance(smalls[0], (cst.Return, cst.Expr)):
        return False
    call = smalls[0].value
    return (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
            and isinstance(call.func.value, cst.Name) and call.func.value.value == self_name
            and not call.func.attr.value.startswith("_") and call.func.attr.value != "forward")


def first_argument_is_module(ctx: "Context", func: cst.FunctionDef) -> bool:
    """The method's first argument after ``self`` is another Module: annotated with a Module class, or the body
    applies one of its attributes that is not a tensor method to another argument (``attn.to_q(hidden_states)``),
    as attention "processor" objects called as ``processor(attn, hidden_states, ...)`` do."""
    from .. import torch_facts

    params = list(func.params.posonly_params) + list(func.params.params)
    if len(params) < 2:
        return False
    first = params[1]
    if first.annotation is not None:
        ann = first.annotation.annotation
        if isinstance(ann, cst.SimpleString):
            try:
                ann = cst.parse_expression(ann.evaluated_value)
            except Exception:  # not an expression: unknown
                return False
        if ctx.kinds.module_class_of(ann) is not None or ctx.resolve(ann) == "torch.nn.Module":
            return True
    name = first.name.value
    others = {p.name.value for p in params[2:]} | {p.name.value for p in func.params.kwonly_params}
    for sub in walk(func.body, into_scopes=False):
        if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                and isinstance(sub.func.value, cst.Name) and sub.func.value.value == name \
                and sub.func.attr.value not in torch_facts.TENSOR_METHODS \
                and any(isinstance(a.value, cst.Name) and a.value.value in others for a in sub.args):
            return True
    return False


def places_itself_in_forward(ctx: "Context", class_name: str) -> bool:
    """An in-file Module class whose forward moves its own state to the input's device (``self.to(x.device)``,
    ``self.resampler.to(x.device)`` as a statement) and holds no known parameter: a stateless transform that
    ``.to(device)`` need not reach."""
    cls = ctx.classes.class_named(class_name)
    if cls is None or ctx.kinds.class_has_parameters(class_name) is True:
        return False
    for method in forward_methods(ctx, cls):
        self_name = _self_name(method)
        for small in iter_small_statements(method.body.body, into_functions=False):
            if not (isinstance(small, cst.Expr) and isinstance(small.value, cst.Call)):
                continue
            call = small.value
            if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "to" and call.args):
                continue
            owner = call.func.value
            while isinstance(owner, cst.Attribute):
                owner = owner.value
            arg = call.args[0].value
            if isinstance(owner, cst.Name) and owner.value == self_name and isinstance(arg, cst.Attribute) \
                    and arg.attr.value == "device":
                return True
    return False


__all__ = ["PLACING_METHODS", "attr_meets_input", "before_super_init", "class_methods", "first_argument_is_module",
           "forward_methods", "forwards_to_public_method", "is_complex_value", "mapped_by_apply", "only_raises",
           "placed_value", "places_itself_in_forward", "reassigned_placed", "unescaped_local_module"]
