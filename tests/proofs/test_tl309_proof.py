"""Runtime proof of TL309: view/reshape with reordered sizes gives the transposed shape with scrambled contents;
permute/transpose give the transpose."""
from helpers import FIXTURES, load

HERE = FIXTURES / "TL309"


def test_reordered_view_is_not_a_transpose(torch_module):
    torch = torch_module
    bad, good = load(HERE / "bad.py"), load(HERE / "good.py")
    torch.manual_seed(0)
    cases = {
        "transpose_2d": (torch.randn(2, 3), lambda x: x.t()),
        "channels_last": (torch.randn(2, 3, 4, 5), lambda x: x.permute(0, 2, 3, 1)),
        "split_heads": (torch.randn(2, 5, 4, 3), lambda x: x.transpose(1, 2)),
        "time_major": (torch.randn(2, 7, 3), lambda x: x.transpose(0, 1)),
    }
    for name, (x, reference) in cases.items():
        expected = reference(x)
        wrong, right = getattr(bad, name)(x), getattr(good, name)(x)
        assert wrong.shape == expected.shape, name  # the shape looks right, so nothing fails ...
        assert not torch.equal(wrong, expected), name  # ... but the elements are in the wrong places
        assert torch.equal(right, expected), name


def test_split_heads_mixes_positions_and_heads(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    B, L, H, D = 1, 3, 2, 1
    x = torch.zeros(B, L, H, D)
    for pos in range(L):
        x[0, pos, :, 0] = pos  # every element records its position
    heads = bad.split_heads(x)  # (B, H, L, D)
    # a correct split keeps positions 0, 1, 2 in order for every head; the view interleaves them
    assert heads[0, 0, :, 0].tolist() != [0.0, 1.0, 2.0]
