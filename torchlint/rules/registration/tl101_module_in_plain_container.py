from __future__ import annotations

from typing import Optional

import libcst as cst

from ...facts.containers import attr_is_plain_container, container_holding, empty_container, is_plain_container_expr
from ... import fixsafety
from ...facts.kinds import MODULE, iter_self_assignments
from ...facts.nodes import self_attribute, walk
from ...facts.usage import places_itself_in_forward
from ...rule import SAFE, Fix, Rule
from ...semantic.scopes import PARAM

_FILL_METHODS = {"append": 0, "insert": 1, "add": 0, "extend": 0, "update": 0, "setdefault": 1}
_REPLACEMENT = {"list": "ModuleList", "tuple": "ModuleList", "set": "ModuleList", "dict": "ModuleDict"}
_REGISTERING_CALLS = frozenset({"add_module", "register_module", "setattr"})


_CONTAINER_VALUES = (cst.List, cst.ListComp, cst.Tuple, cst.Dict, cst.DictComp, cst.Set, cst.SetComp, cst.Call,
                     cst.BinaryOperation)


class ModuleInPlainContainer(Rule):
    """
    ## What it does
    Finds sub-modules of an `nn.Module` kept in a plain `list`, `tuple`, `set` or `dict` attribute: a
    literal or comprehension of layer constructions, `list(...)` of them, a local list of layers assigned
    to `self`, or an attribute initialised empty and then filled with `append`, `extend`, `+=` or
    `self.x[k] = layer`.

    Silent on items of an in-file Module class without known parameters whose forward moves its own
    state to the input's device (`self.resampler.to(x.device)`): `.to(device)` need not reach it. Silent
    likewise on a literal of such classes (not torch's, without known parameters) when every read of the
    attribute is a `for` loop that uses each element only through `.to(...)` (`f.to(x).apply(x)`), and
    on `self.x = [module]` where `module` is an argument of the method: a one-element wrapper around a
    Module the caller owns keeps it out of this module's parameters and state_dict on purpose.

    ## Why is this bad?
    `nn.Module` registers a child only when a Module (or an `nn.ModuleList` / `nn.ModuleDict`) is assigned
    to an attribute. Layers inside a plain container are invisible to it: `parameters()` skips them, so
    the optimizer never updates them; `.to(device)` / `.cuda()` do not move them, so the forward fails
    on a GPU or silently runs them on the CPU; `state_dict()` does not save them, so a checkpoint loses
    them; `model.eval()` does not reach their dropout and batch-norm layers. Training runs without an
    error and those layers never learn.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = [nn.Linear(8, 8) for _ in range(4)]
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(8, 8) for _ in range(4)])
    ```
    Use `nn.ModuleDict` for a dict with string keys, and `nn.Sequential` when the layers are applied in order.

    ## Fix safety
    Wraps the value in `nn.ModuleList` (a list literal or comprehension, a local list, an empty list
    filled later, a helper method's list) or `nn.ModuleDict` (a dict literal or comprehension). Safe only
    when all of this is shown (`torchlint/fixsafety.py`):
    - every element put in it (literal, comprehension, `append`, `extend`, `insert`, `+=`, `x[i] = ...`)
      is provably a Module: a function such as `F.relu` or `torch.tanh`, a lambda, a number, a nested
      container or anything of unknown kind means no fix (`nn.ModuleList` raises `TypeError`);
    - every use of the attribute in the file (`<obj>.<attr>` outside other classes' methods) is supported
      by the replacement: indexing, iteration, `len`, `in`, truthiness, `*x`, the iterating builtins, and
      the methods the container has (`append`, `extend`, `insert`, `pop(i)`; `items`, `keys`, `values`,
      `pop(k)`, `update`, `clear`). `.sort()`, `.reverse()`, `.copy()`, `.get()`, `.setdefault()`, `+`, `*`,
      `|`, `==`, slice assignment, `isinstance(...)` or another assignment of the attribute mean no fix;
      aliases, other attributes it is stored in, and the parameters of in-file functions and methods it is
      passed to are followed; a use that hands it on further (an argument of a function of another module,
      `return`, an element of another container) makes the fix unsafe;
    - dict keys are valid `nn.ModuleDict` keys: strings, not empty, without `.`, not an attribute of
      `nn.Module` (`"train"`, `"training"`, `"eval"`, `"forward"`, anything starting with `_`); keys of a
      comprehension are shown valid only for `str(i)` / `f"name{i}"` over a `range`, otherwise unsafe;
    - a local list is not used after it is wrapped (the wrapper copies it) and is not wrapped in a loop;
    - the assignment is in a method whose first parameter is the Module, and `nn` (or `torch.nn`) is bound
      to `torch.nn` where the fix writes it (not a local variable, not an import that exists only in
      another function or under `if TYPE_CHECKING:`); comments are kept;
    - the assignment runs after `super().__init__()` (torch refuses a Module assigned before it).
    No fix is offered for tuples, sets and nested containers, whose behaviour would change.
    """

    code = "TL101"
    name = "module-in-plain-container"
    summary = "Layers kept in a plain list, tuple, set or dict attribute are never registered."
    message = ("sub-modules kept in a plain {container} are not registered (not in parameters(), "
               "not moved by .to(), not saved); use nn.{replacement}")
    fix_availability = SAFE
    # What the container holds, and how to register it (TL102 reuses this class for parameters).
    item_kind = MODULE
    replacements = _REPLACEMENT
    registering_calls = _REGISTERING_CALLS

    # ------------------------------------------------------------------ self.x = [Module(), ...]
    def visit_Assign(self, node: cst.Assign) -> None:
        ctx = self.ctx
        if not ctx.in_module_class or ctx.current_function is None:
            return
        self_name = ctx.func_stack[-1].self_name
        for target in node.targets:
            t = target.target
            attr = self_attribute(t, self_name)
            if attr is not None:
                self._check_attr_value(attr, node.value)
            elif isinstance(t, cst.Subscript):
                owner_attr = self_attribute(t.value, self_name)
                if owner_attr is not None and (  # self.d[k] = layer, or a container of layers (dict of dicts)
                        ctx.kind_of(node.value) == self.item_kind
                        or container_holding(ctx, node.value, self._is_item) is not None):
                    self._check_fill(owner_attr, node.value)

    def _check_attr_value(self, attr: str, value: cst.BaseExpression) -> None:
        # what the value is first (cheap on the usual ``self.x = nn.Linear(...)``), then whether some other
        # assignment of the attribute registers it after all
        ctx = self.ctx
        if self._borrowed_reference(value):
            return
        container = container_holding(ctx, value, self._is_item)
        if container is not None:
            if self._attr_stays_plain(attr) and not self._moved_at_every_use(attr, value):
                self._report(value, container, self._wrap_fix(value, container))
            return
        if isinstance(value, cst.Name):
            bindings = ctx.model.bindings_at(value)
            if not bindings or not all(isinstance(b.value, _CONTAINER_VALUES) for b in bindings):
                return  # a parameter, a for target, a call result: not a local container built here
            container = self._local_container_of_modules(value.value)
            if container is not None and self._attr_stays_plain(attr):
                self._report(value, container, self._wrap_fix(value, container))
            return
        container = self._helper_container(value)
        if container is not None and self._attr_stays_plain(attr):
            fix = self._make_fix([(value, self._wrapped(value, self.replacements["list"]))]) \
                if container == "list" else None
            self._report(value, container, fix)

    def _helper_container(self, value: cst.BaseExpression) -> Optional[str]:
        """``self.x = self._make_layers(...)`` where that method of the class builds a local list of
        layers and returns it (and does nothing else with it)."""
        ctx = self.ctx
        if not (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                and ctx.is_self(value.func.value)):
            return None
        name = value.func.attr.value
        method = next((m for m in ctx.current_class.body.body
                       if isinstance(m, cst.FunctionDef) and m.name.value == name), None)
        if method is None or method is ctx.current_function:
            return None
        returned = {sub.value.value if isinstance(sub.value, cst.Name) else None
                    for sub in walk(method.body, into_scopes=False) if isinstance(sub, cst.Return)}
        if len(returned) != 1 or None in returned:
            return None
        return self._local_container_of_modules(returned.pop(), method, allow_return=True)

    def _borrowed_reference(self, value: cst.BaseExpression) -> bool:
        """``self.x = [module]`` where ``module`` is an argument of the method: a one-element wrapper
        around a Module the caller owns (and registers) has no purpose but to keep it out of this
        module's parameters and state_dict; nothing built here goes unregistered."""
        if not (isinstance(value, (cst.List, cst.Tuple)) and len(value.elements) == 1):
            return False
        element = value.elements[0]
        if not (isinstance(element, cst.Element) and isinstance(element.value, cst.Name)):
            return False
        bindings = self.ctx.model.bindings_at(element.value)
        return bool(bindings) and all(b.form == PARAM for b in bindings)

    def _moved_at_every_use(self, attr: str, value: cst.BaseExpression) -> bool:
        """Every element of the literal is built from a project class without known parameters, and every read of
        ``self.<attr>`` in the class is a ``for`` loop whose body only uses the element through ``.to(...)``
        (``for f in self.filters: y = f.to(x).apply(x)``): the code moves each one where it uses it,
        so ``.to(device)`` need not reach them and there is nothing to train."""
        ctx = self.ctx
        if isinstance(value, (cst.List, cst.Tuple)):
            items = [el.value for el in value.elements if isinstance(el, cst.Element)]
        else:
            return False
        if len(items) != len(value.elements) or not items:
            return False
        for item in items:
            cls = ctx.kinds.module_class_of_call(item)[0] if isinstance(item, cst.Call) else None
            if cls is None or "." in cls or ctx.kinds.class_has_parameters(cls) is True:
                return False  # a library's layers (torch's: parameters, or train/eval behaviour .eval() must reach)
        cls_node = ctx.current_class
        reads = 0
        for method in cls_node.body.body:
            if not isinstance(method, cst.FunctionDef) or not method.params.params:
                continue
            self_name = method.params.params[0].name.value
            loops, stores = {}, set()
            for sub in walk(method.body, into_scopes=False):
                if isinstance(sub, cst.For) and self_attribute(sub.iter, self_name) == attr:
                    loops[id(sub.iter)] = sub
                elif isinstance(sub, cst.Assign):
                    stores.update(id(t.target) for t in sub.targets)
            for sub in walk(method.body, into_scopes=False):
                if not (isinstance(sub, cst.Attribute) and self_attribute(sub, self_name) == attr) or id(sub) in stores:
                    continue
                loop = loops.get(id(sub))
                if loop is None or not isinstance(loop.target, cst.Name) or not _only_moved(loop, loop.target.value):
                    return False
                reads += 1
        return reads > 0

    def _attr_stays_plain(self, attr: str) -> bool:
        cls = self.ctx.current_class
        return cls is not None and _all_plain_or_names(self.ctx, cls, attr)

    # ------------------------------------------------------------------ self.x.append(Module())
    def visit_Call(self, node: cst.Call) -> None:
        ctx = self.ctx
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in _FILL_METHODS):
            return
        if not ctx.in_module_class or ctx.current_function is None:
            return
        attr = self_attribute(func.value, ctx.func_stack[-1].self_name)
        if attr is None:
            return
        index = _FILL_METHODS[func.attr.value]
        if len(node.args) <= index:
            return
        arg = node.args[index].value
        if func.attr.value in ("extend", "update"):
            if container_holding(ctx, arg, self._is_item) is None:
                return
        elif not self._is_item(arg) and not (  # a row of layers built locally: a nested plain list
                isinstance(arg, cst.Name) and func.attr.value != "extend"
                and self._local_container_of_modules(arg.value) is not None):
            return
        self._check_fill(attr, arg)

    def _fills_plain_attr(self, call: cst.Call, func: cst.FunctionDef) -> bool:
        """``self.<attr>.append(x)`` (or another fill method) in a method of the class being visited, where every
        assignment of ``self.<attr>`` is a plain container."""
        f = call.func
        ctx = self.ctx
        if not (isinstance(f, cst.Attribute) and f.attr.value in _FILL_METHODS) or ctx.current_class is None:
            return False
        scope = ctx.model.function_scope(func)
        attr = self_attribute(f.value, scope.self_name if scope is not None else None)
        return attr is not None and attr_is_plain_container(ctx, ctx.current_class, attr) is not None

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        ctx = self.ctx
        if not isinstance(node.operator, cst.AddAssign) or not ctx.in_module_class or ctx.current_function is None:
            return
        attr = self_attribute(node.target, ctx.func_stack[-1].self_name)
        if attr is not None and container_holding(ctx, node.value, self._is_item) is not None:
            self._check_fill(attr, node.value)

    def _check_fill(self, attr: str, reported: cst.CSTNode) -> None:
        ctx = self.ctx
        cls = ctx.current_class
        container = attr_is_plain_container(ctx, cls, attr) if cls is not None else None
        if container is None:
            return
        fix = None
        if container == "list":
            inits = [v for v in _attr_values(cls, attr) if empty_container(ctx, v) == "list"]
            if inits:
                fix = self._make_fix([(v, self._wrapped(None, self.replacements["list"], at=v)) for v in inits])
        self._report(reported, container, fix)

    # ------------------------------------------------------------------ helpers
    def _is_item(self, node: cst.BaseExpression) -> bool:
        """A module built here and registered nowhere else: a construction, or a local name bound to one
        that is not also assigned to an attribute or passed to a call. ``self.a`` is already registered."""
        if isinstance(node, cst.Attribute) or self.ctx.kind_of(node) != self.item_kind:
            return False
        if isinstance(node, cst.Name):
            return not self._name_registered_elsewhere(node.value)
        if isinstance(node, cst.Call):
            return self._construction_counts(node)
        return True

    def _construction_counts(self, node: cst.Call) -> bool:
        if not self.ctx.kinds.construction_matters(node):
            return False
        cls = self.ctx.kinds.module_class_of(node.func)
        return not (cls is not None and "." not in cls and places_itself_in_forward(self.ctx, cls))

    def _registers_by_hand(self) -> bool:
        """The method calls ``self.add_module`` / ``register_module`` / ``setattr``: layers kept in a
        list for convenience are registered there too (transformers' PredictionBlock does this)."""
        func = self.ctx.current_function
        cached = getattr(self, "_by_hand", None)
        if cached is not None and cached[0] is func:
            return cached[1]
        found = not self.ctx.model.called_names(func).isdisjoint(self.registering_calls)
        self._by_hand = (func, found)
        return found

    def _name_registered_elsewhere(self, name: str) -> bool:
        func = self.ctx.current_function
        if func is None:
            return True
        for sub in walk(func.body, into_scopes=False):
            if isinstance(sub, cst.Assign) and isinstance(sub.value, cst.Name) and sub.value.value == name \
                    and any(isinstance(t.target, cst.Attribute) for t in sub.targets):
                return True
            if isinstance(sub, cst.Call):
                f = sub.func
                if isinstance(f, cst.Attribute) and f.attr.value in _FILL_METHODS:
                    continue
                if any(isinstance(a.value, cst.Name) and a.value.value == name for a in sub.args):
                    return True
        return False

    def _report(self, node: cst.CSTNode, container: str, fix: Optional[Fix]) -> None:
        if self._registers_by_hand():
            return
        self.report(node, container=container, replacement=self.replacements[container], fix=fix)

    def _local_container_of_modules(self, name: str, func=None, allow_return: bool = False) -> Optional[str]:
        """A local list built from layers in this function (or ``func``) and used nowhere else."""
        func = func or self.ctx.current_function
        container, holds = None, False
        for sub in walk(func.body, into_scopes=False):
            if isinstance(sub, cst.Assign):
                if any(isinstance(t.target, cst.Name) and t.target.value == name for t in sub.targets):
                    kind = empty_container(self.ctx, sub.value)
                    held = container_holding(self.ctx, sub.value, self._is_item)
                    if kind is None and held is None:
                        return None
                    container = kind or held
                    holds = holds or held is not None
            elif isinstance(sub, cst.Call):
                f = sub.func
                if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) and f.value.value == name:
                    method = f.attr.value
                    if method in _FILL_METHODS and len(sub.args) > _FILL_METHODS[method]:
                        arg = sub.args[_FILL_METHODS[method]].value
                        if method in ("extend", "update"):
                            holds = holds or container_holding(self.ctx, arg, self._is_item) is not None
                        else:
                            holds = holds or self._is_item(arg)
                    continue
                callee = f.attr.value if isinstance(f, cst.Attribute) else getattr(f, "value", None)
                if callee in self.registering_calls:
                    return None
                if self._fills_plain_attr(sub, func):
                    continue  # self.grid.append(row): kept in another plain container, still unregistered
                if any(isinstance(a.value, cst.Name) and a.value.value == name for a in sub.args):
                    return None  # passed on, e.g. nn.Sequential(*layers): registered there
            elif isinstance(sub, cst.AugAssign) and isinstance(sub.target, cst.Name) and sub.target.value == name:
                holds = holds or container_holding(self.ctx, sub.value, self._is_item) is not None
            elif not allow_return and isinstance(sub, cst.Return) and sub.value is not None \
                    and isinstance(sub.value, cst.Name) and sub.value.value == name:
                return None
        return container if holds and container in ("list", "dict") else None

    def _wrapped(self, value: Optional[cst.BaseExpression], cls_name: str,
                 at: Optional[cst.CSTNode] = None) -> Optional[cst.Call]:
        if not self.ctx.want_fixes:
            return None
        func = fixsafety.expr_for(self.ctx, f"torch.nn.{cls_name}", at if at is not None else value)
        if func is None:
            return None
        return cst.Call(func=func, args=[cst.Arg(value=value)] if value is not None else [])

    def _make_fix(self, pairs) -> Optional[Fix]:
        """Offer the wrap only as safe as the class's uses of the attribute show it to be (fixsafety)."""
        if not self.ctx.want_fixes or not pairs or any(new is None for _old, new in pairs):
            return None
        ctx = self.ctx
        cls = ctx.current_class
        wrapper = _wrapper_name(pairs[0][1])
        if cls is None or wrapper is None:
            return None
        olds = [old for old, _new in pairs]
        by_value = self.__dict__.setdefault("_attr_by_value", {})
        if id(cls) not in by_value:  # once per class: which attribute each assigned value goes to
            by_value[id(cls)] = {id(value): name for name, value in iter_self_assignments(cls)}
        attrs = {by_value[id(cls)][id(old)] for old in olds if id(old) in by_value[id(cls)]}
        if len(attrs) != 1:
            return None
        attr = attrs.pop()
        verdicts = [fixsafety.self_verdict(ctx, old, self._receiver_of(cls, old)) for old in olds]
        verdicts += [fixsafety.module_initialised_verdict(ctx, old) for old in olds]
        iterables, local = [], None
        for old in olds:
            if isinstance(old, cst.Name):
                func = self._function_holding(old)
                local = (func, old.value, old) if func is not None else None
                if local is None:
                    verdicts.append((fixsafety.NO, "local list not found"))
            elif isinstance(old, cst.Call) and not _is_empty_call(old):
                helper = self._helper_list(cls, old)
                if helper is None:
                    verdicts.append((fixsafety.NO, "helper's list not found"))
                else:
                    local = helper
            elif not _is_empty_call(old):
                iterables.append(old)
        verdicts += fixsafety.container_change(ctx, cls, attr, wrapper, olds, iterables=iterables, local=local)
        return fixsafety.offer(ctx, SAFE, pairs, f"wrap in nn.{wrapper}", verdicts=verdicts)

    def _receiver_of(self, cls: cst.ClassDef, old: cst.CSTNode) -> Optional[str]:
        """The name ``self`` has in the method assigning ``old`` to ``self.<attr>``."""
        scope = self.ctx.model.scope_of(old)
        while scope is not None and scope.kind in ("lambda", "comprehension"):
            scope = scope.parent
        if scope is not None and scope.kind == "function":
            return scope.self_name if scope.class_node is cls else None
        for method in cls.body.body:
            if isinstance(method, cst.FunctionDef):
                for sub in walk(method.body, into_scopes=False):
                    if isinstance(sub, cst.Assign) and sub.value is old:
                        for t in sub.targets:
                            if isinstance(t.target, cst.Attribute) and isinstance(t.target.value, cst.Name):
                                return t.target.value.value
        return None

    def _function_holding(self, node: cst.CSTNode) -> Optional[cst.FunctionDef]:
        scope = self.ctx.model.scope_of(node)
        while scope is not None and scope.kind in ("lambda", "comprehension"):
            scope = scope.parent
        if scope is not None and scope.kind != "module":
            func = self.ctx.current_function
            return func if scope.node is func else None
        for anc in reversed(self.ctx.stack):
            if isinstance(anc, cst.FunctionDef):
                if any(sub is node for sub in walk(anc.body, into_scopes=False)):
                    return anc
                return None
        return None

    def _helper_list(self, cls: cst.ClassDef, call: cst.Call):
        """``self._make_layers()``: (helper method, name of the local list it returns, the returned Name)."""
        if not isinstance(call.func, cst.Attribute):
            return None
        method = next((m for m in cls.body.body
                       if isinstance(m, cst.FunctionDef) and m.name.value == call.func.attr.value), None)
        if method is None:
            return None
        returns = [sub for sub in walk(method.body, into_scopes=False) if isinstance(sub, cst.Return)]
        if len(returns) != 1 or not isinstance(returns[0].value, cst.Name):
            return None
        return method, returns[0].value.value, returns[0].value

    def _wrap_fix(self, value: cst.BaseExpression, container: str) -> Optional[Fix]:
        if not self.ctx.want_fixes or self._nested(value):
            return None  # an nn container of plain containers would raise TypeError
        if container == "list" and isinstance(value, (cst.List, cst.ListComp, cst.Name)):
            return self._make_fix([(value, self._wrapped(value, self.replacements["list"]))])
        if container == "dict" and isinstance(value, cst.Dict) and all(
                isinstance(el, cst.DictElement) and isinstance(el.key, cst.SimpleString) for el in value.elements):
            return self._make_fix([(value, self._wrapped(value, self.replacements["dict"]))])
        if container == "dict" and isinstance(value, cst.DictComp) and _string_key(value.key):
            return self._make_fix([(value, self._wrapped(value, self.replacements["dict"]))])
        return None

    def _nested(self, value: cst.BaseExpression) -> bool:
        """Some element of the literal or comprehension is itself a plain container."""
        if isinstance(value, (cst.ListComp, cst.SetComp, cst.GeneratorExp)):
            elements = [value.elt]
        elif isinstance(value, cst.DictComp):
            elements = [value.value]
        elif isinstance(value, (cst.List, cst.Tuple, cst.Set)):
            elements = [el.value for el in value.elements if isinstance(el, cst.Element)]
        elif isinstance(value, cst.Dict):
            elements = [el.value for el in value.elements if isinstance(el, cst.DictElement)]
        else:
            return False
        return any(is_plain_container_expr(self.ctx, el) for el in elements)


