"""Runtime proof of TL104: tensor state in a plain attribute is not saved and not cast."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL104"


def check(module, torch, expect_registered: bool):
    for attr, model in module.make_models().items():
        assert (attr in model.state_dict()) is expect_registered, attr
        model = model.double()
        expected = torch.float64 if expect_registered else torch.float32
        assert getattr(model, attr).dtype == expected, attr


def test_bad_state_is_lost(torch_module):
    check(load(HERE / "bad.py"), torch_module, expect_registered=False)


def test_good_state_is_saved_and_cast(torch_module):
    check(load(HERE / "good.py"), torch_module, expect_registered=True)


def test_fixed_state_is_saved_and_cast(torch_module, tmp_path):
    check(load_source(fixed_source(HERE / "bad.py"), "tl104_fixed", tmp_path), torch_module, expect_registered=True)
