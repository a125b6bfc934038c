"""Runtime proof of TL203: a .data write between forward and backward silently corrupts gradients."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL203"


def test_bad_gives_wrong_gradients_silently(torch_module):
    torch = torch_module
    grad = load(HERE / "bad.py").scaled_between_forward_and_backward()
    # d/dw sum(w*w) at the w of the forward pass is 2*w = [2, 4]; autograd used the scaled values
    assert torch.equal(grad, torch.tensor([20.0, 40.0]))
    assert not torch.equal(grad, torch.tensor([2.0, 4.0]))


def test_good_is_caught_by_autograd(torch_module):
    good = load(HERE / "good.py")
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        good.scaled_between_forward_and_backward()
    torch = torch_module
    model = torch.nn.Linear(2, 2)
    before = model.weight.detach().clone()
    good.shrink(model)
    assert torch.allclose(model.weight.detach(), before * 0.5 + 0.1)
    assert torch.equal(good.Net().fc.bias.detach(), torch.zeros(2))
