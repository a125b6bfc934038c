"""The engine: prefilter, one libcst parse, one traversal running every enabled rule, positions, noqa.

``lint_source(source, path, rules)`` is the one pure function every surface (command line, flake8,
pre-commit, editors) calls. Nothing here knows who called it.
"""
from __future__ import annotations

import gc
import re
import sys
from typing import Optional, Sequence, Union

import libcst as cst

from .facts.classes import ClassIndex
from .facts.imports import ImportTable
from .facts.nodes import FIELD_CACHE, LEAF_CLASSES, NODE_CLASSES, bound_names, child_fields, iter_statements
from .facts.kinds import MODULE, TENSOR, KindResolver, clear_class_memo, is_tensor_annotation
from .rule import Finding, Fix, Rule

SYNTAX_ERROR = "TL001"
READ_ERROR = "TL002"
INTERNAL_ERROR = "TL003"

# flake8's own noqa syntax: "# noqa", "# noqa: TL101", "# noqa:TL101,TL102"
NOQA_RE = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_LINE_SPLIT = re.compile(r"\r\n|\r|\n")

_NO_GRAD_CONTEXTS = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                               "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode"})


class LintError(Exception):
    def __init__(self, code: str, message: str, line: int = 1, col: int = 0) -> None:
        super().__init__(message)
        self.code, self.message, self.line, self.col = code, message, line, col


class FunctionScope:
    __slots__ = ("node", "names", "self_name", "class_node", "class_is_module")

    def __init__(self, node, self_name, class_node, class_is_module) -> None:
        self.node = node
        self.names: dict[str, Optional[str]] = {}
        self.self_name = self_name
        self.class_node = class_node
        self.class_is_module = class_is_module


