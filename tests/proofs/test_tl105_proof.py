"""Runtime proof of TL105: a Parameter moved or cast after wrapping is a plain non-leaf tensor."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL105"


def check(module, torch, attrs, expect_parameter: bool):
    for cls, attr in zip(module.MODELS, module.ATTRS):
        if attr not in attrs:
            continue
        model = cls()
        value = getattr(model, attr)
        assert isinstance(value, torch.nn.Parameter) is expect_parameter, cls.__name__
        assert value.is_leaf is expect_parameter, cls.__name__
        assert (attr in dict(model.named_parameters())) is expect_parameter, cls.__name__
        model(torch.ones(3, dtype=torch.float64)).sum().backward()
        assert (value.grad is not None) is expect_parameter, cls.__name__


def test_bad_is_not_a_parameter(torch_module):
    module = load(HERE / "bad.py")
    check(module, torch_module, module.ATTRS, expect_parameter=False)


def test_good_is_a_parameter(torch_module):
    module = load(HERE / "good.py")
    check(module, torch_module, module.ATTRS, expect_parameter=True)


def test_fixed_is_a_parameter(torch_module, tmp_path):
    module = load_source(fixed_source(HERE / "bad.py"), "tl105_fixed", tmp_path)
    check(module, torch_module, ["scale", "shift"], expect_parameter=True)  # no automatic fix for the third
