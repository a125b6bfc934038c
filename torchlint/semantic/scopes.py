"""Scopes, bindings and uses of one file, built in one pass over the tree before any rule runs.

Python's own rules decide where a name lives: a name bound anywhere in a function is local to it (unless
declared ``global``/``nonlocal``); class bodies are not visible from the methods inside them;
comprehension targets are local to the comprehension; a walrus binds in the enclosing non-comprehension
scope. Every binding form is recorded (parameters, assignment targets incl. tuple/star/attribute/subscript
targets, augmented and annotated assignment, for/with/except targets, walrus, imports incl. function-local
and conditional ones, def/class, del, global/nonlocal, match captures), and every read of a name with how
it is used (attribute or method on it, passed as an argument and to what, returned, iterated, subscripted,
called).

Flow is approximated cheaply and conservatively: each binding and use carries its preorder position and its
*region chain* (the conditional arms enclosing it: if/else arms, loop bodies, try bodies and handlers, match
cases). A binding dominates a use when its chain is a prefix of the use's chain and it comes first.
"""
from __future__ import annotations

from typing import Optional

import libcst as cst

from ..facts.nodes import FIELD_CACHE, NODE_CLASSES, child_fields

MODULE_SCOPE, CLASS_SCOPE, FUNCTION_SCOPE, LAMBDA_SCOPE, COMPREHENSION_SCOPE = (
    "module", "class", "function", "lambda", "comprehension")

# binding forms
PARAM, ASSIGN, AUGASSIGN, ANNASSIGN, FOR, WITH, EXCEPT, WALRUS, IMPORT, DEF, CLASS, DEL, GLOBAL, COMP, MATCH = (
    "param", "assign", "augassign", "annassign", "for", "with", "except", "walrus", "import", "def", "class",
    "del", "global", "comp", "match")
# how a name is used
READ, ATTR, METHOD, ARG, RETURN, ITER, SUBSCRIPT, CALL = (
    "read", "attr", "method", "arg", "return", "iter", "subscript", "call")


class Scope:
    __slots__ = ("kind", "node", "parent", "bindings", "declared_global", "declared_nonlocal", "children",
                 "self_name", "class_node")

    def __init__(self, kind: str, node: cst.CSTNode, parent: Optional["Scope"]) -> None:
        self.kind = kind
        self.node = node
        self.parent = parent
        self.bindings: dict[str, list[Binding]] = {}
        self.declared_global: set[str] = set()
        self.declared_nonlocal: set[str] = set()
        self.children: list[Scope] = []
        self.self_name: Optional[str] = None  # first parameter of a method (not static/class methods)
        self.class_node: Optional[cst.ClassDef] = None  # the class a method belongs to

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        name = getattr(getattr(self.node, "name", None), "value", "")
        return f"<Scope {self.kind} {name}>"


class Binding:
    """One binding of a name. ``value`` is the bound expression for a direct ``name = value`` (or walrus,
    annotated assignment); ``source`` the iterable of a for target / the value of an unpacking / the
    context manager of a with target; ``target`` the whole target expression it is part of."""

    __slots__ = ("name", "scope", "form", "node", "stmt", "value", "source", "target", "annotation", "pos",
                 "chain", "qualified", "typing_only", "uses")

    def __init__(self, name, scope, form, node, stmt, pos, chain, *, value=None, source=None, target=None,
                 annotation=None, qualified=None, typing_only=False) -> None:
        self.name = name
        self.scope: Scope = scope
        self.form = form
        self.node = node
        self.stmt = stmt
        self.value = value
        self.source = source
        self.target = target
        self.annotation = annotation
        self.pos = pos
        self.chain = chain
        self.qualified = qualified  # imports: the dotted name bound
        self.typing_only = typing_only  # imports under ``if TYPE_CHECKING:``
        self.uses: list[Use] = []

    def __repr__(self) -> str:  # pragma: no cover
        return f"<Binding {self.name} {self.form} @{self.pos}>"


