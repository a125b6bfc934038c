"""Runtime proof of TL308: softmax without dim normalises a (batch, seq, classes) output across the batch, so each
sample's probabilities depend on its batch mates; softmax over dim 0 then argmax over dim 1 changes predictions.
The fixed forms normalise each row."""
import warnings

from helpers import FIXTURES, load

HERE = FIXTURES / "TL308"


def test_implicit_dim_normalises_across_the_batch(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    torch.manual_seed(0)
    logits = torch.randn(4, 6, 5)  # (batch, seq, vocab)
    for name in ("token_probabilities", "token_log_probabilities"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = getattr(bad, name)(logits)
        assert any("Implicit dimension" in str(w.message) for w in caught), name
        probs = out.exp() if "log" in name else out
        assert torch.allclose(probs.sum(dim=0), torch.ones(6, 5))  # normalised over the batch
        assert not torch.allclose(probs.sum(dim=-1), torch.ones(4, 6))  # not over the vocabulary
        alone = getattr(bad, name)(logits[:1])  # the same sample in a batch of one gets another answer
        assert not torch.allclose(alone[0], out[0]), name
        fixed = getattr(good, name)(logits)
        fixed_probs = fixed.exp() if "log" in name else fixed
        assert torch.allclose(fixed_probs.sum(dim=-1), torch.ones(4, 6))
        assert torch.allclose(getattr(good, name)(logits[:1])[0], fixed[0], atol=1e-6)


def test_softmax_module_without_dim(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    torch.manual_seed(1)
    x = torch.randn(3, 7, 4)  # a sequence of features per sample
    torch.manual_seed(2)
    bad_head = bad.Head()
    torch.manual_seed(2)
    good_head = good.Head()
    bad_out, good_out = bad_head(x), good_head(x)
    assert torch.allclose(bad_out.sum(dim=0), torch.ones(7, 5), atol=1e-6)
    assert not torch.allclose(bad_out, good_out)
    assert torch.allclose(good_out.sum(dim=-1), torch.ones(3, 7), atol=1e-6)


def test_softmax_over_batch_changes_predictions(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    torch.manual_seed(3)
    logits = torch.randn(32, 10) * 3
    truth = logits.argmax(dim=1)
    bad_pred, bad_probs = bad.predict(logits)
    good_pred, good_probs = good.predict(logits)
    assert (bad_pred != truth).any()
    assert torch.equal(good_pred, truth)
    assert torch.allclose(good_probs.sum(dim=1), torch.ones(32))