class Context:
    """Shared per-file facts and the traversal state every rule can ask about."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.imports = ImportTable()
        self.classes = ClassIndex(self.imports)
        self.kinds = KindResolver(self)
        self.class_stack: list[tuple[cst.ClassDef, bool]] = []
        self.func_stack: list[FunctionScope] = []
        self.module_names: dict[str, Optional[str]] = {}
        self.no_grad_depth = 0
        self.loop_stack: list[cst.CSTNode] = []
        self.findings: list[Finding] = []
        self.stack: list[cst.CSTNode] = []  # ancestors of the node being visited (innermost last)

    # ------------------------------------------------------------------ questions rules ask
    @property
    def current_function(self) -> Optional[cst.FunctionDef]:
        return self.func_stack[-1].node if self.func_stack else None

    @property
    def current_class(self) -> Optional[cst.ClassDef]:
        """The class whose method we are in (or whose body we are in)."""
        if self.func_stack:
            return self.func_stack[-1].class_node
        return self.class_stack[-1][0] if self.class_stack else None

    @property
    def in_module_class(self) -> bool:
        """Inside a class body or a method of a class that is an nn.Module subclass."""
        if self.func_stack:
            return self.func_stack[-1].class_is_module
        return bool(self.class_stack) and self.class_stack[-1][1]

    @property
    def method_name(self) -> Optional[str]:
        """Name of the Module-class method we are directly in (None elsewhere)."""
        if self.func_stack and self.func_stack[-1].class_node is not None:
            return self.func_stack[-1].node.name.value
        return None

    @property
    def in_init(self) -> bool:
        """In ``__init__`` of a Module class, or in a method that ``__init__`` calls on self."""
        if not self.func_stack:
            return False
        scope = self.func_stack[-1]
        if scope.class_node is None or not scope.class_is_module:
            return False
        return scope.node.name.value in self.classes.init_methods(scope.class_node)

    @property
    def in_no_grad(self) -> bool:
        return self.no_grad_depth > 0

    def resolve(self, node: cst.BaseExpression) -> Optional[str]:
        return self.imports.resolve(node)

    def is_self(self, node: cst.BaseExpression) -> bool:
        return (isinstance(node, cst.Name) and bool(self.func_stack)
                and self.func_stack[-1].self_name == node.value)

    def is_module_class(self, node: cst.ClassDef) -> bool:
        return self.classes.is_module_class(node)

    def kind_of(self, node: cst.BaseExpression) -> Optional[str]:
        return self.kinds.kind_of(node)

    def name_kind(self, name: str) -> Optional[str]:
        if self.func_stack:
            scope = self.func_stack[-1]
            if name in scope.names:
                return scope.names[name]
            if name == scope.self_name and scope.class_is_module:
                return MODULE
            return None
        return self.module_names.get(name)

    def bind(self, name: str, kind: Optional[str]) -> None:
        if self.func_stack:
            self.func_stack[-1].names[name] = kind
        else:
            self.module_names[name] = kind

    def parent(self, depth: int = 1) -> Optional[cst.CSTNode]:
        """The ancestor ``depth`` levels above the node being visited."""
        idx = len(self.stack) - 1 - depth
        return self.stack[idx] if idx >= 0 else None

    def add_finding(self, rule: Rule, node: cst.CSTNode, message: str, fix: Optional[Fix]) -> None:
        self.findings.append(Finding(code=rule.code, message=message, line=0, col=0, end_line=0, end_col=0,
                                     name=rule.name, fix=fix, node=node))

    # ------------------------------------------------------------------ scope bookkeeping
    def is_no_grad_expr(self, node: cst.BaseExpression) -> bool:
        func = node.func if isinstance(node, cst.Call) else node
        qualified = self.imports.resolve(func)
        if qualified in _NO_GRAD_CONTEXTS:
            return True
        if (isinstance(node, cst.Call) and qualified in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled")
                and node.args and isinstance(node.args[0].value, cst.Name) and node.args[0].value.value == "False"):
            return True
        return False

    def _enter_function(self, node: cst.FunctionDef) -> int:
        class_node, class_is_module = (None, False)
        parent = self.stack[-2] if len(self.stack) >= 2 else None
        if self.class_stack and isinstance(parent, cst.IndentedBlock) and len(self.stack) >= 3 \
                and self.stack[-3] is self.class_stack[-1][0]:
            class_node, class_is_module = self.class_stack[-1]
        self_name = None
        params = node.params.posonly_params or node.params.params
        if class_node is not None and params and not any(
                isinstance(d.decorator, cst.Name) and d.decorator.value in ("staticmethod", "classmethod")
                for d in node.decorators):
            self_name = params[0].name.value
        scope = FunctionScope(node, self_name, class_node, class_is_module)
        for group in (node.params.posonly_params, node.params.params, node.params.kwonly_params):
            for param in group:
                kind = None
                if param.annotation is not None:
                    ann = param.annotation.annotation
                    if is_tensor_annotation(self, ann):
                        kind = TENSOR
                    elif self.imports.resolve(ann) in ("torch.nn.Module", "torch.nn.modules.module.Module"):
                        kind = MODULE
                scope.names[param.name.value] = kind
        if self_name is not None:
            scope.names.pop(self_name, None)
        self.func_stack.append(scope)
        added = 0
        for dec in node.decorators:
            if self.is_no_grad_expr(dec.decorator):
                added = 1
        self.no_grad_depth += added
        return added

    def _bind_assignment(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Assign):
            kind = None
            computed = False
            for target in node.targets:
                if isinstance(target.target, cst.Name):
                    if not computed:
                        kind, computed = self.kinds.kind_of(node.value), True
                    self.bind(target.target.value, kind)
                elif isinstance(target.target, (cst.Tuple, cst.List)):
                    for el in target.target.elements:
                        if isinstance(el.value, cst.Name):
                            self.bind(el.value.value, None)
        elif isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name):
            if is_tensor_annotation(self, node.annotation.annotation):
                self.bind(node.target.value, TENSOR)
            elif node.value is not None:
                self.bind(node.target.value, self.kinds.kind_of(node.value))
        elif isinstance(node, cst.AugAssign) and isinstance(node.target, cst.Name):
            pass
        elif isinstance(node, cst.For):
            for name in bound_names(node.target):
                if self.func_stack:
                    self.func_stack[-1].names.setdefault(name, None)


class _Dispatch:
    """Handlers of the enabled rules, keyed by libcst node class."""

    __slots__ = ("visit", "leave")

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.visit: dict[type, list] = {}
        self.leave: dict[type, list] = {}
        for rule in rules:
            for attr in dir(type(rule)):
                if attr.startswith("visit_"):
                    table, name = self.visit, attr[6:]
                elif attr.startswith("leave_"):
                    table, name = self.leave, attr[6:]
                else:
                    continue
                node_cls = getattr(cst, name, None)
                if node_cls is None:
                    raise TypeError(f"{type(rule).__name__}.{attr}: libcst has no node {name}")
                table.setdefault(node_cls, []).append(getattr(rule, attr))


def _walk(root: cst.CSTNode, ctx: Context, dispatch: _Dispatch) -> None:
    """Depth-first over the code-bearing fields only (no whitespace, no punctuation), calling the rules'
    handlers; leaves nobody listens to are not even entered."""
    visit, leave = dispatch.visit, dispatch.leave
    stack = ctx.stack
    skip = LEAF_CLASSES.difference(visit, leave)
    node_classes = NODE_CLASSES
    fields_of = FIELD_CACHE
    scoped = _SCOPED
    Assign, AnnAssign, For = cst.Assign, cst.AnnAssign, cst.For

    def walk(node: cst.CSTNode) -> None:
        cls = type(node)
        stack.append(node)
        scope = scoped.get(cls)
        if scope is not None:
            entered = _enter_scope(ctx, node, scope)
        handlers = visit.get(cls)
        if handlers:
            for handler in handlers:
                handler(node)
        for name in fields_of.get(cls) or child_fields(cls):
            value = getattr(node, name)
            kind = type(value)
            if kind in node_classes:
                if kind not in skip:
                    walk(value)
            elif kind is tuple or kind is list:
                for item in value:
                    kind = type(item)
                    if kind in node_classes and kind not in skip:
                        walk(item)
        handlers = leave.get(cls)
        if handlers:
            for handler in handlers:
                handler(node)
        if cls is Assign or cls is AnnAssign or cls is For:
            ctx._bind_assignment(node)
        if scope is not None:
            _leave_scope(ctx, scope, entered)
        stack.pop()

    walk(root)


_SCOPED = {cst.ClassDef: "class", cst.FunctionDef: "function", cst.With: "with", cst.For: "loop", cst.While: "loop"}


def _enter_scope(ctx: Context, node: cst.CSTNode, scope: str) -> int:
    """Push what the node opens; returns how much it added to the no-grad depth."""
    if scope == "class":
        ctx.class_stack.append((node, ctx.classes.is_module_class(node)))
        return 0
    if scope == "function":
        return ctx._enter_function(node)
    if scope == "with":
        if any(ctx.is_no_grad_expr(item.item) for item in node.items):
            ctx.no_grad_depth += 1
            return 1
        return 0
    ctx.loop_stack.append(node)
    return 0


def _leave_scope(ctx: Context, scope: str, no_grad: int) -> None:
    if scope == "class":
        ctx.class_stack.pop()
    elif scope == "function":
        ctx.func_stack.pop()
    elif scope == "loop":
        ctx.loop_stack.pop()
    ctx.no_grad_depth -= no_grad


def _collect_declarations(module: cst.Module, ctx: Context) -> None:
    """Pre-pass over statements only (not expressions): imports and class definitions."""
    for stmt in iter_statements(module.body, into_classes=True):
        if isinstance(stmt, (cst.Import, cst.ImportFrom)):
            ctx.imports.add(stmt)
        elif isinstance(stmt, cst.ClassDef):
            ctx.classes.add(stmt)


# ---------------------------------------------------------------------- decoding and parsing
def decode_source(source: Union[bytes, str]) -> str:
    if isinstance(source, str):
        return source
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(source).readline)
    except SyntaxError as exc:
        raise LintError(READ_ERROR, f"cannot decode file: {exc}") from None
    try:
        text = source.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise LintError(READ_ERROR, f"cannot decode file as {encoding}: {exc.reason if hasattr(exc, 'reason') else exc}") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def parse(text: str) -> cst.Module:
    try:
        return cst.parse_module(text)
    except RecursionError:
        raise LintError(SYNTAX_ERROR, "syntax error: nesting too deep to parse") from None
    except Exception as exc:  # ParserSyntaxError, and other errors of libcst's native parser on odd input
        raise _explain_parse_failure(text, exc) from None


def _explain_parse_failure(text: str, exc: Exception) -> LintError:
    """Only on failure: ask Python's own parser, whose messages are clearer, whether the file is valid."""
    import ast
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
    except SyntaxError as err:
        return LintError(SYNTAX_ERROR, f"syntax error: {err.msg}", err.lineno or 1, max((err.offset or 1) - 1, 0))
    except (RecursionError, MemoryError, ValueError) as err:
        return LintError(SYNTAX_ERROR, f"syntax error: {type(err).__name__}: {err}")
    line = getattr(exc, "raw_line", 1) or 1
    col = getattr(exc, "raw_column", 0) or 0
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LintError(SYNTAX_ERROR, f"cannot parse: valid Python that libcst does not support ({detail})", line, col)


