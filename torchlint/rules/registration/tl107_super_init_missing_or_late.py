from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import torch_facts
from ...facts.kinds import MODULE, PARAMETER
from ...facts.nodes import self_attribute, walk
from ...facts.usage import only_raises
from ...rule import Rule

_ERRORS = {
    MODULE: "AttributeError: cannot assign module before Module.__init__() call",
    PARAMETER: "AttributeError: cannot assign parameters before Module.__init__() call",
    "register_buffer": "AttributeError: cannot assign buffer before Module.__init__() call",
    "register_parameter": "AttributeError: cannot assign parameter before Module.__init__() call",
    "add_module": "AttributeError: cannot assign module before Module.__init__() call",
    "register_module": "AttributeError: cannot assign module before Module.__init__() call",
}


_INERT = (cst.SimpleString, cst.ConcatenatedString, cst.Ellipsis)  # a docstring or ``...`` statement


def _super_init_call(node: cst.Call, self_name: str) -> Optional[str]:
    """``super().__init__(...)`` -> "super"; ``super(C, self).__init__`` -> "C";
    ``Base.__init__(self, ...)`` -> "base"; else None."""
    func = node.func
    if not (isinstance(func, cst.Attribute) and func.attr.value == "__init__"):
        return None
    owner = func.value
    if isinstance(owner, cst.Call) and isinstance(owner.func, cst.Name) and owner.func.value == "super":
        if not owner.args:
            return "super"
        first = owner.args[0].value
        return first.value if isinstance(first, cst.Name) else "super"
    if node.args and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == self_name \
            and isinstance(owner, (cst.Name, cst.Attribute)):
        return "base"
    return None


def _does_nothing(func: cst.FunctionDef) -> bool:
    """The body is only a docstring, ``pass``, ``...`` or a bare ``return``: a placeholder."""
    body = func.body.body if isinstance(func.body, cst.IndentedBlock) else [func.body]
    for stmt in body:
        if not isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return False
        for small in stmt.body:
            if isinstance(small, cst.Pass) or (isinstance(small, cst.Return) and small.value is None):
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, _INERT):
                continue
            return False
    return True


def _decorator_name(node: cst.BaseExpression) -> Optional[str]:
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return node.value if isinstance(node, cst.Name) else None


_MODULE_BASES = frozenset({"torch.nn.Module", "torch.nn.modules.Module", "torch.nn.modules.module.Module"})


