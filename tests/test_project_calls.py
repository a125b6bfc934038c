"""The project index's reading of class methods: how a class's own ``__call__`` ends, its abstract methods, and
whether calling an instance ever reaches nn.Module.__call__ (TL303, TL304, TL107 ask)."""
import textwrap

from torchlint.semantic.project import ABSTRACT, DELEGATES, REPLACES, SUPER, UNKNOWN, ProjectIndex, call_replaced

BASES = '''
from abc import ABC, abstractmethod

import torch.nn as nn

from .mixins import Extra


class Checked(nn.Module):
    def __call__(
        self, *inputs, **kwargs
    ) -> object:
        out = self.forward(*inputs, **kwargs)
        return out

    class Nested:
        def __call__(self):
            return super().__call__()


class Lazy(Checked):
    @staticmethod
    def helper():
        return 1

    def __call__(self, x):
        return super(Lazy, self).__call__(x)


class Hooked(nn.Module):
    def __call__(self, x):
        return self._call_impl(x)


class Declared(nn.Module, ABC):
    @abstractmethod
    def __call__(self, x):
        """Predict."""

    @abstractmethod
    def fit(self, x):
        ...


class Plain(nn.Module):
    def forward(self, x):
        return x


class Mixed(Extra, Checked):
    pass


class Unseen(Missing, Checked):
    pass
'''

MIXINS = '''
class Extra:
    def extra(self):
        return 0
'''


def _project(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .bases import Lazy\n")
    (pkg / "bases.py").write_text(textwrap.dedent(BASES))
    (pkg / "mixins.py").write_text(MIXINS)
    (pkg / "user.py").write_text("")
    return ProjectIndex(str(pkg / "user.py"))


def test_own_call_statuses_in_mro_order(tmp_path):
    index = _project(tmp_path)
    assert index.call_statuses(".bases.Checked") == [REPLACES]
    assert index.call_statuses(".bases.Lazy") == [SUPER, REPLACES]
    assert index.call_statuses(".bases.Hooked") == [DELEGATES]
    assert index.call_statuses(".bases.Declared") == [ABSTRACT]
    assert index.call_statuses(".bases.Plain") == [None]
    assert index.call_statuses(".bases.Mixed") == [None, None, REPLACES]
    assert index.call_statuses(".bases.Unseen") == [None, UNKNOWN, REPLACES]


def test_call_replaced(tmp_path):
    index = _project(tmp_path)
    assert call_replaced(index.call_statuses(".bases.Lazy")) is True
    assert call_replaced(index.call_statuses(".Lazy")) is True  # re-exported by the package's __init__.py
    assert call_replaced(index.call_statuses(".bases.Mixed")) is True
    assert call_replaced(index.call_statuses(".bases.Hooked")) is False
    assert call_replaced(index.call_statuses(".bases.Declared")) is False
    assert call_replaced(index.call_statuses(".bases.Plain")) is False
    assert call_replaced(index.call_statuses(".bases.Unseen")) is None
    assert call_replaced(index.call_statuses(".bases.Nowhere")) is None


def test_abstract_methods(tmp_path):
    index = _project(tmp_path)
    abstract, defined = index.abstract_methods(".bases.Declared")
    assert abstract == {"__call__", "fit"} and defined == {"__call__", "fit"}
    assert index.abstract_methods(".bases.Plain") is None  # not an abc.ABC
    assert index.abstract_methods(".bases.Checked") is None
