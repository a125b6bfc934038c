"""Runtime proof of TL102: parameters in plain containers are not registered and never train."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL102"


def registered(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_bad_parameters_are_invisible(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    for cls in bad.MODELS:
        model = cls()
        assert registered(model) == 0, cls.__name__
        assert list(model.state_dict()) == [], cls.__name__
    model = bad.ListOfWeights()
    model(torch.ones(3)).sum().backward()
    assert model.ws[0].grad is not None  # it gets a gradient, yet no optimizer built from the model sees it
    assert list(model.parameters()) == []


def test_good_registers_everything(torch_module):
    good = load(HERE / "good.py")
    for cls in good.MODELS:
        assert registered(cls()) > 0, cls.__name__


def test_fixed_file_registers(torch_module, tmp_path):
    fixed = load_source(fixed_source(HERE / "bad.py"), "tl102_fixed", tmp_path)
    for cls in fixed.MODELS:
        if cls.__name__ in ("DictOfDicts", "DictFilledLater"):
            continue  # nested, or keys of unknown type: no automatic fix
        assert registered(cls()) > 0, cls.__name__
