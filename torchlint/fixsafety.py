"""The fix-safety contract: a fix says what it changes, and is offered only as safe as the code shows it to be.

A rule builds its edit by editing the parsed tree (``node.with_changes(...)``, so comments and formatting inside
survive) and hands it to :func:`offer` with verdicts on what the edit changes, each ``(SAFE | UNSAFE | NO, reason)``:

- a name it writes: :func:`name_for` / :func:`expr_for` give the text naming ``torch.nn`` (or any dotted name)
  through a binding visible at the fix site at run time (the semantic model's ``local_name_for``: a local
  ``nn = 3``, an import only in another function or only under ``if TYPE_CHECKING:``, a parameter named
  ``init`` do not count); no text, no fix;
- ``self`` it writes: :func:`self_verdict` - the site is in the body of a method whose first parameter is the
  Module (not a static or class method, also not one made by assignment in the class body, not a decorator, a
  default value or the class body, not a nested scope that rebinds the name);
- a container type it changes: :func:`container_change` - every element is of the kind the ``nn`` container
  requires, every use of the attribute (and of its aliases, of other attributes it is stored in, of parameters
  of in-file functions it is passed to) is supported by the replacement, dictionary keys are valid, a local list
  is not used after it is copied;
- a registration it adds: :func:`registration_problem` (``register_buffer`` would raise or name another
  attribute); a comprehension it introduces: :func:`comprehension_sees` (class bodies).

:func:`offer` also refuses a replacement that drops a comment of the node it replaces. The weakest verdict
wins: ``NO`` drops the fix, ``UNSAFE`` downgrades it (the reason is added to its description).

Nothing here imports torch. The torch facts below are checked against torch by tests/test_fixsafety.py.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Optional, Sequence

import libcst as cst

from .facts.nodes import FIELD_CACHE, LEAF_CLASSES, NODE_CLASSES, bound_names, child_fields, children, walk
from .rule import SAFE, UNSAFE, Fix

if TYPE_CHECKING:  # pragma: no cover
    from .context import Context

_DEBUG = bool(os.environ.get("TORCHLINT_FIXSAFETY_DEBUG"))
NO = None  # verdict: no fix
Verdict = tuple  # (SAFE | UNSAFE | NO, reason)
OK: Verdict = (SAFE, "")


# ---------------------------------------------------------------------------------------------- torch facts
@dataclass(frozen=True)
class Wrapper:
    """What an ``nn`` container supports of the plain container it replaces."""

    name: str
    kind: str  # "list" or "dict"
    item: str  # kind every element must have ("module" / "parameter")
    # method -> (min positional args, max positional args, index of an added element or None, that arg is iterable)
    methods: dict
    del_index: bool
    del_slice: bool


_LIST_COMMON = {"append": (1, 1, 0, False), "extend": (1, 1, 0, True)}
WRAPPERS = {
    "ModuleList": Wrapper("ModuleList", "list", "module",
                          {**_LIST_COMMON, "insert": (2, 2, 1, False), "pop": (1, 1, None, False)}, True, True),
    "ParameterList": Wrapper("ParameterList", "list", "parameter", dict(_LIST_COMMON), False, False),
    "ModuleDict": Wrapper("ModuleDict", "dict", "module",
                          {"items": (0, 0, None, False), "keys": (0, 0, None, False), "values": (0, 0, None, False),
                           "pop": (1, 1, None, False), "update": (1, 1, 0, True), "clear": (0, 0, None, False)},
                          True, False),
    "ParameterDict": Wrapper("ParameterDict", "dict", "parameter",
                             {"items": (0, 0, None, False), "keys": (0, 0, None, False),
                              "values": (0, 0, None, False), "pop": (1, 1, None, False),
                              "update": (1, 1, 0, True), "clear": (0, 0, None, False), "get": (1, 2, None, False),
                              "setdefault": (2, 2, 1, False), "popitem": (0, 0, None, False)},
                             True, False),
}

# Public attributes of an nn.ModuleDict / nn.ParameterDict instance (nn.Module's API and the containers' own
# methods): a key equal to one of them is refused by torch ("attribute 'train' already exists") or breaks the
# module ("training"). Keys starting with "_" are refused too (torch's private attributes change between versions).
MODULE_ATTRIBUTES = frozenset({
    "T_destination", "add_module", "append", "apply", "bfloat16", "buffers", "call_super_init", "children", "clear",
    "compile", "copy", "cpu", "cuda", "double", "dump_patches", "eval", "extend", "extra_repr", "float", "forward",
    "fromkeys", "get", "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "insert", "ipu",
    "items", "keys", "load_state_dict", "modules", "mtia", "named_buffers", "named_children", "named_modules",
    "named_parameters", "parameters", "pop", "popitem", "register_backward_hook", "register_buffer",
    "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_full_backward_pre_hook", "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook",
    "register_module", "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "setdefault", "share_memory", "state_dict", "to",
    "to_empty", "train", "training", "type", "update", "values", "xpu", "zero_grad",
})

# Private attributes of an nn.Module instance (torch 2.x): register_buffer("_buffers", ...) raises KeyError.
MODULE_PRIVATE_ATTRIBUTES = frozenset({
    "_apply", "_backward_hooks", "_backward_pre_hooks", "_buffers", "_call_impl", "_compiled_call_impl",
    "_forward_hooks", "_forward_hooks_always_called", "_forward_hooks_with_kwargs", "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs", "_get_backward_hooks", "_get_backward_pre_hooks", "_get_name",
    "_is_full_backward_hook", "_load_from_state_dict", "_load_state_dict_post_hooks", "_load_state_dict_pre_hooks",
    "_maybe_warn_non_full_backward_hook", "_modules", "_named_members", "_non_persistent_buffers_set",
    "_parameters", "_register_load_state_dict_pre_hook", "_register_state_dict_hook",
    "_replicate_for_data_parallel", "_save_to_state_dict", "_slow_forward", "_state_dict_hooks",
    "_state_dict_pre_hooks", "_version", "_wrapped_call_impl",
})

# Builtins that only iterate over (or take the length of) their container arguments.
_ITERATING_BUILTINS = frozenset({"len", "iter", "enumerate", "zip", "list", "tuple", "reversed", "sorted", "any",
                                 "all", "map", "filter", "set", "frozenset", "dict", "bool", "sum", "min", "max"})


def dict_key_problem(key: object) -> Optional[str]:
    """Why ``key`` cannot be a key of nn.ModuleDict / nn.ParameterDict, or None when it can."""
    if not isinstance(key, str):
        return f"key {key!r} is not a str"
    if not key:
        return "empty key"
    if "." in key:
        return f"key {key!r} contains '.'"
    if key.startswith("_") or key in MODULE_ATTRIBUTES:
        return f"key {key!r} is an attribute of nn.Module"
    return None


# ---------------------------------------------------------------------------------------------- per-file index
class _Index:
    """Parent links, Attribute nodes by name, and binding tables per scope: built once per file, on demand
    (the binding tables per scope, the parent links only when a question needs them)."""

    def __init__(self, root: cst.CSTNode) -> None:
        self.root = root
        self._tables: dict[int, tuple[dict, bool]] = {}
        self._built = False

    def __getattr__(self, name: str):
        if name in ("parent", "attributes", "order") and not self._built:
            self._build()
            return getattr(self, name)
        raise AttributeError(name)

    def _build(self) -> None:
        self._built = True
        self.parent: dict[int, cst.CSTNode] = {}
        self.attributes: dict[str, list[cst.Attribute]] = {}
        self.order: dict[int, int] = {}
        parent, attributes, order = self.parent, self.attributes, self.order
        classes, leaves, fields_of = NODE_CLASSES, LEAF_CLASSES, FIELD_CACHE
        attribute = cst.Attribute
        stack = [self.root]
        n = 0
        while stack:  # children() inlined, leaves not looked into: this walks every node of the file
            node = stack.pop()
            order[id(node)] = n
            n += 1
            kind = type(node)
            if kind in leaves:
                continue
            if kind is attribute:
                attributes.setdefault(node.attr.value, []).append(node)
            kids = []
            for name in fields_of.get(kind) or child_fields(kind):
                value = getattr(node, name)
                vkind = type(value)
                if vkind in classes:
                    kids.append(value)
                elif vkind is tuple or vkind is list:
                    kids.extend(item for item in value if type(item) in classes)
            for child in kids:
                parent[id(child)] = node
            kids.reverse()
            stack.extend(kids)

    def ancestors(self, node: cst.CSTNode) -> Optional[list]:
        """Root ... node, or None when the node is not in this tree."""
        chain = [node]
        parent = self.parent
        while chain[-1] is not self.root:
            up = parent.get(id(chain[-1]))
            if up is None:
                return None
            chain.append(up)
        chain.reverse()
        return chain

    def table(self, scope: cst.CSTNode) -> tuple[dict, bool]:
        hit = self._tables.get(id(scope))
        if hit is None:
            hit = self._tables[id(scope)] = _binding_table(scope)
        return hit


def _index(ctx: "Context") -> _Index:
    index = getattr(ctx, "_fixsafety_index", None)
    if index is None:
        root = ctx.stack[0] if ctx.stack else None
        if root is None:
            raise RuntimeError("fixsafety: no tree")
        index = _Index(root)
        ctx._fixsafety_index = index
    return index


def _ancestors(ctx: "Context", node: cst.CSTNode) -> Optional[list]:
    stack = ctx.stack
    if stack and stack[-1] is node:
        return list(stack)
    if stack:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is node:
                return list(stack[: i + 1])
        path = _path_to(stack[-1], node, 4000)
        if path is not None:
            return list(stack[:-1]) + path
    return _index(ctx).ancestors(node)


def _path_to(top: cst.CSTNode, node: cst.CSTNode, budget: int) -> Optional[list]:
    """Path top ... node through code-bearing children (bounded search), else None."""
    todo = [(top, [top])]
    while todo and budget > 0:
        current, path = todo.pop()
        budget -= 1
        if current is node:
            return path
        for child in children(current):
            todo.append((child, path + [child]))
    return None


# ---------------------------------------------------------------------------------------------- scopes
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)


def _is_type_checking(test: cst.BaseExpression) -> bool:
    return (isinstance(test, cst.Name) and test.value == "TYPE_CHECKING") or (
        isinstance(test, cst.Attribute) and test.attr.value == "TYPE_CHECKING")


def _import_bindings(node, bind) -> None:
    from .facts.imports import dotted_name

    if isinstance(node, cst.Import):
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                bind(alias.asname.name.value, full)
            else:
                head = full.split(".", 1)[0]
                bind(head, head)
    elif isinstance(node, cst.ImportFrom):
        if isinstance(node.names, cst.ImportStar):
            return
        module = dotted_name(node.module) if node.module is not None else ""
        base = "." * len(node.relative) + (module or "")
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            local = alias.name.value
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            bind(local, None if node.relative else f"{base}.{alias.name.value}")


def _binding_table(scope: cst.CSTNode) -> tuple[dict, bool]:
    """name -> set of what binds it in ``scope`` (a dotted name for an import, None for anything else), and
    whether the scope has a star import. Imports under ``if TYPE_CHECKING:`` bind nothing at run time."""
    table: dict[str, set] = {}
    star = [False]

    def bind(name: str, target: Optional[str]) -> None:
        table.setdefault(name, set()).add(target)

    def bind_target(target: cst.CSTNode) -> None:
        for name in bound_names(target):
            bind(name, None)

    if isinstance(scope, (cst.FunctionDef, cst.Lambda)):
        params = scope.params
        for group in (params.posonly_params, params.params, params.kwonly_params):
            for p in group:
                bind(p.name.value, None)
        for p in (params.star_arg, params.star_kwarg):
            if isinstance(p, cst.Param):
                bind(p.name.value, None)
        roots = [scope.body]
    elif isinstance(scope, _COMPREHENSIONS):
        comp = scope.for_in
        while comp is not None:
            bind_target(comp.target)
            comp = comp.inner_for_in
        return table, False
    elif isinstance(scope, cst.ClassDef):
        roots = [scope.body]
    else:
        roots = [scope]

    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is cst.FunctionDef or kind is cst.ClassDef:
            bind(node.name.value, None)
            stack.extend(d.decorator for d in node.decorators)
            if kind is cst.FunctionDef:
                for group in (node.params.posonly_params, node.params.params, node.params.kwonly_params):
                    stack.extend(p.default for p in group if p.default is not None)
            else:
                stack.extend(a.value for a in node.bases)
            continue
        if kind is cst.Lambda:
            continue
        if kind in (cst.Import, cst.ImportFrom):
            if kind is cst.ImportFrom and isinstance(node.names, cst.ImportStar):
                star[0] = True
            _import_bindings(node, bind)
            continue
        if kind is cst.If and _is_type_checking(node.test):
            if node.orelse is not None:
                stack.append(node.orelse)
            continue
        if kind is cst.AssignTarget:
            bind_target(node.target)
        elif kind in (cst.AnnAssign, cst.AugAssign) and isinstance(node.target, cst.Name):
            if not (kind is cst.AnnAssign and node.value is None and isinstance(scope, cst.ClassDef)):
                bind(node.target.value, None)  # a bare annotation in a class body creates no attribute
        elif kind in (cst.For, cst.CompFor):
            bind_target(node.target)
        elif kind is cst.AsName:
            bind_target(node.name)
        elif kind is cst.NamedExpr:
            bind_target(node.target)
        elif kind in (cst.Global, cst.Nonlocal):
            for item in node.names:
                bind(item.name.value, None)
        elif kind is cst.Del:
            bind_target(node.target)
        elif kind in (cst.MatchAs, cst.MatchStar) and getattr(node, "name", None) is not None:
            bind(node.name.value, None)
        stack.extend(reversed(children(node)))
    return table, star[0]


def _scope_chain(ancestors: Sequence[cst.CSTNode]) -> list:
    """Scopes enclosing the last node, innermost first, as Python resolves names: class scopes only when they
    are the innermost scope; the module last."""
    scopes = []
    n = len(ancestors)
    for i in range(n - 1):
        node, child = ancestors[i], ancestors[i + 1]
        kind = type(node)
        if kind in (cst.FunctionDef, cst.Lambda, cst.ClassDef):
            if child is node.body:
                scopes.append(node)
        elif kind in _COMPREHENSIONS:
            if child is node.for_in:
                inner = ancestors[i + 2] if i + 2 < n else None
                if inner is not None and inner is node.for_in.iter:
                    continue  # the first iterable is evaluated in the enclosing scope
            scopes.append(node)
    scopes.reverse()
    chain = [s for k, s in enumerate(scopes) if k == 0 or not isinstance(s, cst.ClassDef)]
    if ancestors and (not chain or chain[-1] is not ancestors[0]):
        chain.append(ancestors[0])
    return chain


def _lookup(index: _Index, chain: Sequence[cst.CSTNode], name: str):
    """What ``name`` is at run time where ``chain`` applies: an import's dotted name, or None when it is bound to
    anything else, bound in several ways, or not bound at all (a builtin)."""
    for scope in chain:
        table, star = index.table(scope)
        targets = table.get(name)
        if targets is not None:
            if len(targets) == 1:
                return next(iter(targets))
            return None
        if star:
            return None
    return None


def resolve_at(ctx: "Context", expr: cst.BaseExpression, at: Optional[cst.CSTNode] = None) -> Optional[str]:
    """Dotted name of ``expr`` through the imports visible at ``at`` (scope-aware, run-time bindings only)."""
    from .facts.imports import _split

    model = getattr(ctx, "model", None)
    if model is not None and hasattr(model, "resolve"):
        try:
            return model.resolve(expr)
        except TypeError:  # pragma: no cover - older signature
            pass
    split = _split(expr)
    if split is None:
        return None
    ancestors = _ancestors(ctx, at if at is not None else expr)
    if ancestors is None:
        return None
    head = _lookup(_index(ctx), _scope_chain(ancestors), split[0])
    if head is None:
        return None
    return ".".join([head, *reversed(split[1])])


def name_for(ctx: "Context", dotted: str, at: cst.CSTNode) -> Optional[str]:
    """Source text that names ``dotted`` (``torch.nn``, ``torch.nn.init.normal_``) at the node ``at``, through a
    binding visible there at run time; None when there is none. Every fix that writes a name asks this."""
    model = getattr(ctx, "model", None)
    if model is not None and hasattr(model, "local_name_for"):
        return model.local_name_for(dotted, at=_probe_site(ctx, model, at))
    ancestors = _ancestors(ctx, at)
    if ancestors is None:
        return None
    index = _index(ctx)
    chain = _scope_chain(ancestors)
    best: Optional[tuple[str, str]] = None
    seen: set = set()
    for scope in chain:
        table, _star = index.table(scope)
        for local, targets in table.items():
            if local in seen:
                continue
            seen.add(local)
            if len(targets) != 1:
                continue
            target = next(iter(targets))
            if target is None or not (dotted == target or dotted.startswith(target + ".")):
                continue
            if _lookup(index, chain, local) != target:
                continue
            if best is None or len(target) > len(best[1]) or (len(target) == len(best[1]) and local < best[0]):
                best = (local, target)
    if best is None:
        return None
    return best[0] + dotted[len(best[1]):]


def _probe_site(ctx: "Context", model, at: cst.CSTNode) -> cst.CSTNode:
    """The model places a fix site by a name used inside it; for a site without one (``[]``), the nearest
    enclosing node in the same scope that has one (the statement ``self.layers = []``)."""
    probe = getattr(model, "_probe", None)
    if probe is None or probe(at) is not None:
        return at
    ancestors = _ancestors(ctx, at) or []
    for node in reversed(ancestors[:-1]):
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda, cst.Module) + _COMPREHENSIONS):
            break
        if probe(node) is not None:
            return node
    return at


def expr_for(ctx: "Context", dotted: str, at: cst.CSTNode) -> Optional[cst.BaseExpression]:
    text = name_for(ctx, dotted, at)
    return cst.parse_expression(text) if text is not None else None


def comprehension_sees(ctx: "Context", at: cst.CSTNode, expr: cst.BaseExpression) -> Verdict:
    """Moving ``expr`` into the element of a comprehension written at ``at`` keeps every name it reads: a
    comprehension in a class body does not see the class's names."""
    ancestors = _ancestors(ctx, at)
    if ancestors is None:
        return NO, "fix site not found"
    chain = _scope_chain(ancestors)
    if chain and isinstance(chain[0], cst.ClassDef):
        table, star = _index(ctx).table(chain[0])
        for sub in walk(expr):
            if isinstance(sub, cst.Name) and (sub.value in table or star):
                return NO, f"a comprehension in the class body cannot see '{sub.value}'"
    return OK


