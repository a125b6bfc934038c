from __future__ import annotations

from typing import Optional

import libcst as cst

from ... import fixsafety, torch_facts
from ...facts.kinds import PARAMETER_CLASSES, iter_self_assigned_values, iter_self_method_calls
from ...facts.nodes import walk
from ...rule import SAFE, UNSAFE, Rule
from ...semantic.kinds import MODULE, PARAMETER, PROVEN, STRONG
from ...semantic.scopes import PARAM


class ModuleRequiresGradAttribute(Rule):
    """
    ## What it does
    Finds `model.requires_grad = False` (or `True`, or any value) where `model` is an `nn.Module` by
    strong evidence: `self` in a Module class, `self.<attr>` assigned a Module in the class, a name bound to
    a Module construction, `.from_pretrained(...)` or a torchvision model constructor, the loop
    variable of a `.modules()` / `.children()` loop (and their `named_` forms), or a function parameter on
    which Module-only API is called (`model.parameters()`) or that is passed to `nn.Sequential`,
    `DataParallel` and the like.

    On a tensor or a parameter the same assignment is correct and is never flagged; where the receiver's
    kind cannot be established the rule stays silent. `self.requires_grad = ...` in a class that reads
    `self.requires_grad` back (a configuration flag of its own) is not flagged either.

    Silent on `self.requires_grad = flag` in a Module whose same method also hands `flag` to a call
    (`freeze=not flag`): gradients are controlled there and the attribute records the setting. Silent
    as well on `self.requires_grad = <an argument of the method>` in a class that builds no layer and no
    parameter of its own (nor through an in-file base or a torch layer base): the caller's option is
    stored, and the class has nothing of its own that the assignment could have been meant to freeze.
    Inside `if isinstance(x, nn.Parameter):` (or `torch.Tensor`) the receiver is not taken for a Module.

    ## Why is this bad?
    `requires_grad` is an attribute of tensors, not of modules. On an `nn.Module` the assignment simply
    creates a new plain Python attribute named `requires_grad`; no parameter changes. The layer meant to
    be frozen keeps training (its parameters still get gradients and the optimizer still updates them),
    and nothing reports an error.

    ## Example
    ```python
    def freeze(backbone, head):
        backbone.requires_grad = False
        return torch.optim.SGD(head.parameters(), lr=0.1), nn.Sequential(backbone, head)
    ```

    ## Use instead
    ```python
    def freeze(backbone, head):
        backbone.requires_grad_(False)
        return torch.optim.SGD(head.parameters(), lr=0.1), nn.Sequential(backbone, head)
    ```

    ## Fix safety
    Safe when the receiver is proven a Module (a constructor, an annotation, `self` of a Module class): the
    assignment is rewritten to `model.requires_grad_(value)`, which sets the flag on every parameter of the
    module, as the assignment intended. Unsafe when the evidence is only strong (what the code does with
    the name), because an object that merely behaves like a Module may define its own attribute. When the
    receiver's class is a class of this file (or has an in-file base) with a `requires_grad` flag of its own
    (it reads `self.requires_grad` or defines it) the assignment sets that flag and nothing is reported;
    when the receiver's class is not known and some class of the file has such a flag, no fix is offered.

    ## Precision
    On the corpus (tests/corpus_precision.md): tuning half 3 findings, 3 true; validation half
    (measured blind) 2 findings, 0 true: both stored a constructor flag that was also passed on
    (`freeze=not flag`), the shape now left alone. Too few validation findings to judge the default.

    ## Precision
    Default-off: on code no rule was tuned on, measured blind before any change: 0 true of 2 on the validation
    half of the corpus (blind), 0 of 2 on that half after the evidence-based kinds landed, and 1 of 1 on twelve
    libraries no rule was tuned on (tests/holdout_precision.md): 1 of 5 (20%). The false shapes found there are
    silent now (near-miss fixtures), but the rule stays off until a new blind measurement reaches 95%. Enable it
    with `--extend-select TL206` (or `extend-select = ["TL206"]` under `[tool.torchlint]`).
    """

    code = "TL206"
    default_enabled = False
    name = "module-requires-grad-attribute"
    summary = "`module.requires_grad = False` sets a plain attribute; nothing is frozen."
    message = ("assigning .requires_grad on an nn.Module only adds a plain attribute and freezes nothing; "
               "use {receiver}.requires_grad_({value})")
    fix_availability = SAFE
    needs = STRONG
    triggers = (".requires_grad =", ".requires_grad=")

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._flag_classes: dict[int, bool] = {}

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1:
            return
        target = node.targets[0].target
        if not (isinstance(target, cst.Attribute) and target.attr.value == "requires_grad"):
            return
        receiver = target.value
        if not self._is_module(receiver):
            return
        if self.ctx.is_self(receiver) and (self._flag_passed_on(node) or self._option_recorded(node)):
            return  # self.requires_grad = flag, and the same flag configures freezing elsewhere: a record
        code = self.ctx_code(receiver)
        value_code = self.ctx_code(node.value)
        verdict = self._receiver_flag_verdict(receiver)
        if verdict is None:
            return  # the receiver's class keeps a requires_grad flag of its own: the assignment sets it
        new = cst.Expr(value=cst.Call(
            func=cst.Attribute(value=receiver, attr=cst.Name("requires_grad_")),
            args=[cst.Arg(value=node.value)]), semicolon=node.semicolon)
        proven = self.ctx.is_self(receiver) or self.ctx.model.kinds.is_(receiver, MODULE, at_least=PROVEN)
        verdicts = [verdict] if proven else [verdict, (UNSAFE, "the receiver is not proven a Module")]
        fix = fixsafety.offer(self.ctx, SAFE, [(node, new)], "call requires_grad_() on the module",
                              verdicts=verdicts)
        self.report(target, receiver=code, value=value_code, fix=fix)

    def _receiver_flag_verdict(self, receiver: cst.BaseExpression):
        """None when the receiver's class (in this file) has its own ``requires_grad`` flag; else the fix's
        verdict: fine when its class is known and has none, or no class of the file has one."""
        ctx = self.ctx
        if ctx.is_self(receiver):
            return fixsafety.OK  # _is_module already refused a class with its own flag
        cls = self._class_of(receiver)
        if cls is not None:
            return None if self._uses_own_flag_or_base(cls) else fixsafety.OK
        flagged = [c for c in self._file_classes() if self._uses_own_flag(c)]
        if flagged:
            return (fixsafety.NO, f"the receiver's class is not known and {flagged[0].name.value} has its own "
                                  "requires_grad flag")
        return fixsafety.OK

    def _file_classes(self) -> list:
        cached = getattr(self, "_classes", None)
        if cached is None:
            root = self.ctx.stack[0]
            cached = self._classes = [s for s in walk(root) if isinstance(s, cst.ClassDef)]
        return cached

    def _class_of(self, receiver: cst.BaseExpression) -> Optional[cst.ClassDef]:
        """The in-file class a receiver was constructed from: ``g = Gate()`` in the same function, or
        ``self.g = Gate()`` in the class."""
        ctx = self.ctx
        values = []
        if isinstance(receiver, cst.Name):
            body = ctx.current_function.body if ctx.current_function is not None else ctx.stack[0]
            for sub in walk(body, into_scopes=False):
                if isinstance(sub, cst.Assign) and any(
                        isinstance(t.target, cst.Name) and t.target.value == receiver.value for t in sub.targets):
                    values.append(sub.value)
        elif isinstance(receiver, cst.Attribute) and ctx.is_self(receiver.value) and ctx.current_class is not None:
            from ...facts.kinds import iter_self_assignments

            values = [v for name, v in iter_self_assignments(ctx.current_class) if name == receiver.attr.value]
        classes = set()
        for value in values:
            func = value.func if isinstance(value, cst.Call) else None
            if isinstance(func, cst.Name) and ctx.classes.class_named(func.value) is not None:
                classes.add(func.value)
            else:
                return None
        if len(classes) != 1:
            return None
        return ctx.classes.class_named(classes.pop())

    def _uses_own_flag_or_base(self, cls: cst.ClassDef, depth: int = 0) -> bool:
        if self._uses_own_flag(cls):
            return True
        for base in cls.bases:
            if isinstance(base.value, cst.Name) and depth < 10:
                parent = self.ctx.classes.class_named(base.value.value)
                if parent is not None and parent is not cls and self._uses_own_flag_or_base(parent, depth + 1):
                    return True
        return False

    # ------------------------------------------------------------------ helpers
    def _flag_passed_on(self, node: cst.Assign) -> bool:
        """The assigned value is a name that the same function also hands to a call (``freeze=not flag``):
        the code controls gradients there, and the attribute only records the setting."""
        func = self.ctx.current_function
        if func is None or not isinstance(node.value, cst.Name):
            return False
        name = node.value.value
        for sub in walk(func.body, into_scopes=False):
            if isinstance(sub, cst.Arg) and any(isinstance(n, cst.Name) and n.value == name for n in walk(sub.value)):
                return True
        return False

    def _option_recorded(self, node: cst.Assign) -> bool:
        """``self.requires_grad = <an argument of this method>`` in a class that builds no layer and no
        parameter of its own (nor through an in-file base or a torch layer base): the caller's option is
        stored as a setting, and there is nothing of the class's own that the assignment could have
        been meant to freeze."""
        ctx = self.ctx
        value = node.value
        if not isinstance(value, cst.Name) or ctx.current_class is None:
            return False
        use = ctx.model.use_of(value)
        bindings = ctx.model.reaching(use) if use is not None else []
        if not bindings or any(b.form != PARAM for b in bindings):
            return False
        return not self._builds_weights(ctx.current_class, 0)

    def _builds_weights(self, cls: cst.ClassDef, depth: int) -> bool:
        """The class creates a submodule or a parameter of its own (unknown bases outside the file: no)."""
        ctx = self.ctx
        kinds = ctx.model.kinds
        for value in iter_self_assigned_values(cls):
            if isinstance(value, cst.Call) and ctx.resolve(value.func) in PARAMETER_CLASSES:
                return True
            fact = kinds.of(value)
            if fact is not None and fact.kind in (MODULE, PARAMETER):
                return True
        if any(True for _ in iter_self_method_calls(cls, ("add_module", "register_module", "register_parameter"))):
            return True
        for base in cls.bases:
            expr = base.value
            parent = ctx.classes.class_named(expr.value) if isinstance(expr, cst.Name) else None
            if parent is not None:
                if parent is not cls and depth < 10 and self._builds_weights(parent, depth + 1):
                    return True
            elif ctx.resolve(expr) in torch_facts.MODULE_CLASSES and ctx.resolve(expr) != "torch.nn.Module":
                return True
        return False

    @staticmethod
    def ctx_code(node: cst.CSTNode) -> str:
        return cst.Module(body=[]).code_for_node(node)

    def _is_module(self, receiver: cst.BaseExpression) -> bool:
        ctx = self.ctx
        if ctx.is_self(receiver):
            return ctx.in_module_class and not self._class_uses_own_flag()
        return self.is_kind(receiver, MODULE)

    def _class_uses_own_flag(self) -> bool:
        """The class reads ``self.requires_grad`` back or defines it: a flag of its own, not a mistake."""
        cls = self.ctx.current_class
        if cls is None:
            return True
        return self._uses_own_flag(cls)

    def _uses_own_flag(self, cls: cst.ClassDef) -> bool:
        cached = self._flag_classes.get(id(cls))
        if cached is not None:
            return cached
        assigned: set[int] = set()
        seen: list[cst.Attribute] = []
        result = False
        self_names = {m.params.params[0].name.value for m in cls.body.body
                      if isinstance(m, cst.FunctionDef) and m.params.params} | {"self"}
        for sub in walk(cls.body):
            if isinstance(sub, cst.FunctionDef) and sub.name.value == "requires_grad":
                result = True
                break
            if isinstance(sub, cst.Assign):
                for t in sub.targets:
                    assigned.add(id(t.target))
            elif isinstance(sub, cst.Attribute) and sub.attr.value == "requires_grad" \
                    and isinstance(sub.value, cst.Name) and sub.value.value in self_names:
                seen.append(sub)
        if not result:
            result = any(id(a) not in assigned for a in seen)
        self._flag_classes[id(cls)] = result
        return result


def _self_name(ctx) -> Optional[str]:
    return ctx.func_stack[-1].self_name if ctx.func_stack else None
