"""Runtime proof of TL204: assigning a state_dict() entry without loading it back leaves the model unchanged."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL204"


def changes(fixture, torch):
    net = fixture.Net()
    with torch.no_grad():
        net.fc.bias.fill_(3.0)
    net.reset_head()
    reset = torch.equal(net.fc.bias.detach(), torch.zeros(2))
    zeroed = torch.equal(fixture.zero_bias().fc.bias.detach(), torch.ones(2))
    patched = bool((fixture.patch_weights().fc.weight == 0.5).all())
    return {"reset_head": reset, "zero_bias": zeroed, "patch_weights": patched}


def test_bad_leaves_the_model_unchanged(torch_module):
    assert changes(load(HERE / "bad.py"), torch_module) == {
        "reset_head": False, "zero_bias": False, "patch_weights": False}


def test_good_changes_the_model(torch_module):
    assert changes(load(HERE / "good.py"), torch_module) == {
        "reset_head": True, "zero_bias": True, "patch_weights": True}