# ---------------------------------------------------------------------------------------------- self
def self_verdict(ctx: "Context", at: cst.CSTNode, self_name: Optional[str]) -> Verdict:
    """Writing ``<self_name>.…`` at ``at`` refers to the Module: ``at`` is in the body of a method of a Module
    class whose first parameter is ``self_name`` (not a static or class method, not rebound in the class body),
    and no scope between them rebinds that name."""
    if not self_name:
        return NO, "no self here"
    ancestors = _ancestors(ctx, at)
    if ancestors is None:
        return NO, "fix site not found"
    index = _index(ctx)
    for scope in _scope_chain(ancestors):
        if isinstance(scope, cst.FunctionDef):
            pos = ancestors.index(scope)
            block = ancestors[pos - 1] if pos >= 1 else None
            cls = ancestors[pos - 2] if pos >= 2 else None
            if isinstance(block, cst.IndentedBlock) and isinstance(cls, cst.ClassDef):
                return _method_verdict(ctx, index, cls, scope, self_name)
        table, _star = index.table(scope)
        if self_name in table or isinstance(scope, (cst.ClassDef, cst.Module)):
            return NO, f"'{self_name}' is not the module here"
    return NO, f"'{self_name}' is not the module here"


def _method_verdict(ctx, index: _Index, cls: cst.ClassDef, method: cst.FunctionDef, self_name: str) -> Verdict:
    params = method.params.posonly_params or method.params.params
    if not params or params[0].name.value != self_name:
        return NO, f"'{self_name}' is not the method's first parameter"
    for dec in method.decorators:
        d = dec.decorator
        name = d.value if isinstance(d, cst.Name) else d.attr.value if isinstance(d, cst.Attribute) else None
        if name in ("staticmethod", "classmethod"):
            return NO, f"{name}: '{self_name}' is not the module"
    if _rebinds(ctx, method, self_name):
        return NO, f"'{self_name}' is rebound in the method"
    table, _star = index.table(cls)
    if len(table.get(method.name.value, ())) > 1 or _rebound_in_class(cls, method):
        return NO, f"'{method.name.value}' is rebound in the class body"
    if not ctx.classes.is_module_class(cls):
        return NO, "not an nn.Module class"
    return OK