class SuperInitMissingOrLate(Rule):
    """
    ## What it does
    Finds an `nn.Module` subclass whose own `__init__` never calls `super().__init__()` (or
    `Base.__init__(self)`, or `super(Cls, self).__init__()`), one that assigns a sub-module or a
    parameter (or calls `register_buffer` / `register_parameter` / `add_module`) before that call, and
    `super(Other, self).__init__()` naming a class of the same file that is not the enclosing one and
    not one of its ancestors (naming an ancestor on purpose, to skip its `__init__`, is left alone), and
    an explicit `Other.__init__(self)` where `Other` is provably not an ancestor (every ancestor is a
    class of the file or a torch Module class), so `nn.Module.__init__` never runs.

    Silent on plain values (ints, strings, tensors) assigned before the call, which works, on
    classes without an `__init__` of their own, on `@typing.overload` stubs of `__init__`, on an
    `__init__` that only raises (a deprecated class that is never built), on a mixin whose
    `__init__` only sets plain values and that a class of the file initialises by name,
    `Mixin.__init__(self, ...)`, next to another base's initialiser (which runs nn.Module's), and on
    a placeholder whose `__init__` does nothing in a class that leaves an `@abstractmethod` of its
    one abstract base (`abc.ABC`, of the file or the project) undefined: building it raises TypeError.
    Also silent on a class that derives from `nn.Module` in name only: its `__init__` registers nothing,
    neither it nor its bases (nn.Module itself or classes of the file judged the same way) define
    `forward`, and none of its methods calls `self(...)` or an nn.Module method on `self`: plain
    attributes work without `nn.Module.__init__`, and nothing in its code uses it as a Module.

    ## Why is this bad?
    `nn.Module.__init__` creates the dictionaries that hold parameters, buffers and sub-modules. Before
    it runs, assigning a layer raises `AttributeError: cannot assign module before Module.__init__()
    call` (`cannot assign parameters ...` for an `nn.Parameter`, `cannot assign buffer ...` for
    `register_buffer`). Without the call at all, the first `model(x)` or `model.parameters()` raises
    `AttributeError: '<Cls>' object has no attribute '_parameters'` (or `'_backward_hooks'`), far from
    the cause. `super(Other, self)` starts the method lookup after `Other`: when `Other` is not in the
    class's MRO it raises `TypeError: super(type, obj): obj must be an instance or subtype of type`,
    and when it is an ancestor the `__init__` of every class between is skipped — usually a copy-paste
    slip.

    ## Example
    ```python
    class Net(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(4, 4)
            super().__init__()
    ```

    ## Use instead
    ```python
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
    ```

    ## Fix safety
    No automatic fix: moving the call may change what the parent's `__init__` sees.

    ## Precision
    Default-off: on code no rule was tuned on, measured blind before any change: 0 true of 2 on the validation
    half of the corpus (blind), 0 of 1 on that half after the evidence-based kinds landed, and 0 of 4 on twelve
    libraries no rule was tuned on (tests/holdout_precision.md): 0 of 7. The false shapes found there are silent
    now (near-miss fixtures), but the rule stays off until a new blind measurement reaches 95%. Enable it with
    `--extend-select TL107` (or `extend-select = ["TL107"]` under `[tool.torchlint]`).
    """

    code = "TL107"
    default_enabled = False
    name = "super-init-missing-or-late"
    summary = "A Module's `__init__` does not call `super().__init__()` first (or names the wrong class)."
    message = "{what}: it raises {error}; call super().__init__() first in __init__"
    triggers = ("__init__",)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        ctx = self.ctx
        if node.name.value != "__init__" or not ctx.in_module_class or ctx.method_name != "__init__":
            return
        self_name = ctx.func_stack[-1].self_name
        if self_name is None:
            return
        if any(_decorator_name(d.decorator) == "overload" for d in node.decorators) or only_raises(node):
            return  # a typing.overload stub, or an __init__ that refuses to build (nothing is ever registered)
        cls = ctx.current_class
        self._state = None
        found = None
        strangers = []
        for sub in walk(node.body, into_scopes=False):
            if isinstance(sub, cst.Call):
                kind = _super_init_call(sub, self_name)
                if kind == "base" and self._explicit_stranger(cls, sub.func.value):
                    strangers.append(sub)  # X.__init__(self) with X provably not an ancestor
                    continue
                if kind is not None:
                    found = sub
                    if kind not in ("super", "base") and kind != cls.name.value \
                            and self._not_an_ancestor(cls, kind):
                        self.report(sub.func.value, message=(
                            f"super({kind}, self) in class '{cls.name.value}': it raises TypeError: "
                            f"super(type, obj): obj must be an instance or subtype of type, or skips the "
                            f"__init__ of the classes before '{kind}'; use super().__init__()"))
                    break
        if found is None and strangers:
            other = cst.Module(body=[]).code_for_node(strangers[0].func.value)
            error = self._first_registration_error(node, self_name) or (
                f"AttributeError: '{cls.name.value}' object has no attribute '_parameters' on first use")
            self.report(strangers[0].func.value, message=(
                f"'{other}.__init__(self)' in class '{cls.name.value}': '{other}' is not a base class, so "
                f"nn.Module.__init__ never runs and it raises {error}; call super().__init__()"))
            return
        if found is None:
            if self._delegates(node, self_name):
                return
            error = self._first_registration_error(node, self_name)
            if error is None and (self._mixin_initialiser(cls) or (_does_nothing(node) and self._abstract_left(cls))
                                  or self._module_in_name_only(cls)):
                return
            self.report(node.name, what=f"'{cls.name.value}.__init__' never calls super().__init__()",
                        error=error or f"AttributeError: '{cls.name.value}' object has no attribute "
                                       f"'_parameters' on first use")
            return
        self._state = [node, found, False]

    def visit_Call(self, node: cst.Call) -> None:
        state = getattr(self, "_state", None)
        if state is not None and node is state[1]:
            state[2] = True

    def leave_FunctionDef(self, node: cst.FunctionDef) -> None:
        state = getattr(self, "_state", None)
        if state is not None and state[0] is node:
            self._state = None

    def visit_Assign(self, node: cst.Assign) -> None:
        if not self._before_super():
            return
        self_name = self.ctx.func_stack[-1].self_name
        for target in node.targets:
            attr = self_attribute(target.target, self_name)
            if attr is not None:
                kind = self.ctx.kind_of(node.value)
                if kind in (MODULE, PARAMETER):
                    what = "sub-module" if kind == MODULE else "parameter"
                    self.report(node, what=f"{what} '{attr}' assigned before super().__init__()",
                                error=_ERRORS[kind])
                    return

    def visit_Expr(self, node: cst.Expr) -> None:
        if not self._before_super():
            return
        call = node.value
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) \
                and call.func.attr.value in _ERRORS and self.ctx.is_self(call.func.value):
            method = call.func.attr.value
            self.report(node, what=f"self.{method}(...) called before super().__init__()", error=_ERRORS[method])

    # ------------------------------------------------------------------ helpers
    def _not_an_ancestor(self, cls: cst.ClassDef, other: str) -> bool:
        """``other`` is a class of this file that is not an ancestor of ``cls`` (then super() raises
        TypeError). Naming an ancestor on purpose skips its ``__init__``: a deliberate idiom, silent."""
        index = self.ctx.classes
        if index.class_named(other) is None:
            return False
        seen, todo = set(), [cls]
        while todo:
            current = todo.pop()
            for base in current.bases:
                value = base.value.value if isinstance(base.value, cst.Subscript) else base.value
                if isinstance(value, cst.Name):
                    if value.value == other:
                        return False
                    parent = index.class_named(value.value)
                    if parent is not None and value.value not in seen:
                        seen.add(value.value)
                        todo.append(parent)
        return True

    def _explicit_stranger(self, cls: cst.ClassDef, owner: cst.BaseExpression) -> bool:
        """``owner`` in ``owner.__init__(self)`` is provably not an ancestor of ``cls``: every ancestor is known
        (classes of this file, torch Module classes) and ``owner`` is a class of this file or an imported name
        outside torch that is none of them."""
        from ...facts.classes import is_module_base_name

        index = self.ctx.classes
        names, todo, seen = set(), [cls], set()
        while todo:
            current = todo.pop()
            for base in current.bases:
                value = base.value.value if isinstance(base.value, cst.Subscript) else base.value
                if isinstance(value, cst.Name) and index.class_named(value.value) is not None \
                        and value.value not in self.ctx.imports.aliases:
                    names.add(value.value)
                    if value.value not in seen:
                        seen.add(value.value)
                        todo.append(index.class_named(value.value))
                    continue
                qualified = self.ctx.resolve(value)
                if not is_module_base_name(qualified) or not qualified.startswith("torch."):
                    return False  # an ancestor we cannot see: owner may be one of its bases
                names.add(qualified)
        if isinstance(owner, cst.Name) and index.class_named(owner.value) is not None \
                and owner.value not in self.ctx.imports.aliases:
            return owner.value not in names
        qualified = self.ctx.resolve(owner)
        return qualified is not None and not qualified.startswith("torch") and qualified not in names \
            and qualified != "builtins.object" and qualified != "object"

    def _module_in_name_only(self, cls: cst.ClassDef, depth: int = 0) -> bool:
        """A class that derives from nn.Module but is never used as one by its own code: no ``forward`` in it or
        its bases (every base is nn.Module itself or a class of the file judged the same way), and no method
        calls ``self(...)`` or an nn.Module method (``self.to``, ``.parameters``, ``register_*``, ...). Plain
        attributes work without ``nn.Module.__init__``; the error the message promises comes only from
        Module use. (Its ``__init__`` registers nothing: the caller checked that.)"""
        ctx = self.ctx
        if depth > 8:
            return False
        for base in cls.bases:
            if base.keyword is not None:
                return False
            qualified = ctx.resolve(base.value)
            if qualified in _MODULE_BASES:
                continue
            parent = ctx.classes.class_named(base.value.value) if isinstance(base.value, cst.Name) else None
            if parent is None or parent is cls or not self._module_in_name_only(parent, depth + 1):
                return False
        for stmt in cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ():
            if not isinstance(stmt, cst.FunctionDef):
                continue
            if stmt.name.value == "forward":
                return False
            params = stmt.params.posonly_params or stmt.params.params
            self_name = params[0].name.value if params else None
            for call in ctx.model.calls_in(stmt):
                func = call.func
                if isinstance(func, cst.Name) and func.value == self_name:
                    return False  # self(...): called as a module
                if isinstance(func, cst.Attribute) and func.attr.value in torch_facts.MODULE_METHODS \
                        and isinstance(func.value, cst.Name) and func.value.value == self_name:
                    return False
        return True

    def _mixin_initialiser(self, cls: cst.ClassDef) -> bool:
        """A class of this file derives from ``cls`` and its ``__init__`` runs ``cls.__init__(self, ...)`` by name
        and another initialiser as well (``super().__init__``, ``Other.__init__(self, ...)``): ``cls`` is a mixin
        whose ``__init__`` sets plain values, and nn.Module's ``__init__`` runs through the other one."""
        name = cls.name.value
        for defs in self.ctx.classes.by_name.values():
            for sub_cls in defs:
                if not any(isinstance(b.value, cst.Name) and b.value.value == name for b in sub_cls.bases):
                    continue
                for stmt in sub_cls.body.body if isinstance(sub_cls.body, cst.IndentedBlock) else ():
                    if not (isinstance(stmt, cst.FunctionDef) and stmt.name.value == "__init__" and stmt.params.params):
                        continue
                    self_name = stmt.params.params[0].name.value
                    kinds = set()
                    for call in walk(stmt.body, into_scopes=False):
                        if isinstance(call, cst.Call):
                            kind = _super_init_call(call, self_name)
                            if kind == "base" and isinstance(call.func.value, cst.Name) and call.func.value.value == name:
                                kinds.add("mixin")
                            elif kind is not None:
                                kinds.add("other")
                    if kinds == {"mixin", "other"}:
                        return True
        return False

    def _abstract_left(self, cls: cst.ClassDef) -> bool:
        """``cls`` has one base, an abstract class (deriving from ``abc.ABC``, in this file or the project) with an
        ``@abstractmethod`` that ``cls`` does not define: ``cls(...)`` raises TypeError, no instance is ever built."""
        bases = [b.value.value if isinstance(b.value, cst.Subscript) else b.value for b in cls.bases
                 if b.keyword is None]
        if len(bases) != 1:
            return False
        own = {stmt.name.value for stmt in (cls.body.body if isinstance(cls.body, cst.IndentedBlock) else ())
               if isinstance(stmt, cst.FunctionDef)}
        base = bases[0]
        local = self.ctx.classes.class_named(base.value) if isinstance(base, cst.Name) \
            and base.value not in self.ctx.imports.aliases else None
        if local is not None:
            if not any(self.ctx.resolve(b.value) == "abc.ABC" for b in local.bases):
                return False
            abstract = {stmt.name.value for stmt in (local.body.body if isinstance(local.body, cst.IndentedBlock) else ())
                        if isinstance(stmt, cst.FunctionDef)
                        and any(_decorator_name(d.decorator) == "abstractmethod" for d in stmt.decorators)}
        else:
            qualified = self.ctx.resolve(base)
            found = self.ctx.model.project.abstract_methods(qualified) if qualified else None
            if found is None:
                return False
            abstract = found[0]
        return bool(abstract - own)

    def _before_super(self) -> bool:
        state = getattr(self, "_state", None)
        return state is not None and not state[2] and self.ctx.current_function is state[0]

    def _delegates(self, func: cst.FunctionDef, self_name: str) -> bool:
        """``__init__`` hands ``self`` to something else (``self._setup()``, ``init_fn(self)``,
        ``super()._init(...)``, a metaclass trick): the parent's ``__init__`` may run there; stay silent."""
        for sub in walk(func.body, into_scopes=False):
            if isinstance(sub, cst.Call):
                f = sub.func
                if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Name) and f.value.value == self_name:
                    if f.attr.value not in _ERRORS and f.attr.value not in ("__setattr__",):
                        return True
                if any(isinstance(a.value, cst.Name) and a.value.value == self_name for a in sub.args):
                    return True
                if isinstance(f, cst.Attribute) and f.attr.value == "__init__":
                    return True
                if isinstance(f, cst.Attribute) and isinstance(f.value, cst.Call) \
                        and isinstance(f.value.func, cst.Name) and f.value.func.value == "super":
                    return True  # super()._init(...): a base's own initialiser, which may run nn.Module's
        return False

    def _first_registration_error(self, func: cst.FunctionDef, self_name: str) -> Optional[str]:
        for sub in walk(func.body, into_scopes=False):
            if isinstance(sub, cst.Assign):
                for target in sub.targets:
                    if self_attribute(target.target, self_name) is not None:
                        kind = self.ctx.kinds._static_kind(sub.value)
                        if kind in (MODULE, PARAMETER):
                            return _ERRORS[kind]
            elif isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) \
                    and sub.func.attr.value in _ERRORS and isinstance(sub.func.value, cst.Name) \
                    and sub.func.value.value == self_name:
                return _ERRORS[sub.func.attr.value]
        return None