def _only_moved(loop: cst.For, name: str) -> bool:
    """Every read of the loop variable in the loop's body is the receiver of ``.to(...)``."""
    moved, seen = set(), 0
    for sub in walk(loop.body, into_scopes=False):
        if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) and sub.func.attr.value == "to" \
                and isinstance(sub.func.value, cst.Name) and sub.func.value.value == name and sub.args:
            moved.add(id(sub.func.value))
        elif isinstance(sub, cst.Name) and sub.value == name:
            seen += 1
            if id(sub) not in moved:
                return False
    return seen > 0


def _wrapper_name(new: cst.CSTNode) -> Optional[str]:
    if isinstance(new, cst.Call) and isinstance(new.func, (cst.Attribute, cst.Name)):
        name = new.func.attr.value if isinstance(new.func, cst.Attribute) else new.func.value
        return name if name in fixsafety.WRAPPERS else None
    return None


def _is_empty_call(node: cst.CSTNode) -> bool:
    return isinstance(node, (cst.List, cst.Dict)) and not node.elements or (
        isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in ("list", "dict")
        and not node.args)


def _string_key(key: cst.BaseExpression) -> bool:
    """A key that is a ``str`` whatever the loop yields (nn.ModuleDict needs string keys)."""
    return isinstance(key, (cst.SimpleString, cst.FormattedString, cst.ConcatenatedString)) or (
        isinstance(key, cst.Call) and isinstance(key.func, cst.Name) and key.func.value == "str")


def _attr_values(cls: cst.ClassDef, attr: str):
    from ...facts.containers import self_attr_values

    return list(self_attr_values(cls, attr))


def _all_plain_or_names(ctx, cls: cst.ClassDef, attr: str) -> bool:
    """No assignment of ``self.<attr>`` in the class wraps it in a registering container."""
    for value in _attr_values(cls, attr):
        if isinstance(value, cst.Call) and ctx.kind_of(value) == MODULE:
            return False
    return True
