"""Shared facts: import aliases, Module classes, kinds; positions under odd encodings and whitespace."""
import libcst as cst
import pytest

from torchlint.context import Context
from torchlint.engine import lint_source
from torchlint.rules import all_rules, select_rules
from torchlint.semantic import SemanticModel


def facts(source: str) -> Context:
    module = cst.parse_module(source)
    return Context("x.py", source, SemanticModel(module, "x.py"))


@pytest.mark.parametrize("imports, expr, qualified", [
    ("import torch", "torch.nn.Linear", "torch.nn.Linear"),
    ("import torch.nn as nn", "nn.Linear", "torch.nn.Linear"),
    ("from torch import nn", "nn.Conv2d", "torch.nn.Conv2d"),
    ("from torch import nn as tnn", "tnn.Linear", "torch.nn.Linear"),
    ("from torch.nn import Linear, Module", "Linear", "torch.nn.Linear"),
    ("from torch.nn import Linear as L", "L", "torch.nn.Linear"),
    ("import torch.nn.functional as F", "F.dropout", "torch.nn.functional.dropout"),
    ("from torch.nn import functional as F", "F.dropout", "torch.nn.functional.dropout"),
    ("from torch.nn import init", "init.normal_", "torch.nn.init.normal_"),
    ("import torch.nn", "torch.nn.Linear", "torch.nn.Linear"),
    ("if True:\n    import torch.nn as nn", "nn.Linear", "torch.nn.Linear"),
    ("from ...modeling_utils import PreTrainedModel", "PreTrainedModel", "...modeling_utils.PreTrainedModel"),
])
def test_import_aliases(imports, expr, qualified):
    ctx = facts(imports + "\n")
    assert ctx.imports.resolve(cst.parse_expression(expr)) == qualified


def test_unimported_names_do_not_resolve():
    ctx = facts("import numpy as np\n")
    assert ctx.imports.resolve(cst.parse_expression("nn.Linear")) is None


MODULE_CLASSES = '''
import torch.nn as nn
import pytorch_lightning as pl
from lightning.pytorch import LightningModule
from ...modeling_utils import PreTrainedModel
from somewhere import Unknown

class Block(Base):
    pass

class Base(nn.Module):
    pass

class Lit(pl.LightningModule):
    pass

class Lit2(LightningModule):
    pass

class BertPreTrained(PreTrainedModel):
    pass

class Bert(BertPreTrained):
    pass

class Mystery(Unknown):
    pass

class Plain:
    pass
'''


def test_module_classes():
    ctx = facts(MODULE_CLASSES)
    assert ctx.classes.module_names == {"Block", "Base", "Lit", "Lit2", "BertPreTrained", "Bert"}


def _findings(source, select=("ALL",)):
    result = lint_source(source, "x.py", select_rules(list(select)))
    assert result.error is None
    return [(f.line, f.col, f.code) for f in result.findings]


BAD = ("import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
       "        self.l = [nn.Linear(2, 2)]\n")


def test_positions_are_1_based_lines_0_based_columns():
    assert _findings(BAD) == [(5, 17, "TL101")]


@pytest.mark.parametrize("transform", [
    lambda s: s.replace("\n", "\r\n"),
    lambda s: "\ufeff" + s,
    lambda s: "# comment \x0c form feed\n" + s,
])
def test_line_endings_bom_form_feed_keep_positions(transform):
    source = transform(BAD)
    shift = 1 if "form feed" in source else 0
    assert _findings(source) == [(5 + shift, 17, "TL101")]


def test_bytes_with_bom_and_latin1_cookie():
    assert _findings(b"\xef\xbb\xbf" + BAD.encode()) == [(5, 17, "TL101")]
    latin = ("# -*- coding: latin-1 -*-\n# caf\xe9\n" + BAD).encode("latin-1")
    assert _findings(latin) == [(7, 17, "TL101")]


def test_non_ascii_before_finding_counts_characters():
    source = BAD.replace("self.l = [", "self.l = [  # é\n            ") if False else BAD.replace(
        "        self.l", "        é = 1; self.l")
    assert _findings(source) == [(5, 24, "TL101")]


def test_tabs_are_one_column():
    source = BAD.replace("        self.l", "\t\tself.l").replace("        super", "\t\tsuper").replace(
        "    def", "\tdef")
    assert _findings(source) == [(5, 11, "TL101")]


def test_undecodable_bytes_give_an_error_not_an_exception():
    result = lint_source(b"import torch\nx = '\xff\xfe'\n", "x.py", all_rules())
    assert result.error is not None and result.error.code == "TL002"


def test_syntax_error_reported_with_position():
    result = lint_source("import torch\ndef f(:\n", "x.py", all_rules())
    assert result.error.code == "TL001" and result.error.line == 2


def test_noqa():
    assert _findings(BAD.replace("2)]", "2)]  # noqa")) == []
    assert _findings(BAD.replace("2)]", "2)]  # noqa: TL101")) == []
    assert _findings(BAD.replace("2)]", "2)]  # noqa:TL1")) == []
    assert _findings(BAD.replace("2)]", "2)]  # noqa: E501")) == [(5, 17, "TL101")]
    # a code list names only those codes (flake8's syntax: letters, then digits)
    assert _findings(BAD.replace("2)]", "2)]  # noqa: TL102")) == [(5, 17, "TL101")]
    assert _findings(BAD.replace("2)]", "2)]  # noqa: E501, TL101")) == []


def test_selection():
    codes = {r.code for r in select_rules(["TL1"])}
    assert "TL101" in codes and "TL201" not in codes
    assert "TL101" not in {r.code for r in select_rules(None, ["TL101"])}
    with pytest.raises(ValueError):
        select_rules(["XYZ"])


def test_lint_without_fixes_reports_the_same_findings_and_no_fix():
    """fixes=False (the language server's diagnostics) reports exactly the findings of a full lint, fix-free."""
    import pathlib

    from torchlint.engine import lint_source
    from torchlint.rules import all_rules

    fixed_somewhere = False
    for path in sorted(pathlib.Path(__file__).resolve().parent.parent.joinpath("fixtures").glob("TL*/bad.py")):
        text = path.read_text(encoding="utf-8")
        full = lint_source(text, str(path), all_rules())
        bare = lint_source(text, str(path), all_rules(), fixes=False)
        assert [(f.line, f.col, f.code, f.message) for f in bare.findings] == \
            [(f.line, f.col, f.code, f.message) for f in full.findings]
        fixed_somewhere = fixed_somewhere or any(f.fix is not None for f in full.findings)
        assert all(f.fix is None and f.edit is None for f in bare.findings)
    assert fixed_somewhere
