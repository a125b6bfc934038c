"""The fix-safety contract: torch facts it relies on (checked against torch), and its decisions on small cases."""
from __future__ import annotations

import textwrap

import pytest

from torchlint import fixsafety
from torchlint.engine import lint_source
from torchlint.fix import fix_text
from torchlint.rules import all_rules

RULES = all_rules()


def _fixed(src: str) -> str:
    return fix_text(textwrap.dedent(src), "case.py", RULES, unsafe=True)[0]


# ---------------------------------------------------------------------------------------------- torch facts
def test_reserved_keys_are_torchs_attributes():
    torch = pytest.importorskip("torch")
    nn = torch.nn
    for container in (nn.ModuleDict(), nn.ParameterDict()):
        names = set(dir(container)) | set(vars(container))
        public = {n for n in names if not n.startswith("_")}
        assert public <= fixsafety.MODULE_ATTRIBUTES, sorted(public - fixsafety.MODULE_ATTRIBUTES)
    private = {n for n in set(dir(nn.Module())) | set(vars(nn.Module()))
               if n.startswith("_") and not n.startswith("__")}
    assert private <= fixsafety.MODULE_PRIVATE_ATTRIBUTES, sorted(private - fixsafety.MODULE_PRIVATE_ATTRIBUTES)


@pytest.mark.parametrize("key", ["ok", "layer_1", "0", "train", "training", "a.b", "", "forward", "_x", "get"])
def test_dict_key_problem_matches_torch(key):
    torch = pytest.importorskip("torch")
    nn = torch.nn
    problem = fixsafety.dict_key_problem(key)

    def works(make):
        try:
            container = make()
            container.train()
            container.eval()
            return True
        except (KeyError, TypeError, AttributeError):
            return False

    module_ok = works(lambda: nn.ModuleDict({key: nn.Linear(1, 1)}))
    param_ok = works(lambda: nn.ParameterDict({key: nn.Parameter(torch.ones(1))}))
    if not (module_ok and param_ok):
        assert problem is not None  # torch refuses it: so must the fix
    if problem is None:
        assert module_ok and param_ok


@pytest.mark.parametrize("name", sorted(fixsafety.WRAPPERS))
def test_wrapper_methods_exist_and_the_others_do_not(name):
    torch = pytest.importorskip("torch")
    wrapper = fixsafety.WRAPPERS[name]
    cls = getattr(torch.nn, name)
    plain = list if wrapper.kind == "list" else dict
    for method in wrapper.methods:
        assert hasattr(cls, method), f"{name} has no {method}"
    for method in dir(plain):
        if not method.startswith("_") and method not in wrapper.methods and hasattr(cls, method):
            assert method in ("copy", "fromkeys"), f"{name}.{method} exists: list it or say why not"


# ---------------------------------------------------------------------------------------------- names
@pytest.mark.parametrize("src, expected", [
    # the module alias
    ("import torch.nn as nn\n", "nn.ModuleList"),
    # nn only under TYPE_CHECKING: torch.nn through `import torch`
    ("import torch\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch.nn as nn\n", "torch.nn.ModuleList"),
    # nn imported only in another function: torch.nn
    ("import torch\n\ndef f():\n    import torch.nn as nn\n    return nn\n", "torch.nn.ModuleList"),
])
def test_name_written_is_bound_at_the_fix_site(src, expected):
    body = "import torch\n" + src + textwrap.dedent("""


        class N(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [torch.nn.Linear(2, 2) for _ in range(2)]
        """)
    out = _fixed(body)
    assert f"self.layers = {expected}(" in out, out


def test_local_variable_shadows_the_alias():
    out = _fixed("""
        import torch.nn as nn


        class B(nn.Module):
            def __init__(self, count):
                super().__init__()
                nn = count
                self.blocks = [B2() for _ in range(nn)]


        class B2(nn.Module):
            def __init__(self):
                super().__init__()
                self.lin = nn.Linear(2, 2)
        """)
    assert "ModuleList" not in out


# ---------------------------------------------------------------------------------------------- uses
@pytest.mark.parametrize("use, fixed", [
    ("self.layers.sort(key=lambda m: 0)", False),
    ("self.layers.reverse()", False),
    ("x = self.layers + []", False),
    ("x = [] + self.layers", False),
    ("x = self.layers * 2", False),
    ("self.layers[:] = []", False),
    ("x = isinstance(self.layers, list)", False),
    ("x = self.layers.pop()", False),
    ("x = len(self.layers)", True),
    ("x = self.layers[1:]", True),
    ("x = [m for m in self.layers]", True),
    ("x = self.layers.pop(0)", True),
    ("self.layers.append(nn.Linear(2, 2))", True),
    ("self.layers.append(torch.tanh)", False),
    ("self.layers.append(lambda t: t)", False),
    ("alias = self.layers\n        alias.sort(key=id)", False),
    ("self.helper(self.layers)", False),
    ("helper(self.layers)", False),
])
def test_list_uses(use, fixed):
    out = _fixed(f"""
        import torch
        import torch.nn as nn


        def helper(ls):
            ls.reverse()


        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.layers = [nn.Linear(2, 2) for _ in range(2)]
                {use}

            def helper(self, ls):
                ls.sort(key=id)
        """)
    assert ("nn.ModuleList(" in out) == fixed, out


@pytest.mark.parametrize("use, fixed", [
    ("x = self.heads.get('a')", False),
    ("x = self.heads.setdefault('a', None)", False),
    ("x = self.heads.copy()", False),
    ("x = self.heads | {}", False),
    ("x = list(self.heads.items())", True),
    ("x = self.heads['a']", True),
    ("x = 'a' in self.heads", True),
    ("self.heads['b'] = nn.Linear(2, 2)", True),
    ("self.heads['eval'] = nn.Linear(2, 2)", False),
])
def test_dict_uses(use, fixed):
    out = _fixed(f"""
        import torch.nn as nn


        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = {{"a": nn.Linear(2, 2)}}
                {use}
        """)
    assert ("nn.ModuleDict(" in out) == fixed, out


def test_unsafe_fix_says_why():
    src = textwrap.dedent("""
        import torch.nn as nn


        class M(nn.Module):
            def __init__(self, names):
                super().__init__()
                self.heads = {f"{n}_head": nn.Linear(2, 2) for n in names}
        """)
    finding = [f for f in lint_source(src, "case.py", RULES).findings if f.code == "TL101"][0]
    assert finding.fix.applicability == "unsafe" and "not provably valid" in finding.fix.description
