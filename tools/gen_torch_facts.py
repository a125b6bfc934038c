"""Generate ``torchlint/torch_facts.py`` from the installed torch.

Run ``python tools/gen_torch_facts.py`` after upgrading torch; ``tests/test_torch_facts.py``
regenerates the table in memory and fails if the committed file differs.
torchlint itself never imports torch: lint time reads only the generated table.
"""
from __future__ import annotations

import inspect
import pathlib
import re
import sys
import warnings

OUT = pathlib.Path(__file__).resolve().parent.parent / "torchlint" / "torch_facts.py"

# Argument patterns tried, in order, to build an instance of each nn.Module class so we can
# ask whether it holds parameters. The first pattern that constructs wins.
_TRIAL_ARGS = [(), (4,), (4, 4), (4, 4, 3), (4, 4, 4), (4, 4, 4, 4)]


def _signature_line(obj) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    for line in doc.strip().splitlines()[:1]:
        return line.strip()
    return ""


def _module_classes(torch):
    import torch.nn as nn

    seen = {}
    namespaces = {"torch.nn": nn}
    for sub in ("modules", "parallel", "utils.parametrize"):
        try:
            namespaces[f"torch.nn.{sub}"] = __import__(f"torch.nn.{sub}", fromlist=["_"])
        except Exception:  # pragma: no cover - depends on torch build
            pass
    for prefix, ns in namespaces.items():
        for name in dir(ns):
            if name.startswith("_"):
                continue
            obj = getattr(ns, name)
            if inspect.isclass(obj) and issubclass(obj, nn.Module):
                seen.setdefault(obj, set()).add(f"{prefix}.{name}")
    result = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for cls, paths in seen.items():
            has_params = None
            for args in _TRIAL_ARGS:
                try:
                    inst = cls(*args)
                except Exception:
                    continue
                has_params = any(True for _ in inst.parameters(recurse=True))
                break
            paths.add(f"{cls.__module__}.{cls.__qualname__}")
            for path in paths:
                result[path] = has_params
    return result


