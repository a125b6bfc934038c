"""Node positions for findings, exactly as libcst's ``PositionProvider`` computes them, at a fraction of
the cost.

``MetadataWrapper(module).resolve(PositionProvider)`` generates the module's code while recording a
``CodeRange`` for every node, then walks the whole tree once more with an (empty) batched visitor. Here the
code generation runs once with a lean state: it keeps no tokens, records plain (line, column) tuples, uses a
plain object instead of a generator context manager for the syntactic ranges, and builds a ``CodeRange``
only for the nodes asked about. The recording rules (syntactic start/end hoisting, first range wins) are
libcst's own; tests/test_positions.py compares every node's range with libcst on every fixture.
"""
from __future__ import annotations

import re
from typing import Optional

import libcst as cst
from libcst._nodes.internal import CodegenState
from libcst._position import CodePosition, CodeRange

_NEWLINE = re.compile(r"\r\n?|\n")


class _Syntactic:
    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state, node, start_node, end_node) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self) -> None:
        self.start = (self.state.line, self.state.column)

    def __exit__(self, *exc) -> None:
        state = self.state
        ranges = state.ranges
        start = ranges[self.start_node][0] if self.start_node is not None else self.start
        end = ranges[self.end_node][1] if self.end_node is not None else (state.line, state.column)
        ranges[self.node] = (start, end)


class _State(CodegenState):
    """Tracks only the position; ``tokens`` keeps the first token only."""

    __slots__ = ("line", "column", "ranges", "stack")

    def __init__(self, default_indent: str, default_newline: str) -> None:
        super().__init__(default_indent=default_indent, default_newline=default_newline)
        self.line, self.column = 1, 0
        self.ranges: dict = {}
        self.stack: list = []

    def _advance(self, value: str) -> None:
        if "\n" in value or "\r" in value:
            segments = _NEWLINE.split(value)
            self.line += len(segments) - 1
            self.column = len(segments[-1])
        else:
            self.column += len(value)

    def add_indent_tokens(self) -> None:
        for token in self.indent_tokens:
            self._advance(token)

    def add_token(self, value: str) -> None:
        if not self.tokens:  # Module._codegen_impl asks whether anything was written
            self.tokens.append(value)
        self._advance(value)

    def pop_trailing_newline(self) -> None:  # the end of the module: no node ends after it
        pass

    def before_codegen(self, node) -> None:
        self.stack.append((self.line, self.column))

    def after_codegen(self, node) -> None:
        start = self.stack.pop()
        if node not in self.ranges:
            self.ranges[node] = (start, (self.line, self.column))

    def record_syntactic_position(self, node, *, start_node=None, end_node=None):
        return _Syntactic(self, node, start_node, end_node)


class Positions:
    """``positions[node]`` / ``positions.get(node)``: the node's ``CodeRange`` (``PositionProvider``'s).
    Ranges are kept per part of the module (header, each top-level statement, footer) with the line that
    part starts after, so a part's ranges can be reused when the same statement object comes back."""

    __slots__ = ("_parts",)

    def __init__(self, parts: list) -> None:
        self._parts = parts  # [(line offset, {node: ((line, col), (line, col))}), ...]

    def get(self, node, default=None) -> Optional[CodeRange]:
        for offset, ranges in self._parts:
            found = ranges.get(node)
            if found is not None:
                (l1, c1), (l2, c2) = found
                return CodeRange(CodePosition(l1 + offset, c1), CodePosition(l2 + offset, c2))
        return default

    def __getitem__(self, node) -> CodeRange:
        found = self.get(node)
        if found is None:
            raise KeyError(node)
        return found

    def __len__(self) -> int:
        return sum(len(ranges) for _offset, ranges in self._parts)

    def __iter__(self):
        for _offset, ranges in self._parts:
            yield from ranges


# Reuse of top-level statements' ranges from the previous call, for a caller that re-lints the same file
# over and over with most statement objects unchanged (the language server's incremental re-parse). Off
# unless enabled: the command line and flake8 keep no state between files.
_reuse: Optional[dict] = None


def reuse_statement_positions(enabled: bool = True) -> None:
    global _reuse
    _reuse = {} if enabled else None


def node_positions(module: cst.Module) -> Positions:
    """Every node's range in ``module`` (1-based lines, 0-based code-point columns)."""
    indent, newline = module.default_indent, module.default_newline
    if _reuse is None:
        state = _State(indent, newline)
        module._codegen(state)
        return Positions([(0, state.ranges)])
    # header, then each statement from line 1 of its own, then the footer; Module's own range last
    parts = []
    kept: dict = {}
    state = _State(indent, newline)
    for line in module.header:
        line._codegen(state)
    parts.append((0, state.ranges))
    offset = state.line - 1
    wrote = bool(state.tokens)
    for stmt in module.body:
        cached = _reuse.get(id(stmt))
        if cached is not None and cached[0] is stmt and cached[1] == (indent, newline):
            ranges, lines = cached[2], cached[3]
        else:
            part = _State(indent, newline)
            stmt._codegen(part)
            ranges, lines = part.ranges, part.line - 1
            wrote = wrote or bool(part.tokens)
        kept[id(stmt)] = (stmt, (indent, newline), ranges, lines)
        parts.append((offset, ranges))
        offset += lines
        wrote = wrote or lines > 0
    tail = _State(indent, newline)
    for line in module.footer:
        line._codegen(tail)
    parts.append((offset, tail.ranges))
    end = (offset + tail.line, tail.column)
    if module.has_trailing_newline and not (wrote or tail.tokens):
        end = (end[0] + 1, 0)  # an empty module still writes its newline
    parts.append((0, {module: ((1, 0), end)}))
    _reuse.clear()
    _reuse.update(kept)
    return Positions(parts)
