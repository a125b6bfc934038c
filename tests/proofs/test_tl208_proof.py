"""Runtime proof of TL208: the second consumer of a parameters() generator gets nothing."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL208"


def make(torch):
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 1))


def grads_after_clip(module, torch, fn):
    model = make(torch)
    batch = torch.ones(2, 4) * 100.0
    if fn == "train_step":
        module.train_step(model, batch)
    elif fn == "count_then_clip":
        model(batch).sum().backward()
        module.count_then_clip(model)
    else:
        module.clip_every_step(model, [batch, batch])
    return max(p.grad.norm().item() for p in model.parameters())


def test_bad_second_use_sees_nothing(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        bad.two_optimizers(make(torch))
    # clip_grad_norm_ on the exhausted generator: the norm reported is 0 and nothing is clipped
    model = make(torch)
    norm = bad.train_step(model, torch.ones(2, 4) * 100.0)
    assert float(norm) == 0.0
    assert grads_after_clip(bad, torch, "train_step") > 1.0
    assert grads_after_clip(bad, torch, "count_then_clip") > 1.0
    norms = bad.clip_every_step(make(torch), [torch.ones(2, 4)] * 3)
    assert float(norms[0]) > 0 and [float(n) for n in norms[1:]] == [0.0, 0.0]
    names, count = bad.Net().describe()
    assert names == ["Net", "Linear"] and count == 0


def test_good_uses_every_parameter(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    opt_a, opt_b = good.two_optimizers(make(torch))
    assert len(opt_b.param_groups[0]["params"]) == 4
    model = make(torch)
    assert float(good.train_step(model, torch.ones(2, 4) * 100.0)) > 0
    assert grads_after_clip(good, torch, "train_step") <= 0.01 + 1e-6
    assert grads_after_clip(good, torch, "count_then_clip") <= 0.01 + 1e-6
    norms = good.clip_every_step(make(torch), [torch.ones(2, 4)] * 3)
    assert all(float(n) > 0 for n in norms)
    assert good.Net().describe()[1] == 2
