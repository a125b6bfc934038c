"""Runtime proof of TL106: assigning a plain tensor to a registered parameter raises TypeError."""
import pytest
from helpers import FIXTURES, load

from torchlint.rules.registration.tl106_tensor_assigned_to_parameter_slot import LAYER_PARAMETERS

HERE = FIXTURES / "TL106"


def test_bad_raises_type_error(torch_module):
    bad = load(HERE / "bad.py")
    for case in bad.CASES:
        with pytest.raises(TypeError, match=r"cannot assign '.*' as parameter '(weight|bias)'"):
            case()


def test_good_runs(torch_module):
    good = load(HERE / "good.py")
    for case in good.CASES:
        case()


def test_layer_table_matches_torch(torch_module):
    torch = torch_module
    args = {"Linear": (2, 2), "Bilinear": (2, 2, 2), "Embedding": (4, 2), "LayerNorm": (2,), "GroupNorm": (1, 2),
            "RMSNorm": (2,), "PReLU": ()}
    for qualified, names in LAYER_PARAMETERS.items():
        cls_name = qualified.rsplit(".", 1)[-1]
        layer = getattr(torch.nn, cls_name)(*args.get(cls_name, (2, 2, 1)))
        assert names <= set(layer._parameters), qualified
