"""The semantic model without a walk: scopes, bindings, uses, scope-aware imports, kinds and their strength."""
import textwrap

import libcst as cst
import pytest

from torchlint.semantic import SemanticModel
from torchlint.semantic import kinds as K
from torchlint.semantic import scopes as S


def build(source: str, path: str = "x.py"):
    module = cst.parse_module(textwrap.dedent(source))
    return module, SemanticModel(module, path)


def names(module, value):
    """Every Name node with this value, in source order."""
    found = []

    class V(cst.CSTVisitor):
        def visit_Name(self, node):
            if node.value == value:
                found.append(node)

    module.visit(V())
    return found


def last_use(module, model, value):
    uses = [n for n in names(module, value) if model.use_of(n) is not None]
    return uses[-1]


def fact(source, value, path="x.py"):
    module, model = build(source, path)
    return model.kinds.of(last_use(module, model, value))


def _def(module, name):
    return next(s for s in module.body if isinstance(s, cst.FunctionDef) and s.name.value == name)


# ---------------------------------------------------------------------- bindings and uses
def test_every_binding_form_is_recorded():
    module, model = build("""
        import a.b
        from c import d as e
        x, (y, *z) = 1, (2, 3)
        w: int = 1
        w += 1
        for i in []: pass
        with open("f") as fh: pass
        try: pass
        except E as err: pass
        if (n := 3): pass
        def f(p, *args, k=1, **kw): pass
        class C: pass
        del x
        def g():
            global y
            y = 1
        lam = lambda q: q
        comp = [v for v in range(3)]
    """)
    forms = {name: {b.form for b in bs} for name, bs in model.module_scope.bindings.items()}
    assert forms["a"] == {S.IMPORT} and forms["e"] == {S.IMPORT}
    assert forms["x"] == {S.ASSIGN, S.DEL} and forms["z"] == {S.ASSIGN}
    assert forms["w"] == {S.ANNASSIGN, S.AUGASSIGN}
    assert forms["i"] == {S.FOR} and forms["fh"] == {S.WITH} and forms["err"] == {S.EXCEPT}
    assert forms["n"] == {S.WALRUS} and forms["f"] == {S.DEF} and forms["C"] == {S.CLASS}
    assert "v" not in forms and "q" not in forms  # comprehension and lambda scopes
    f_scope = model.function_scope(_def(module, "f"))
    assert set(f_scope.bindings) == {"p", "args", "k", "kw"}
    g_scope = model.function_scope(_def(module, "g"))
    assert "y" in g_scope.declared_global


def test_uses_record_how_a_name_is_used():
    module, model = build("""
        def f(model, loader):
            model.train()
            print(model.training)
            step(model, 1)
            for batch in loader:
                pass
            return model
    """)
    hows = [(model.use_of(n).how, model.use_of(n).attr) for n in names(module, "model") if model.use_of(n)]
    assert hows == [(S.METHOD, "train"), (S.ATTR, "training"), (S.ARG, None), (S.RETURN, None)]
    loader_use = model.use_of(names(module, "loader")[1])
    assert loader_use.how == S.READ  # a for loop's iterable


def test_exclusive_branches_both_reach():
    module, model = build("""
        import torch
        if cond:
            m = torch.nn.Linear(2, 2)
        else:
            m = torch.zeros(2)
        m
    """)
    use = last_use(module, model, "m")
    assert len(model.reaching(model.use_of(use))) == 2
    assert model.kinds.of(use) is None  # Module on one path, Tensor on the other


def test_with_and_for_targets_replace_an_earlier_kind():
    for rebind in ("with ctx() as m:\n    m", "for m in items:\n    m"):
        source = "import torch\nm = torch.nn.Linear(2, 2)\n" + rebind + "\n"
        assert fact(source, "m") is None


def test_later_binding_in_a_loop_reaches_an_earlier_use():
    module, model = build("""
        import torch
        x = torch.zeros(2)
        for _ in range(3):
            x.add_(1)
            x = "text"
    """)
    use = model.use_of([n for n in names(module, "x") if model.use_of(n)][0])
    assert {b.form for b in model.reaching(use)} == {S.ASSIGN}
    assert len(model.reaching(use)) == 2


