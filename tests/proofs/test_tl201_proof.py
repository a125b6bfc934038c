"""Runtime proof of TL201: rebinding the loop variable leaves the model unchanged."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL201"


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def run(module, torch):
    results = {}
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.ReLU())
    before = snapshot(model)
    module.zero_all(model)
    results["zero"] = all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    before = snapshot(model)
    model[0].weight.data.fill_(1.0)
    module.scale_named(model)
    results["scale"] = bool(model[0].weight.abs().sum() > 0)
    module.replace_relus(model)
    results["relu"] = isinstance(model[1], torch.nn.ReLU)
    return results


def test_bad_changes_nothing(torch_module):
    assert run(load(HERE / "bad.py"), torch_module) == {"zero": True, "scale": True, "relu": True}


def test_good_changes_the_model(torch_module):
    assert run(load(HERE / "good.py"), torch_module) == {"zero": False, "scale": False, "relu": False}
