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

from .context import Context
from .facts.kinds import clear_class_memo
from .facts.nodes import FIELD_CACHE, LEAF_CLASSES, NODE_CLASSES, child_fields
from .rule import Finding, Fix, Rule
from .semantic.model import SemanticModel

SYNTAX_ERROR = "TL001"
READ_ERROR = "TL002"
INTERNAL_ERROR = "TL003"

# flake8's own noqa syntax: "# noqa", "# noqa: TL101", "# noqa:TL101,TL102"
NOQA_RE = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
_LINE_SPLIT = re.compile(r"\r\n|\r|\n")


class LintError(Exception):
    def __init__(self, code: str, message: str, line: int = 1, col: int = 0) -> None:
        super().__init__(message)
        self.code, self.message, self.line, self.col = code, message, line, col


class _Dispatch:
    """Handlers of the enabled rules, keyed by libcst node class."""

    __slots__ = ("visit", "leave")
    _handlers: dict = {}  # rule class -> [(is_leave, node class, method name)], found once per process

    def __init__(self, rules: Sequence[Rule]) -> None:
        self.visit: dict[type, list] = {}
        self.leave: dict[type, list] = {}
        for rule in rules:
            for is_leave, node_cls, attr in self._of(type(rule)):
                (self.leave if is_leave else self.visit).setdefault(node_cls, []).append(getattr(rule, attr))

    @classmethod
    def _of(cls, rule_cls: type) -> list:
        found = cls._handlers.get(rule_cls)
        if found is None:
            found = []
            for attr in dir(rule_cls):
                if not attr.startswith(("visit_", "leave_")):
                    continue
                node_cls = getattr(cst, attr[6:], None)
                if node_cls is None:
                    raise TypeError(f"{rule_cls.__name__}.{attr}: libcst has no node {attr[6:]}")
                found.append((attr.startswith("leave_"), node_cls, attr))
            cls._handlers[rule_cls] = found
        return found


def _walk(root: cst.CSTNode, ctx: Context, dispatch: _Dispatch) -> None:
    """Depth-first over the code-bearing fields only (no whitespace, no punctuation), calling the rules'
    handlers; leaves nobody listens to are not even entered."""
    visit, leave = dispatch.visit, dispatch.leave
    stack = ctx.stack
    skip = LEAF_CLASSES.difference(visit, leave)
    node_classes = NODE_CLASSES
    fields_of = FIELD_CACHE
    scoped = _SCOPED

    def walk(node: cst.CSTNode) -> None:
        cls = type(node)
        stack.append(node)
        scope = scoped.get(cls)
        if scope is not None:
            entered = _enter_scope(ctx, node, scope)
        handlers = visit.get(cls)
        if handlers:
            for handler in handlers:
                try:
                    handler(node)
                except Exception as exc:  # noqa: B902 - one rule's bug must not cost the file its other findings
                    _rule_failed(ctx, dispatch, handler, node, exc)
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
                try:
                    handler(node)
                except Exception as exc:  # noqa: B902
                    _rule_failed(ctx, dispatch, handler, node, exc)
        if scope is not None:
            _leave_scope(ctx, scope, entered)
        stack.pop()

    walk(root)


def _rule_failed(ctx: Context, dispatch: _Dispatch, handler, node: cst.CSTNode, exc: Exception) -> None:
    """A rule raised: one TL003 finding names it, and the rule is switched off for the rest of the file."""
    rule = getattr(handler, "__self__", None)
    for table in (dispatch.visit, dispatch.leave):
        for key, handlers in table.items():
            if any(getattr(h, "__self__", None) is rule for h in handlers):
                table[key] = [h for h in handlers if getattr(h, "__self__", None) is not rule]
    code, name = getattr(rule, "code", "?"), getattr(rule, "name", "?")
    detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    ctx.findings.append(Finding(code=INTERNAL_ERROR, message=f"rule {code} ({name}) failed here: "
                                f"{type(exc).__name__}{': ' + detail if detail else ''}; {code} was skipped for the "
                                f"rest of this file, the other rules ran", line=0, col=0, end_line=0, end_col=0,
                                name="internal-error", fix=None, node=node))


_SCOPED = {cst.ClassDef: "class", cst.FunctionDef: "function", cst.With: "with", cst.For: "loop", cst.While: "loop"}


