"""Runtime proof of TL404: a comparison as a statement changes nothing."""
import pytest
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL404"


def flags(module, torch):
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    module.freeze(model)
    frozen = all(not p.requires_grad for p in model.parameters())
    head = torch.nn.Linear(3, 1).requires_grad_(False)
    module.unfreeze_head(head)
    bias_trainable = head.bias.requires_grad
    model.train()
    module.set_eval(model)
    return {"frozen": frozen, "bias_trainable": bias_trainable, "eval": not model.training}


def test_bad_changes_nothing(torch_module):
    module = load(HERE / "bad.py")
    assert flags(module, torch_module) == {"frozen": False, "bias_trainable": False, "eval": False}
    module.check(torch_module.ones(2))  # the "check" checks nothing


def test_good_sets_the_flags(torch_module):
    module = load(HERE / "good.py")
    assert flags(module, torch_module) == {"frozen": True, "bias_trainable": True, "eval": True}
    with pytest.raises(AssertionError):
        module.check(torch_module.ones(2))


def test_fixed_sets_requires_grad(torch_module, tmp_path):
    module = load_source(fixed_source(HERE / "bad.py"), "tl404_fixed", tmp_path)
    seen = flags(module, torch_module)
    assert seen["frozen"] and seen["bias_trainable"]
