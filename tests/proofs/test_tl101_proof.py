"""Runtime proof of TL101 under real torch: layers in plain containers are not registered."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL101"


def unregistered(model, torch) -> bool:
    """True when the model has layers (reachable by its own attributes) that parameters() misses."""
    reachable = 0
    for value in vars(model).values():
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else []
        for item in items:
            if isinstance(item, torch.nn.Module):
                reachable += sum(p.numel() for p in item.parameters())
    registered = sum(p.numel() for p in model.parameters())
    return reachable > 0 and registered == 0


def test_bad_layers_are_invisible(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    for cls in bad.MODELS:
        model = cls()
        assert unregistered(model, torch), cls.__name__
        assert list(model.state_dict()) == [], cls.__name__
    # .to() does not reach them: a dtype change leaves the hidden layer in float32
    model = bad.ListComprehension().double()
    assert model.layers[0].weight.dtype == torch.float32


def test_good_registers_everything(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    for cls in good.MODELS:
        model = cls()
        assert sum(p.numel() for p in model.parameters()) > 0, cls.__name__
        assert list(model.state_dict()), cls.__name__
    model = good.ListComprehension().double()
    assert model.layers[0].weight.dtype == torch.float64


def test_fixed_file_registers_everything(torch_module, tmp_path):
    fixed = load_source(fixed_source(HERE / "bad.py"), "tl101_fixed", tmp_path)
    for cls in fixed.MODELS:
        if cls.__name__ == "TupleOfLayers":
            continue  # no automatic fix for tuples
        model = cls()
        assert sum(p.numel() for p in model.parameters()) > 0, cls.__name__


def test_real_code_forms(torch_module):
    """Dict comprehensions, nested lists, a list filled or returned by a helper of __init__."""
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    for cls in bad.REAL_CODE_FORMS:
        assert list(cls().parameters()) == [], cls.__name__
    for cls in good.REAL_CODE_FORMS:
        assert len(list(cls().parameters())) >= 4, cls.__name__


def test_fixed_real_code_forms(torch_module, tmp_path):
    fixed = load_source(fixed_source(HERE / "bad.py"), "tl101_fixed_forms", tmp_path)
    for cls in fixed.REAL_CODE_FORMS:
        if cls.__name__ == "NestedLists":
            continue  # nested containers: no automatic fix
        assert len(list(cls().parameters())) >= 4, cls.__name__
