"""Runtime proof of TL207: a misspelt requires_grad freezes nothing; assigning requires_grad_ breaks the method."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL207"


def frozen_state(module, torch):
    backbone = torch.nn.Linear(3, 3)
    module.freeze_backbone(backbone)
    seq = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 3))
    module.freeze_named(seq)
    layer = torch.nn.Linear(3, 3)
    module.freeze_weight(layer)
    net = module.Net()
    out = {
        "backbone": any(p.requires_grad for p in backbone.parameters()),
        "named": any(p.requires_grad for p in seq[0].parameters()),
        "layer": layer.weight.requires_grad or layer.bias.requires_grad,
        "net": any(p.requires_grad for p in net.encoder.parameters()),
    }
    # the "frozen" encoder still gets gradients and moves under the optimizer
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    before = net.encoder.weight.detach().clone()
    net(torch.ones(2, 4)).sum().backward()
    opt.step()
    out["encoder_trained"] = not torch.equal(before, net.encoder.weight.detach())
    return out


def test_bad_freezes_nothing(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    assert frozen_state(bad, torch) == {"backbone": True, "named": True, "layer": True, "net": True,
                                        "encoder_trained": True}
    head = torch.nn.Linear(3, 3)
    bad.freeze_module(head)
    assert head.weight.requires_grad  # nothing frozen
    with pytest.raises(TypeError, match="not callable"):
        head.requires_grad_(False)  # the method was replaced by a bool


def test_good_freezes(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    assert frozen_state(good, torch) == {"backbone": False, "named": False, "layer": False, "net": False,
                                         "encoder_trained": False}
    head = torch.nn.Linear(3, 3)
    good.freeze_module(head)
    assert not head.weight.requires_grad
    head.requires_grad_(True)
