"""Import-alias table: which dotted name does a local name stand for?

Built from every ``import`` statement of a file (any depth of statement nesting) before the rules run,
so that ``nn``, ``tnn``, ``F``, ``init`` or ``Linear`` resolve to ``torch.nn``, ``torch.nn.functional``,
``torch.nn.init`` or ``torch.nn.Linear`` without libcst's scope/qualified-name providers (which cost
several parses each).
"""
from __future__ import annotations

from typing import Optional

import libcst as cst


_ATTRIBUTE, _NAME = cst.Attribute, cst.Name


def _split(node: cst.BaseExpression) -> Optional[tuple[str, list[str]]]:
    """(head name, attribute names outermost first) of a Name/Attribute chain, else None."""
    attrs = []
    while type(node) is _ATTRIBUTE:
        attrs.append(node.attr.value)
        node = node.value
    if type(node) is not _NAME:
        return None
    return node.value, attrs


def dotted_name(node: cst.BaseExpression) -> Optional[str]:
    """``a.b.c`` as a string for a Name/Attribute chain, else None."""
    split = _split(node)
    if split is None:
        return None
    return ".".join([split[0], *reversed(split[1])])


class ImportTable:
    __slots__ = ("aliases",)

    def __init__(self) -> None:
        # local name -> dotted name it is bound to ("nn" -> "torch.nn")
        self.aliases: dict[str, str] = {}

    def add(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted_name(alias.name)
                if full is None:
                    continue
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    self.aliases[alias.asname.name.value] = full
                else:
                    head = full.split(".", 1)[0]
                    self.aliases[head] = head
        elif isinstance(node, cst.ImportFrom):
            if isinstance(node.names, cst.ImportStar):
                return
            dots = "." * len(node.relative)
            mod = dotted_name(node.module) if node.module is not None else ""
            base = dots + (mod or "")
            for alias in node.names:
                if not isinstance(alias.name, cst.Name):
                    continue
                name = alias.name.value
                local = name
                if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                    local = alias.asname.name.value
                if base.endswith("."):
                    self.aliases[local] = base + name
                else:
                    self.aliases[local] = f"{base}.{name}"

    def resolve(self, node: cst.BaseExpression) -> Optional[str]:
        """Dotted name of an expression through the imports (``nn.Linear`` -> ``torch.nn.Linear``).

        Returns None when the head name was not imported (a local variable, a builtin, unknown).
        """
        split = _split(node)
        if split is None:
            return None
        head = self.aliases.get(split[0])
        if head is None:
            return None
        return ".".join([head, *reversed(split[1])])

    def local_name_for(self, dotted: str) -> Optional[str]:
        """Source text that names ``dotted`` in this file (``torch.nn`` -> ``nn``), for fixes."""
        best = None
        for local, target in self.aliases.items():
            if target == dotted:
                return local
            if dotted.startswith(target + ".") and (best is None or len(target) > len(best[1])):
                best = (local, target)
        if best is not None:
            return best[0] + dotted[len(best[1]):]
        return None
