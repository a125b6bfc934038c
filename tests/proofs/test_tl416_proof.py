"""Runtime proof of TL416: load_state_dict(strict=False) on a DataParallel checkpoint loads nothing and says so
only in its return value; the checked form raises."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL416"


def test_prefixed_checkpoint_loads_nothing_silently(torch_module, tmp_path):
    torch = torch_module
    bad = load(HERE / "bad.py")
    torch.manual_seed(0)
    path = tmp_path / "dp.pt"
    bad.save_from_data_parallel(path)
    state = torch.load(path)
    assert all(k.startswith("module.") for k in state)
    for restore in (bad.restore, bad.restore_underscore):
        torch.manual_seed(1)
        model = restore(path)  # no error, no warning
        assert not torch.equal(model.fc.weight, state["module.fc.weight"])  # still the random init
        torch.manual_seed(1)
        fresh = bad.Net()
        assert torch.equal(model.fc.weight, fresh.fc.weight)  # exactly the untouched initialisation
    result = bad.Net().load_state_dict(state, strict=False)
    assert set(result.missing_keys) == {"fc.weight", "fc.bias"}  # the information the bad code discards
    assert set(result.unexpected_keys) == {"module.fc.weight", "module.fc.bias"}


def test_checked_forms_refuse_the_mismatch_and_load_a_matching_checkpoint(torch_module, tmp_path):
    torch = torch_module
    good = load(HERE / "good.py")
    torch.manual_seed(0)
    path = tmp_path / "dp.pt"
    good.save_from_data_parallel(path)
    with pytest.raises(RuntimeError, match="does not match"):
        good.restore(path)
    with pytest.raises(RuntimeError, match="Missing key"):
        good.restore_underscore(path)
    plain = {k[len("module."):]: v for k, v in torch.load(path).items()}
    torch.save(plain, tmp_path / "plain.pt")
    assert torch.equal(good.restore(tmp_path / "plain.pt").fc.weight, plain["fc.weight"])
    assert torch.equal(good.restore_underscore(tmp_path / "plain.pt").fc.weight, plain["fc.weight"])
