"""Runtime proof of TL209: the aliases without the underscore warn (FutureWarning) in torch 2.13."""
import warnings

import pytest
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL209"


def run_all(module, torch):
    lin = torch.nn.Linear(4, 4)
    model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    model(torch.ones(1, 4)).sum().backward()
    module.init_linear(lin)
    module.init_conv(torch.nn.Conv2d(2, 2, 3))
    module.init_direct(lin)
    module.init_full_path(lin)
    module.apply_callback(model)
    module.clip(model)
    module.clip_imported(model)
    # the in-place effect is the same either way: the bias was set to the constant, then re-drawn
    assert lin.bias.abs().max() <= 0.1


def test_bad_aliases_warn(torch_module):
    bad = load(HERE / "bad.py")
    lin = torch_module.nn.Linear(4, 4)
    with pytest.warns(FutureWarning, match="deprecated in favor of `nn.init.xavier_uniform_`"):
        bad.init_linear(lin)
    model = torch_module.nn.Linear(2, 2)
    model(torch_module.ones(1, 2)).sum().backward()
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        bad.clip(model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_all(bad, torch_module)
    deprecations = [w for w in caught if issubclass(w.category, FutureWarning) and "deprecated" in str(w.message)]
    assert len(deprecations) == 10


@pytest.mark.parametrize("which", ["good", "fixed"])
def test_fixed_forms_do_not_warn(torch_module, tmp_path, which):
    module = load(HERE / "good.py") if which == "good" else load_source(
        fixed_source(HERE / "bad.py"), "tl209_fixed", tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        run_all(module, torch_module)