def _rebinds(ctx: "Context", func: cst.FunctionDef, name: str) -> bool:
    """Some statement of ``func`` (not of nested scopes) binds ``name`` again (asked of the model's bindings)."""
    scope = ctx.model.function_scope(func) if ctx.model is not None else None
    if scope is not None:
        return any(b.form != "param" for b in scope.bindings.get(name, ())) or name in scope.declared_global
    for sub in walk(func.body, into_scopes=False):
        kind = type(sub)
        if kind in (cst.AssignTarget, cst.AugAssign, cst.AnnAssign, cst.For, cst.CompFor, cst.NamedExpr, cst.Del):
            if name in set(bound_names(sub.target)):
                return True
        elif kind is cst.AsName and name in set(bound_names(sub.name)):
            return True
    return False


def _rebound_in_class(cls: cst.ClassDef, method: cst.FunctionDef) -> bool:
    name = method.name.value
    for stmt in cls.body.body:
        if stmt is method:
            continue
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets = []
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    targets = [small.target]
                if any(name in set(bound_names(t)) for t in targets):
                    return True
    return False


def module_initialised_verdict(ctx: "Context", at: cst.CSTNode) -> Verdict:
    """A fix that turns what a method assigns to ``self`` into a Module, Parameter or buffer needs
    ``nn.Module.__init__`` to have run: torch raises "cannot assign module before Module.__init__() call" where a
    plain list or tensor was accepted. Refuse when ``super().__init__(...)`` (or ``Base.__init__(self, ...)``)
    comes after ``at`` in its method."""
    ancestors = _ancestors(ctx, at)
    method = _function_of(ancestors) if ancestors else None
    if method is None:
        return OK
    index = _index(ctx)
    here = index.order.get(id(at))
    last = index.__dict__.setdefault("_last_init_call", {})
    if id(method) not in last:  # once per method: where its last super().__init__() / Base.__init__(self) stands
        found = -1
        for sub in ctx.model.calls_in(method):
            if isinstance(sub.func, cst.Attribute) and sub.func.attr.value == "__init__":
                receiver = sub.func.value
                if (isinstance(receiver, cst.Call) and isinstance(receiver.func, cst.Name)
                        and receiver.func.value == "super") or isinstance(receiver, (cst.Name, cst.Attribute)):
                    found = max(found, index.order.get(id(sub), -1))
        last[id(method)] = found
    if here is not None and last[id(method)] > here:
        return NO, "the assignment runs before nn.Module.__init__()"
    return OK