def source_lines(text: str) -> list[str]:
    return _LINE_SPLIT.split(text)


def is_noqa(line_text: str, code: str) -> bool:
    for match in NOQA_RE.finditer(line_text):
        codes = match.group("codes")
        if not codes:
            return True
        for listed in re.split(r"[,\s]+", codes.strip()):
            if listed and code.upper().startswith(listed.upper()):
                return True
    return False


class FileResult:
    __slots__ = ("path", "findings", "error", "module", "text")

    def __init__(self, path, findings, error=None, module=None, text=None) -> None:
        self.path = path
        self.findings: list[Finding] = findings
        self.error: Optional[LintError] = error
        self.module: Optional[cst.Module] = module
        self.text: Optional[str] = text


def rules_for_text(rule_classes: Sequence[type[Rule]], text: str) -> list[type[Rule]]:
    return [r for r in rule_classes if not r.triggers or any(t in text for t in r.triggers)]


def lint_module(module: cst.Module, text: str, path: str, rule_classes: Sequence[type[Rule]]) -> list[Finding]:
    """Run the rules over an already parsed module; findings get positions, sorted."""
    clear_class_memo()
    ctx = Context(path, text)
    _collect_declarations(module, ctx)
    rules = [cls(ctx) for cls in rule_classes]
    try:
        _walk(module, ctx, _Dispatch(rules))
    finally:
        ctx.kinds = None  # break the ctx <-> resolver cycle: the tree is freed by reference counting
    if not ctx.findings:
        return []
    _assign_positions(module, ctx.findings)
    unique = {}
    for f in ctx.findings:
        unique.setdefault((f.line, f.col, f.code, f.message), f)
    return sorted(unique.values(), key=Finding.sort_key)


