"""Runtime proof of TL305: mismatched hook signatures raise TypeError at the first forward/backward,
a forward hook that rebinds output loses the change, register_backward_hook is deprecated."""
import warnings

import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL305"


def run_one_hook(module, torch, index):
    """Attach the fixture's hooks to a fresh layer, keep only hook number ``index``, run forward+backward."""
    model = torch.nn.Linear(3, 3)
    module.attach(model)
    hooks = [("fwd", k) for k in model._forward_hooks] + [("pre", k) for k in model._forward_pre_hooks] \
        + [("bwd", k) for k in model._backward_hooks]
    ordered = sorted(hooks, key=lambda h: h[1])
    keep = ordered[index][1]
    for table in (model._forward_hooks, model._forward_pre_hooks, model._backward_hooks):
        for key in list(table):
            if key != keep:
                del table[key]
    x = torch.ones(1, 3, requires_grad=True)
    return model, model(x)


def test_bad_hooks_raise_or_lose_the_change(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    # attach() registers, in order: log_output, log_input, double_output, backward lambda, kwargs lambda
    for index in (0, 1, 4):
        with pytest.raises(TypeError):
            run_one_hook(bad, torch, index)
    with pytest.raises(TypeError):
        _model, out = run_one_hook(bad, torch, 3)
        out.sum().backward()
    model, out = run_one_hook(bad, torch, 2)  # double_output: the doubled output is dropped
    assert torch.equal(out, torch.nn.functional.linear(torch.ones(1, 3), model.weight, model.bias))
    w = bad.attach_grad_hook()
    with pytest.raises(TypeError):
        (w * 2).sum().backward()
    net = bad.Net()
    with pytest.raises(TypeError):
        net(torch.ones(1, 3))


def test_bad_register_backward_hook_is_deprecated(torch_module):
    torch = torch_module
    model = torch.nn.Linear(3, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.register_backward_hook(lambda m, gi, go: None)
        model(torch.ones(1, 3, requires_grad=True)).sum().backward()
    assert any(issubclass(w.category, FutureWarning) for w in caught)


def test_good_hooks_run(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    for index in range(5):
        model, out = run_one_hook(good, torch, index)
        out.sum().backward()
    model, out = run_one_hook(good, torch, 2)
    assert torch.equal(out, 2 * torch.nn.functional.linear(torch.ones(1, 3), model.weight, model.bias))
    w = good.attach_grad_hook()
    (w * 2).sum().backward()
    assert torch.equal(w.grad, torch.full((3,), 4.0))
    net = good.Net()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net(torch.ones(1, 3, requires_grad=True)).sum().backward()