# ---------------------------------------------------------------------- imports per scope
def test_parameter_named_like_an_import_shadows_it():
    module, model = build("""
        import torch.nn as nn
        def f(nn):
            return nn.Linear
        x = nn.Linear
    """)
    attrs = _attributes(module, model)
    assert [model.resolve(a) for a in attrs] == [None, "torch.nn.Linear"]


def test_function_local_import_is_not_visible_elsewhere():
    module, model = build("""
        def a():
            import torch.nn as nn
            return nn.Linear
        def b():
            return nn.Linear
    """)
    attrs = _attributes(module, model)
    assert [model.resolve(a) for a in attrs] == ["torch.nn.Linear", None]


def test_type_checking_imports_bind_no_runtime_name():
    module, model = build("""
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            import torch.nn as nn
        def f(m: "nn.Module"):
            return nn.Linear
    """)
    attr = _attributes(module, model)[-1]
    assert model.resolve(attr) is None
    assert model.resolve(attr, typing=True) == "torch.nn.Linear"
    assert model.kinds.is_(names(module, "m")[0], K.MODULE, at_least=K.PROVEN) is False  # a parameter, not a use


def test_local_name_for_is_scope_aware():
    module, model = build("""
        import torch.nn as nn
        def f():
            nn = 3
            return nn
        def g():
            return 1
    """)
    f_ret = module.body[1].body.body[1].body[0].value
    g_ret = module.body[2].body.body[0].body[0].value
    assert model.local_name_for("torch.nn.ModuleList", at=f_ret) is None
    assert model.local_name_for("torch.nn.ModuleList", at=g_ret) is None  # an Integer has no scope probe
    h_module, h_model = build("import torch.nn as tnn\ndef h(x):\n    return x\n")
    h_ret = h_module.body[1].body.body[0].body[0].value
    assert h_model.local_name_for("torch.nn.ModuleList", at=h_ret) == "tnn.ModuleList"


def _attributes(module, model):
    """Attribute expressions on a name that the code reads (not the dotted names of imports)."""
    attrs = []

    class V(cst.CSTVisitor):
        def visit_Attribute(self, node):
            if isinstance(node.value, cst.Name) and model.use_of(node.value) is not None:
                attrs.append(node)

    module.visit(V())
    return attrs


# ---------------------------------------------------------------------- kinds and strengths
@pytest.mark.parametrize("source, value, kind, strength", [
    ("import torch.nn as nn\nm = nn.Linear(2, 2)\nm\n", "m", K.MODULE, K.PROVEN),
    ("import torch\nt = torch.Tensor([1.0])\nt\n", "t", K.TENSOR, K.PROVEN),
    ("import torch\nt = torch.LongTensor(3)\nt\n", "t", K.TENSOR, K.PROVEN),
    ("import torch\ndef f(x: torch.Tensor):\n    y = x * 2\n    y\n", "y", K.TENSOR, K.PROVEN),
    ("from typing import Optional\nimport torch.nn as nn\ndef f(m: Optional[nn.Linear]):\n    m\n", "m", K.MODULE, K.PROVEN),
    ("import torch.nn as nn\ndef f(m: 'nn.Module'):\n    m\n", "m", K.MODULE, K.PROVEN),
    ("import torch.nn as nn\ndef f(m: nn.Module | None):\n    m\n", "m", K.MODULE, K.PROVEN),
    ("import torch.nn as nn\nclass Net(nn.Module):\n    pass\ndef f(m: Net):\n    m\n", "m", K.MODULE, K.PROVEN),
    ("def f(model):\n    model.parameters()\n    model\n", "model", K.MODULE, K.STRONG),
    ("def f(model):\n    model.register_forward_hook(h)\n    model\n", "model", K.MODULE, K.STRONG),
    ("import torch\ndef f(opt):\n    s = torch.optim.lr_scheduler.StepLR(opt, 1)\n    opt\n", "opt", K.OPTIMIZER, K.STRONG),
    ("import torch.nn as nn\ndef make():\n    return nn.Sequential(nn.Linear(2, 2))\nb = make()\nb\n", "b", K.MODULE, K.PROVEN),
    ("from torch.utils.data import DataLoader\nloader = DataLoader(ds)\nfor x, y in loader:\n    x\n", "x", K.BATCH, K.STRONG),
    ("from torch.utils.data import DataLoader\nloader = DataLoader(ds)\nfor i, (x, y) in enumerate(loader):\n    y\n",
     "y", K.BATCH, K.STRONG),
    ("import torch.nn as nn\ndef run(m):\n    m\nrun(nn.Linear(2, 2))\n", "m", K.MODULE, K.STRONG),
    ("def f(model):\n    for p in model.parameters():\n        p\n", "p", K.PARAMETER, K.STRONG),
])
def test_kinds_with_strength(source, value, kind, strength):
    found = fact(source, value)
    assert found is not None, source
    assert (found.kind, found.strength) == (kind, strength), found


