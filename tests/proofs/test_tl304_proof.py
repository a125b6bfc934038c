"""Runtime proof of TL304: a Module that overrides __call__ never runs its hooks."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL304"


def hooks_ran(module, torch) -> dict:
    ran = {}
    for name in ("Scale", "Indirect"):
        model = getattr(module, name)()
        calls = []
        model.register_forward_pre_hook(lambda m, i: calls.append("pre"))
        model.register_forward_hook(lambda m, i, o: calls.append("post"))
        x = torch.ones(3, requires_grad=True)
        model.register_full_backward_hook(lambda m, gi, go: calls.append("backward"))
        model(x).sum().backward()
        ran[name] = calls
    return ran


def test_bad_hooks_never_run(torch_module):
    assert hooks_ran(load(HERE / "bad.py"), torch_module) == {"Scale": [], "Indirect": []}


def test_good_hooks_run(torch_module):
    expected = ["pre", "post", "backward"]
    assert hooks_ran(load(HERE / "good.py"), torch_module) == {"Scale": expected, "Indirect": expected}
