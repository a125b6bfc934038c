"""The guard in front of libcst's native parser.

libcst's parser is a recursive native parser whose time grows much faster than linearly with the depth of an
expression (a 2,000-term sum takes seconds, 1,000 chained subscripts several seconds, 9,000 nested unary minus
signs overflow its stack and kill the process). It also accepts files CPython rejects. So before libcst sees a
file, two cheap checks run:

1. CPython's own compiler (``compile(text, path, "exec")``), whose limits are the language's: a file it rejects
   is answered with one TL001 line in CPython's words. On Python <= 3.11 the compiler's depth limit follows
   ``sys.getrecursionlimit()``, so the same compile, run with a low limit, also bounds the depth of every
   expression at :data:`MAX_DEPTH` for free; on 3.12+ (fixed limit) a C-speed scan finds the files that may hold
   a long expression and only those are tokenized to measure it.
2. The depth bound: an expression deeper than :data:`MAX_DEPTH` (a chain of operators, attributes, calls or
   subscripts, or nested unary / lambda / conditional expressions) that CPython accepts is answered with one
   TL001 line saying so, instead of a parse that takes minutes or crashes.

Measured on transformers' models/ (Python 3.11, libcst 1.9.0): ``compile`` costs 8-10 % of libcst's parse of
the same files, the 3.12+ (and flake8) pre-scan 0.5 %.
"""
from __future__ import annotations

import re
import sys
import warnings
from typing import Optional

# Deepest expression handed to libcst. At this depth libcst needs about a second for the worst kind
# (chained subscripts), a few tenths for the others; real code stays far below (transformers: < 60).
MAX_DEPTH = 600

_VERSION = "%d.%d" % sys.version_info[:2]
# Python <= 3.11: the compiler's depth limit is 3 x (recursion limit - current Python depth).
_COMPILER_SCALE = 3
_TUNABLE = sys.version_info < (3, 12)
# CPython's default recursion limit: what a script running the file would have.
_DEFAULT_LIMIT = 1000


class Rejection:
    """Why a file is not handed to libcst: message, 1-based line, 0-based column."""

    __slots__ = ("message", "line", "col")

    def __init__(self, message: str, line: int = 1, col: int = 0) -> None:
        self.message, self.line, self.col = message, line, col

    def __repr__(self) -> str:
        return f"Rejection({self.message!r}, {self.line}, {self.col})"


def _depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def _compile(text: str, filename: str, limit: Optional[int]) -> Optional[BaseException]:
    """Compile with CPython (warnings silenced, recursion limit ``limit`` if given); the error or None."""
    old = sys.getrecursionlimit()
    if limit is not None:
        try:
            sys.setrecursionlimit(limit)
        except RecursionError:  # already deeper than that: compile with the limit as it is
            pass
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return exc
    finally:
        sys.setrecursionlimit(old)
    return None


def _cpython_words(exc: BaseException, text: str) -> Rejection:
    if isinstance(exc, SyntaxError):
        msg = exc.msg or "invalid syntax"
        line = exc.lineno or 1
        col = max((exc.offset or 1) - 1, 0)
        if "null bytes" in msg and "\0" in text:
            pos = text.index("\0")
            line = text.count("\n", 0, pos) + 1
            col = pos - (text.rfind("\n", 0, pos) + 1)
        return Rejection(f"syntax error: {msg} (Python {_VERSION})", line, col)
    detail = str(exc).strip()
    if "null bytes" in detail and "\0" in text:
        return _cpython_words(SyntaxError(detail), text)
    if isinstance(exc, MemoryError):  # 3.11 raises it without a message; these are 3.12's words
        detail = detail or "Parser stack overflowed - Python source too complex to parse"
    elif isinstance(exc, RecursionError):
        detail = f"too deeply nested: {detail or 'maximum recursion depth exceeded during compilation'}"
    return Rejection(f"syntax error: {detail or type(exc).__name__} (Python {_VERSION})")


def _too_deep(depth: int = 0) -> Rejection:
    found = f"about {depth} levels" if depth else f"more than {MAX_DEPTH} levels"
    return Rejection(f"cannot parse: an expression is nested too deeply for libcst's parser ({found}; "
                     f"the limit is {MAX_DEPTH})")


