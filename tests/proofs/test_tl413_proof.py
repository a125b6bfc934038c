"""Runtime proof of TL413: StepLR(step_size=2) stepped per batch decays every two batches, not every two
epochs."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL413"


def lrs_of(module, torch, epochs=3, n_batches=4):
    model = torch.nn.Linear(3, 1)
    batches = [(torch.randn(4, 3), torch.randn(4, 1)) for _ in range(n_batches)]
    lrs = []
    module.train(model, batches, epochs=epochs, lrs=lrs)
    return lrs


def test_bad_lr_decays_per_batch(torch_module):
    lrs = lrs_of(load(HERE / "bad.py"), torch_module)
    # 4 batches per epoch, step_size=2: two decays per epoch
    assert lrs == pytest.approx([0.1 * 0.1 ** 2, 0.1 * 0.1 ** 4, 0.1 * 0.1 ** 6])


def test_good_lr_decays_per_epoch(torch_module):
    lrs = lrs_of(load(HERE / "good.py"), torch_module)
    assert lrs == pytest.approx([0.1, 0.1 * 0.1, 0.1 * 0.1])
