"""Runtime proof of TL202: in-place changes of parameters outside no_grad raise; under no_grad they work."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL202"
LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation"


def calls(fixture, torch):
    model = lambda: torch.nn.Sequential(torch.nn.Linear(3, 3))  # noqa: E731
    net = fixture.Net()
    return [
        lambda: fixture.shift_all(model()),
        lambda: fixture.scale_named(model()),
        lambda: fixture.zero_first_rows(model()),
        net.reset,
        net.custom_init,
        fixture.make_layer,
    ]


def test_bad_raises_leaf_error(torch_module):
    bad = load(HERE / "bad.py")
    for call in calls(bad, torch_module):
        with pytest.raises(RuntimeError, match=LEAF_ERROR):
            call()


def test_good_updates_in_place(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    for call in calls(good, torch):
        call()
    layer = good.make_layer()
    assert bool((layer.weight == 0.5).all()) and layer.weight.requires_grad
    net = good.Net()
    net.reset()
    assert torch.equal(net.fc.bias.detach(), torch.zeros(2))