def check(text: str, filename: str = "<unknown>", python: bool = True) -> Optional[Rejection]:
    """None when libcst may parse ``text``; else why not. ``python=False`` skips CPython's compiler (the caller
    knows CPython parsed the file already, e.g. flake8) but still bounds the depth."""
    if text.startswith("\ufeff"):  # a byte-order mark decoded into the text: CPython reads it as utf-8-sig
        text = text[1:]
    if python and _TUNABLE:
        # one compile at a low recursion limit checks the syntax and bounds the depth at once
        base = _depth() + 5
        exc = _compile(text, filename, base + MAX_DEPTH // _COMPILER_SCALE)
        if exc is None:
            return None
        if isinstance(exc, RecursionError):
            again = _compile(text, filename, base + _DEFAULT_LIMIT)
            if again is None:
                return _too_deep()
            exc = again
        return _cpython_words(exc, text)
    if python:
        exc = _compile(text, filename, None)
        if exc is not None:
            return _cpython_words(exc, text)
    depth = deepest_expression(text)
    if depth > MAX_DEPTH:
        return _too_deep(depth)
    return None


# ------------------------------------------------------------------------------------------ the 3.12+ scan
# An expression MAX_DEPTH levels deep lies in a stretch of text with no ',', ';' or '=' holding at least
# MAX_DEPTH operator characters (``+``, ``.``, ``(``, ...) or MAX_DEPTH words (``not``, ``lambda``, ``else``).
# Splitting at those characters and counting is C-speed (0.4 % of libcst's parse on transformers' models/);
# only a file with such a stretch is tokenized to measure the expression exactly.
_SEPARATORS = re.compile(r"[,;=]")
_OPERATOR_CHARS = ".+-*/%@&|^~<>(["
_OPERATORS = frozenset({"+", "-", "*", "/", "//", "%", "@", "**", "<<", ">>", "&", "|", "^", "~", "."})
_KEYWORD_OPERATORS = frozenset({"not", "lambda", "else", "await"})  # "else": one per conditional
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_RESETS = frozenset({",", ";", "=", ":="})


def _maybe_deep(text: str) -> bool:
    if len(text) < MAX_DEPTH:
        return False
    for piece in _SEPARATORS.split(text):
        if len(piece) >= MAX_DEPTH and (sum(piece.count(c) for c in _OPERATOR_CHARS) >= MAX_DEPTH
                                        or len(piece.split()) >= MAX_DEPTH):
            return True
    return False


def deepest_expression(text: str) -> int:
    """An upper estimate of the deepest expression: per bracket level, the operators (binary and unary
    operators, attribute dots, call and subscript trailers, ``not``/``lambda``/conditional keywords) since the
    last ``,``/``;``/``=`` or end of statement. 0 when the file cannot hold a deep one."""
    if not _maybe_deep(text):
        return 0
    import io
    import keyword
    import tokenize

    deepest = 0
    count = 0
    stack: list[int] = []
    prev_operand = False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            ttype, string = tok.type, tok.string
            if ttype == tokenize.OP:
                if string in _OPENERS:
                    if prev_operand:
                        count += 2  # a call or subscript trailer
                        if count > deepest:
                            deepest = count
                    stack.append(count)
                    count = 0
                    prev_operand = False
                    continue
                if string in (")", "]", "}"):
                    count = stack.pop() if stack else 0
                    prev_operand = True
                    continue
                if string in _RESETS:
                    count = 0
                elif string in _OPERATORS:
                    count += 1
                prev_operand = False
            elif ttype == tokenize.NAME:
                if string in _KEYWORD_OPERATORS:
                    count += 1
                    prev_operand = False
                else:
                    prev_operand = not keyword.iskeyword(string)
            elif ttype in (tokenize.NUMBER, tokenize.STRING) or ttype == getattr(tokenize, "FSTRING_END", -1):
                prev_operand = True
            elif ttype in (tokenize.NEWLINE, tokenize.ENDMARKER):
                count, stack, prev_operand = 0, [], False
            if count > deepest:
                deepest = count
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return deepest
