"""Runtime proof of TL414: without set_epoch a shuffling DistributedSampler yields the same order every epoch; with
set_epoch each epoch is reshuffled (same data, another order)."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL414"
RUNS = ("epoch_orders", "epoch_orders_helper", "epoch_orders_while")


def test_same_order_every_epoch_without_set_epoch(torch_module):
    bad = load(HERE / "bad.py")
    for name in RUNS:
        orders = getattr(bad, name)(epochs=4)
        assert len(orders) == 4 and len(orders[0]) == 8, name  # this rank's half of 16 samples
        assert orders[0] != sorted(orders[0]), name  # it does shuffle ...
        assert all(order == orders[0] for order in orders), name  # ... once: every epoch is identical


def test_set_epoch_reshuffles_every_epoch(torch_module):
    good = load(HERE / "good.py")
    for name in RUNS:
        orders = getattr(good, name)(epochs=4)
        assert len({tuple(order) for order in orders}) == 4, name  # four different orders
        # every epoch still covers this rank's share of the dataset (no sample lost or duplicated within an epoch)
        assert all(len(set(order)) == 8 for order in orders), name
