"""Runtime proof of TL206: `module.requires_grad = False` freezes nothing; requires_grad_(False) does."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL206"


def trainable(module):
    return [n for n, p in module.named_parameters() if p.requires_grad]


def frozen_state(fixture, torch):
    """For every freezing site in the fixture: is anything that was meant to be frozen still trainable?"""
    still_trainable = {}
    enc = fixture.Encoder()
    still_trainable["norm"] = bool(trainable(enc.norm))
    enc.freeze()
    still_trainable["self"] = bool(trainable(enc))
    still_trainable["backbone"] = bool(trainable(fixture.build_frozen_backbone()))
    still_trainable["children"] = bool(trainable(fixture.freeze_children(
        torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)))))
    model = fixture.freeze_named(torch.nn.Sequential(torch.nn.Sequential(torch.nn.Linear(2, 2))))
    still_trainable["named"] = bool(trainable(model))
    still_trainable["head"] = bool(trainable(fixture.build_head()))
    return still_trainable


def test_bad_freezes_nothing(torch_module):
    torch = torch_module
    bad = load(HERE / "bad.py")
    assert all(frozen_state(bad, torch).values())
    # the assignment only created a plain attribute, and training still updates the "frozen" head
    head = bad.build_head()
    assert "requires_grad" in vars(head) and head.weight.requires_grad
    before = head.weight.detach().clone()
    opt = torch.optim.SGD(head.parameters(), lr=1.0)
    head(torch.ones(1, 4)).sum().backward()
    opt.step()
    assert not torch.equal(before, head.weight.detach())


def test_good_freezes(torch_module):
    assert not any(frozen_state(load(HERE / "good.py"), torch_module).values())


def test_fixed_freezes(torch_module, tmp_path):
    fixed = load_source(fixed_source(HERE / "bad.py"), "tl206_fixed", tmp_path)
    assert not any(frozen_state(fixed, torch_module).values())
