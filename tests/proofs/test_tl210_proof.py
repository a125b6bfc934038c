"""Runtime proof of TL210: an init/freeze loop over children() skips nested layers."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL210"


def nested_state(module, torch):
    net = module.Net()
    zeroed = {name: bool(torch.all(p == 0)) for name, p in net.named_parameters() if name.endswith("weight")}
    frozen = module.Frozen()
    trainable = {name: p.requires_grad for name, p in frozen.named_parameters() if name.endswith("weight")}
    return zeroed, trainable


def test_bad_skips_nested_layers(torch_module):
    zeroed, trainable = nested_state(load(HERE / "bad.py"), torch_module)
    assert zeroed["stem.weight"] and zeroed["head.weight"]  # direct children were handled
    assert not zeroed["body.0.weight"] and not zeroed["body.2.weight"]  # nested ones were not
    assert trainable["out.weight"] is False
    assert trainable["blocks.0.proj.weight"] and trainable["blocks.1.proj.weight"]  # never frozen


def test_good_reaches_every_layer(torch_module):
    zeroed, trainable = nested_state(load(HERE / "good.py"), torch_module)
    assert all(zeroed.values())
    assert not any(trainable.values())
