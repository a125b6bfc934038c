"""Runtime proof of TL410: clipping before unscale_ bounds the *scaled* gradient, so the update the
optimizer applies is the loss scale (65536) times smaller than the clip bound intends."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL410"


def update_norm(module, torch):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x = torch.randn(16, 3)
    y = x.sum(1, keepdim=True) * 50  # large gradients: the bound of 1.0 must bite
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    module.train(model, [(x, y)], max_norm=1.0, lr=1.0)
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return (after - before).norm().item()


def test_bad_update_is_scaled_down_by_the_loss_scale(torch_module):
    norm = update_norm(load(HERE / "bad.py"), torch_module)
    assert 0 < norm < 1e-3  # ~1/65536: clipping bounded the scaled gradients to norm 1


def test_good_update_is_bounded_by_max_norm(torch_module):
    norm = update_norm(load(HERE / "good.py"), torch_module)
    assert abs(norm - 1.0) < 1e-3  # lr=1: the applied gradient has exactly the clip norm