@pytest.mark.parametrize("source, value", [
    ("def f(model):\n    model.fit(x)\n    model.parameters()\n    model\n", "model"),  # scikit-learn-like
    ("def f(model):\n    print(model)\n    model\n", "model"),  # a name alone is not evidence
    ("def f(model):\n    model.eval()\n    model\n", "model"),  # weak API only
    ("import numpy as np\na = np.zeros(3)\na\n", "a"),
    ("import torch\ndef f(torch):\n    t = torch.zeros(2)\n    t\n", "t"),  # a parameter named torch
    ("import torch\nx = torch.zeros(2)\nt = x.type()\nt\n", "t"),  # .type() returns a str
    # Module API on the name, but an isinstance test for a Parameter or a tensor contradicts it in its branch
    ("import torch\ndef f(x):\n    x.parameters()\n    if isinstance(x, torch.nn.Parameter):\n        x\n", "x"),
    ("import torch\ndef f(x):\n    x.parameters()\n    if isinstance(x, torch.Tensor):\n        x\n", "x"),
])
def test_no_kind_without_evidence(source, value):
    found = fact(source, value)
    assert found is None or found.kind == K.FOREIGN, found


def test_paddle_file_weakens_api_evidence():
    found = fact("import paddle\ndef f(model):\n    model.parameters()\n    model\n", "model")
    assert found is not None and found.strength == K.WEAK


def test_sibling_file_class_is_a_module(tmp_path):
    pkg = tmp_path / "proj"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(
        "import torch.nn as nn\nfrom .base import Base\n\n"
        "class Net(Base):\n    pass\n\n"
        "def build_encoder(width):\n    return nn.Sequential(nn.Linear(width, width))\n")
    (pkg / "base.py").write_text("from torch import nn\n\nclass Base(nn.Module):\n    pass\n")
    train = pkg / "train.py"
    train.write_text("from .models import Net, build_encoder\nm = Net()\ne = build_encoder(3)\nm\ne\n")
    module, model = build(train.read_text(), str(train))
    assert model.kinds.of(last_use(module, model, "m")).kind == K.MODULE
    assert model.kinds.of(last_use(module, model, "e")).kind == K.MODULE
    (tmp_path / "script.py").write_text("from models import Net\n")
    (tmp_path / "models.py").write_text("import torch\nclass Net(torch.nn.Module):\n    pass\n")
    module, model = build("from models import Net\nclass Child(Net):\n    pass\n", str(tmp_path / "script.py"))
    assert model.classes.module_names == {"Child"}


def test_may_call_follows_in_file_helpers_by_name_and_is_certain_only_when_false():
    """facts/loops.may_call: the cheap gate before the event scans of the training-loop rules."""
    import types

    from torchlint.facts import loops

    module, model = build("""
        def clear(opt):
            opt.zero_grad()

        class Trainer:
            def reset(self):
                clear(self.opt)

            def step(self, batch):
                self.reset()
                return batch

        def train(model, opt, data):
            for x in data:
                model(x).sum().backward()
                opt.step()

        def evaluate(model, data):
            return [model(x) for x in data]

        def own(model):
            model.my_zero_grad()

        def closure(opt):
            return lambda: opt.zero_grad()
    """)
    ctx = types.SimpleNamespace(model=model, current_function=None, stack=[module])
    wanted = loops.names_zero_grad
    defs = {n.name.value: n for n in model.function_nodes()}
    by_name = {name: defs[name] for name in ("clear", "reset", "step", "train", "evaluate", "closure", "own")}
    answers = {name: loops.may_call(ctx, node, wanted) for name, node in by_name.items()}
    # train calls opt.step(): by name alone that may be Trainer.step, which reaches zero_grad (conservative)
    assert answers == {"clear": True, "reset": True, "step": True, "train": True, "evaluate": False,
                       "closure": True, "own": True}
