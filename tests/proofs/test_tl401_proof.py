"""Runtime proof of TL401: an accumulated loss keeps its autograd graph (and memory) alive."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL401"


def batches(torch, n=4):
    return [(torch.randn(8, 3), torch.randn(8, 1)) for _ in range(n)]


def run(module, torch, capsys):
    model = torch.nn.Linear(3, 1)
    running, history = module.train_epoch(model, batches(torch))
    module.train_functional(model, batches(torch))
    module.train_with_metric(model, batches(torch))
    printed = capsys.readouterr().out
    trainer = module.Trainer(model)
    trainer.fit(batches(torch))
    return running, history, printed, trainer.epoch_loss


def graph_depth(tensor):
    """How many AddBackward nodes chain the accumulated total back to earlier iterations."""
    depth, fn = 0, tensor.grad_fn
    while fn is not None and type(fn).__name__ == "AddBackward0":
        depth += 1
        fn = fn.next_functions[0][0]
    return depth


def test_bad_total_keeps_every_graph(torch_module, capsys):
    running, history, printed, epoch_loss = run(load(HERE / "bad.py"), torch_module, capsys)
    assert running.grad_fn is not None and running.requires_grad
    assert graph_depth(running) >= 3  # one link per iteration: the graphs of all 4 steps are reachable
    assert all(h.grad_fn is not None for h in history)
    assert "grad_fn=" in printed  # total and l1_total are graph-carrying tensors
    assert epoch_loss.grad_fn is not None


def test_good_total_is_detached(torch_module, capsys):
    running, history, printed, epoch_loss = run(load(HERE / "good.py"), torch_module, capsys)
    assert isinstance(running, float)
    assert all(h.grad_fn is None and not h.requires_grad for h in history)
    assert "grad_fn=" not in printed
    assert isinstance(epoch_loss, float)
