"""Runtime proof of TL211: a state_dict() snapshot follows training, so restoring it restores nothing."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL211"


def setup(torch):
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x = torch.randn(16, 4) * 3
    data = [(x, x.sum(1, keepdim=True))]
    return model, data


def run(module, torch):
    model, data = setup(torch)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    losses = []
    orig_eval = module.evaluate

    def recording_eval(m, d):
        loss = orig_eval(m, d)
        losses.append(loss)
        return loss

    module.evaluate = recording_eval
    try:
        # lr so large that training diverges: the best epoch is the first one
        module.fit_with_early_stopping(model, data, data, epochs=4, lr=0.5)
    finally:
        module.evaluate = orig_eval
    final = orig_eval(model, data)
    model2, data2 = setup(torch)
    snap = module.keep_initial_weights(model2, data2, lr=0.01)
    snap_is_initial = all(torch.equal(snap[k], initial[k]) for k in initial)
    return min(losses), losses[-1], final, snap_is_initial


def test_bad_restores_nothing(torch_module):
    best, last, final, snap_is_initial = run(load(HERE / "bad.py"), torch_module)
    assert last > best  # training went wrong after the best epoch ...
    assert final == last != best  # ... and the "restored" model is the last one
    assert not snap_is_initial  # the returned "initial" weights are the trained ones


def test_good_restores_the_best(torch_module):
    best, last, final, snap_is_initial = run(load(HERE / "good.py"), torch_module)
    assert last > best
    assert final == best
    assert snap_is_initial