class Use:
    __slots__ = ("name", "node", "scope", "how", "attr", "parent", "arg_index", "keyword", "pos", "chain",
                 "bindings", "owner")

    def __init__(self, name, node, scope, how, pos, chain, *, attr=None, parent=None, arg_index=None,
                 keyword=None) -> None:
        self.name = name
        self.node = node
        self.scope: Scope = scope
        self.how = how
        self.attr = attr  # for ATTR/METHOD: the attribute name
        self.parent = parent  # the Attribute / Call / Subscript / Return node around the name
        self.arg_index = arg_index  # for ARG: position (None for a keyword)
        self.keyword = keyword  # for ARG: keyword name
        self.pos = pos
        self.chain = chain
        self.bindings: list[Binding] = []  # bindings that may reach this use
        self.owner: Optional[Scope] = None  # the scope the name resolves in (None: builtin / unbound)

    def __repr__(self) -> str:  # pragma: no cover
        return f"<Use {self.name} {self.how} @{self.pos}>"


_TYPE_CHECKING = frozenset({"TYPE_CHECKING", "typing.TYPE_CHECKING", "t.TYPE_CHECKING"})
_STATIC_DECORATORS = frozenset({"staticmethod", "classmethod"})


def _dotted(node) -> Optional[str]:
    parts = []
    while type(node) is cst.Attribute:
        parts.append(node.attr.value)
        node = node.value
    if type(node) is not cst.Name:
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