def _assign_positions(module: cst.Module, findings: list[Finding]) -> None:
    from .positions import node_positions

    positions = node_positions(module)
    for f in findings:
        pos = positions[f.node]
        f.line, f.col = pos.start.line, pos.start.column
        f.end_line, f.end_col = pos.end.line, pos.end.column
        if f.fix is not None:
            f.edit = _text_edit(module, positions, f.fix)


def _text_edit(module: cst.Module, positions, fix: Fix) -> Optional[dict]:
    edits = []
    for old, new in fix.replacements:
        pos = positions.get(old)
        if pos is None:
            return None
        edits.append({"content": module.code_for_node(new),
                      "location": {"row": pos.start.line, "column": pos.start.column + 1},
                      "end_location": {"row": pos.end.line, "column": pos.end.column + 1}})
    return {"applicability": fix.applicability, "message": fix.description, "edits": edits}


def lint_source(source: Union[bytes, str], path: str = "<stdin>", rule_classes: Optional[Sequence[type[Rule]]] = None,
                *, apply_noqa: bool = True, parsed: Optional[cst.Module] = None) -> FileResult:
    """Lint one file's source. Never raises for bad input: errors come back in ``FileResult.error``.
    ``parsed``: the libcst module of exactly this text when the caller has it (the language server
    re-parses only the statements an edit touched)."""
    if rule_classes is None:
        from .rules import default_rules
        rule_classes = default_rules()
    limit = sys.getrecursionlimit()
    if limit < _RECURSION_LIMIT:
        sys.setrecursionlimit(_RECURSION_LIMIT)  # deeply nested expressions are legal Python
    # A parse allocates hundreds of thousands of acyclic nodes; the cyclic collector would rescan them
    # over and over (about 15% of a lint). Reference counting frees them; collection resumes after.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        text = decode_source(source)
        active = rules_for_text(rule_classes, text)
        if not active:
            return FileResult(path, [], text=text)
        module = parsed if parsed is not None else parse(text)
        findings = lint_module(module, text, path, active)
    except LintError as exc:
        return FileResult(path, [], error=exc)
    except RecursionError:
        return FileResult(path, [], error=LintError(INTERNAL_ERROR, "file too deeply nested to analyse"))
    finally:
        if gc_enabled:
            gc.enable()
        if limit < _RECURSION_LIMIT:
            sys.setrecursionlimit(limit)
    if apply_noqa and findings:
        lines = source_lines(text)
        findings = [f for f in findings
                    if not (0 < f.line <= len(lines) and "noqa" in lines[f.line - 1].lower()
                            and is_noqa(lines[f.line - 1], f.code))]
    return FileResult(path, findings, module=module, text=text)


# Python 3.11+ keeps pure-Python recursion off the C stack, so a deeper limit is safe for our walk.
_RECURSION_LIMIT = 12000 if sys.version_info >= (3, 11) else 4000