def _enter_scope(ctx: Context, node: cst.CSTNode, scope: str) -> int:
    """Push what the node opens; returns how much it added to the no-grad depth."""
    if scope == "class":
        ctx.class_stack.append((node, ctx.classes.is_module_class(node)))
        return 0
    if scope == "function":
        return ctx.enter_function(node)
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


def parse(text: str, path: str = "<unknown>", python_checked: bool = False) -> cst.Module:
    """libcst's parse, behind the guard (torchlint/guard.py): a file CPython rejects, or one deep enough to
    hang or crash libcst's native parser, is a LintError(TL001) and never reaches libcst."""
    from .guard import check

    rejected = check(text, path, python=not python_checked)
    if rejected is not None:
        raise LintError(SYNTAX_ERROR, rejected.message, rejected.line, rejected.col)
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
    if (line, col) <= (1, 0) and "\f" in text:
        # libcst rejects a form feed in indentation and reports 1:1; point at the form feed instead
        pos = text.index("\f")
        line, col = text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1)
        return LintError(SYNTAX_ERROR, "cannot parse: valid Python that libcst does not support (a form feed "
                         "character)", line, col)
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
    __slots__ = ("path", "findings", "error", "module", "text", "dependencies")

    def __init__(self, path, findings, error=None, module=None, text=None, dependencies=None) -> None:
        self.path = path
        # other files of the project whose contents the result depends on: path -> (size, mtime_ns)
        self.dependencies: dict = dependencies if dependencies is not None else {}
        self.findings: list[Finding] = findings
        self.error: Optional[LintError] = error
        self.module: Optional[cst.Module] = module
        self.text: Optional[str] = text


def rules_for_text(rule_classes: Sequence[type[Rule]], text: str) -> list[type[Rule]]:
    return [r for r in rule_classes if not r.triggers or any(t in text for t in r.triggers)]


def lint_module(module: cst.Module, text: str, path: str, rule_classes: Sequence[type[Rule]],
                dependencies: Optional[dict] = None, project_path: Optional[str] = None,
                fixes: bool = True) -> list[Finding]:
    """Run the rules over an already parsed module; findings get positions, sorted. ``dependencies``, when
    given, receives the sibling files the project index read (path -> (size, mtime_ns))."""
    clear_class_memo()
    ctx = Context(path, text, SemanticModel(module, project_path or path))
    ctx.want_fixes = fixes
    rules = [cls(ctx) for cls in rule_classes]
    try:
        _walk(module, ctx, _Dispatch(rules))
    finally:
        if dependencies is not None:
            dependencies.update(ctx.model.project.consulted)
        ctx.model.close()
        ctx.kinds = ctx.model = None  # break reference cycles: the tree is freed by reference counting
        clear_class_memo()
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
                *, apply_noqa: bool = True, python_checked: bool = False,
                parsed: Optional[cst.Module] = None, project_path: Optional[str] = None,
                fixes: bool = True) -> FileResult:
    """Lint one file's source. Never raises for bad input: errors come back in ``FileResult.error``.
    Every file is syntax-checked by CPython's compiler (also one no rule would look at) unless
    ``python_checked`` says the caller's CPython parsed it already (flake8). ``project_path``: where the file
    really is, for the project index (sibling files), when ``path`` is only its display name. ``parsed``: the libcst module
    of exactly this text when the caller has it (the language server re-parses, behind the guard, only
    the statements an edit touched). ``fixes=False``: findings without fixes (nothing is proven for them; the
    language server publishes diagnostics first and builds fixes when a code action asks)."""
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
            if not python_checked:
                from .guard import check

                rejected = check(text, path)
                if rejected is not None:
                    raise LintError(SYNTAX_ERROR, rejected.message, rejected.line, rejected.col)
            return FileResult(path, [], text=text)
        module = parsed if parsed is not None else parse(text, path, python_checked)
        dependencies: dict = {}
        findings = lint_module(module, text, path, active, dependencies, project_path=project_path, fixes=fixes)
    except LintError as exc:
        return FileResult(path, [], error=exc)
    except RecursionError:
        return FileResult(path, [], error=LintError(INTERNAL_ERROR, "file too deeply nested to analyse"))
    except MemoryError:
        return FileResult(path, [], error=LintError(INTERNAL_ERROR, "out of memory while analysing this file"))
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
    return FileResult(path, findings, module=module, text=text, dependencies=dependencies)


# Python 3.11+ keeps pure-Python recursion off the C stack, so a deeper limit is safe for our walk.
_RECURSION_LIMIT = 12000 if sys.version_info >= (3, 11) else 4000
