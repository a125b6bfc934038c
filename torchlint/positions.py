"""Node positions for findings, as libcst's ``PositionProvider`` computes them, at a fraction of the cost.

``MetadataWrapper(module).resolve(PositionProvider)`` generates the module's code while recording every
node's range, and then walks the whole tree once more with an (empty) batched visitor. Here the code is
generated once with the same recording state (so every range is identical, including the syntactic
start/end hoisting), the extra walk is skipped, and a token without a line break advances the column
without a regular-expression split. tests/test_positions.py compares with libcst on every fixture.
"""
from __future__ import annotations

import libcst as cst
from libcst.metadata.position_provider import NEWLINE_RE, PositionProvider, PositionProvidingCodegenState


class _State(PositionProvidingCodegenState):
    __slots__ = ()

    def _update_position(self, value: str) -> None:
        if "\n" in value or "\r" in value:
            segments = NEWLINE_RE.split(value)
            self.line += len(segments) - 1
            self.column = len(segments[-1])
        else:
            self.column += len(value)


def node_positions(module: cst.Module) -> dict:
    """``{node: CodeRange}`` for every node of ``module`` (what ``PositionProvider`` resolves to)."""
    provider = PositionProvider()
    state = _State(default_indent=module.default_indent, default_newline=module.default_newline, provider=provider)
    module._codegen(state)
    return provider._computed
