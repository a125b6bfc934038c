"""Generated variants of the fix fixtures, and a runner that compares original and fixed code under torch.

Variants (each a source text derived from a fixture's bad.py):
- ``alias-tnn``: ``torch.nn`` imported as ``tnn``;
- ``alias-from``: ``from torch import nn`` instead of ``import torch.nn as nn``;
- ``alias-torch.nn``: no alias at all, every ``nn.X`` written ``torch.nn.X``;
- ``comments``: a comment in every gap inside brackets (after each comma and opening parenthesis of a call,
  a list, a dict), so a fix that rebuilds a node instead of editing it loses one;
- ``shadow-nn``: every function that used ``nn`` writes ``torch.nn`` and starts with ``nn = None``, so a fix
  writing ``nn.`` there would fail;
- ``use:<op>`` (TL101/TL102): the method that builds a fixed container ends by using it with one list or dict
  method or operator (``.sort()``, ``+``, ``.get()``, ``.items()``, ...), recording the result in
  ``self._probe``.

``observe(module, level)`` summarises what a loaded module does: every nn.Module class defined in it is
built (with no argument, or a small int) under a fixed seed and called on the first probe input its forward
accepts; ``demo()`` is called when the module has one. ``level`` is ``values`` (rounded outputs) or ``shapes``
(for fixes that change initialisation by design, such as TL108's new layers, or what is computed, such as
TL402's moves).
"""
from __future__ import annotations

import importlib.util
import inspect
import itertools
import sys
import warnings
from typing import Callable, Optional

import libcst as cst

# Rules whose fix changes what is computed by design: compare structure, not values.
SHAPE_RULES = frozenset({"TL108", "TL402", "TL403", "TL404"})

_ARGS = ((), (4,), (8,), (2,), (3,), (4, 4))
_SHAPES = ((2, 8), (2, 4), (8,), (4,), (2, 3), (2, 16), (2, 2), (1, 3, 8, 8), (2, 10))


# ---------------------------------------------------------------------------------------------- variants
class _RenameNN(cst.CSTTransformer):
    """Rename the variable ``nn`` to ``new`` (not attributes named nn, not the imported module's name)."""

    def __init__(self, new: str) -> None:
        super().__init__()
        self.new = new

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        return updated.with_changes(value=self.new) if original.value == "nn" else updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.Attribute:
        if original.attr.value == "nn":
            return updated.with_changes(attr=original.attr)
        return updated

    def leave_ImportFrom(self, original: cst.ImportFrom, updated: cst.ImportFrom) -> cst.ImportFrom:
        if isinstance(original.names, cst.ImportStar):
            return updated
        names = []
        for old, new in zip(original.names, updated.names):
            if isinstance(old.name, cst.Name) and old.name.value == "nn" and old.asname is None:
                new = old.with_changes(asname=cst.AsName(name=cst.Name(self.new)))
            names.append(new)
        return updated.with_changes(names=names)

    def leave_Import(self, original: cst.Import, updated: cst.Import) -> cst.Import:
        names = []
        for old, new in zip(original.names, updated.names):
            names.append(new.with_changes(name=old.name))
        return updated.with_changes(names=names)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)


class _NNToTorchNN(cst.CSTTransformer):
    """``nn.X`` -> ``torch.nn.X`` (inside function bodies only, or everywhere)."""

    def __init__(self, only_functions: bool) -> None:
        super().__init__()
        self.only_functions = only_functions
        self.depth = 0
        self.changed_functions: set = set()
        self.func_stack: list = []

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.depth += 1
        self.func_stack.append(node)

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef):
        self.depth -= 1
        self.func_stack.pop()
        if self.only_functions and id(original) in self.changed_functions:
            body = list(updated.body.body)
            pos = 1 if body and _is_docstring(body[0]) else 0
            body.insert(pos, cst.parse_statement("nn = None\n"))
            return updated.with_changes(body=updated.body.with_changes(body=body))
        return updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute):
        if isinstance(original.value, cst.Name) and original.value.value == "nn" and (
                not self.only_functions or self.depth):
            if self.func_stack:
                self.changed_functions.add(id(self.func_stack[-1]))
            return updated.with_changes(value=cst.Attribute(value=cst.Name("torch"), attr=cst.Name("nn")))
        return updated


