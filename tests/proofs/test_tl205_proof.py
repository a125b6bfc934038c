"""Runtime proof of TL205: setattr/delattr do not follow the dots of a named_modules() name."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL205"


def test_bad_adds_new_attributes_and_keeps_old_layers(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    model = bad.replace_relus(bad.make_model())
    assert isinstance(model[0][1], torch.nn.ReLU)  # the old layer is still the one used
    assert "0.1" in model._modules  # a new child literally named "0.1"
    x = -torch.ones(1, 4)
    assert torch.equal(model(x), torch.nn.Sequential(model[0], model[1])(x))

    model = bad.make_model()
    assert bad.quantize_linears(model) == ["0.0"]
    assert model[0][0].bias is not None  # not replaced
    assert "0.0" in model._modules

    with pytest.raises(AttributeError):
        bad.drop_biases(bad.make_model())


def test_good_replaces_the_real_layers(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    model = good.replace_relus(good.make_model())
    assert isinstance(model[0][1], torch.nn.Identity)
    assert "0.1" not in model._modules

    model = good.make_model()
    assert good.quantize_linears(model) == ["0.0"]
    assert model[0][0].bias is None

    model = good.make_model()
    good.drop_biases(model)
    assert [n for n, _ in model.named_parameters()] == ["0.0.weight", "1.weight"]
