"""Runtime proof of TL418: forcing requires_grad on a loss lets backward() run and train nothing; without the cut
the model trains. Forcing the flag on an intact loss raises."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL418"
STEPS = ("step_detached", "step_no_grad", "step_rewrapped")


def _data(torch, name):
    torch.manual_seed(1)
    x = torch.randn(8, 4)
    y = torch.randn(8, 3) if name == "step_no_grad" else torch.randint(0, 3, (8,))
    return x, y


def test_forced_flag_hides_the_cut_and_nothing_trains(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    for name in STEPS:
        model, optimizer = bad.make()
        before = model.weight.detach().clone()
        x, y = _data(torch, name)
        loss = getattr(bad, name)(model, optimizer, x, y)  # no error
        assert loss.requires_grad and loss.grad_fn is None, name  # a new leaf, cut from the model
        assert model.weight.grad is None, name
        assert torch.equal(model.weight, before), name


def test_without_the_cut_the_model_trains(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    for name in STEPS:
        model, optimizer = good.make()
        before = model.weight.detach().clone()
        x, y = _data(torch, name)
        getattr(good, name)(model, optimizer, x, y)
        assert model.weight.grad is not None and model.weight.grad.abs().sum() > 0, name
        assert not torch.equal(model.weight, before), name


def test_forcing_the_flag_on_an_intact_loss_raises(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    model, _optimizer = good.make()
    x, y = _data(torch, "step_detached")
    loss = torch.nn.functional.cross_entropy(model(x), y)
    with pytest.raises(RuntimeError, match="leaf"):
        loss.requires_grad = True