def _is_docstring(stmt) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) \
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))


def _ensure_import_torch(module: cst.Module) -> cst.Module:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine) and any(
                isinstance(s, cst.Import) and any(a.asname is None and cst.Module([]).code_for_node(a.name) == "torch"
                                                  for a in s.names) for s in stmt.body):
            return module
    body = list(module.body)
    pos = 0
    while pos < len(body) and (_is_docstring(body[pos]) or (
            isinstance(body[pos], cst.SimpleStatementLine) and isinstance(body[pos].body[0], cst.ImportFrom)
            and cst.Module([]).code_for_node(body[pos].body[0].module or cst.Name("x")) == "__future__")):
        pos += 1
    body.insert(pos, cst.parse_statement("import torch\n"))
    return module.with_changes(body=body)


def alias_tnn(src: str) -> str:
    return cst.parse_module(src).visit(_RenameNN("tnn")).code


def alias_from(src: str) -> Optional[str]:
    if "import torch.nn as nn\n" not in src:
        return None
    return src.replace("import torch.nn as nn\n", "from torch import nn\n")


def alias_torch_nn(src: str) -> Optional[str]:
    if "import torch.nn as nn\n" not in src:
        return None
    module = cst.parse_module(src.replace("import torch.nn as nn\n", "import torch\n"))
    return _ensure_import_torch(module.visit(_NNToTorchNN(only_functions=False))).code


def shadow_nn(src: str) -> Optional[str]:
    module = cst.parse_module(src)
    transformer = _NNToTorchNN(only_functions=True)
    new = module.visit(transformer)
    if not transformer.changed_functions:
        return None
    return _ensure_import_torch(new).code


