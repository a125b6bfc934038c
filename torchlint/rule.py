"""The Rule base class: one rule per file, its metadata and documentation next to its logic.

A rule subclasses :class:`Rule`, sets its metadata, writes its documentation in the class docstring
(ruff's shape: ``## What it does``, ``## Why is this bad?``, ``## Example``, ``## Use instead``,
``## Fix safety``) and defines ``visit_<Node>`` / ``leave_<Node>`` methods named after libcst node
classes. The engine instantiates every enabled rule once per file and calls those methods during its
single traversal. Inside a handler, ``self.ctx`` answers the shared questions (imports, Module classes,
kinds, the enclosing class/function, whether autograd is off) and ``self.report(node, ...)`` records a
finding.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Optional, Sequence

import libcst as cst

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Context

SAFE = "safe"
UNSAFE = "unsafe"

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety")


@dataclass
class Fix:
    """Replace each ``old`` node of the parsed tree by ``new`` (libcst nodes, matched by identity)."""

    applicability: str  # SAFE or UNSAFE
    replacements: Sequence[tuple[cst.CSTNode, cst.CSTNode]]
    description: str = ""


@dataclass
class Finding:
    code: str
    message: str
    line: int  # 1-based
    col: int  # 0-based, in characters (code points) of the line
    end_line: int
    end_col: int
    name: str = ""
    fix: Optional[Fix] = None
    node: Optional[cst.CSTNode] = field(default=None, repr=False, compare=False)
    edit: Optional[dict] = None  # text edit of the fix, filled in when positions are known

    def sort_key(self):
        return (self.line, self.col, self.code)


_EVIDENCE = {
    3: ("Fires only on **proven** kinds: a constructor, an annotation, an in-file or sibling-file Module class, or an "
        "in-file helper whose every return is proven."),
    2: ("Fires on **strong** evidence too: besides proven kinds, what the code does with a name in its scope (Module-only "
        "methods such as `parameters()`, being passed to `nn.Sequential`/`DataParallel`/an optimizer or scheduler, "
        "the targets of a loop over a DataLoader, every call site of a local function passing a proven kind). "
        "Contradicting evidence (`.fit`, `.predict`, numpy or other frameworks' values) keeps it silent."),
}


class Rule:
    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    message: ClassVar[str] = ""
    summary: ClassVar[str] = ""  # one line for tables: what the rule finds
    default_enabled: ClassVar[bool] = True
    fix_availability: ClassVar[Optional[str]] = None  # SAFE, UNSAFE or None
    # The weakest evidence of a receiver's kind the rule accepts: 3 proven, 2 strong (see semantic/kinds.py).
    needs: ClassVar[int] = 3
    # The rule can only fire when the file text contains one of these strings (cheap prefilter).
    triggers: ClassVar[tuple[str, ...]] = ("torch",)

    def __init__(self, ctx: "Context") -> None:
        self.ctx = ctx

    def is_kind(self, node: cst.BaseExpression, kind: str) -> bool:
        """Is ``node`` of ``kind`` with at least the evidence this rule ``needs``?"""
        return self.ctx.model.kinds.is_(node, kind, at_least=self.needs)

    def report(self, node: cst.CSTNode, message: Optional[str] = None, fix: Optional[Fix] = None, **fmt) -> None:
        text = message if message is not None else self.message
        if fmt:
            text = text.format(**fmt)
        self.ctx.add_finding(self, node, text, fix if self.ctx.want_fixes else None)

    # ------------------------------------------------------------------ documentation
    @classmethod
    def documentation(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "") + "\n\n## Evidence\n" + _EVIDENCE[cls.needs]

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        sections: dict[str, str] = {}
        current = None
        for line in cls.documentation().splitlines():
            if line.startswith("## "):
                current = line[3:].strip()
                sections[current] = ""
            elif current is not None:
                sections[current] += line + "\n"
        return {k: v.strip("\n") for k, v in sections.items()}

    @classmethod
    def one_line(cls) -> str:
        """The rule's one-line summary (its ``summary``, else the first sentence of 'What it does')."""
        if cls.summary:
            return cls.summary
        what = cls.doc_sections().get("What it does", "").replace("\n", " ").strip()
        return what.split(". ")[0].rstrip(".") + "." if what else cls.message
