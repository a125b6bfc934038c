"""Runtime proof of TL415: a loss fed the wrong activation's output trains badly or raises; the
matching pair does not. Also proves why CrossEntropyLoss on log_softmax output is not reported."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL415"


def _logits(torch, n=16, c=3):
    torch.manual_seed(0)
    return (torch.randn(n, c) * 3).requires_grad_(), torch.randint(0, 2, (n, c)).float()


def test_sigmoid_before_with_logits_loss_bounds_the_loss_and_squashes_gradients(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    for name in ("sigmoid_then_bce_with_logits", "sigmoid_module_then_bce_with_logits"):
        logits, target = _logits(torch)
        bad_loss = getattr(bad, name)(logits, target)
        bad_loss.backward()
        bad_grad = logits.grad.norm()
        logits, target = _logits(torch)
        good_loss = getattr(good, name)(logits, target)
        good_loss.backward()
        assert not torch.allclose(bad_loss, good_loss), name
        assert bad_grad < logits.grad.norm() / 2, name
        # even perfectly confident, correct logits cannot bring the doubled sigmoid's loss near zero
        perfect = (target * 2 - 1) * 50
        assert getattr(bad, name)(perfect, target) > 0.3, name
        assert getattr(good, name)(perfect, target) < 1e-6, name


def test_model_ending_in_sigmoid_with_logits_loss(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    torch.manual_seed(1)
    x, target = torch.randn(32, 4) * 3, torch.randint(0, 2, (32, 3)).float()
    torch.manual_seed(2)
    bad_loss, bad_model = bad.train_tagger(x, target)
    torch.manual_seed(2)
    good_loss, good_model = good.train_tagger(x, target)
    assert torch.equal(bad_model.head[0].weight.detach(), good_model.head[0].weight.detach())  # same init
    assert bad_model.head[0].weight.grad.norm() < good_model.head[0].weight.grad.norm() / 2


def test_nll_loss_on_raw_logits_is_unbounded_below(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    torch.manual_seed(3)
    x, target = torch.randn(32, 4), torch.randint(0, 3, (32,))
    losses = {}
    for label, module in (("bad", bad), ("good", good)):
        torch.manual_seed(4)
        model = module.Scorer()
        opt = torch.optim.SGD(model.parameters(), lr=0.5)
        for _ in range(30):
            opt.zero_grad()
            loss = module.F.nll_loss(model(x), target) if label == "bad" else module.F.cross_entropy(model(x), target)
            loss.backward()
            opt.step()
        losses[label] = loss.item()
    loss, _model = bad.train_scorer_nll(x, target)  # the fixture's own function runs
    assert losses["bad"] < -10  # "loss" below zero and still falling: -logit[target] has no minimum
    assert losses["good"] >= 0


def test_bce_on_logits_or_log_softmax_raises(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    torch.manual_seed(5)
    x, target = torch.randn(16, 4) * 3, torch.randint(0, 2, (16, 3)).float()
    with pytest.raises(RuntimeError):
        bad.train_scorer_bce(x, target)
    with pytest.raises(RuntimeError):
        bad.bce_on_log_softmax(x[:, :3], target)
    assert torch.isfinite(good.train_scorer_bce(x, target))
    assert torch.isfinite(good.bce_on_log_softmax(x[:, :3], target))


def test_cross_entropy_on_log_softmax_is_identical_so_not_reported(torch_module):
    torch = torch_module
    near = load(HERE / "near_miss.py")
    torch.manual_seed(6)
    a = (torch.randn(16, 3) * 3).requires_grad_()
    b = a.detach().clone().requires_grad_()
    target = torch.randint(0, 3, (16,))
    la = near.cross_entropy_on_log_softmax(a, target)
    lb = torch.nn.functional.cross_entropy(b, target)
    la.backward()
    lb.backward()
    assert torch.allclose(la, lb)
    assert torch.allclose(a.grad, b.grad, atol=1e-6)
