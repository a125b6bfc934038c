"""Runtime proof of TL406: after the first validation the model trains in eval mode (dropout off,
batch-norm statistics frozen); the fixed loop trains every epoch in train mode."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL406"


def batches(torch, n=3):
    return [(torch.randn(8, 4) * 3 + 1, torch.randn(8, 1)) for _ in range(n)]


class Probe(list):
    """Called by the fixture loop before each training step: records the mode and the BN statistics."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.stats = []

    def append(self, training):
        super().append(training)
        self.stats.append(self.model.bn.running_mean.clone())


def run(module, fn, torch, epochs=3):
    model = module.Net()
    probe = Probe(model)
    getattr(module, fn)(model, batches(torch), epochs=epochs, probe=probe)
    return model, probe


def test_bad_later_epochs_train_in_eval_mode(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    for fn in ("fit", "fit_inline"):
        model, probe = run(bad, fn, torch)
        assert list(probe) == [True] * 3 + [False] * 6, (fn, list(probe))
        # batch-norm statistics move during epoch 1 and are frozen for every step of epochs 2 and 3
        assert not torch.equal(probe.stats[0], probe.stats[2])
        assert all(torch.equal(probe.stats[3], s) for s in probe.stats[3:])
        x = torch.randn(8, 8)
        assert torch.equal(model.drop(x), x)  # dropout is the identity while training continues


def test_good_every_epoch_trains_in_train_mode(torch_module):
    torch = torch_module
    for name in ("good.py", "fixed.py"):
        mod = load(HERE / name, f"tl406_{name[:-3]}")
        for fn in ("fit", "fit_inline"):
            model, probe = run(mod, fn, torch)
            assert list(probe) == [True] * 9, (name, fn, list(probe))
            assert not torch.equal(probe.stats[3], probe.stats[5])  # statistics keep updating in epoch 2
