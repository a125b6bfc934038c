"""Runtime proof of TL306: a sub-module whose output is overwritten gets no gradient."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL306"


def grads_of_first_submodule(module, torch) -> dict:
    result = {}
    x = torch.randn(3, 4)
    for cls, first in ((module.Overwritten, "mlp"), (module.InsideBranch, "norm")):
        model = cls()
        model(x).sum().backward()
        result[cls.__name__] = [p.grad for p in getattr(model, first).parameters()]
    return result


def test_bad_discarded_submodule_gets_no_grad(torch_module):
    grads = grads_of_first_submodule(load(HERE / "bad.py"), torch_module)
    assert all(g is None for gs in grads.values() for g in gs), grads


def test_good_every_submodule_gets_grad(torch_module):
    grads = grads_of_first_submodule(load(HERE / "good.py"), torch_module)
    assert all(g is not None for gs in grads.values() for g in gs), grads