# ---------------------------------------------------------------------------------------------- comments
def comments_of(node: cst.CSTNode) -> list[str]:
    """Every comment inside ``node`` (whitespace included), in order."""
    out = []
    stack = [node]
    base = cst.CSTNode
    while stack:  # through every dataclass field (whitespace included), without libcst's costly .children
        current = stack.pop()
        if type(current) is cst.Comment:
            out.append(current.value)
            continue
        items = []
        for name in current.__dataclass_fields__:
            value = getattr(current, name)
            if isinstance(value, base):
                items.append(value)
            elif type(value) in (list, tuple):
                items.extend(v for v in value if isinstance(v, base))
        stack.extend(reversed(items))
    return out


def _holds(new: cst.CSTNode, old: cst.CSTNode, depth: int = 4) -> bool:
    """``old`` itself (the same object) is inside ``new`` within ``depth`` levels: a wrap such as
    ``nn.ModuleList(old)`` keeps every comment of ``old``."""
    if new is old:
        return True
    if depth == 0:
        return False
    base = cst.CSTNode
    for name in new.__dataclass_fields__:
        value = getattr(new, name)
        if isinstance(value, base):
            if _holds(value, old, depth - 1):
                return True
        elif type(value) in (list, tuple):
            if any(isinstance(v, base) and _holds(v, old, depth - 1) for v in value):
                return True
    return False


def keeps_comments(old: cst.CSTNode, new: cst.CSTNode) -> bool:
    if _holds(new, old):
        return True
    kept = comments_of(new)
    for comment in comments_of(old):
        if comment in kept:
            kept.remove(comment)
        else:
            return False
    return True


# ---------------------------------------------------------------------------------------------- offering
def weakest(verdicts: Iterable[Verdict], declared: str = SAFE) -> Verdict:
    applicability, reasons = declared, []
    for verdict in verdicts:
        level, reason = verdict
        if level is NO:
            return NO, reason
        if level == UNSAFE:
            applicability = UNSAFE
            if reason:
                reasons.append(reason)
    return applicability, "; ".join(dict.fromkeys(reasons))


def offer(ctx: "Context", applicability: str, replacements, description: str, *,
          verdicts: Iterable[Verdict] = ()) -> Optional[Fix]:
    """The fix, downgraded or dropped by the verdicts; every replacement must keep the comments of the node it
    replaces."""
    pairs = list(replacements)
    if not pairs or any(new is None for _old, new in pairs):
        return None
    verdicts = list(verdicts)
    for old, new in pairs:
        if not keeps_comments(old, new):
            verdicts.append((NO, "the rewrite would drop a comment"))
    level, reason = weakest(verdicts, applicability)
    if _DEBUG:
        print(f"fixsafety: {description}: {level} {reason}", file=sys.stderr)
    if level is NO:
        return None
    if reason and level == UNSAFE and applicability == SAFE:
        description = f"{description} (unsafe: {reason})"
    return Fix(level, pairs, description)


# ---------------------------------------------------------------------------------------------- element kinds
def _function_of(ancestors: Sequence[cst.CSTNode]) -> Optional[cst.FunctionDef]:
    for node in reversed(ancestors):
        if isinstance(node, cst.FunctionDef):
            return node
    return None


