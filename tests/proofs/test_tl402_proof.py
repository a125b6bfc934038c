"""Runtime proof of TL402: tensor .to()/.float()/... as a statement leaves the tensor unchanged."""
from helpers import FIXTURES, fixed_source, load, load_source

HERE = FIXTURES / "TL402"


def observe(module, torch):
    x = module.prepare(torch.ones(3), "cpu")
    mask = module.make_mask(2)
    seen = module.batches("cpu")
    return {"prepare": x.dtype, "mask": mask.dtype, "batches": seen}


def test_bad_leaves_dtypes_unchanged(torch_module):
    torch = torch_module
    seen = observe(load(HERE / "bad.py"), torch)
    assert seen["prepare"] == torch.float32
    assert seen["mask"] == torch.float32
    assert all(y == torch.int64 for _x, y in seen["batches"])


def check_converted(seen, torch):
    assert seen["prepare"] == torch.float64
    assert seen["mask"] == torch.float16
    assert seen["batches"] == [(torch.float32, torch.float32)] * 2 + [(torch.float32, torch.float64)] * 2


def test_good_converts(torch_module):
    check_converted(observe(load(HERE / "good.py"), torch_module), torch_module)


def test_fixed_converts(torch_module, tmp_path):
    module = load_source(fixed_source(HERE / "bad.py"), "tl402_fixed", tmp_path)
    check_converted(observe(module, torch_module), torch_module)
