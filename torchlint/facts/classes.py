"""Which classes of a file are nn.Module subclasses.

A class is a Module when one of its bases resolves (through the import table) to a torch.nn Module
class, to a well-known ecosystem base (Lightning, transformers' PreTrainedModel, also imported
relatively as transformers' own sources do), or to another class of the same file that is a Module,
wherever in the file that class stands. A base that cannot be resolved does not make a Module:
precision first.
"""
from __future__ import annotations

from typing import Optional

import libcst as cst

from .. import torch_facts
from .imports import ImportTable, dotted_name
from .nodes import walk

# Dotted names of Module base classes outside torch.nn that we trust.
ECOSYSTEM_MODULE_BASES = frozenset({
    "pytorch_lightning.LightningModule",
    "pytorch_lightning.core.LightningModule",
    "pytorch_lightning.core.module.LightningModule",
    "lightning.LightningModule",
    "lightning.pytorch.LightningModule",
    "lightning.pytorch.core.LightningModule",
    "lightning.pytorch.core.module.LightningModule",
    "transformers.PreTrainedModel",
    "transformers.modeling_utils.PreTrainedModel",
})
# Relative imports: ``from ...modeling_utils import PreTrainedModel`` inside transformers.
_RELATIVE_SUFFIXES = ("modeling_utils.PreTrainedModel",)


def is_module_base_name(qualified: Optional[str]) -> bool:
    if not qualified:
        return False
    if qualified in torch_facts.MODULE_CLASSES or qualified in ECOSYSTEM_MODULE_BASES \
            or qualified in torch_facts.PRIVATE_MODULE_BASES:
        return True
    if qualified.startswith("."):
        return qualified.lstrip(".").endswith(_RELATIVE_SUFFIXES) or qualified.lstrip(".") == "PreTrainedModel"
    return False


class ClassIndex:
    """All classes of one file, by name, with Module-ness computed once."""

    __slots__ = ("by_name", "_module_names", "_imports", "_init_methods", "_module_base")

    def __init__(self, imports: ImportTable, module_base=None) -> None:
        self.by_name: dict[str, list[cst.ClassDef]] = {}
        self._imports = imports
        self._module_base = module_base  # a Module base class defined in another file of the project
        self._module_names: Optional[set[str]] = None
        self._init_methods: dict[int, frozenset] = {}

    def init_methods(self, node: cst.ClassDef) -> frozenset:
        """``__init__`` and the methods it calls on self (transitively): where a Module is built."""
        cached = self._init_methods.get(id(node))
        if cached is not None:
            return cached
        methods = {stmt.name.value: stmt for stmt in node.body.body if isinstance(stmt, cst.FunctionDef)}
        result = set()
        todo = ["__init__"] if "__init__" in methods else []
        while todo:
            name = todo.pop()
            if name in result:
                continue
            result.add(name)
            method = methods[name]
            params = method.params.params
            if not params:
                continue
            self_name = params[0].name.value
            for sub in walk(method.body, into_scopes=False):
                if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute):
                    owner = sub.func.value
                    callee = sub.func.attr.value
                    if isinstance(owner, cst.Name) and owner.value == self_name and callee in methods:
                        todo.append(callee)
        frozen = self._init_methods[id(node)] = frozenset(result)
        return frozen

    def add(self, node: cst.ClassDef) -> None:
        self.by_name.setdefault(node.name.value, []).append(node)
        self._module_names = None

    def _compute(self) -> set[str]:
        modules: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, defs in self.by_name.items():
                if name in modules:
                    continue
                for cls in defs:
                    if any(self._base_is_module(arg.value, modules) for arg in cls.bases):
                        modules.add(name)
                        changed = True
                        break
        return modules

    def _base_is_module(self, base: cst.BaseExpression, known: set[str]) -> bool:
        if isinstance(base, cst.Subscript):  # Generic-style bases: Base[T]
            base = base.value
        if isinstance(base, cst.Name) and base.value in known and base.value not in self._imports.aliases:
            return True
        qualified = self._imports.resolve(base)
        if is_module_base_name(qualified):
            return True
        return self._module_base is not None and qualified is not None and self._module_base(qualified)

    @property
    def module_names(self) -> set[str]:
        if self._module_names is None:
            self._module_names = self._compute()
        return self._module_names

    def is_module_class(self, node: cst.ClassDef) -> bool:
        return node.name.value in self.module_names

    def is_module_class_name(self, name: str) -> bool:
        return name in self.module_names

    def class_named(self, name: str) -> Optional[cst.ClassDef]:
        defs = self.by_name.get(name)
        return defs[-1] if defs else None


__all__ = ["ClassIndex", "ECOSYSTEM_MODULE_BASES", "is_module_base_name", "dotted_name"]