def element_verdict(ctx: "Context", expr: cst.BaseExpression, wanted: str) -> Verdict:
    """Is ``expr`` provably of kind ``wanted`` (an nn container requires it of every element)?"""
    from .facts.kinds import MODULE, PARAMETER

    what = {MODULE: "Module", PARAMETER: "Parameter"}.get(wanted, wanted)
    code = _LazyCode(expr)
    if isinstance(expr, (cst.Lambda, cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Integer,
                         cst.Float, cst.List, cst.Tuple, cst.Dict, cst.Set, cst.ListComp, cst.DictComp,
                         cst.SetComp, cst.GeneratorExp)) or (isinstance(expr, cst.Name) and expr.value == "None"):
        return NO, f"element '{code}' is not a {what}"
    if isinstance(expr, cst.StarredElement):
        return NO, f"element '{code}' is not provably a {what}"
    kind = _element_kind(ctx, expr)
    if kind == wanted:
        return OK
    if kind is not None:
        return NO, f"element '{code}' is a {kind}, not a {what}"
    if isinstance(expr, (cst.Name, cst.Attribute)):
        qualified = resolve_at(ctx, expr)
        if qualified is not None and qualified.split(".", 1)[0] == "torch":
            return NO, f"element '{code}' is a torch function or class, not a {what}"
        if isinstance(expr, cst.Name) and _is_def_name(ctx, expr):
            return NO, f"element '{code}' is a function, not a {what}"
    # The container raises TypeError on anything else (ModuleList) or silently converts it (ParameterList).
    return NO, f"element '{code}' is not provably a {what}"


def _is_def_name(ctx: "Context", name: cst.Name) -> bool:
    index = _index(ctx)
    ancestors = _ancestors(ctx, name)
    if ancestors is None:
        return False
    for scope in _scope_chain(ancestors):
        table, _star = index.table(scope)
        if name.value in table:
            if isinstance(scope, cst.Module):
                return any(isinstance(s, cst.FunctionDef) and s.name.value == name.value for s in scope.body)
            return False
    return False


def _element_kind(ctx: "Context", expr: cst.BaseExpression) -> Optional[str]:
    kind = ctx.kind_of(expr)
    if kind is not None or not isinstance(expr, cst.Name):
        return kind
    ancestors = _ancestors(ctx, expr)
    func = _function_of(ancestors) if ancestors else None
    if func is None:
        return None
    values = []
    for sub in walk(func.body, into_scopes=False):
        if isinstance(sub, cst.Assign):
            for t in sub.targets:
                if expr.value in set(bound_names(t.target)):
                    if not isinstance(t.target, cst.Name):
                        return None
                    values.append(sub.value)
        elif isinstance(sub, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr)) and isinstance(sub.target, cst.Name) \
                and sub.target.value == expr.value:
            return None
        elif isinstance(sub, (cst.For, cst.CompFor)) and expr.value in set(bound_names(sub.target)):
            return None
    params = func.params
    for group in (params.posonly_params, params.params, params.kwonly_params):
        if any(p.name.value == expr.value for p in group):
            return None
    kinds = {ctx.kind_of(v) for v in values}
    if len(kinds) == 1:
        return kinds.pop()
    return None


def _code(node: cst.CSTNode) -> str:
    text = cst.Module(body=[]).code_for_node(node)
    return text if len(text) <= 40 else text[:37] + "..."


class _LazyCode:
    """``_code(node)`` generated only when a reason is actually formatted (most verdicts are OK)."""

    __slots__ = ("node",)

    def __init__(self, node: cst.CSTNode) -> None:
        self.node = node

    def __format__(self, spec: str) -> str:
        return format(_code(self.node), spec)

    __str__ = __repr__ = lambda self: _code(self.node)