class _Comments(cst.CSTTransformer):
    """A unique comment after every comma of call arguments, list/set/dict elements and after every opening
    parenthesis of a call: the gaps inside brackets, where a line break is legal."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def _ws(self) -> cst.ParenthesizedWhitespace:
        self.n += 1
        return cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(whitespace=cst.SimpleWhitespace("  "),
                                              comment=cst.Comment(f"# gap {self.n}")),
            indent=True, last_line=cst.SimpleWhitespace("    "))

    def _comma(self, node):
        if isinstance(node.comma, cst.Comma):
            return node.with_changes(comma=node.comma.with_changes(whitespace_after=self._ws()))
        return node

    def leave_Arg(self, original, updated):
        return self._comma(updated)

    def _elements(self, updated):
        return updated.with_changes(elements=[self._comma(el) for el in updated.elements])

    def leave_List(self, original, updated):
        return self._elements(updated)

    def leave_Set(self, original, updated):
        return self._elements(updated)

    def leave_Dict(self, original, updated):
        return self._elements(updated)

    def leave_Tuple(self, original, updated):
        return self._elements(updated) if updated.lpar else updated

    def leave_Call(self, original, updated):
        if updated.args:
            return updated.with_changes(whitespace_before_args=self._ws())
        return updated


def comments_everywhere(src: str) -> str:
    return cst.parse_module(src).visit(_Comments()).code


LIST_USES = {
    "sort": "self.A.sort(key=lambda m: 0); self._probe = len(self.A)",
    "reverse": "self.A.reverse(); self.A.reverse(); self._probe = len(self.A)",
    "copy": "self._probe = len(self.A.copy())",
    "count": "self._probe = self.A.count(self.A[0])",
    "index": "self._probe = self.A.index(self.A[0])",
    "add-right": "self._probe = len(self.A + [])",
    "add-left": "self._probe = len([] + self.A)",
    "mul": "self._probe = len(self.A * 2)",
    "slice": "self._probe = len(self.A[1:])",
    "slice-assign": "self.A[:] = list(self.A); self._probe = len(self.A)",
    "pop-append": "self.A.append(self.A.pop()); self._probe = len(self.A)",
    "pop0-insert": "self.A.insert(0, self.A.pop(0)); self._probe = len(self.A)",
    "remove": "last = self.A[-1]; self.A.remove(last); self.A.append(last); self._probe = len(self.A)",
    "clear": "self.A.clear(); self._probe = len(self.A)",
    "reversed": "self._probe = len(list(reversed(self.A)))",
    "eq": "self._probe = self.A == list(self.A)",
    "isinstance": "self._probe = isinstance(self.A, list)",
    "extend-iadd": "self.A.extend([]); self.A += []; self._probe = len(self.A)",
    "in": "self._probe = self.A[-1] in self.A",
    "bool": "self._probe = bool(self.A)",
    "iterate": "self._probe = [type(m).__name__ for m in self.A]",
    "alias-sort": "alias = self.A; alias.sort(key=lambda m: 0); self._probe = len(alias)",
    "del": "del self.A[len(self.A) - 1:]; self._probe = len(self.A)",
    "star": "self._probe = len([*self.A])",
}
DICT_USES = {
    "keys": "self._probe = sorted(self.A.keys())",
    "get": "self._probe = self.A.get(next(iter(self.A))) is not None",
    "get-default": "self._probe = self.A.get('no such key', 0)",
    "setdefault": "self._probe = self.A.setdefault(next(iter(self.A)), None) is not None",
    "copy": "self._probe = len(self.A.copy())",
    "dict": "self._probe = len(dict(self.A))",
    "or": "self._probe = len(self.A | {})",
    "ior": "self.A |= {}; self._probe = len(self.A)",
    "unpack": "self._probe = len({**self.A})",
    "items": "self._probe = [k for k, v in self.A.items()]",
    "values": "self._probe = len(list(self.A.values()))",
    "popitem": "k, v = self.A.popitem(); self.A[k] = v; self._probe = len(self.A)",
    "pop-default": "self._probe = self.A.pop('no such key', None) is None",
    "in": "self._probe = next(iter(self.A)) in self.A",
    "isinstance": "self._probe = isinstance(self.A, dict)",
    "update": "self.A.update({}); self._probe = len(self.A)",
    "eq": "self._probe = self.A == dict(self.A)",
    "pop-set": "k = next(iter(self.A)); self.A[k] = self.A.pop(k); self._probe = len(self.A)",
    "del-set": "k = next(iter(self.A)); v = self.A[k]; del self.A[k]; self.A[k] = v; self._probe = len(self.A)",
    "len": "self._probe = len(self.A)",
}


class _AppendToMethod(cst.CSTTransformer):
    def __init__(self, method: cst.FunctionDef, code: str) -> None:
        super().__init__()
        self.method = method
        self.code = code

    def leave_FunctionDef(self, original, updated):
        if original is not self.method:
            return updated
        body = list(updated.body.body) + list(cst.parse_module(self.code + "\n").body)
        return updated.with_changes(body=updated.body.with_changes(body=body))


def container_use_variants(result) -> list[tuple[str, str]]:
    """(name, source) per list/dict use of every attribute a TL101/TL102 fix wraps (``result``: the lint result
    of the fixture, whose tree the fixes' nodes belong to)."""
    module = result.module
    targets = []
    for f in result.findings:
        if f.code not in ("TL101", "TL102") or f.fix is None:
            continue
        wrapper = f.fix.description.rsplit(".", 1)[-1]
        olds = {id(old) for old, _new in f.fix.replacements}
        found = _assignment_of(module, olds)
        if found is not None:
            targets.append((found[0], found[1], "dict" if "Dict" in wrapper else "list"))
    out = []
    kinds_done = set()
    for method_name, attr, kind, method in _dedupe(targets):
        if kind in kinds_done:
            continue  # one list and one dict attribute per fixture keep the run short
        kinds_done.add(kind)
        uses = DICT_USES if kind == "dict" else LIST_USES
        small = _only_class_of(module, method)
        for op, code in uses.items():
            code = code.replace("self.A", f"self.{attr}")
            out.append((f"use:{attr}.{op}", small.visit(_AppendToMethod(method, code)).code))
    return out


def _only_class_of(module: cst.Module, method: cst.FunctionDef) -> cst.Module:
    """The module reduced to its imports, the class holding ``method`` and the in-file classes it names."""
    classes = {stmt.name.value: stmt for stmt in module.body if isinstance(stmt, cst.ClassDef)}
    owner = next((c for c in classes.values() if any(m is method for m in c.body.body)), None)
    if owner is None:
        return module
    keep = {owner.name.value}
    todo = [owner]
    while todo:
        current = todo.pop()
        for name in _names_in(current):
            if name in classes and name not in keep:
                keep.add(name)
                todo.append(classes[name])
    body = [stmt for stmt in module.body
            if (isinstance(stmt, cst.ClassDef) and stmt.name.value in keep)
            or (isinstance(stmt, cst.SimpleStatementLine)
                and all(isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body))]
    return module.with_changes(body=body)


def _names_in(node: cst.CSTNode) -> set:
    class Names(cst.CSTVisitor):
        def __init__(self):
            self.names = set()

        def visit_Name(self, n):
            self.names.add(n.value)

    visitor = Names()
    node.visit(visitor)
    return visitor.names


def _dedupe(targets):
    seen = set()
    for method, attr, kind in targets:
        key = (id(method), attr)
        if key not in seen:
            seen.add(key)
            yield method.name.value, attr, kind, method


def _assignment_of(module: cst.Module, olds: set):
    """(method, attr) of ``self.<attr> = <old>`` for a replaced node."""
    class Finder(cst.CSTVisitor):
        def __init__(self):
            self.stack = []
            self.result = None

        def visit_FunctionDef(self, node):
            self.stack.append(node)

        def leave_FunctionDef(self, node):
            self.stack.pop()

        def visit_Assign(self, node):
            if id(node.value) in olds and self.stack and self.result is None:
                for t in node.targets:
                    if isinstance(t.target, cst.Attribute) and isinstance(t.target.value, cst.Name):
                        self.result = (self.stack[-1], t.target.attr.value)

    finder = Finder()
    module.visit(finder)
    return finder.result


VARIANTS: dict[str, Callable[[str], Optional[str]]] = {
    "alias-tnn": alias_tnn,
    "alias-from": alias_from,
    "alias-torch.nn": alias_torch_nn,
    "comments": comments_everywhere,
    "shadow-nn": shadow_nn,
}


# ---------------------------------------------------------------------------------------------- running
_counter = itertools.count()


def load_text(text: str, tmp_dir, stem: str):
    """Import ``text`` as a fresh module (its file under ``tmp_dir``); returns (module, error or None)."""
    name = f"fixdiff_{stem}_{next(_counter)}"
    path = tmp_dir / f"{name}.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: B902 - the code under test may raise anything
        sys.modules.pop(name, None)
        return None, f"{type(exc).__name__}: {exc}"
    return module, None


def summarise(value, level: str):
    import torch

    if isinstance(value, torch.Tensor):
        value = value.detach()
        if level == "shapes" or value.numel() > 256 or not value.dtype.is_floating_point and value.dtype != torch.bool:
            return ("tensor", tuple(value.shape))
        return ("tensor", tuple(value.shape), [round(float(v), 4) for v in value.double().flatten().tolist()])
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [summarise(v, level) for v in value]
    if isinstance(value, dict):
        return "dict", sorted((str(k), summarise(v, level)) for k, v in value.items())
    if isinstance(value, (int, float, str, bool, type(None))):
        return value if level == "values" or not isinstance(value, float) else "float"
    return type(value).__name__


def _observe_class(cls, level: str):
    import torch

    for args in _ARGS:
        torch.manual_seed(0)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = cls(*args)
        except Exception:  # noqa: BLE001 - try the next constructor arguments
            continue
        probe = summarise(getattr(module, "_probe", None), "values")
        for shape in _SHAPES:
            x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
            torch.manual_seed(2)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    out = module(x)
            except Exception:  # noqa: BLE001 - try the next input shape
                continue
            return ("forward", args, shape, summarise(out, level), probe)
        return ("built", args, probe)
    return ("not built",)


def observe(module, level: str) -> dict:
    """What the module's classes and demo() do (see the module docstring)."""
    import torch

    obs = {}
    for name, obj in sorted(vars(module).items()):
        if inspect.isclass(obj) and issubclass(obj, torch.nn.Module) and obj.__module__ == module.__name__:
            obs[name] = _observe_class(obj, level)
    demo = getattr(module, "demo", None)
    if inspect.isfunction(demo):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                obs["demo()"] = ("demo", summarise(demo(), level))
        except Exception as exc:  # noqa: BLE001 - recorded and compared
            obs["demo()"] = ("demo raised", type(exc).__name__)
    return obs


def comments(text: str) -> list[str]:
    import io
    import tokenize

    return sorted(tok.string for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                  if tok.type == tokenize.COMMENT)
