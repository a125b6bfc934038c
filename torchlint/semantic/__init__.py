"""The semantic model: scopes, bindings, uses, scope-aware imports, evidence-based kinds, the project index.

``SemanticModel(module, path)`` is built once per file before any rule runs; rules reach it as
``self.ctx.model``.
"""
from .model import SemanticModel

__all__ = ["SemanticModel"]
