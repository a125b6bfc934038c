"""Runtime proof of TL405: cross-entropy on softmax output gives another loss and squashed gradients."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL405"
FUNCTIONS = ("functional_loss", "module_loss", "inline_module_loss", "nll_on_probabilities")


def loss_and_grad(fn, torch):
    torch.manual_seed(0)
    logits = (torch.randn(16, 3) * 3).requires_grad_()
    target = torch.randint(0, 3, (16,))
    loss = fn(logits, target)
    loss.backward()
    return loss.detach(), logits.grad.norm()


def classifier_grad(module, torch):
    torch.manual_seed(0)
    x, target = torch.randn(16, 4) * 3, torch.randint(0, 3, (16,))
    loss, model = module.train_classifier(x, target)
    return loss.detach(), model.fc.weight.grad.norm()


def test_softmax_input_changes_loss_and_shrinks_gradient(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    for name in FUNCTIONS:
        bad_loss, bad_grad = loss_and_grad(getattr(bad, name), torch)
        good_loss, good_grad = loss_and_grad(getattr(good, name), torch)
        assert not torch.allclose(bad_loss, good_loss), name
        assert bad_grad < good_grad, name
    bad_loss, bad_grad = classifier_grad(bad, torch)
    good_loss, good_grad = classifier_grad(good, torch)
    assert not torch.allclose(bad_loss, good_loss)
    assert bad_grad < good_grad


def test_good_matches_reference_cross_entropy(torch_module):
    torch = torch_module
    good = load(HERE / "good.py")
    torch.manual_seed(0)
    logits, target = torch.randn(16, 3) * 3, torch.randint(0, 3, (16,))
    reference = -torch.log_softmax(logits, dim=1)[torch.arange(16), target].mean()
    for name in FUNCTIONS:
        assert torch.allclose(getattr(good, name)(logits, target), reference), name
