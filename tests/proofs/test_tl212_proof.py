"""Runtime proof of TL212: an op after creation with requires_grad=True leaves a non-leaf whose .grad is None."""
import warnings

import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL212"


def data(torch):
    x = torch.randn(8, 4, dtype=torch.float64)
    return x, x.sum(1, keepdim=True)


def test_bad_grad_stays_none(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns when .grad of a non-leaf is read
        assert bad.fit_by_hand(*data(torch)) is None  # w.grad / b.grad were None after backward
        assert bad.moved(torch.ones(3, dtype=torch.float64)) is None
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        bad.with_optimizer()


def test_good_leaves_get_gradients(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w = good.fit_by_hand(*data(torch))
        assert w is not None and w.is_leaf and w.grad is not None
        assert good.moved(torch.ones(3, dtype=torch.float64)) is not None
    assert len(good.with_optimizer().param_groups[0]["params"]) == 1
