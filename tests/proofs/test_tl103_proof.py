"""Runtime proof of TL103: a tensor with requires_grad on a Module is not a parameter."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL103"


def check(module, torch, expect_registered: bool):
    for cls in module.MODELS:
        model = cls()
        names = [n for n, _ in model.named_parameters()]
        assert ("w" in names) is expect_registered, cls.__name__
        assert ("w" in model.state_dict()) is expect_registered, cls.__name__
        # one optimizer step from the model's parameters: does w change?
        before = model.w.detach().clone()
        params = list(model.parameters())
        if params:
            opt = torch.optim.SGD(params, lr=1.0)
            model(torch.ones(3)).sum().backward()
            opt.step()
        assert (not torch.equal(before, model.w.detach())) is expect_registered, cls.__name__


def test_bad_weight_never_trains(torch_module):
    check(load(HERE / "bad.py"), torch_module, expect_registered=False)


def test_good_weight_trains(torch_module):
    check(load(HERE / "good.py"), torch_module, expect_registered=True)


def test_fixed_file_weight_trains(torch_module, tmp_path):
    source = fixed_source(HERE / "bad.py")
    module = load_source(source, "tl103_fixed", tmp_path)
    # the third class sets the flag after creation: no automatic fix, so leave it out
    module.MODELS = [c for c in module.MODELS if c.__name__ != "FlagSetAfterwards"]
    check(module, torch_module, expect_registered=True)
