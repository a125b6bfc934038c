"""Runtime proof of TL407: under no_grad() but in train mode, dropout is active (two evaluations of the same
input disagree) and batch norm updates its running statistics with validation data."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL407"


def evaluate(module, torch):
    torch.manual_seed(0)
    model = module.Net()
    batches = [(torch.randn(8, 4), torch.randn(8, 1)) for _ in range(3)]
    x_val = torch.randn(8, 4) * 5 + 3
    stats = []
    original = model.forward

    def forward(x):
        stats.append(model.bn.running_mean.clone())
        return original(x)

    model.forward = forward
    outputs = module.fit(model, batches, x_val)
    stats.append(model.bn.running_mean.clone())
    return outputs, stats, torch


def test_bad_evaluation_uses_dropout_and_moves_batch_norm(torch_module):
    (no_grad_out, decorated_out), stats, torch = evaluate(load(HERE / "bad.py"), torch_module)
    assert not torch.allclose(no_grad_out, decorated_out)  # same model, same input: dropout differs
    # the two validation passes each moved the running statistics toward the validation data
    assert not torch.equal(stats[-3], stats[-2]) and not torch.equal(stats[-2], stats[-1])


def test_good_evaluation_is_deterministic_and_leaves_statistics(torch_module):
    (no_grad_out, decorated_out), stats, torch = evaluate(load(HERE / "good.py"), torch_module)
    assert torch.equal(no_grad_out, decorated_out)
    assert torch.equal(stats[-3], stats[-1])
