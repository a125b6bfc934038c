"""Runtime proof of TL307: a no-grad forward leaves the module's layers without gradients."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL307"


def test_bad_layers_get_no_gradient(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    x = torch.ones(3, 4)
    for cls in (bad.Classifier, bad.Encoder):
        model = cls()
        out = model(x)
        assert not out.requires_grad, cls.__name__
        with pytest.raises(RuntimeError):
            out.sum().backward()
    # mixed with a trainable branch: backward works, the no-grad module silently gets nothing
    model, other = bad.Classifier(), torch.nn.Linear(4, 2)
    (model(x) + other(x)).sum().backward()
    assert other.weight.grad is not None and model.fc.weight.grad is None


def test_good_layers_get_gradients(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    x = torch.ones(3, 4)
    for cls in (good.Classifier, good.Encoder):
        model = cls()
        model(x).sum().backward()
        assert all(p.grad is not None for p in model.parameters()), cls.__name__
    assert not good.predict(good.Classifier(), x).requires_grad
