"""Runtime proof of TL108: a repeated module instance is one object with one set of weights."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL108"


def repeated(model):
    container = next(iter(model.children()))
    return list(container)  # iterating does not deduplicate (children() does)


def test_bad_repeats_share_weights(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    for cls in bad.MODELS:
        model = cls()
        items = repeated(model)
        assert len(items) == 3, cls.__name__
        assert all(item is items[0] for item in items), cls.__name__
        # one weight: parameters() yields a single copy
        assert len(list(model.parameters())) == len(list(items[0].parameters())), cls.__name__
    # gradients from every position accumulate into the one weight
    model = bad.RepeatedInModuleList()
    x = torch.ones(1, 4)
    for layer in model.layers:
        x = layer(x)
    x.sum().backward()
    assert model.layers[0].weight.grad is model.layers[2].weight.grad


def test_good_repeats_are_distinct(torch_module):
    good = load(HERE / "good.py")
    for cls in good.MODELS:
        items = repeated(cls())
        assert len({id(item) for item in items}) == 3, cls.__name__


def test_fixed_first_model_is_distinct(torch_module, tmp_path):
    fixed = load_source(fixed_source(HERE / "bad.py"), "tl108_fixed", tmp_path)
    items = repeated(fixed.RepeatedInModuleList())
    assert len({id(item) for item in items}) == 3
