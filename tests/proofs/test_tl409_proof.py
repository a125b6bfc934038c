"""Runtime proof of TL409: zero_grad() between backward() and step() leaves step() nothing to apply."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL409"


def data(torch):
    x = torch.randn(16, 3)
    return x, x @ torch.tensor([[1.0], [-2.0], [0.5]])


def test_bad_step_changes_nothing(torch_module):
    torch = torch_module
    x, y = data(torch)
    bad = load(HERE / "bad.py")
    model = torch.nn.Linear(3, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    bad.train(model, [(x, y)] * 5)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.weight.grad is None  # set_to_none: step() skipped every parameter
    model2 = torch.nn.Linear(3, 1)
    before2 = model2.weight.detach().clone()
    bad.train_step(model2, x, y)
    assert torch.equal(before2, model2.weight)


def test_good_step_trains(torch_module):
    torch = torch_module
    x, y = data(torch)
    good = load(HERE / "good.py")
    model = torch.nn.Linear(3, 1)
    start = torch.nn.functional.mse_loss(model(x), y).item()
    good.train(model, [(x, y)] * 5)
    assert torch.nn.functional.mse_loss(model(x), y).item() < start
    model2 = torch.nn.Linear(3, 1)
    before2 = model2.weight.detach().clone()
    good.train_step(model2, x, y)
    assert not torch.equal(before2, model2.weight)
