"""The semantic model of one file: scopes, bindings, uses, scope-aware imports, kinds, the project index.

Built once per file, before the rules' walk, and independent of the order in which rules visit nodes.
Rules ask it; they never re-derive imports, bindings or kinds.
"""
from __future__ import annotations

import bisect
import operator
from typing import Optional

import libcst as cst

from ..facts.classes import ClassIndex
from . import scopes as S
from .kinds import KindEngine
from .project import ABSTRACT, DELEGATES, NO_CALL_BASES, REPLACES, SUPER, UNKNOWN, ProjectIndex
from .project import call_replaced as project_call_replaced

FOREIGN_FRAMEWORKS = frozenset({"paddle", "jax", "flax", "tensorflow", "keras", "mindspore", "oneflow", "mxnet",
                                "jittor", "megengine"})


class _ImportView:
    """What ClassIndex needs: resolution of base-class expressions and the module-level import names."""

    __slots__ = ("model", "aliases")

    def __init__(self, model: "SemanticModel") -> None:
        self.model = model
        self.aliases = {name for name, bs in model.module_scope.bindings.items() if any(b.form == S.IMPORT for b in bs)}

    def resolve(self, node):
        return self.model.resolve(node)


class SemanticModel:
    def __init__(self, module: cst.Module, path: str = "<stdin>", project: Optional[ProjectIndex] = None) -> None:
        builder = S.ScopeBuilder()
        self.module = module
        self.path = path
        self.module_scope = builder.build(module)
        self._builder = builder
        self._uses = builder.uses
        self._by_owner: Optional[dict] = None
        self._calls_index: Optional[dict] = None
        self._binding_index: Optional[dict] = None
        self._resolve_memo: dict = {}
        self.project = project if project is not None else ProjectIndex(path)
        self.classes = ClassIndex(_ImportView(self), module_base=self.project_class_is_module)
        for b in self.all_bindings_of_form(S.CLASS):
            self.classes.add(b.node)
        self.kinds = KindEngine(self)

    def close(self) -> None:
        """Break the model's reference cycles so the tree is freed by reference counting."""
        self.kinds.model = None
        self.classes._imports = None
        self.kinds = None

    # ------------------------------------------------------------------ scopes
    def scope_of(self, node: cst.CSTNode) -> S.Scope:
        """The scope a node stands in (for a def/class/lambda/comprehension node: the scope it opens)."""
        scope = self._builder.scope_of_node.get(id(node))
        if scope is not None:
            return scope
        use = self._uses.get(id(node))
        if use is not None:
            return use.scope
        from ..facts.nodes import walk

        for sub in walk(node):
            use = self._uses.get(id(sub))
            if use is not None:
                return use.scope
        return self.module_scope

    def function_scope(self, func: cst.CSTNode) -> Optional[S.Scope]:
        return self._builder.scope_of_node.get(id(func))

    def all_bindings_of_form(self, form: str):
        return [b for b in self._builder.all_bindings if b.form == form]

    # ------------------------------------------------------------------ uses and bindings
    def use_of(self, name: cst.Name) -> Optional[S.Use]:
        return self._uses.get(id(name))

    def owner(self, use: S.Use) -> Optional[S.Scope]:
        if use.owner is None and not use.bindings:
            use.owner = _lookup(use.scope, use.name)
        return use.owner

    def reaching(self, use: S.Use) -> list:
        """The bindings that may give the name its value at this use."""
        if use.bindings:
            return use.bindings
        owner = self.owner(use)
        if owner is None:
            return []
        binds = owner.bindings.get(use.name, [])
        use.bindings = _reaching(binds, use, owner, self._builder.loop_regions)
        return use.bindings

    def binding_of(self, name: cst.CSTNode) -> Optional[S.Binding]:
        """The binding a target name (or def/class/parameter/import node) creates."""
        if self._binding_index is None:
            self._binding_index = {id(b.node): b for b in self._builder.all_bindings}
        return self._binding_index.get(id(name))

    def bindings_at(self, name: cst.Name) -> list:
        use = self.use_of(name)
        return self.reaching(use) if use is not None else []

    def uses_in(self, scope: S.Scope, name: str) -> list:
        """Uses of ``name`` that resolve to ``scope`` (from it and from scopes nested in it)."""
        if self._by_owner is None:
            index: dict = {}
            for use in self._uses.values():
                owner = self.owner(use)
                if owner is not None:
                    index.setdefault((id(owner), use.name), []).append(use)
            self._by_owner = index
        return self._by_owner.get((id(scope), name), [])

    def uses_of(self, binding: S.Binding) -> list:
        """Uses that this binding may reach."""
        return [u for u in self.uses_in(binding.scope, binding.name) if binding in self.reaching(u)]

    # ------------------------------------------------------------------ imports
    def resolve(self, node: cst.BaseExpression, typing: bool = False) -> Optional[str]:
        """Dotted name of a Name/Attribute chain through the imports visible where it stands (memoised per node:
        many rules ask it of every call's callee)."""
        if typing:
            return self._resolve(node, True)
        memo = self._resolve_memo
        key = id(node)
        hit = memo.get(key)
        if hit is not None and hit[0] is node:
            return hit[1]
        found = self._resolve(node, False)
        memo[key] = (node, found)
        return found

    def _resolve(self, node: cst.BaseExpression, typing: bool) -> Optional[str]:
        attrs = []
        while type(node) is cst.Attribute:
            attrs.append(node.attr.value)
            node = node.value
        if type(node) is not cst.Name:
            return None
        use = self._uses.get(id(node))
        if use is None:
            head = self._module_import(node.value, typing)
        else:
            head = self._import_of(self.reaching(use), typing)
        if head is None:
            return None
        if attrs:
            return ".".join([head, *reversed(attrs)])
        return head

    def resolve_global(self, node: cst.BaseExpression) -> Optional[str]:
        """Like resolve, for nodes not in the tree (parsed string annotations): module-level imports only."""
        attrs = []
        while type(node) is cst.Attribute:
            attrs.append(node.attr.value)
            node = node.value
        if type(node) is not cst.Name:
            return None
        head = self._module_import(node.value, True)
        if head is None:
            return None
        return ".".join([head, *reversed(attrs)])

    def _module_import(self, name: str, typing: bool) -> Optional[str]:
        return self._import_of(self.module_scope.bindings.get(name, []), typing)

    @staticmethod
    def _import_of(bindings, typing: bool) -> Optional[str]:
        if not bindings:
            return None
        qualified = None
        for b in bindings:
            if b.form == S.IMPORT:
                if b.typing_only and not typing:
                    return None
                if qualified is not None and qualified != b.qualified:
                    return None
                qualified = b.qualified
            elif b.form == S.ASSIGN and b.value is not None and type(b.value) is cst.Name and b.value.value == "None":
                continue  # ``except ImportError: nn = None``
            else:
                return None
        return qualified

    def name_resolves_to(self, name: str, dotted: str, at: cst.CSTNode) -> bool:
        """Does ``name``, written at ``at``, evaluate (at run time) to the import of ``dotted``?"""
        probe = self._probe(at)
        if probe is None:
            return False
        scope, pos, chain = probe
        fake = S.Use(name, None, scope, S.READ, pos, chain)
        owner = _lookup(scope, name)
        if owner is None:
            return False
        fake.bindings = _reaching(owner.bindings.get(name, []), fake, owner, self._builder.loop_regions)
        return self._import_of(fake.bindings, False) == dotted

    def local_name_for(self, dotted: str, at: cst.CSTNode) -> Optional[str]:
        """Source text naming ``dotted`` where ``at`` stands (``torch.nn`` -> ``nn``), or None."""
        candidates = []
        for b in self.all_bindings_of_form(S.IMPORT):
            q = b.qualified
            if q == dotted or dotted.startswith(q + "."):
                candidates.append((len(q), b.name, q))
        for _len, name, q in sorted(candidates, reverse=True):
            if self.name_resolves_to(name, q, at):
                return name + dotted[len(q):]
        return None

    def _probe(self, at: cst.CSTNode):
        use = self._uses.get(id(at))
        if use is None:
            from ..facts.nodes import walk

            for sub in walk(at):
                use = self._uses.get(id(sub))
                if use is not None:
                    break
        if use is None:
            return None
        return use.scope, use.pos, use.chain

    def imports_foreign_framework(self) -> bool:
        for b in self._builder.all_bindings:
            if b.form == S.IMPORT and b.qualified and b.qualified.lstrip(".").split(".", 1)[0] in FOREIGN_FRAMEWORKS:
                return True
        return False

    @property
    def narrowing(self) -> dict:
        return self._builder.narrowing

    def attribute_read(self, attr: str) -> bool:
        """Is ``.attr`` read (not only assigned) anywhere in the file's code?"""
        return attr in self._builder.attributes_read

    def names_in_string(self, text: str) -> bool:
        """Is there a string literal whose content is exactly ``text`` (``getattr(p, "text")``)?"""
        for literal in self._builder.strings:
            body = literal.lstrip("rbuRBUfF")
            quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
            if body[len(quote):len(body) - len(quote)] == text:
                return True
        return False

    # ------------------------------------------------------------------ callables
    def local_callable(self, name: cst.Name):
        """The in-file def or class a name refers to, when every binding that may reach it is that one."""
        use = self._uses.get(id(name))
        if use is None:
            return None
        binds = self.reaching(use)
        if len(binds) != 1 or binds[0].form not in (S.DEF, S.CLASS):
            return None
        return binds[0].node

    def module_class(self, name: str) -> Optional[cst.ClassDef]:
        binds = self.module_scope.bindings.get(name, [])
        if len(binds) == 1 and binds[0].form == S.CLASS:
            return binds[0].node
        return None

    def method_of_self(self, use: S.Use, method: str) -> Optional[cst.FunctionDef]:
        cls = use.scope.class_node
        if cls is None:
            return None
        found = None
        for stmt in cls.body.body:
            if type(stmt) is cst.FunctionDef and stmt.name.value == method:
                if found is not None:
                    return None
                found = stmt
        return found

    def callee_of(self, call: cst.Call) -> Optional[cst.FunctionDef]:
        """The in-file function or ``self`` method a call runs, when that is certain."""
        func = call.func
        if type(func) is cst.Name:
            target = self.local_callable(func)
            return target if type(target) is cst.FunctionDef else None
        if type(func) is cst.Attribute and type(func.value) is cst.Name:
            use = self._uses.get(id(func.value))
            if use is not None and use.scope.self_name == func.value.value:
                return self.method_of_self(use, func.attr.value)
        return None

    def returns_of(self, func: cst.FunctionDef) -> list:
        return self._builder.returns.get(id(func), [])

    def calls_of_function(self, func: cst.FunctionDef) -> list:
        if self._calls_index is None:
            index: dict = {}
            for call, _scope in self._builder.calls:
                if type(call.func) is cst.Name:
                    target = self.local_callable(call.func)
                    if target is not None:
                        index.setdefault(id(target), []).append(call)
            self._calls_index = index
        return self._calls_index.get(id(func), [])

    def calls(self):
        """Every call of the file with the scope it stands in."""
        return self._builder.calls

    def calls_in(self, func: cst.CSTNode) -> list:
        """The calls of a function's (or the module's) own body, in source order; calls in its lambdas and
        comprehensions count, those of nested defs and classes do not."""
        index = self.__dict__.get("_calls_in_memo")
        if index is None:
            index = self.__dict__["_calls_in_memo"] = {}
            for call, scope in self._builder.calls:
                while scope is not None and scope.kind not in ("function", "module"):
                    scope = scope.parent
                if scope is not None:
                    index.setdefault(id(scope.node), []).append(call)
        return index.get(id(func), [])

    def called_names(self, func: cst.CSTNode) -> frozenset:
        """The simple names :meth:`calls_in` calls: ``f`` of ``f(...)`` and of ``x.f(...)``."""
        memo = self.__dict__.setdefault("_called_names_memo", {})
        found = memo.get(id(func))
        if found is None:
            names = set()
            for call in self.calls_in(func):
                f = call.func
                if type(f) is cst.Attribute:
                    names.add(f.attr.value)
                elif type(f) is cst.Name:
                    names.add(f.value)
            found = memo[id(func)] = frozenset(names)
        return found

    def function_nodes(self) -> list:
        """Every ``def`` of the file (methods and nested functions included)."""
        return [scope.node for scope in self._builder.scope_of_node.values()
                if scope.kind == "function" and type(scope.node) is cst.FunctionDef]

    def self_assignments(self, cls: cst.ClassDef) -> dict:
        """attr -> values assigned to ``self.attr`` in the class's methods; registered names get the kind."""
        memo = self.__dict__.setdefault("_self_assignments_memo", {})
        found = memo.get(id(cls))
        if found is None:
            found = memo[id(cls)] = self._self_assignments(cls)
        return found

    def _self_assignments(self, cls: cst.ClassDef) -> dict:
        table = {k: list(v) for k, v in self._builder.self_assigns.get(id(cls), {}).items()}
        scope = self._builder.scope_of_node.get(id(cls))
        for name, kind in self._registrations().get(id(scope), ()):
            table.setdefault(name, []).append(kind)
        return table

    _REGISTER_KINDS = {"register_buffer": "tensor", "register_parameter": "parameter", "add_module": "module",
                       "register_module": "module"}

    def _registrations(self) -> dict:
        """id(class scope) -> [(name, kind)] of ``self.register_buffer("name", ...)`` and the like in its methods
        (one pass over the file's calls, shared by every class)."""
        found = self.__dict__.get("_registrations_memo")
        if found is not None:
            return found
        found = self.__dict__["_registrations_memo"] = {}
        kinds = self._REGISTER_KINDS
        for call, call_scope in self._builder.calls:
            func = call.func
            if (type(func) is cst.Attribute and func.attr.value in kinds and type(func.value) is cst.Name
                    and call_scope.parent is not None and call_scope.self_name == func.value.value and call.args
                    and type(call.args[0].value) is cst.SimpleString):
                name = call.args[0].value.evaluated_value
                if isinstance(name, str):
                    found.setdefault(id(call_scope.parent), []).append((name, kinds[func.attr.value]))
        return found

    # ------------------------------------------------------------------ __call__
    def call_replaced(self, cls: cst.ClassDef, own: bool = True) -> Optional[bool]:
        """True when calling an instance of ``cls`` never reaches nn.Module.__call__, so no forward or backward
        hook registered on it ever runs: the first ``__call__`` of its method resolution order (its own unless
        ``own`` is False, then its bases', in this file or the project) neither calls ``super().__call__`` nor
        hands on to nn.Module's. False when nn.Module.__call__ is reached; None when a base that cannot be read
        comes first."""
        return project_call_replaced(self._call_statuses(cls, own, set()))

    def class_call_replaced(self, name: Optional[str]) -> Optional[bool]:
        """``call_replaced`` for the class a KindFact names (a class of this file, or a dotted name of the project)."""
        if not name:
            return None
        if "." not in name:
            node = self.module_class(name)
            return self.call_replaced(node) if node is not None else None
        if name.startswith("torch."):
            return False
        return project_call_replaced(self.project.call_statuses(name))

    def _call_statuses(self, cls: cst.ClassDef, own: bool, seen: set) -> list:
        from ..facts.classes import is_module_base_name

        if id(cls) in seen:
            return []
        seen.add(id(cls))
        statuses = [own_call_status(cls)] if own else []
        for arg in cls.bases:
            value = arg.value.value if type(arg.value) is cst.Subscript else arg.value
            if type(value) is cst.Name:
                local = self.module_class(value.value)
                if local is not None and local is not cls:
                    statuses.extend(self._call_statuses(local, True, seen))
                    continue
                if value.value == "object":
                    continue
            qualified = self.resolve(value)
            if qualified is not None and (is_module_base_name(qualified) or qualified.startswith("torch.")
                                          or qualified in NO_CALL_BASES):
                continue
            sub = self.project.call_statuses(qualified, 0, seen) if qualified else None
            statuses.extend([UNKNOWN] if sub is None else sub)
        return statuses

    # ------------------------------------------------------------------ project
    def project_class_is_module(self, qualified: Optional[str]) -> bool:
        return bool(qualified) and self.project.is_module_class(qualified)

    def project_fact(self, qualified: str):
        return self.project.call_fact(qualified)


