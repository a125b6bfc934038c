"""Runtime proof of TL302: a layer or Parameter built in forward gets fresh weights the optimizer never sees."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL302"


def fresh_parameters(module, torch) -> dict:
    """For each model: parameters created during a forward call made after the optimizer was built,
    which the optimizer does not hold."""
    from torch.nn.modules.module import register_module_parameter_registration_hook

    result = {}
    x = torch.randn(2, 4)
    for cls in module.MODELS:
        model = cls()
        model(x)  # a first call (materialises Lazy layers in the good form)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        in_optimizer = {id(p) for group in opt.param_groups for p in group["params"]}
        created = []
        handle = register_module_parameter_registration_hook(lambda m, name, p: created.append(p))
        try:
            model(x)
        finally:
            handle.remove()
        result[cls.__name__] = [p for p in created if p is not None and id(p) not in in_optimizer]
    return result


def test_bad_forward_makes_untrained_weights(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    fresh = fresh_parameters(bad, torch)
    assert all(fresh[cls.__name__] for cls in bad.MODELS), fresh
    # randomly initialised ones differ on every call: the same input gives different outputs
    x = torch.randn(2, 4)
    for cls in (bad.LocalLayer, bad.InFileBlock, bad.FreshParameter):
        model = cls()
        assert not torch.equal(model(x), model(x)), cls.__name__


def test_good_builds_weights_once(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    fresh = fresh_parameters(good, torch)
    assert not any(fresh.values()), fresh
    x = torch.randn(2, 4)
    for cls in good.MODELS:
        model = cls()
        assert torch.equal(model(x), model(x)), cls.__name__