# ---------------------------------------------------------------------------------------------- containers
class _Uses:
    """Classify every use of a value whose container type changes (the replacement is ``wrapper``)."""

    def __init__(self, ctx: "Context", wrapper: Wrapper, definitions: Sequence[cst.CSTNode]) -> None:
        self.ctx = ctx
        self.index = _index(ctx)
        self.wrapper = wrapper
        self.definitions = {id(d) for d in definitions}
        self.verdicts: list[Verdict] = []
        self.aliases_seen: set = set()

    def add(self, verdict: Verdict) -> None:
        self.verdicts.append(verdict)

    def element(self, expr: cst.BaseExpression, iterable: bool) -> None:
        from .facts.kinds import MODULE, PARAMETER

        wanted = MODULE if self.wrapper.item == "module" else PARAMETER
        if not iterable:
            self.add(element_verdict(self.ctx, expr, wanted))
            return
        if isinstance(expr, (cst.List, cst.Tuple, cst.Set)):
            for el in expr.elements:
                if isinstance(el, cst.Element):
                    self.add(element_verdict(self.ctx, el.value, wanted))
                else:
                    self.add((NO, f"'{_code(el)}' is not provably a list of the right kind"))
        elif isinstance(expr, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            self.add(element_verdict(self.ctx, expr.elt, wanted))
        elif isinstance(expr, cst.Dict):
            for el in expr.elements:
                if isinstance(el, cst.DictElement):
                    self.add(element_verdict(self.ctx, el.value, wanted))
                    self.key(el.key)
                else:
                    self.add((NO, "'**' in a dict display"))
        elif isinstance(expr, cst.DictComp):
            self.add(element_verdict(self.ctx, expr.value, wanted))
            self.add(comprehension_key_verdict(expr))
        else:
            self.add((NO, f"'{_code(expr)}' is not provably a container of the right kind"))

    def key(self, key: cst.BaseExpression) -> None:
        self.add(key_verdict(key))

    def use(self, node: cst.CSTNode, depth: int = 0) -> None:
        """``node`` evaluates to the container; judge what its parent does with it."""
        wrapper = self.wrapper
        parent = self.index.parent.get(id(node))
        code = _LazyCode(parent) if parent is not None else ""
        if parent is None or depth > 4:
            self.add((UNSAFE, "use not understood"))
            return
        kind = type(parent)
        if kind is cst.Attribute and parent.value is node:
            method = parent.attr.value
            call = self.index.parent.get(id(parent))
            spec = wrapper.methods.get(method)
            if not (isinstance(call, cst.Call) and call.func is parent):
                self.add((NO if spec is None else UNSAFE, f"'{code}' is not a supported use of nn.{wrapper.name}"))
                return
            if spec is None:
                self.add((NO, f"nn.{wrapper.name} has no .{method}()"))
                return
            low, high, added, iterable = spec
            args = call.args
            if any(a.keyword is not None or a.star for a in args) or not (low <= len(args) <= high):
                self.add((NO, f"nn.{wrapper.name}.{method}() does not take these arguments"))
                return
            if added is not None:
                self.element(args[added].value, iterable)
                if wrapper.kind == "dict" and method == "setdefault":
                    self.key(args[0].value)
            return
        if kind is cst.Subscript and parent.value is node:
            self._subscript(parent, depth)
            return
        if kind is cst.AssignTarget and parent.target is node:
            assign = self.index.parent.get(id(parent))
            if isinstance(assign, cst.Assign) and id(assign.value) in self.definitions:
                return
            self.add((NO, f"'{_code(assign)}' assigns it another value"))
            return
        if kind is cst.AugAssign and parent.target is node:
            if isinstance(parent.operator, cst.AddAssign) and wrapper.kind == "list":
                self.element(parent.value, True)
                return
            self.add((NO, f"'{_code(parent)}' is not supported by nn.{wrapper.name}"))
            return
        if kind is cst.Arg and parent.value is node:
            self._argument(parent, depth)
            return
        if kind in (cst.For, cst.CompFor) and parent.iter is node:
            return
        if kind is cst.StarredElement and parent.value is node:
            return
        if kind in (cst.If, cst.While, cst.IfExp, cst.Assert) and parent.test is node:
            return
        if kind is cst.UnaryOperation and isinstance(parent.operator, cst.Not):
            return
        if kind is cst.ComparisonTarget and isinstance(parent.operator, (cst.In, cst.NotIn, cst.Is, cst.IsNot)):
            return
        if kind is cst.Comparison and parent.left is node and len(parent.comparisons) == 1 \
                and isinstance(parent.comparisons[0].operator, (cst.Is, cst.IsNot)):
            return  # identity: `x.layers is not None`
        if kind is cst.Assign and parent.value is node:
            self._alias(parent, depth)
            return
        if kind in (cst.BinaryOperation, cst.Comparison, cst.ComparisonTarget):
            self.add((NO, f"'{code}': nn.{wrapper.name} does not support this operator as a {wrapper.kind}"))
            return
        if kind in (cst.Return, cst.Yield, cst.Element, cst.DictElement, cst.Lambda):
            self.add((UNSAFE, f"'{code}' hands the {wrapper.kind} on"))
            return
        self.add((UNSAFE, f"'{code}' is a use not known to be supported"))

    def _subscript(self, sub: cst.Subscript, depth: int) -> None:
        wrapper = self.wrapper
        parent = self.index.parent.get(id(sub))
        store = isinstance(parent, cst.AssignTarget) and parent.target is sub
        delete = isinstance(parent, cst.Del) and parent.target is sub
        if isinstance(parent, cst.AugAssign) and parent.target is sub:
            self.add((NO, f"'{_code(parent)}' on an element of nn.{wrapper.name}"))
            return
        if len(sub.slice) != 1:
            self.add((NO, "multi-dimensional subscript"))
            return
        element = sub.slice[0].slice
        if isinstance(element, cst.Slice):
            if wrapper.kind == "dict" or store or (delete and not wrapper.del_slice):
                self.add((NO, f"nn.{wrapper.name} does not support this slice"))
                return
            if not delete:
                self.use(sub, depth + 1)  # a slice is a container of the same type
            return
        if delete and not wrapper.del_index:
            self.add((NO, f"nn.{wrapper.name} does not support del"))
            return
        if wrapper.kind == "dict" and (store or delete):
            self.key(element.value)
        if store:
            assign = self.index.parent.get(id(parent))
            if isinstance(assign, cst.Assign):
                self.element(assign.value, False)
            else:
                self.add((UNSAFE, "element assigned in an unusual way"))

    def _argument(self, arg: cst.Arg, depth: int) -> None:
        call = self.index.parent.get(id(arg))
        if not isinstance(call, cst.Call):
            self.add((UNSAFE, "argument of something that is not a call"))
            return
        if arg.star == "*" or (arg.star == "**" and self.wrapper.kind == "dict"):
            return
        func = call.func
        if isinstance(func, cst.Name) and func.value in _ITERATING_BUILTINS and arg.keyword is None \
                and not _shadowed(self.ctx, func):
            return
        if isinstance(func, cst.Name) and func.value in ("isinstance", "type", "issubclass"):
            self.add((NO, f"'{_code(call)}' sees the container type"))
            return
        callee = self._callee(func)
        if callee is not None and depth < 4:
            param = _parameter_for(callee[0], call, arg, callee[1])
            if param is not None and (id(callee[0]), param) not in self.aliases_seen:
                self.aliases_seen.add((id(callee[0]), param))
                for n in walk(callee[0].body):
                    if isinstance(n, cst.Name) and n.value == param and not _is_attr_name(self.index, n):
                        parent = self.index.parent.get(id(n))
                        if isinstance(parent, cst.AssignTarget) and parent.target is n:
                            self.add((UNSAFE, f"parameter '{param}' of '{_code(func)}' is rebound"))
                            continue
                        self.use(n, depth + 1)
                return
        self.add((UNSAFE, f"it is passed to '{_code(func)}'"))

    def _callee(self, func: cst.BaseExpression):
        """(function definition, whether it is called as a bound method) for a function or a method of a class
        of this file called by name (``helper(x)``, ``self.helper(x)``), else None."""
        root = self.index.root
        if isinstance(func, cst.Name):
            for stmt in root.body:
                if isinstance(stmt, cst.FunctionDef) and stmt.name.value == func.value:
                    table, _star = self.index.table(root)
                    return (stmt, False) if len(table.get(func.value, ())) == 1 else None
            return None
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            ancestors = self.index.ancestors(func)
            for pos in range(len(ancestors or ()) - 1, 1, -1):
                method = ancestors[pos]
                if isinstance(method, cst.FunctionDef) and isinstance(ancestors[pos - 2], cst.ClassDef):
                    params = method.params.params
                    if params and params[0].name.value == func.value.value:
                        cls = ancestors[pos - 2]
                        found = [m for m in cls.body.body
                                 if isinstance(m, cst.FunctionDef) and m.name.value == func.attr.value]
                        if len(found) == 1 and not found[0].decorators:
                            return found[0], True
                    return None
        return None

    def _alias(self, assign: cst.Assign, depth: int) -> None:
        target = assign.targets[0].target if len(assign.targets) == 1 else None
        if isinstance(target, cst.Attribute) and depth < 4:
            # stored in another attribute (`self.order = self.layers`): every use of that attribute counts too
            key = ("attr", target.attr.value)
            if key not in self.aliases_seen:
                self.aliases_seen.add(key)
                self.definitions.add(id(assign.value))
                for node in self.index.attributes.get(target.attr.value, ()):
                    self.use(node, depth + 1)
            return
        if not isinstance(target, cst.Name):
            self.add((UNSAFE, f"'{_code(assign)}' stores it elsewhere"))
            return
        name = assign.targets[0].target.value
        ancestors = _ancestors(self.ctx, assign)
        func = _function_of(ancestors) if ancestors else None
        if func is None or (id(func), name) in self.aliases_seen:
            self.add((UNSAFE, f"alias '{name}' outside a function"))
            return
        self.aliases_seen.add((id(func), name))
        occurrences = [n for n in walk(func.body) if isinstance(n, cst.Name) and n.value == name
                       and not _is_attr_name(self.index, n)]
        for n in occurrences:
            parent = self.index.parent.get(id(n))
            if isinstance(parent, cst.AssignTarget) and parent.target is n:
                if self.index.parent.get(id(parent)) is not assign:
                    self.add((UNSAFE, f"'{name}' is rebound"))
                continue
            self.use(n, depth + 1)


def _is_attr_name(index: _Index, name: cst.Name) -> bool:
    """``name`` is the attribute part of ``x.name`` or a keyword of a call (not a variable)."""
    parent = index.parent.get(id(name))
    return (isinstance(parent, cst.Attribute) and parent.attr is name) or (
        isinstance(parent, cst.Arg) and parent.keyword is name)


def _parameter_for(func: cst.FunctionDef, call: cst.Call, arg: cst.Arg, bound: bool) -> Optional[str]:
    """The parameter of ``func`` that ``arg`` of ``call`` binds (simple positional or keyword), else None."""
    params = list(func.params.posonly_params) + list(func.params.params)
    if bound:
        params = params[1:]
    if arg.keyword is not None:
        names = {p.name.value for p in params} | {p.name.value for p in func.params.kwonly_params}
        return arg.keyword.value if arg.keyword.value in names else None
    position = 0
    for a in call.args:
        if a.star or a.keyword is not None:
            return None
        if a is arg:
            return params[position].name.value if position < len(params) else None
        position += 1
    return None


def _shadowed(ctx: "Context", name: cst.Name) -> bool:
    if name.value in ctx.imports.aliases:
        return True
    ancestors = _ancestors(ctx, name)
    if ancestors is None:
        return True
    index = _index(ctx)
    return any(name.value in index.table(scope)[0] for scope in _scope_chain(ancestors))


def key_verdict(key: cst.BaseExpression) -> Verdict:
    if isinstance(key, (cst.SimpleString, cst.ConcatenatedString)):
        value = key.evaluated_value
        problem = dict_key_problem(value)
        return (NO, problem) if problem else OK
    return UNSAFE, f"key '{_code(key)}' is not provably a valid nn.ModuleDict key"


def comprehension_key_verdict(comp: cst.DictComp) -> Verdict:
    """``{str(i): ... for i in range(n)}`` and ``{f"layer{i}": ...}`` over a ``range`` make valid keys."""
    key = comp.key
    range_names = set()
    c = comp.for_in
    while c is not None:
        it = c.iter
        if isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "range" \
                and isinstance(c.target, cst.Name):
            range_names.add(c.target.value)
        elif isinstance(it, cst.Call) and isinstance(it.func, cst.Name) and it.func.value == "enumerate" \
                and isinstance(c.target, cst.Tuple) and c.target.elements \
                and isinstance(c.target.elements[0].value, cst.Name):
            range_names.add(c.target.elements[0].value.value)
        c = c.inner_for_in
    if isinstance(key, cst.Call) and isinstance(key.func, cst.Name) and key.func.value == "str" \
            and len(key.args) == 1 and isinstance(key.args[0].value, cst.Name) \
            and key.args[0].value.value in range_names:
        return OK
    if isinstance(key, cst.FormattedString):
        text = ""
        ok = True
        for part in key.parts:
            if isinstance(part, cst.FormattedStringText):
                text += part.value
            elif isinstance(part, cst.FormattedStringExpression) and isinstance(part.expression, cst.Name) \
                    and part.expression.value in range_names and part.format_spec is None \
                    and part.conversion is None:
                text += "0"
            else:
                ok = False
        if ok and dict_key_problem(text) is None and not text.isdigit() or ok and text.isdigit():
            return OK
    return UNSAFE, f"keys '{_code(key)}' are not provably valid nn.ModuleDict keys"


def _in_class_or_subclass(ctx: "Context", index: _Index, cls: cst.ClassDef, node: cst.CSTNode,
                          self_receiver: cst.BaseExpression) -> Optional[bool]:
    """For ``<name>.attr``: True when ``<name>`` is the self of a method of ``cls`` (or an in-file subclass),
    False when it is the self of a method of another class, None otherwise (any object)."""
    if not isinstance(self_receiver, cst.Name):
        return None
    memo = index.__dict__.setdefault("_method_owner", {})
    key = id(node)
    if key not in memo:
        memo[key] = _method_owner(index, node)
    found = memo[key]
    if found is None or found[1] != self_receiver.value:
        return None
    owner = found[0]
    return owner is cls or _subclass_of(ctx, owner, cls)


def _attribute_uses(ctx: "Context", index: _Index, cls: cst.ClassDef, attr: str) -> list:
    """Every ``<x>.attr`` of the file that may be ``cls``'s attribute: all but those whose ``<x>`` is the self of
    a method of a class that is neither ``cls`` nor an in-file subclass. The nodes are grouped by the class of
    their method once per attribute name, so each finding asks per class, not per node."""
    memo = index.__dict__.setdefault("_attribute_owners", {})
    groups = memo.get(attr)
    if groups is None:
        groups = memo[attr] = {}
        for node in index.attributes.get(attr, ()):
            owner = None
            if isinstance(node.value, cst.Name):
                found = _method_owner(index, node)
                if found is not None and found[1] == node.value.value:
                    owner = found[0]
            groups.setdefault(id(owner) if owner is not None else None, (owner, []))[1].append(node)
    out = []
    for key, (owner, nodes) in groups.items():
        if key is None or owner is cls or _subclass_of(ctx, owner, cls):
            out.extend(nodes)
    if len(groups) > 1:  # keep the file's order (verdict reasons name the first problem)
        order = index.order
        out.sort(key=lambda n: order.get(id(n), 0))
    return out


def _method_owner(index: _Index, node: cst.CSTNode):
    """(class, self name) of the innermost method around ``node``, computed once per node."""
    ancestors = index.ancestors(node)
    if ancestors is None:
        return None
    for pos in range(len(ancestors) - 1, 1, -1):
        method = ancestors[pos]
        if isinstance(method, cst.FunctionDef) and isinstance(ancestors[pos - 1], cst.IndentedBlock) \
                and isinstance(ancestors[pos - 2], cst.ClassDef):
            params = method.params.posonly_params or method.params.params
            return (ancestors[pos - 2], params[0].name.value) if params else None
    return None


def _subclass_of(ctx: "Context", owner: cst.ClassDef, cls: cst.ClassDef, depth: int = 0) -> bool:
    if depth > 10:
        return True
    for base in owner.bases:
        if isinstance(base.value, cst.Name):
            if base.value.value == cls.name.value:
                return True
            parent = ctx.classes.class_named(base.value.value)
            if parent is not None and parent is not owner and _subclass_of(ctx, parent, cls, depth + 1):
                return True
    return False


def container_change(ctx: "Context", cls: cst.ClassDef, attr: str, wrapper_name: str,
                     definitions: Sequence[cst.BaseExpression], *, elements: Sequence[cst.BaseExpression] = (),
                     iterables: Sequence[cst.BaseExpression] = (), local: Optional[tuple] = None) -> list[Verdict]:
    """Verdicts for turning ``self.<attr>`` of ``cls`` from a plain list/dict into ``nn.<wrapper_name>``:
    ``definitions`` are the values being wrapped (every other assignment of the attribute refuses the fix),
    ``elements`` / ``iterables`` what they put in it; every use of the attribute anywhere in the file must be
    supported by the wrapper. ``local`` = (function, name, assignment) when the wrapped value is a local list:
    its fills are checked and it must not be used after it is wrapped (the wrapper copies it)."""
    wrapper = WRAPPERS[wrapper_name]
    index = _index(ctx)
    uses = _Uses(ctx, wrapper, definitions)
    for el in elements:
        uses.element(el, False)
    for it in iterables:
        uses.element(it, True)
    for node in _attribute_uses(ctx, index, cls, attr):
        uses.use(node)
    if local is not None:
        _local_list(ctx, index, uses, *local)
    return uses.verdicts


def _local_list(ctx: "Context", index: _Index, uses: _Uses, func: cst.FunctionDef, name: str,
                wrap_site: cst.CSTNode) -> None:
    """The local list ``name`` of ``func`` is wrapped at ``wrap_site`` (which copies it): every element it is
    given must be of the wrapper's kind, and nothing may use it afterwards (or in a loop around the wrap)."""
    wrap_order = index.order.get(id(wrap_site))
    anc = index.ancestors(wrap_site) or []
    if func in anc and any(isinstance(a, (cst.For, cst.While)) for a in anc[anc.index(func):]):
        uses.add((NO, f"'{name}' is wrapped inside a loop"))
        return
    for node in walk(func.body):
        if not (isinstance(node, cst.Name) and node.value == name) or node is wrap_site \
                or _is_attr_name(index, node):
            continue
        order = index.order.get(id(node), 0)
        if wrap_order is not None and order > wrap_order:
            uses.add((NO, f"'{name}' is used after nn.{uses.wrapper.name}({name}) copies it"))
            continue
        parent = index.parent.get(id(node))
        if isinstance(parent, cst.AssignTarget) and parent.target is node:
            assign = index.parent.get(id(parent))
            if isinstance(assign, cst.Assign):
                if not _is_empty(assign.value):
                    uses.element(assign.value, True)
                continue
            uses.add((UNSAFE, f"'{name}' is bound in an unusual way"))
            continue
        if isinstance(parent, cst.AugAssign) and parent.target is node:
            if isinstance(parent.operator, cst.AddAssign):
                uses.element(parent.value, True)
                continue
        if isinstance(parent, cst.Attribute) and parent.value is node:
            call = index.parent.get(id(parent))
            method = parent.attr.value
            if isinstance(call, cst.Call) and call.func is parent:
                if method in ("append", "extend", "insert", "update", "setdefault"):
                    pos = 1 if method in ("insert", "setdefault") else 0
                    if len(call.args) > pos:
                        uses.element(call.args[pos].value, method in ("extend", "update"))
                    continue
                if method in ("sort", "reverse", "pop", "remove", "clear", "index", "count", "copy", "get",
                              "keys", "values", "items"):
                    continue  # works on the plain list before it is wrapped
        if isinstance(parent, cst.Subscript) and parent.value is node:
            grand = index.parent.get(id(parent))
            if isinstance(grand, cst.AssignTarget):
                assign = index.parent.get(id(grand))
                if isinstance(assign, cst.Assign):
                    uses.element(assign.value, False)
                continue
            continue
        if isinstance(parent, cst.Arg):
            call = index.parent.get(id(parent))
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Name) \
                    and call.func.value in _ITERATING_BUILTINS:
                continue
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.iter is node:
            continue
        uses.add((UNSAFE, f"'{_code(parent)}' may put other things in '{name}'"))