def own_call_status(cls: cst.ClassDef) -> Optional[str]:
    """How the ``__call__`` defined in the body of ``cls`` ends (project.SUPER, DELEGATES, REPLACES, ABSTRACT),
    None when the class defines none."""
    from ..facts.nodes import walk

    for stmt in cls.body.body if type(cls.body) is cst.IndentedBlock else ():
        if type(stmt) is not cst.FunctionDef or stmt.name.value != "__call__":
            continue
        for dec in stmt.decorators:
            d = dec.decorator
            d = d.func if type(d) is cst.Call else d
            if (d.attr.value if type(d) is cst.Attribute else getattr(d, "value", None)) == "abstractmethod":
                return ABSTRACT
        status = REPLACES
        for sub in walk(stmt.body, into_scopes=False):
            if type(sub) is cst.Attribute and sub.attr.value in ("__call__", "_call_impl", "_wrapped_call_impl"):
                owner = sub.value
                if type(owner) is cst.Call and type(owner.func) is cst.Name and owner.func.value == "super":
                    return SUPER
                status = DELEGATES
        return status
    return None


def _lookup(scope: S.Scope, name: str) -> Optional[S.Scope]:
    first = True
    s = scope
    while s is not None:
        if name in s.declared_global:
            module = s
            while module.parent is not None:
                module = module.parent
            return module if name in module.bindings else None
        if s.kind == S.CLASS_SCOPE and not first:
            s = s.parent
            continue
        if name in s.bindings and name not in s.declared_nonlocal:
            return s
        first = False
        s = s.parent
    return None


def _reaching(binds, use: S.Use, owner: S.Scope, loop_regions) -> list:
    if not binds:
        return []
    if owner is not use.scope:
        # a closure or global read: any binding of the enclosing scope may be the one in force
        return list(binds)
    result = []
    chain = use.chain
    dominator = None
    pos = use.pos
    first_after = bisect.bisect_left(binds, pos, key=_POS)  # binds are in source order
    for k in range(first_after - 1, -1, -1):
        b = binds[k]
        result.append(b)
        bc = b.chain
        if len(bc) <= len(chain) and chain[:len(bc)] == bc:
            dominator = b  # this binding dominates the use
            break
    # bindings later in a loop that holds the use reach it on the next iteration, unless a binding
    # inside that loop (its for target, an assignment before the use) runs again first
    loops = [key for key in chain if key in loop_regions and (dominator is None or key not in dominator.chain)]
    if loops:
        for k in range(first_after, len(binds)):
            b = binds[k]
            if b.pos > pos and any(key in b.chain for key in loops):
                result.append(b)
    return result


_POS = operator.attrgetter("pos")
