"""Runtime proof of TL408: without zero_grad, every step applies the sum of all previous gradients."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL408"


def same_batches(torch, n=3):
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    return [(x, y)] * n


def test_bad_gradients_accumulate_across_steps(torch_module):
    torch = torch_module
    model = torch.nn.Linear(3, 1)
    # lr=0: the parameters stay put, so each batch has the same gradient g and .grad shows what step() uses
    grads = load(HERE / "bad.py").train(model, same_batches(torch), lr=0.0)
    g = grads[0]
    assert torch.allclose(grads[1], 2 * g) and torch.allclose(grads[2], 3 * g)


def test_bad_epoch_level_clear_still_accumulates_within_the_epoch(torch_module):
    torch = torch_module
    model = torch.nn.Linear(3, 1)
    load(HERE / "bad.py").train_epochs(model, same_batches(torch), epochs=1, lr=0.0)
    x, y = same_batches(torch, 1)[0]
    fresh = torch.nn.Linear(3, 1)
    fresh.load_state_dict(model.state_dict())
    torch.nn.functional.mse_loss(fresh(x), y).backward()
    assert not torch.allclose(model.weight.grad, fresh.weight.grad)


def test_good_each_step_sees_only_its_own_gradient(torch_module):
    torch = torch_module
    model = torch.nn.Linear(3, 1)
    grads = load(HERE / "good.py").train(model, same_batches(torch), lr=0.0)
    assert all(torch.allclose(g, grads[0]) for g in grads)
