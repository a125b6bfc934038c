"""What a rule receives: the file's semantic model (built before the walk) and a small traversal cursor.

The model answers every question about the file (imports per scope, bindings, uses, kinds with their
evidence, Module classes, sibling files); the cursor only says where the walk is (enclosing class and
function, loops, whether autograd is off). Neither imports the engine.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import libcst as cst

from .facts.imports import ImportTable
from .facts.kinds import KindResolver
from .rule import Finding, Fix

if TYPE_CHECKING:  # pragma: no cover
    from .rule import Rule
    from .semantic.model import SemanticModel

NO_GRAD_CONTEXTS = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad",
                              "torch.autograd.grad_mode.no_grad", "torch.autograd.grad_mode.inference_mode"})


class FunctionScope:
    __slots__ = ("node", "self_name", "class_node", "class_is_module")

    def __init__(self, node, self_name, class_node, class_is_module) -> None:
        self.node = node
        self.self_name = self_name
        self.class_node = class_node
        self.class_is_module = class_is_module


class Context:
    """The model of one file plus the cursor of the walk over it."""

    def __init__(self, path: str, text: str, model: "SemanticModel") -> None:
        self.path = path
        self.text = text
        self.model = model
        self.want_fixes = True  # False: report findings only, build no fix (engine.lint_source(fixes=False))
        self.classes = model.classes
        self.imports = ImportTable()  # file-wide aliases, kept for name lookups that are not resolutions
        for b in model.all_bindings_of_form("import"):
            if not b.typing_only:
                self.imports.aliases.setdefault(b.name, b.qualified)
        self.kinds = KindResolver(self)
        self.class_stack: list[tuple[cst.ClassDef, bool]] = []
        self.func_stack: list[FunctionScope] = []
        self.no_grad_depth = 0
        self.loop_stack: list[cst.CSTNode] = []
        self.findings: list[Finding] = []
        self.stack: list[cst.CSTNode] = []  # ancestors of the node being visited (innermost last)

    # ------------------------------------------------------------------ the cursor
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
        """Name of the class method we are directly in (None elsewhere)."""
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

    def parent(self, depth: int = 1) -> Optional[cst.CSTNode]:
        """The ancestor ``depth`` levels above the node being visited."""
        idx = len(self.stack) - 1 - depth
        return self.stack[idx] if idx >= 0 else None

    # ------------------------------------------------------------------ questions answered by the model
    def resolve(self, node: cst.BaseExpression) -> Optional[str]:
        """Dotted name through the imports visible where ``node`` stands (None for locals/parameters)."""
        return self.model.resolve(node)

    def is_self(self, node: cst.BaseExpression) -> bool:
        return (type(node) is cst.Name and bool(self.func_stack)
                and self.func_stack[-1].self_name == node.value)

    def is_module_class(self, node: cst.ClassDef) -> bool:
        return self.classes.is_module_class(node)

    def kind_of(self, node: cst.BaseExpression) -> Optional[str]:
        """The proven Module / Parameter / Tensor kind of an expression, or None."""
        return self.model.kinds.legacy_kind(node)

    def is_no_grad_expr(self, node: cst.BaseExpression) -> bool:
        func = node.func if type(node) is cst.Call else node
        qualified = self.resolve(func)
        if qualified in NO_GRAD_CONTEXTS:
            return True
        if (type(node) is cst.Call and qualified in ("torch.set_grad_enabled", "torch.autograd.set_grad_enabled")
                and node.args and type(node.args[0].value) is cst.Name and node.args[0].value.value == "False"):
            return True
        return False

    def add_finding(self, rule: "Rule", node: cst.CSTNode, message: str, fix: Optional[Fix]) -> None:
        self.findings.append(Finding(code=rule.code, message=message, line=0, col=0, end_line=0, end_col=0,
                                     name=rule.name, fix=fix, node=node))

    # ------------------------------------------------------------------ cursor bookkeeping (engine only)
    def enter_function(self, node: cst.FunctionDef) -> int:
        scope = self.model.function_scope(node)
        class_node = scope.class_node if scope is not None else None
        class_is_module = class_node is not None and self.classes.is_module_class(class_node)
        self.func_stack.append(FunctionScope(node, scope.self_name if scope is not None else None,
                                             class_node, class_is_module))
        added = 1 if any(self.is_no_grad_expr(dec.decorator) for dec in node.decorators) else 0
        self.no_grad_depth += added
        return added
