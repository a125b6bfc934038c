"""Control flow inside one function body: parents, source order, mutually exclusive branches.

Built on demand by rules that need to compare two places of a function (a binding and its uses); the
engine's traversal does not keep parents.
"""
from __future__ import annotations

from typing import Optional

import libcst as cst

from .nodes import children

_SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_TERMINATORS = (cst.Return, cst.Raise, cst.Continue, cst.Break)
LOOPS = (cst.For, cst.While)


class Scope:
    """Parents and source order of the nodes of one function body (nested scopes not entered)."""

    def __init__(self, root: cst.CSTNode) -> None:
        self.parent: dict[int, cst.CSTNode] = {}
        self.order: list[cst.CSTNode] = []
        stack = [root]
        while stack:
            node = stack.pop()
            self.order.append(node)
            if node is not root and isinstance(node, _SCOPES):
                continue
            kids = list(children(node))
            for kid in kids:
                self.parent[id(kid)] = node
            stack.extend(reversed(kids))
        self.index = {id(n): i for i, n in enumerate(self.order)}

    def ancestors(self, node: cst.CSTNode) -> list[cst.CSTNode]:
        out = []
        cur = self.parent.get(id(node))
        while cur is not None:
            out.append(cur)
            cur = self.parent.get(id(cur))
        return out


def _arm_of(compound: cst.CSTNode, child: cst.CSTNode) -> Optional[object]:
    """Which mutually exclusive arm of ``compound`` holds ``child`` (None: not a branching field)."""
    if isinstance(compound, (cst.If, cst.IfExp)):
        if child is compound.body:
            return "body"
        if child is compound.orelse:
            return "orelse"
        return None
    if isinstance(compound, cst.Try):
        if child is compound.body or child is compound.orelse:
            return "body"
        for i, h in enumerate(compound.handlers):
            if child is h:
                return ("handler", i)
        return None
    if isinstance(compound, cst.Match):
        for i, case in enumerate(compound.cases):
            if child is case:
                return ("case", i)
    return None


def exclusive(scope: "Scope", a: cst.CSTNode, b: cst.CSTNode) -> bool:
    """``a`` and ``b`` cannot both run: different arms of one branch, or ``a``'s branch ends early."""
    anc_a = [a] + scope.ancestors(a)
    anc_b = [b] + scope.ancestors(b)
    ids_b = {id(n): i for i, n in enumerate(anc_b)}
    for i, node in enumerate(anc_a):
        j = ids_b.get(id(node))
        if j is None:
            continue
        # node: the lowest common ancestor
        if i == 0 or j == 0:
            return False
        arm_a, arm_b = _arm_of(node, anc_a[i - 1]), _arm_of(node, anc_b[j - 1])
        if arm_a is not None and arm_b is not None and arm_a != arm_b:
            return True
        # a's side: a block below the common ancestor that ends (return/raise/...) after a
        return _ends_after(scope, anc_a[:i], a)
    return False


def _ends_after(scope: Scope, path: list[cst.CSTNode], a: cst.CSTNode) -> bool:
    """A block on ``path`` (from ``a`` up to below the common ancestor) ends after ``a``: return or
    raise, or continue/break when no loop lies between that block and the common ancestor."""
    pos = scope.index.get(id(a), 0)
    path_ids = {id(n) for n in path}
    for k, node in enumerate(path):
        if not isinstance(node, (cst.IndentedBlock, cst.SimpleStatementSuite)):
            continue
        loop_above = any(isinstance(n, (cst.For, cst.While)) for n in path[k + 1:])
        enders = (cst.Return, cst.Raise) if loop_above else _TERMINATORS
        for stmt in node.body:
            if id(stmt) not in path_ids and scope.index.get(id(stmt), -1) < pos:
                continue
            small = stmt.body if isinstance(stmt, cst.SimpleStatementLine) else [stmt]
            if any(isinstance(s, enders) for s in small):
                return True
    return False


def loops_around(scope: Scope, node: cst.CSTNode) -> list:
    """Enclosing for/while loops of ``node`` in the scope, innermost first."""
    return [a for a in scope.ancestors(node) if isinstance(a, LOOPS)]
