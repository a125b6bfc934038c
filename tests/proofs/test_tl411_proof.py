"""Runtime proof of TL411: a clip after the step leaves the update unclipped."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL411"


def update_norm(module, torch):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x = torch.randn(16, 3)
    y = x.sum(1, keepdim=True) * 50
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    module.train(model, [(x, y)], max_norm=1.0, lr=1.0)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return (after - before).norm().item()


def test_bad_update_is_not_clipped(torch_module):
    assert update_norm(load(HERE / "bad.py"), torch_module) > 10.0  # the raw gradient norm went through


def test_good_update_is_clipped(torch_module):
    assert abs(update_norm(load(HERE / "good.py"), torch_module) - 1.0) < 1e-4
