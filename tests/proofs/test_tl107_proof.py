"""Runtime proof of TL107: nn.Module.__init__ must run before layers are assigned."""
import pytest
from helpers import FIXTURES, load

HERE = FIXTURES / "TL107"


def test_bad_raises_the_named_error(torch_module):
    bad = load(HERE / "bad.py")
    for cls, message in bad.MODELS.items():
        with pytest.raises(AttributeError, match=message.replace("(", r"\(").replace(")", r"\)")):
            cls()
    with pytest.raises(AttributeError, match="object has no attribute '_parameters'"):
        list(bad.NeverCallsSuperPlain().parameters())
    with pytest.raises(TypeError, match="obj must be an instance or subtype of type"):
        bad.WrongClassInSuper()


def test_near_misses_construct(torch_module):
    near = load(HERE / "near_miss.py")
    for cls in (near.PlainValuesFirst, near.ExplicitBase, near.Child,
                near.MultipleBases, near.ConditionalSuper, near.Outer):
        model = cls()
        assert sum(p.numel() for p in model.parameters()) >= 0
    assert len(list(near.PlainValuesFirst().parameters())) == 2


def test_good_constructs(torch_module):
    good = load(HERE / "good.py")
    for cls in [*good.MODELS, good.NeverCallsSuperPlain, good.WrongClassInSuper]:
        model = cls()
        list(model.parameters())
    assert len(list(good.WrongClassInSuper().parameters())) == 4
