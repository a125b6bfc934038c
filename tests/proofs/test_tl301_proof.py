"""Runtime proof of TL301: functional dropout without training= stays on after model.eval()."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL301"


def eval_is_random(module, torch) -> list[bool]:
    """For every model: after .eval(), do two calls on the same input disagree?"""
    results = []
    x = torch.ones(4, 8)
    for cls in module.MODELS:
        model = cls().eval()
        results.append(not torch.equal(model(x), model(x)))
    attention = module.Attention().eval()
    q = torch.ones(1, 2, 16, 8)
    results.append(not torch.equal(attention(q, q, q), attention(q, q, q)))
    return results


def test_bad_dropout_stays_on_in_eval(torch_module):
    assert all(eval_is_random(load(HERE / "bad.py"), torch_module))


def test_good_is_deterministic_in_eval_and_random_in_train(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    assert not any(eval_is_random(good, torch))
    model = good.KeywordP().train()
    x = torch.ones(4, 8)
    assert not torch.equal(model(x), model(x))  # training behaviour unchanged


def test_fixed_file_is_deterministic_in_eval(torch_module, tmp_path):
    fixed = load_source(fixed_source(HERE / "bad.py"), "tl301_fixed", tmp_path)
    assert not any(eval_is_random(fixed, torch_module))
