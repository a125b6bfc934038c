"""Runtime proof of TL303: module.forward(x) skips the module's hooks."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL303"


def hooks_ran(module, torch) -> tuple[bool, bool]:
    """(did a forward hook on net.encoder run, did a forward pre-hook on predict's model run)"""
    calls = []
    net = module.Net()
    net.encoder.register_forward_hook(lambda m, i, o: calls.append("encoder"))
    net(torch.ones(1, 4))
    model = torch.nn.Linear(4, 2)
    model.register_forward_pre_hook(lambda m, i: calls.append("model"))
    module.predict(model, torch.ones(1, 4))
    return "encoder" in calls, "model" in calls


def test_bad_hooks_are_skipped(torch_module):
    assert hooks_ran(load(HERE / "bad.py"), torch_module) == (False, False)


def test_good_hooks_run(torch_module):
    assert hooks_ran(load(HERE / "good.py"), torch_module) == (True, True)


def test_bad_skips_the_pruning_mask(torch_module):
    torch = torch_module
    from torch.nn.utils import prune

    bad = load(HERE / "bad.py")
    layer = torch.nn.Linear(4, 2)
    prune.l1_unstructured(layer, "weight", amount=0.5)
    with torch.no_grad():
        layer.weight_orig.add_(1.0)  # an optimizer step changes weight_orig; the pre-hook recomputes weight
    x = torch.ones(1, 4)
    assert not torch.equal(bad.predict(layer, x), load(HERE / "good.py").predict(layer, x))