def _is_empty(value: cst.BaseExpression) -> bool:
    if isinstance(value, (cst.List, cst.Dict)) and not value.elements:
        return True
    return isinstance(value, cst.Call) and isinstance(value.func, cst.Name) and value.func.value in ("list", "dict") \
        and not value.args


# ---------------------------------------------------------------------------------------------- registration
def registration_problem(ctx: "Context", cls: cst.ClassDef, attr: str, statement: cst.CSTNode) -> Optional[str]:
    """Why ``self.register_buffer("<attr>", ...)`` in ``cls`` would not behave like ``self.<attr> = ...``
    (register_buffer raises KeyError when the attribute already exists), or None."""
    if attr.startswith("__") and not attr.endswith("__"):
        return f"'{attr}' is name-mangled"
    if attr in MODULE_ATTRIBUTES or attr in MODULE_PRIVATE_ATTRIBUTES:
        return f"'{attr}' is an attribute of nn.Module"
    problem = _class_defines(ctx, cls, attr, set())
    if problem:
        return problem
    from .facts.kinds import iter_self_assignments

    index = _index(ctx)
    for node in index.attributes.get(attr, ()):
        parent = index.parent.get(id(node))
        if _in_class_or_subclass(ctx, index, cls, node, node.value) is False:
            continue  # the attribute of another class's instance
        if isinstance(parent, (cst.AssignTarget, cst.AugAssign)) and parent.target is node:
            assign = index.parent.get(id(parent)) if isinstance(parent, cst.AssignTarget) else parent
            if assign is not statement:
                return f"'{attr}' is also assigned at '{_code(assign)}'"
    for other in _subclasses(ctx, cls):
        if any(name == attr for name, _v in iter_self_assignments(other)):
            return f"subclass {other.name.value} assigns '{attr}'"
    return None


