"""torchlint.positions gives exactly libcst's PositionProvider ranges, for every node of every fixture."""
import pytest
import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from helpers import FIXTURES
from torchlint.positions import node_positions

FILES = sorted(FIXTURES.rglob("*.py"))
ODD = ["x = 1\r\ny = 2\r\n", "x = 1\ry = (\r 2)\r", "def f():\n\tif x:\n\t\treturn '''a\n b'''\n", "", "# c\n",
       "@d\nclass A(B):\n    '''doc'''\n    x: int = 1  # c\n\n\n", "s = 'é😀'; t = f'{s!r:>{10}}'\n"]


@pytest.mark.parametrize("source", [p.read_text(encoding="utf-8") for p in FILES] + ODD,
                         ids=[str(p.relative_to(FIXTURES)) for p in FILES] + [f"odd{i}" for i in range(len(ODD))])
def test_same_ranges_as_libcst(source):
    module = cst.parse_module(source)
    expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    got = node_positions(module)
    assert len(got) == len(expected)
    assert all(got[node] == expected[node] for node in expected)


@pytest.mark.parametrize("source", [p.read_text(encoding="utf-8") for p in FILES[:40:3]] + ODD,
                         ids=[str(p.relative_to(FIXTURES)) for p in FILES[:40:3]] + [f"odd{i}" for i in range(len(ODD))])
def test_reused_statement_ranges_are_exact(source):
    """With reuse on (the language server), ranges stay libcst's after an edit that keeps most statements."""
    from torchlint.positions import reuse_statement_positions
    from torchlint.server import IncrementalParser

    reuse_statement_positions(True)
    try:
        module = cst.parse_module(source)
        first = node_positions(module)
        assert all(first[n] == r for n, r in MetadataWrapper(module, unsafe_skip_copy=True)
                   .resolve(PositionProvider).items())
        parser = IncrementalParser()
        parser.remember(source, module)
        for edited in (source + "x = 1\n", "# new first line\n" + source, source.replace("\n\n", "\n\n\n", 1)):
            new = parser.parse(edited) or cst.parse_module(edited)
            got = node_positions(new)
            expected = MetadataWrapper(new, unsafe_skip_copy=True).resolve(PositionProvider)
            assert len(got) == len(expected)
            assert all(got[n] == r for n, r in expected.items())
    finally:
        reuse_statement_positions(False)