class ScopeBuilder:
    """One pass over the tree; fills scopes, bindings and uses."""

    def __init__(self) -> None:
        self.pos = 0
        self.chain: tuple = ()
        self.scope: Optional[Scope] = None
        self.stmt: Optional[cst.CSTNode] = None
        self.typing_only = 0
        self.uses: dict[int, Use] = {}  # id(Name node) -> Use
        self.scope_of_node: dict[int, Scope] = {}  # id(scope node) -> Scope
        self.all_bindings: list[Binding] = []
        self.calls: list[tuple[cst.Call, Scope]] = []
        self.returns: dict[int, list] = {}  # id(function node) -> [(value, chain)]
        self.module_scope: Optional[Scope] = None
        self.self_assigns: dict[int, dict[str, list]] = {}  # id(class) -> attr -> assigned values (None: unpacked)
        self.loop_regions: set = set()
        self.attributes_read: set = set()  # attribute names read anywhere (x.attr in a load context)
        self.strings: set = set()  # the source text of every simple string literal

    # ------------------------------------------------------------------ entry
    def build(self, module: cst.Module) -> Scope:
        scope = self.module_scope = Scope(MODULE_SCOPE, module, None)
        self.scope_of_node[id(module)] = scope
        self.scope = scope
        self._body(module.body)
        return scope

    # ------------------------------------------------------------------ helpers
    def _bind(self, name: str, form: str, node, **kw) -> Binding:
        scope = self.scope
        if form == WALRUS:
            while scope.kind == COMPREHENSION_SCOPE and scope.parent is not None:
                scope = scope.parent
        self.pos += 1
        b = Binding(name, scope, form, node, self.stmt, self.pos, self.chain, **kw)
        scope.bindings.setdefault(name, []).append(b)
        self.all_bindings.append(b)
        return b

    def _use(self, node: cst.Name, how: str = READ, **kw) -> None:
        self.pos += 1
        use = Use(node.value, node, self.scope, how, self.pos, self.chain, **kw)
        self.uses[id(node)] = use

    def _region(self, key) -> tuple:
        old = self.chain
        self.chain = old + (key,)
        return old

    def _body(self, stmts) -> None:
        for stmt in stmts:
            self._stmt(stmt)

    def _suite(self, suite) -> None:
        if suite is None:
            return
        body = suite.body
        if type(body) in (list, tuple):
            self._body(body)
        else:  # pragma: no cover - defensive
            self._stmt(body)

    # ------------------------------------------------------------------ statements
    def _stmt(self, stmt) -> None:
        cls = type(stmt)
        if cls is cst.SimpleStatementLine:
            for small in stmt.body:
                self.stmt = small
                self._small(small)
            return
        self.stmt = stmt
        handler = _STMT_HANDLERS.get(cls)
        if handler is not None:
            handler(self, stmt)
        else:
            self._generic(stmt)

    def _small(self, small) -> None:
        handler = _SMALL_HANDLERS.get(type(small))
        if handler is not None:
            handler(self, small)
        else:
            self._generic(small)

    def _simple_suite(self, suite) -> None:
        if type(suite) is cst.SimpleStatementSuite:
            for small in suite.body:
                self.stmt = small
                self._small(small)
        else:
            self._body(suite.body)

    def _if(self, node: cst.If) -> None:
        self._expr(node.test)
        old = self._region((id(node), 0))
        self._simple_suite(node.body)
        self.chain = old
        orelse = node.orelse
        if orelse is not None:
            old = self._region((id(node), 1))
            if type(orelse) is cst.If:
                self.stmt = orelse
                self._if(orelse)
            else:
                self._simple_suite(orelse.body)
            self.chain = old

    def _if_type_checking(self, node: cst.If) -> bool:
        test = node.test
        return _dotted(test) in _TYPE_CHECKING

    def _if_stmt(self, node: cst.If) -> None:
        if self._if_type_checking(node):
            self.typing_only += 1
            try:
                self._if(node)
            finally:
                self.typing_only -= 1
            return
        self._if(node)

    def _for(self, node: cst.For) -> None:
        self._expr(node.iter)
        old = self._region((id(node), 0))
        self.loop_regions.add((id(node), 0))
        self._target(node.target, FOR, source=node.iter)
        self._simple_suite(node.body)
        self.chain = old
        if node.orelse is not None:
            old = self._region((id(node), 1))
            self._simple_suite(node.orelse.body)
            self.chain = old

    def _while(self, node: cst.While) -> None:
        old = self._region((id(node), 0))
        self.loop_regions.add((id(node), 0))
        self._expr(node.test)
        self._simple_suite(node.body)
        self.chain = old
        if node.orelse is not None:
            old = self._region((id(node), 1))
            self._simple_suite(node.orelse.body)
            self.chain = old

    def _try(self, node) -> None:
        old = self._region((id(node), 0))
        self._simple_suite(node.body)
        if node.orelse is not None:
            self._simple_suite(node.orelse.body)
        self.chain = old
        for i, handler in enumerate(node.handlers):
            old = self._region((id(node), i + 1))
            if handler.type is not None:
                self._expr(handler.type)
            if handler.name is not None and type(handler.name.name) is cst.Name:
                self._bind(handler.name.name.value, EXCEPT, handler.name.name)
            self._simple_suite(handler.body)
            self.chain = old
        if node.finalbody is not None:
            self._simple_suite(node.finalbody.body)

    def _with(self, node: cst.With) -> None:
        for item in node.items:
            self._expr(item.item)
            if item.asname is not None:
                self._target(item.asname.name, WITH, source=item.item)
        self._simple_suite(node.body)

    def _match(self, node) -> None:
        self._expr(node.subject)
        for i, case in enumerate(node.cases):
            old = self._region((id(node), i))
            self._pattern(case.pattern)
            if case.guard is not None:
                self._expr(case.guard)
            self._simple_suite(case.body)
            self.chain = old

    def _pattern(self, pattern) -> None:
        for sub in _walk_nodes(pattern):
            cls = type(sub)
            if cls is cst.MatchAs and sub.name is not None:
                self._bind(sub.name.value, MATCH, sub.name)
            elif cls is cst.MatchStar and sub.name is not None:
                self._bind(sub.name.value, MATCH, sub.name)
            elif cls is cst.MatchMapping and sub.rest is not None:
                self._bind(sub.rest.value, MATCH, sub.rest)
            elif cls is cst.MatchValue:
                self._expr(sub.value)
            elif cls is cst.MatchClass:
                self._expr(sub.cls)

    def _decorators(self, decorators) -> None:
        for dec in decorators:
            self._expr(dec.decorator)

    def _function(self, node: cst.FunctionDef) -> None:
        self._decorators(node.decorators)
        params = node.params
        for p in _all_params(params):
            if p.default is not None:
                self._expr(p.default)
            if p.annotation is not None:
                self._annotation(p.annotation.annotation)
        if node.returns is not None:
            self._annotation(node.returns.annotation)
        outer = self.scope
        self._bind(node.name.value, DEF, node)
        scope = Scope(FUNCTION_SCOPE, node, outer)
        outer.children.append(scope)
        self.scope_of_node[id(node)] = scope
        if outer.kind == CLASS_SCOPE:
            scope.class_node = outer.node
            ordinary = not any(type(d.decorator) is cst.Name and d.decorator.value in _STATIC_DECORATORS
                               for d in node.decorators)
            positional = params.posonly_params or params.params
            if ordinary and positional:
                scope.self_name = positional[0].name.value
        saved = self.scope, self.chain, self.stmt
        self.scope, self.chain = scope, ()
        for p in _all_params(params):
            ann = p.annotation.annotation if p.annotation is not None else None
            self._bind(p.name.value, PARAM, p, annotation=ann, value=p.default)
        self.returns.setdefault(id(node), [])
        self._simple_suite(node.body)
        self.scope, self.chain, self.stmt = saved

    def _class(self, node: cst.ClassDef) -> None:
        self._decorators(node.decorators)
        for arg in node.bases:
            self._expr(arg.value)
        for arg in node.keywords:
            self._expr(arg.value)
        outer = self.scope
        self._bind(node.name.value, CLASS, node)
        scope = Scope(CLASS_SCOPE, node, outer)
        outer.children.append(scope)
        self.scope_of_node[id(node)] = scope
        saved = self.scope, self.chain, self.stmt
        self.scope, self.chain = scope, ()
        self._simple_suite(node.body)
        self.scope, self.chain, self.stmt = saved

    # ------------------------------------------------------------------ small statements
    def _assign(self, node: cst.Assign) -> None:
        self._expr(node.value)
        for t in node.targets:
            self._target(t.target, ASSIGN, value=node.value)

    def _annassign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._expr(node.value)
        self._annotation(node.annotation.annotation)
        target = node.target
        if type(target) is cst.Name:
            if node.value is not None or self.scope.kind != MODULE_SCOPE:
                self._bind(target.value, ANNASSIGN, target, value=node.value,
                           annotation=node.annotation.annotation)
        else:
            self._target(target, ANNASSIGN, value=node.value)

    def _augassign(self, node: cst.AugAssign) -> None:
        self._expr(node.value)
        target = node.target
        if type(target) is cst.Name:
            self._use(target)
            self._bind(target.value, AUGASSIGN, target, value=node.value)
        else:
            self._expr(target)

    def _del(self, node: cst.Del) -> None:
        for sub in _flatten_targets(node.target):
            if type(sub) is cst.Name:
                self._bind(sub.value, DEL, sub)
            else:
                self._expr(sub)

    def _global(self, node) -> None:
        target = self.scope.declared_global if type(node) is cst.Global else self.scope.declared_nonlocal
        for item in node.names:
            target.add(item.name.value)

    def _return(self, node: cst.Return) -> None:
        value = node.value
        if value is None:
            self._record_return(None)
            return
        if type(value) is cst.Name:
            self._use(value, RETURN, parent=node)
        else:
            self._expr(value)
        self._record_return(value)

    def _record_return(self, value) -> None:
        scope = self.scope
        if scope.kind == FUNCTION_SCOPE:
            self.returns.setdefault(id(scope.node), []).append(value)

    def _import(self, node: cst.Import) -> None:
        for alias in node.names:
            full = _dotted(alias.name)
            if full is None:
                continue
            if alias.asname is not None and type(alias.asname.name) is cst.Name:
                self._bind(alias.asname.name.value, IMPORT, alias, qualified=full,
                           typing_only=self.typing_only > 0)
            else:
                head = full.split(".", 1)[0]
                self._bind(head, IMPORT, alias, qualified=head, typing_only=self.typing_only > 0)

    def _importfrom(self, node: cst.ImportFrom) -> None:
        if type(node.names) is cst.ImportStar:
            return
        dots = "." * len(node.relative)
        mod = _dotted(node.module) if node.module is not None else ""
        base = dots + (mod or "")
        for alias in node.names:
            if type(alias.name) is not cst.Name:
                continue
            name = alias.name.value
            local = name
            if alias.asname is not None and type(alias.asname.name) is cst.Name:
                local = alias.asname.name.value
            qualified = base + name if base.endswith(".") else f"{base}.{name}"
            self._bind(local, IMPORT, alias, qualified=qualified, typing_only=self.typing_only > 0)

    # ------------------------------------------------------------------ targets
    def _target(self, target, form: str, *, value=None, source=None, whole=None) -> None:
        whole = whole if whole is not None else target
        cls = type(target)
        if cls is cst.Name:
            if target is whole:
                self._bind(target.value, form, target, value=value, source=source, target=whole)
            else:
                self._bind(target.value, form, target, source=source if source is not None else value, target=whole)
        elif cls is cst.Tuple or cls is cst.List:
            for el in target.elements:
                self._target(el.value, form, value=value, source=source, whole=whole)
        elif cls is cst.StarredElement:
            self._target(target.value, form, value=value, source=source, whole=whole)
        else:  # attribute / subscript targets: their parts are reads
            if cls is cst.Attribute and type(target.value) is cst.Name and form in (ASSIGN, ANNASSIGN):
                scope = self.scope
                if scope.self_name is not None and target.value.value == scope.self_name:
                    table = self.self_assigns.setdefault(id(scope.class_node), {})
                    table.setdefault(target.attr.value, []).append(value if target is whole else None)
            if cls is cst.Attribute:
                self._expr(target.value)  # the attribute itself is written, not read
            else:
                self._expr(target)

    def _annotation(self, ann) -> None:
        self.typing_only += 1
        try:
            self._expr(ann)
        finally:
            self.typing_only -= 1

    # ------------------------------------------------------------------ expressions
    def _expr(self, node) -> None:
        cls = type(node)
        if cls is cst.Name:
            self._use(node)
            return
        handler = _EXPR_HANDLERS.get(cls)
        if handler is not None:
            handler(self, node)
        else:
            self._generic(node)

    def _generic(self, node) -> None:
        classes = NODE_CLASSES
        for name in FIELD_CACHE.get(type(node)) or child_fields(type(node)):
            value = getattr(node, name)
            kind = type(value)
            if kind in classes:
                self._dispatch(value)
            elif kind is tuple or kind is list:
                for item in value:
                    if type(item) in classes:
                        self._dispatch(item)

    def _dispatch(self, node) -> None:
        cls = type(node)
        if cls is cst.Name:
            self._use(node)
        elif cls in _STMT_HANDLERS or cls is cst.SimpleStatementLine:
            self._stmt(node)
        elif cls in _SMALL_HANDLERS:
            self._small(node)
        else:
            handler = _EXPR_HANDLERS.get(cls)
            if handler is not None:
                handler(self, node)
            else:
                self._generic(node)

    def _attribute(self, node: cst.Attribute, method: bool = False, call=None) -> None:
        self.attributes_read.add(node.attr.value)
        value = node.value
        if type(value) is cst.Name:
            self._use(value, METHOD if method else ATTR, attr=node.attr.value, parent=call if method else node)
        else:
            self._expr(value)

    def _call(self, node: cst.Call) -> None:
        func = node.func
        ftype = type(func)
        if ftype is cst.Attribute:
            self._attribute(func, method=True, call=node)
        elif ftype is cst.Name:
            self._use(func, CALL, parent=node)
        else:
            self._expr(func)
        index = 0
        for arg in node.args:
            value = arg.value
            if type(value) is cst.Name and not arg.star:
                keyword = arg.keyword.value if arg.keyword is not None else None
                self._use(value, ARG, parent=node, arg_index=None if keyword else index, keyword=keyword)
            else:
                self._expr(value)
            if arg.keyword is None and not arg.star:
                index += 1
        self.calls.append((node, self.scope))

    def _subscript(self, node: cst.Subscript) -> None:
        value = node.value
        if type(value) is cst.Name:
            self._use(value, SUBSCRIPT, parent=node)
        else:
            self._expr(value)
        for el in node.slice:
            self._generic(el)

    def _lambda(self, node: cst.Lambda) -> None:
        for p in _all_params(node.params):
            if p.default is not None:
                self._expr(p.default)
        outer = self.scope
        scope = Scope(LAMBDA_SCOPE, node, outer)
        outer.children.append(scope)
        self.scope_of_node[id(node)] = scope
        saved = self.scope, self.chain
        self.scope, self.chain = scope, ()
        for p in _all_params(node.params):
            self._bind(p.name.value, PARAM, p)
        self._expr(node.body)
        self.scope, self.chain = saved

    def _comprehension(self, node) -> None:
        comp = node.for_in
        self._expr(comp.iter)  # the first iterable is evaluated in the enclosing scope
        outer = self.scope
        scope = Scope(COMPREHENSION_SCOPE, node, outer)
        outer.children.append(scope)
        self.scope_of_node[id(node)] = scope
        saved = self.scope, self.chain
        self.scope = scope
        first = True
        while comp is not None:
            if not first:
                self._expr(comp.iter)
            first = False
            self._target(comp.target, COMP, source=comp.iter)
            for cond in comp.ifs:
                self._expr(cond.test)
            comp = comp.inner_for_in
        if type(node) is cst.DictComp:
            self._expr(node.key)
            self._expr(node.value)
        else:
            self._expr(node.elt)
        self.scope, self.chain = saved

    def _walrus(self, node: cst.NamedExpr) -> None:
        self._expr(node.value)
        if type(node.target) is cst.Name:
            self._bind(node.target.value, WALRUS, node.target, value=node.value)

    def _ifexp(self, node: cst.IfExp) -> None:
        self._expr(node.test)
        old = self._region((id(node), 0))
        self._expr(node.body)
        self.chain = old + ((id(node), 1),)
        self._expr(node.orelse)
        self.chain = old

    def _arg(self, node: cst.Arg) -> None:
        self._expr(node.value)

    def _string(self, node: cst.SimpleString) -> None:
        self.strings.add(node.value)

    def _skip(self, node) -> None:
        return