def _class_defines(ctx: "Context", cls: cst.ClassDef, attr: str, seen: set) -> Optional[str]:
    if id(cls) in seen:
        return None
    seen.add(id(cls))
    table, star = _index(ctx).table(cls)
    if attr in table or star:
        return f"'{attr}' is a class attribute of {cls.name.value}"
    for base in cls.bases:
        if base.keyword is not None:
            continue
        qualified = resolve_at(ctx, base.value, cls)
        if qualified in ("torch.nn.Module", "torch.nn.modules.module.Module"):
            continue
        inner = ctx.classes.class_named(base.value.value) if isinstance(base.value, cst.Name) else None
        if inner is None or inner is cls:
            return f"base class '{_code(base.value)}' is not known"
        from .facts.kinds import iter_self_assignments

        if any(name == attr for name, _v in iter_self_assignments(inner)):
            return f"base class {inner.name.value} sets '{attr}'"
        problem = _class_defines(ctx, inner, attr, seen)
        if problem:
            return problem
    return None


def _subclasses(ctx: "Context", cls: cst.ClassDef) -> list:
    index = _index(ctx)
    out = []
    for node in walk(index.root):
        if isinstance(node, cst.ClassDef) and node is not cls and _subclass_of(ctx, node, cls):
            out.append(node)
    return out