def build() -> str:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.nn.init as init

    modules = _module_classes(torch)
    containers = sorted(
        f"torch.nn.{n}" for n in ("Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict")
    )
    loss_classes = sorted(
        name for name in dir(nn)
        if inspect.isclass(getattr(nn, name)) and issubclass(getattr(nn, name), nn.modules.loss._Loss)
        and not name.startswith("_")
    )
    factories, tensor_functions = set(), set()
    for name in dir(torch):
        if name.startswith("_"):
            continue
        obj = getattr(torch, name)
        if not callable(obj) or inspect.isclass(obj):
            continue
        sig = _signature_line(obj)
        if not sig.startswith(name + "(") or "-> Tensor" not in sig:
            continue
        tensor_functions.add(name)
        if "requires_grad=" in sig:
            factories.add(name)
    tensor_methods, inplace_methods = set(), set()
    for name in dir(torch.Tensor):
        if name.startswith("_"):
            continue
        if name.endswith("_") and callable(getattr(torch.Tensor, name)):
            inplace_methods.add(name)
        sig = _signature_line(getattr(torch.Tensor, name))
        if sig.startswith(name + "(") and "-> Tensor" in sig:
            tensor_methods.add(name)
    init_functions = sorted(n for n in dir(init) if not n.startswith("_") and inspect.isfunction(getattr(init, n))
                            and getattr(init, n).__module__ == init.__name__)
    deprecated_init = sorted(n for n in init_functions if not n.endswith("_") and n + "_" in init_functions)
    functional_losses = sorted(
        n for n in dir(F) if not n.startswith("_")
        and (n.endswith("_loss") or n in ("cross_entropy", "binary_cross_entropy", "binary_cross_entropy_with_logits"))
    )

    # private nn.Module base classes of torch.nn.modules.* (``_Loss``, ``_ConvNd``, ``_BatchNorm``...): user classes
    # derive from them, so they make a class a Module; not layers anyone constructs
    import pkgutil

    private_bases = set()
    for info in pkgutil.iter_modules(nn.modules.__path__):
        sub = __import__(f"torch.nn.modules.{info.name}", fromlist=["_"])
        for name, obj in vars(sub).items():
            if name.startswith("_") and not name.startswith("__") and inspect.isclass(obj) \
                    and issubclass(obj, nn.Module) and obj.__module__ == sub.__name__:
                private_bases.add(f"{sub.__name__}.{name}")

    # nn.Module methods that change the module itself and return it: probed on a small module (no required
    # argument, or ``to`` with a device), and kept when the call returns the very same object
    returning_self = set()
    for name, func in inspect.getmembers(nn.Module, inspect.isfunction):
        if name.startswith("_") or name in ("forward", "register_module", "add_module"):
            continue
        try:  # annotated to return the module's own type (what needs a GPU or arguments to probe)
            if str(inspect.signature(func).return_annotation) in ("Self", "typing.Self", "typing_extensions.Self", "~T", "T"):
                returning_self.add(name)
                continue
        except (TypeError, ValueError):
            pass
        probe = nn.Linear(1, 1)
        args = ("cpu",) if name == "to" else ()
        try:
            params = list(inspect.signature(func).parameters.values())[1:]
            if name != "to" and any(p.default is inspect.Parameter.empty and p.kind in (p.POSITIONAL_ONLY,
                                    p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params):
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = getattr(probe, name)(*args)
        except Exception:  # noqa: B902 - a method that needs hardware or arguments: not probed
            continue
        if result is probe:
            returning_self.add(name)

    # torch.nn.functional functions that return one tensor: annotated ``-> Tensor`` or documented so
    functional_tensor = set()
    for name in dir(F):
        obj = getattr(F, name)
        if name.startswith("_") or not callable(obj) or inspect.isclass(obj):
            continue
        try:
            annotated = inspect.signature(obj).return_annotation in (torch.Tensor, "Tensor")
        except (TypeError, ValueError):
            annotated = False
        sig = _signature_line(obj)
        documented = sig.startswith(name + "(") and re.search(r"-> \w*Tensor$", sig) is not None
        if annotated or documented:
            functional_tensor.add(name)

    def fs(items) -> str:
        items = sorted(items)
        body = "".join(f"    {item!r},\n" for item in items)
        return "frozenset({\n" + body + "})"

    with_params = {k for k, v in modules.items() if v}
    without_params = {k for k, v in modules.items() if v is False}
    unknown = {k for k, v in modules.items() if v is None}
    parts = [
        '"""Facts about torch, GENERATED by tools/gen_torch_facts.py from the installed torch. Do not edit.\n\n',
        "torchlint reads these tables at lint time and never imports torch.\n",
        '"""\n\n',
        f"TORCH_VERSION = {torch.__version__.split('+')[0]!r}\n\n",
        "# nn.Module classes (every dotted path they are reachable by) whose instance holds parameters\n",
        f"MODULES_WITH_PARAMETERS = {fs(with_params)}\n\n",
        "# nn.Module classes whose instance (built with default or small arguments) holds no parameters\n",
        f"MODULES_WITHOUT_PARAMETERS = {fs(without_params)}\n\n",
        "# nn.Module classes that could not be built with trial arguments: parameters unknown\n",
        f"MODULES_PARAMETERS_UNKNOWN = {fs(unknown)}\n\n",
        "MODULE_CLASSES = MODULES_WITH_PARAMETERS | MODULES_WITHOUT_PARAMETERS | MODULES_PARAMETERS_UNKNOWN\n\n",
        "# private Module base classes of torch.nn.modules.* (a class deriving from one is a Module)\n",
        f"PRIVATE_MODULE_BASES = {fs(private_bases)}\n\n",
        f"CONTAINER_CLASSES = {fs(containers)}\n\n",
        f"LOSS_CLASSES = {fs(loss_classes)}\n\n",
        "# torch.<name>(...) functions that create a tensor and accept requires_grad=\n",
        f"TENSOR_FACTORIES = {fs(factories)}\n\n",
        "# torch.<name>(...) functions documented to return a Tensor\n",
        f"TENSOR_FUNCTIONS = {fs(tensor_functions)}\n\n",
        "# Tensor methods documented to return a Tensor\n",
        f"TENSOR_METHODS = {fs(tensor_methods)}\n\n",
        "# in-place Tensor methods (trailing underscore)\n",
        f"INPLACE_METHODS = {fs(inplace_methods)}\n\n",
        "# torch.nn.functional.<name>(...) functions that return a Tensor\n",
        f"FUNCTIONAL_TENSOR_FUNCTIONS = {fs(functional_tensor)}\n\n",
        "# public methods of nn.Module\n",
        f"MODULE_METHODS = {fs(n for n, _f in inspect.getmembers(nn.Module, callable) if not n.startswith('_'))}\n\n",
        "# nn.Module methods that change the module in place and return it (module.to(...) is module)\n",
        f"MODULE_METHODS_RETURNING_SELF = {fs(returning_self)}\n\n",
        f"INIT_FUNCTIONS = {fs(init_functions)}\n\n",
        "# nn.init names without the trailing underscore: deprecated aliases of the in-place form\n",
        f"DEPRECATED_INIT_ALIASES = {fs(deprecated_init)}\n\n",
        f"FUNCTIONAL_LOSSES = {fs(functional_losses)}\n",
    ]
    return "".join(parts)


def main() -> int:
    text = build()
    if "--check" in sys.argv:
        if OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is out of date; run python tools/gen_torch_facts.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
