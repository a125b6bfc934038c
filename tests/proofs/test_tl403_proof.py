"""Runtime proof of TL403: a method named but not called does nothing."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL403"


def observe(module, torch):
    seen = {}
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.5), torch.nn.Linear(4, 1))
    model.train()
    module.evaluate(model, torch.ones(2, 4))
    seen["eval_switched"] = not model.training
    torch.manual_seed(0)
    model, optimizer, scheduler = module.train_step(torch.ones(8, 4), torch.zeros(8, 1))
    seen["weights_have_grad"] = model[0].weight.grad is not None
    seen["lr_stepped"] = optimizer.param_groups[0]["lr"] != 0.1
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    frozen.weight.grad = torch.ones(2, 2)
    module.unfreeze(frozen)
    seen["unfrozen"] = frozen.weight.requires_grad
    seen["grads_cleared"] = frozen.weight.grad is None
    net = module.Net()
    net.train()
    seen["self_eval"] = not net.freeze_eval().training
    return seen


ALL_DONE = {"eval_switched": True, "weights_have_grad": True, "lr_stepped": True, "unfrozen": True,
            "grads_cleared": True, "self_eval": True}


def test_bad_does_nothing(torch_module):
    seen = observe(load(HERE / "bad.py"), torch_module)
    assert seen == {key: False for key in ALL_DONE}


def test_good_does_it(torch_module):
    assert observe(load(HERE / "good.py"), torch_module) == ALL_DONE


def test_fixed_does_it(torch_module, tmp_path):
    module = load_source(fixed_source(HERE / "bad.py"), "tl403_fixed", tmp_path)
    assert observe(module, torch_module) == ALL_DONE