def _all_params(params: cst.Parameters):
    yield from params.posonly_params
    yield from params.params
    if isinstance(params.star_arg, cst.Param):
        yield params.star_arg
    yield from params.kwonly_params
    if params.star_kwarg is not None:
        yield params.star_kwarg


def _flatten_targets(target):
    cls = type(target)
    if cls is cst.Tuple or cls is cst.List:
        for el in target.elements:
            yield from _flatten_targets(el.value)
    else:
        yield target


def _walk_nodes(node):
    stack = [node]
    classes = NODE_CLASSES
    while stack:
        cur = stack.pop()
        yield cur
        for name in FIELD_CACHE.get(type(cur)) or child_fields(type(cur)):
            value = getattr(cur, name)
            kind = type(value)
            if kind in classes:
                stack.append(value)
            elif kind is tuple or kind is list:
                stack.extend(v for v in value if type(v) in classes)


_STMT_HANDLERS = {
    cst.If: ScopeBuilder._if_stmt,
    cst.For: ScopeBuilder._for,
    cst.While: ScopeBuilder._while,
    cst.Try: ScopeBuilder._try,
    cst.With: ScopeBuilder._with,
    cst.FunctionDef: ScopeBuilder._function,
    cst.ClassDef: ScopeBuilder._class,
}
if hasattr(cst, "TryStar"):
    _STMT_HANDLERS[cst.TryStar] = ScopeBuilder._try
