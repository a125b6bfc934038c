"""Runtime proof of TL412: accumulating k unscaled micro-batch losses makes the SGD step k times the step
of the combined batch; dividing the loss by k makes them equal."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL412"


def step_of(torch, fn, batches, **kw):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    fn(model, batches, **kw)
    return torch.cat([p.detach().flatten() for p in model.parameters()]) - before


def full_batch_step(torch, batches, lr):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    torch.nn.functional.mse_loss(model(x), y).backward()
    opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()]) - before


def micro_batches(torch, k):
    return [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(k)]


def test_bad_step_is_k_times_the_combined_batch_step(torch_module):
    torch = torch_module
    for k in (2, 4):
        batches = micro_batches(torch, k)
        bad = step_of(torch, load(HERE / "bad.py").train, batches, accum_steps=k, lr=0.01)
        assert torch.allclose(bad, k * full_batch_step(torch, batches, 0.01), atol=1e-6)


def test_good_step_equals_the_combined_batch_step(torch_module):
    torch = torch_module
    for k in (2, 4):
        batches = micro_batches(torch, k)
        good = step_of(torch, load(HERE / "good.py").train, batches, accum_steps=k, lr=0.01)
        assert torch.allclose(good, full_batch_step(torch, batches, 0.01), atol=1e-6)
