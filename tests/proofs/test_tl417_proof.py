"""Runtime proof of TL417: a layer swapped in after the optimizer was built gets gradients but is never updated,
while the optimizer keeps stepping the old, detached layer; built after the swap, the new layer trains."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL417"


def _batch(torch):
    torch.manual_seed(1)
    return torch.randn(32, 8), torch.randint(0, 3, (32,))


def _new_head(model):
    return model.fc if not hasattr(model.fc, "__getitem__") else model.fc[1]


def test_new_layer_is_not_in_the_optimizer_and_never_changes(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    for name in ("finetune", "finetune_groups"):
        x, y = _batch(torch)
        torch.manual_seed(7)
        model = getattr(bad, name)(x, y, steps=0)
        initial = _new_head(model).weight.detach().clone()
        x, y = _batch(torch)
        torch.manual_seed(7)
        model = getattr(bad, name)(x, y, steps=5)
        head = _new_head(model)
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0, name  # it gets gradients ...
        # ... but the optimizer never sees it: the head's random init is untouched after five steps
        assert torch.equal(head.weight, _fresh_head_weight(torch, bad, name)), name
        assert torch.equal(head.weight, initial), name
        assert not torch.equal(model.features.weight, _fresh_features(torch, bad)), name  # the rest did train


def _fresh_head_weight(torch, module, name):
    x, y = _batch(torch)
    return _new_head(getattr(module, name)(x, y, steps=0)).weight.detach()


def _fresh_features(torch, module):
    torch.manual_seed(0)
    return module.Backbone().features.weight.detach()


def test_optimizer_built_after_the_swap_trains_the_new_layer(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    for name in ("finetune", "finetune_groups"):
        x, y = _batch(torch)
        before = _new_head(getattr(good, name)(x, y, steps=0)).weight.detach().clone()
        x, y = _batch(torch)
        after = _new_head(getattr(good, name)(x, y, steps=5)).weight.detach()
        assert not torch.equal(before, after), name