if hasattr(cst, "Match"):
    _STMT_HANDLERS[cst.Match] = ScopeBuilder._match
_SMALL_HANDLERS = {
    cst.Assign: ScopeBuilder._assign,
    cst.AnnAssign: ScopeBuilder._annassign,
    cst.AugAssign: ScopeBuilder._augassign,
    cst.Del: ScopeBuilder._del,
    cst.Global: ScopeBuilder._global,
    cst.Nonlocal: ScopeBuilder._global,
    cst.Return: ScopeBuilder._return,
    cst.Import: ScopeBuilder._import,
    cst.ImportFrom: ScopeBuilder._importfrom,
}
_EXPR_HANDLERS = {
    cst.Attribute: ScopeBuilder._attribute,
    cst.Call: ScopeBuilder._call,
    cst.Subscript: ScopeBuilder._subscript,
    cst.Lambda: ScopeBuilder._lambda,
    cst.ListComp: ScopeBuilder._comprehension,
    cst.SetComp: ScopeBuilder._comprehension,
    cst.GeneratorExp: ScopeBuilder._comprehension,
    cst.DictComp: ScopeBuilder._comprehension,
    cst.NamedExpr: ScopeBuilder._walrus,
    cst.IfExp: ScopeBuilder._ifexp,
    # names that are not reads
    cst.Arg: ScopeBuilder._arg,
    cst.Integer: ScopeBuilder._skip,
    cst.Float: ScopeBuilder._skip,
    cst.Imaginary: ScopeBuilder._skip,
    cst.SimpleString: ScopeBuilder._string,
}
