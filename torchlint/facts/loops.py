"""Training-loop flow: what runs after what in a loop body, under which condition.

One shared place for the loop questions the training rules ask (TL406-TL413): the *events* of a loop
body (or of a function body) in execution order -- ``backward()``, an optimizer step, clearing the
gradients, clipping, unscaling, ``model.eval()`` / ``model.train()``, a scheduler step -- each with its
guard chain (the ``if`` arms, ``try`` handlers and nested loops between the block and the event), and
with the events of in-file helpers called from the body inlined (``validate(model, loader)`` whose body
calls ``model.eval()`` becomes an EVAL event on the caller's ``model``).

Events are syntactic: a ``step`` event says ``x.step()`` was called, not that ``x`` is an optimizer.
Rules ask the kind of an event's target through :func:`is_kind` (the one adapter over the kind
evidence, so the lead can re-point it at the semantic model) before they fire.

Nothing here is computed during the engine's walk; a rule asks from a ``visit_For``/``visit_While``
handler and the result is cached per loop on the file's context.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator, Optional

import libcst as cst

from .nodes import walk

if TYPE_CHECKING:  # pragma: no cover
    from ..engine import Context

# event kinds
BACKWARD = "backward"      # loss.backward(), scaler.scale(loss).backward(), torch.autograd.backward(loss)
ENGINE_BACKWARD = "engine_backward"  # accelerator.backward(loss), engine.backward(loss), self.manual_backward(loss)
STEP = "step"              # x.step() with no argument, or x.step(closure)
SCALER_STEP = "scaler_step"  # scaler.step(optimizer): target is the optimizer, via is the scaler
ZERO_GRAD = "zero_grad"    # x.zero_grad(...), p.grad = None, p.grad.zero_(), del p.grad, f_zero_grad(...)
CLIP = "clip"              # torch.nn.utils.clip_grad_norm_/clip_grad_value_ (and the deprecated clip_grad_norm)
OTHER_CLIP = "other_clip"  # x.clip_grad_norm_(...) of a wrapper (Accelerator, FSDP, DeepSpeed) that unscales
UNSCALE = "unscale"        # scaler.unscale_(optimizer)
EVAL = "eval"              # m.eval(), m.train(False)
TRAIN = "train"            # m.train(), m.train(True)
MODE = "mode"              # m.train(flag) with a flag we cannot read
FORWARD = "forward"        # m(...) : a call of a plain name or self attribute (the model is called)

CLIP_FUNCTIONS = frozenset({
    "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_", "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grad.clip_grad_norm_", "torch.nn.utils.clip_grad.clip_grad_value_",
    "torch.nn.utils.clip_grad.clip_grad_norm",
})
_AUTOGRAD_BACKWARD = frozenset({"torch.autograd.backward"})
_HELPER_DEPTH = 3


def code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


@dataclass(eq=False)
class Event:
    kind: str
    node: cst.CSTNode                       # the call (or the assignment / del for cleared gradients)
    target: Optional[cst.BaseExpression]    # the optimizer / model / loss / scheduler the event is about
    text: Optional[str]                     # source text of the target, in the caller's terms
    guards: tuple = ()                      # ((compound node, arm), ...) from the block down to the event
    no_grad: bool = False                   # under torch.no_grad() / inference_mode() inside the block
    via: Optional[cst.Call] = None          # the helper call of the block this event was inlined from
    scaled_by: Optional[str] = None         # BACKWARD: text of the scaler in scaler.scale(loss).backward()
    index: int = 0                          # execution order in the block
    extra: dict = field(default_factory=dict)

    @property
    def inlined(self) -> bool:
        return self.via is not None

    @property
    def loops(self) -> tuple:
        """Nested loops (inside the block) around the event."""
        return tuple(g for g, arm in self.guards if arm == "loop")

    @property
    def conditions(self) -> tuple:
        """The guard chain without nested loops: the conditions under which the event runs."""
        return tuple((g, arm) for g, arm in self.guards if arm != "loop")


# ---------------------------------------------------------------------- classifying one call
def _method(call: cst.Call) -> Optional[str]:
    return call.func.attr.value if isinstance(call.func, cst.Attribute) else None


def _positional(call: cst.Call) -> list:
    return [a.value for a in call.args if a.keyword is None and not a.star]


def is_grad_attribute(node: cst.BaseExpression) -> bool:
    """``p.grad`` (or ``p.grad.data``)."""
    if isinstance(node, cst.Attribute) and node.attr.value == "data":
        node = node.value
    return isinstance(node, cst.Attribute) and node.attr.value == "grad"


def classify_call(ctx: "Context", call: cst.Call) -> Optional[tuple[str, Optional[cst.BaseExpression], dict]]:
    """(kind, target, extra) of a call that is a training-loop event, else None. Cheap checks first."""
    func = call.func
    method = _method(call)
    if method is not None:
        receiver = func.value
        args = _positional(call)
        if method == "backward":
            if ctx.resolve(func) in _AUTOGRAD_BACKWARD:
                return (BACKWARD, args[0], {}) if args else None
            if not args:
                if isinstance(receiver, cst.Call) and _method(receiver) == "scale" and receiver.args:
                    return BACKWARD, receiver.args[0].value, {"scaled_by": code(receiver.func.value)}
                return BACKWARD, receiver, {}
            return ENGINE_BACKWARD, args[0], {"engine": receiver}
        if method == "manual_backward":
            return ENGINE_BACKWARD, (call.args[0].value if call.args else None), {"engine": receiver}
        if method == "step":
            arg = call.args[0].value if len(call.args) == 1 and call.args[0].keyword is None else None
            if isinstance(arg, (cst.Name, cst.Attribute)):
                # scaler.step(optimizer) vs optimizer.step(closure): decided by the kinds later
                return SCALER_STEP, arg, {"scaler": receiver}
            return STEP, receiver, {}
        if method == "zero_grad" or method.endswith("zero_grad"):
            return ZERO_GRAD, receiver, {}
        if method in ("zero_", "detach_", "fill_") and is_grad_attribute(receiver):
            return ZERO_GRAD, receiver, {}
        if method == "unscale_":
            return UNSCALE, (args[0] if args else None), {"scaler": receiver}
        if method == "eval" and not call.args:
            return EVAL, receiver, {}
        if method == "train":
            if not call.args:
                return TRAIN, receiver, {}
            flag = call.args[0].value
            if isinstance(flag, cst.Name) and flag.value in ("True", "False"):
                return (TRAIN if flag.value == "True" else EVAL), receiver, {}
            return MODE, receiver, {}
        if method in ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"):
            qualified = ctx.resolve(func)
            if qualified in CLIP_FUNCTIONS:
                return CLIP, (args[0] if args else None), {}
            return OTHER_CLIP, receiver, {}
        return None
    if isinstance(func, cst.Name):
        name = func.value
        if name in ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm"):
            if ctx.resolve(func) in CLIP_FUNCTIONS:
                args = _positional(call)
                return CLIP, (args[0] if args else None), {}
        if "zero_grad" in name:
            return ZERO_GRAD, None, {}
    return None


# ---------------------------------------------------------------------- helpers defined in the file
def _module_functions(ctx: "Context") -> dict[str, Optional[cst.FunctionDef]]:
    table = getattr(ctx, "_loops_functions", None)
    if table is None:
        table = {}
        module = ctx.stack[0] if ctx.stack else None
        if isinstance(module, cst.Module):
            for stmt in module.body:
                if isinstance(stmt, cst.FunctionDef):
                    name = stmt.name.value
                    table[name] = None if name in table else stmt  # defined twice: unknown
        ctx._loops_functions = table
    return table


def _class_methods(cls: cst.ClassDef) -> dict[str, cst.FunctionDef]:
    out = {}
    if isinstance(cls.body, cst.IndentedBlock):
        for stmt in cls.body.body:
            if isinstance(stmt, cst.FunctionDef):
                out[stmt.name.value] = stmt
    return out


def helper_of(ctx: "Context", call: cst.Call, cls: Optional[cst.ClassDef] = None,
              self_name: Optional[str] = None) -> Optional[tuple[cst.FunctionDef, dict[str, cst.BaseExpression]]]:
    """The in-file function a call runs (``f(...)`` of a module-level def, ``self.f(...)`` of a method
    of the enclosing class) and its parameter -> argument map."""
    func = call.func
    skip_first = False
    target = None
    if isinstance(func, cst.Name):
        target = _module_functions(ctx).get(func.value)
    elif isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and cls is not None \
            and self_name is not None and func.value.value == self_name:
        target = _class_methods(cls).get(func.attr.value)
        skip_first = True
    if target is None:
        return None
    params = [p.name.value for p in (*target.params.posonly_params, *target.params.params)]
    if skip_first:
        params = params[1:]
    mapping: dict[str, cst.BaseExpression] = {}
    i = 0
    for arg in call.args:
        if arg.star:
            return target, mapping
        if arg.keyword is None:
            if i < len(params):
                mapping[params[i]] = arg.value
            i += 1
        else:
            mapping[arg.keyword.value] = arg.value
    if skip_first and self_name is not None:
        mapping.setdefault("self", cst.Name(self_name))
    return target, mapping


# ---------------------------------------------------------------------- the flattened block
class _Builder:
    def __init__(self, ctx: "Context", cls, self_name) -> None:
        self.ctx = ctx
        self.cls = cls
        self.self_name = self_name
        self.events: list[Event] = []

    def block(self, stmts, guards: tuple, no_grad: bool, via, mapping, depth: int, seen: tuple) -> None:
        for stmt in stmts:
            self.statement(stmt, guards, no_grad, via, mapping, depth, seen)

    def suite(self, suite, guards, no_grad, via, mapping, depth, seen) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self.block(suite.body, guards, no_grad, via, mapping, depth, seen)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                self.small(small, guards, no_grad, via, mapping, depth, seen)

    def statement(self, stmt, guards, no_grad, via, mapping, depth, seen) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small(small, guards, no_grad, via, mapping, depth, seen)
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return
        elif isinstance(stmt, cst.If):
            self.expr(stmt.test, guards, no_grad, via, mapping, depth, seen)
            self.suite(stmt.body, guards + ((stmt, "body"),), no_grad, via, mapping, depth, seen)
            if stmt.orelse is not None:
                if isinstance(stmt.orelse, cst.If):
                    self.statement(stmt.orelse, guards + ((stmt, "orelse"),), no_grad, via, mapping, depth, seen)
                else:
                    self.suite(stmt.orelse.body, guards + ((stmt, "orelse"),), no_grad, via, mapping, depth, seen)
        elif isinstance(stmt, (cst.For, cst.While)):
            head = stmt.iter if isinstance(stmt, cst.For) else stmt.test
            self.expr(head, guards, no_grad, via, mapping, depth, seen)
            self.suite(stmt.body, guards + ((stmt, "loop"),), no_grad, via, mapping, depth, seen)
            if stmt.orelse is not None:
                self.suite(stmt.orelse.body, guards, no_grad, via, mapping, depth, seen)
        elif isinstance(stmt, cst.With):
            inner = no_grad
            for item in stmt.items:
                self.expr(item.item, guards, no_grad, via, mapping, depth, seen)
                if self.ctx.is_no_grad_expr(item.item):
                    inner = True
            self.suite(stmt.body, guards, inner, via, mapping, depth, seen)
        elif isinstance(stmt, cst.Try):
            self.suite(stmt.body, guards, no_grad, via, mapping, depth, seen)
            for i, handler in enumerate(stmt.handlers):
                self.suite(handler.body, guards + ((stmt, ("handler", i)),), no_grad, via, mapping, depth, seen)
            if stmt.orelse is not None:
                self.suite(stmt.orelse.body, guards, no_grad, via, mapping, depth, seen)
            if stmt.finalbody is not None:
                self.suite(stmt.finalbody.body, guards, no_grad, via, mapping, depth, seen)
        elif isinstance(stmt, cst.Match):
            self.expr(stmt.subject, guards, no_grad, via, mapping, depth, seen)
            for i, case in enumerate(stmt.cases):
                self.suite(case.body, guards + ((stmt, ("case", i)),), no_grad, via, mapping, depth, seen)

    def small(self, small, guards, no_grad, via, mapping, depth, seen) -> None:
        if isinstance(small, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            if isinstance(small, cst.Assign) and any(is_grad_attribute(t) for t in targets):
                self.add(ZERO_GRAD, small, targets[0], guards, no_grad, via, mapping)
        elif isinstance(small, cst.Del):
            if any(is_grad_attribute(n) for n in walk(small.target) if isinstance(n, cst.Attribute)):
                self.add(ZERO_GRAD, small, None, guards, no_grad, via, mapping)
        self.expr(small, guards, no_grad, via, mapping, depth, seen)

    def expr(self, node, guards, no_grad, via, mapping, depth, seen) -> None:
        ctx = self.ctx
        for sub in walk(node, into_scopes=False):
            if not isinstance(sub, cst.Call):
                continue
            found = classify_call(ctx, sub)
            if found is not None:
                kind, target, extra = found
                self.add(kind, sub, target, guards, no_grad, via, mapping, **extra)
                continue
            func = sub.func
            if isinstance(func, (cst.Name, cst.Attribute)) and depth < _HELPER_DEPTH:
                helper = helper_of(ctx, sub, self.cls, self.self_name)
                if helper is not None and helper[0] not in seen:
                    fdef, fmap = helper
                    # arguments are read in the caller's terms
                    fmap = {k: _subst(v, mapping) for k, v in fmap.items()}
                    self.block(fdef.body.body if isinstance(fdef.body, cst.IndentedBlock) else [],
                               guards, no_grad or _no_grad_decorated(ctx, fdef), via or sub, fmap, depth + 1,
                               seen + (fdef,))
                    continue
            if isinstance(func, (cst.Name, cst.Attribute)):
                self.add(FORWARD, sub, func, guards, no_grad, via, mapping)

    def add(self, kind, node, target, guards, no_grad, via, mapping, **extra) -> None:
        text = None
        original = target
        if target is not None:
            target = _subst(target, mapping) if mapping else target
            text = code(target)
        scaled = extra.pop("scaled_by", None)
        if scaled is not None and mapping:
            scaled = _subst_text(scaled, mapping)
        ev = Event(kind, node, target, text, guards, no_grad, via, scaled, len(self.events), extra)
        if via is not None and original is not None:
            root = _root_name(original)
            ev.extra["foreign"] = root is None or root not in (mapping or {})
        self.events.append(ev)


def _no_grad_decorated(ctx: "Context", fdef: cst.FunctionDef) -> bool:
    return any(ctx.is_no_grad_expr(d.decorator) for d in fdef.decorators)


def _root_name(expr: cst.BaseExpression) -> Optional[str]:
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        expr = expr.value if not isinstance(expr, cst.Call) else expr.func
    return expr.value if isinstance(expr, cst.Name) else None


def _subst(expr: cst.BaseExpression, mapping) -> cst.BaseExpression:
    """``expr`` with its root name replaced by the caller's argument (``model.eval`` in ``validate(net)``
    -> ``net``); unchanged when the root is not a parameter."""
    if not mapping:
        return expr
    root = _root_name(expr)
    if root is None or root not in mapping:
        return expr
    if isinstance(expr, cst.Name):
        return mapping[root]

    class _R(cst.CSTTransformer):
        def leave_Name(self, original, updated):
            return mapping[root] if original.value == root else updated
    try:
        return expr.visit(_R())
    except Exception:  # pragma: no cover - a replacement libcst refuses
        return expr


def _subst_text(text: str, mapping) -> str:
    head, dot, tail = text.partition(".")
    if head in mapping:
        return code(mapping[head]) + dot + tail
    return text


# ---------------------------------------------------------------------- public questions
def block_events(ctx: "Context", owner: cst.CSTNode) -> list[Event]:
    """Events of a loop body (``owner`` a For/While), a function body (``owner`` a FunctionDef) or a
    script (``owner`` the Module), in execution order, helpers inlined. Cached per node on the context."""
    cache = getattr(ctx, "_loops_cache", None)
    if cache is None:
        cache = ctx._loops_cache = {}
    key = id(owner)
    hit = cache.get(key)
    if hit is not None and hit[0] is owner:
        return hit[1]
    cls = ctx.current_class
    self_name = ctx.func_stack[-1].self_name if ctx.func_stack else None
    builder = _Builder(ctx, cls, self_name)
    body = owner.body
    if isinstance(owner, cst.Module):
        builder.block(owner.body, (), False, None, None, 0, ())
    elif isinstance(body, cst.IndentedBlock):
        builder.block(body.body, (), ctx.in_no_grad, None, None, 0, ())
    elif isinstance(body, cst.SimpleStatementSuite):
        for small in body.body:
            builder.small(small, (), ctx.in_no_grad, None, None, 0, ())
    cache[key] = (owner, builder.events)
    return builder.events


def runs_whenever(a: Event, b: Event) -> bool:
    """``a`` runs in every iteration in which ``b`` runs: a's condition chain is a prefix of b's."""
    ca, cb = a.conditions, b.conditions
    return len(ca) <= len(cb) and all(x[0] is y[0] and x[1] == y[1] for x, y in zip(ca, cb))


def same_condition(a: Event, b: Event) -> bool:
    return runs_whenever(a, b) and runs_whenever(b, a)


def exclusive(a: Event, b: Event) -> bool:
    """``a`` and ``b`` sit in different arms of one branch."""
    for (ga, arm_a), (gb, arm_b) in zip(a.guards, b.guards):
        if ga is not gb:
            return False
        if arm_a != arm_b:
            return True
    return False


def cyclic_after(events: list[Event], start: Event) -> Iterator[Event]:
    """The events after ``start`` in this iteration, then those of the next iteration up to ``start``."""
    n = len(events)
    for k in range(1, n):
        yield events[(start.index + k) % n]


def unconditional(ev: Event) -> bool:
    """Runs in every iteration of the block (no condition, no nested loop around it)."""
    return not ev.guards


def ends_early(block: cst.CSTNode) -> bool:
    """The loop body ends with an unconditional ``break`` / ``return`` (it runs once)."""
    body = block.body
    stmts = body.body if isinstance(body, cst.IndentedBlock) else []
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, cst.SimpleStatementLine):
        return any(isinstance(s, (cst.Break, cst.Return, cst.Raise)) for s in last.body)
    return False


# ---------------------------------------------------------------------- kinds (one adapter)
OPTIMIZER = "optimizer"
SCHEDULER = "scheduler"
SCALER = "scaler"
MODULE = "module"

_OPTIMIZER_ONLY_API = frozenset({"param_groups", "add_param_group"})
_MODULE_ONLY_API = frozenset({
    "parameters", "named_parameters", "modules", "named_modules", "children", "named_children", "buffers",
    "named_buffers", "register_forward_hook", "register_forward_pre_hook", "register_full_backward_hook",
    "register_backward_hook", "register_buffer", "register_parameter", "apply", "add_module",
})
_SCALER_CLASSES = frozenset({"torch.cuda.amp.GradScaler", "torch.amp.GradScaler", "torch.cpu.amp.GradScaler",
                             "torch.amp.grad_scaler.GradScaler", "torch.cuda.amp.grad_scaler.GradScaler"})


def is_kind(ctx: "Context", expr: Optional[cst.BaseExpression], kind: str, scope: Optional[cst.CSTNode] = None) -> bool:
    """Strong evidence that ``expr`` (read in ``scope``, default the function being visited) holds a
    value of ``kind``. The single adapter the loop rules use: it asks the semantic model when the file
    has one, else the construction tags and API evidence below."""
    if expr is None:
        return False
    model = getattr(ctx, "model", None)
    if model is not None and hasattr(model, "kinds"):  # pragma: no cover - the semantic model (issue 11)
        return _semantic_is(model, expr, kind)
    return _evidence_is(ctx, expr, kind, scope)


def _semantic_is(model, expr, kind) -> bool:  # pragma: no cover - re-pointed when the model lands
    from ..semantic import kinds as sk
    target = {OPTIMIZER: sk.OPTIMIZER, SCHEDULER: sk.SCHEDULER, SCALER: sk.SCALER, MODULE: sk.MODULE}[kind]
    return model.kinds.is_(expr, target, at_least=sk.STRONG)


def _scope_body(scope: Optional[cst.CSTNode]):
    if isinstance(scope, cst.FunctionDef):
        return scope.body
    return scope


def _evidence_is(ctx: "Context", expr, kind, scope) -> bool:
    from .training import OPTIMIZER as OPT_TAG, SCHEDULER as SCHED_TAG, construction_tag, training_facts

    if scope is None:
        scope = ctx.current_function
    facts = training_facts(ctx)
    text = code(expr)
    # proven: a construction bound to the name / self attribute
    if kind in (OPTIMIZER, SCHEDULER):
        tag = _tag_in(ctx, facts, expr, scope)
        if tag == (OPT_TAG if kind == OPTIMIZER else SCHED_TAG):
            return True
    elif kind == MODULE:
        if scope is ctx.current_function and ctx.kind_of(expr) == "module":
            return True
    elif kind == SCALER:
        if _constructed_as(ctx, expr, scope, _SCALER_CLASSES):
            return True
    if scope is None:
        return False
    # strong: API only this kind has, used on the same text in the scope (the whole class for self.x)
    root, into = _scope_body(scope), False
    if isinstance(expr, cst.Attribute) and ctx.is_self(expr.value) and ctx.current_class is not None:
        root, into = ctx.current_class.body, True
    for sub in walk(root, into_scopes=into):
        if kind == OPTIMIZER:
            if isinstance(sub, cst.Attribute) and sub.attr.value in _OPTIMIZER_ONLY_API and code(sub.value) == text:
                return True
            if isinstance(sub, cst.Call) and sub.args:
                first = sub.args[0].value
                if code(first) == text:
                    if construction_tag(ctx, sub) == SCHED_TAG:
                        return True
                    if _method(sub) in ("step", "unscale_") and is_kind(ctx, sub.func.value, SCALER, scope):
                        return True
        elif kind == MODULE:
            if isinstance(sub, cst.Call) and _method(sub) in _MODULE_ONLY_API and code(sub.func.value) == text:
                return True
        elif kind == SCALER:
            if isinstance(sub, cst.Call) and _method(sub) == "scale" and code(sub.func.value) == text:
                # scaler.scale(loss).backward() + scaler.step(opt) + scaler.update(): GradScaler's protocol
                if _scaler_protocol(scope, text):
                    return True
    # strong: every call site of this function in the file passes the kind at that position
    if isinstance(expr, cst.Name) and isinstance(scope, cst.FunctionDef):
        return _call_sites_pass(ctx, scope, expr.value, kind)
    return False


def _tag_in(ctx, facts, expr, scope):
    if isinstance(expr, cst.Name):
        if scope is not None and scope is not ctx.current_function:
            table = facts._scope_table(scope)
            tag = table.get(expr.value)
            return tag if isinstance(tag, str) else None
        return facts.tag_of(expr)
    if isinstance(expr, cst.Attribute) and scope is ctx.current_function:
        return facts.tag_of(expr)
    return None


def _constructed_as(ctx, expr, scope, classes) -> bool:
    text = code(expr)
    body = _scope_body(scope) if scope is not None else (ctx.stack[0] if ctx.stack else None)
    if body is None:
        return False
    roots = [body]
    cls = ctx.current_class
    if isinstance(expr, cst.Attribute) and cls is not None:
        roots = [cls.body]
    found = False
    for root in roots:
        for sub in walk(root, into_scopes=cls is not None and isinstance(expr, cst.Attribute)):
            if isinstance(sub, cst.Assign) and isinstance(sub.value, cst.Call):
                if any(code(t.target) == text for t in sub.targets):
                    if ctx.resolve(sub.value.func) in classes:
                        found = True
                    else:
                        return False
    if not found and isinstance(expr, cst.Name) and isinstance(scope, cst.FunctionDef):
        module = ctx.stack[0] if ctx.stack else None
        if isinstance(module, cst.Module):
            for stmt in module.body:
                if isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call) and any(
                                code(t.target) == text for t in small.targets):
                            found = ctx.resolve(small.value.func) in classes
    return found


def _scaler_protocol(scope, text: str) -> bool:
    methods = set()
    for sub in walk(_scope_body(scope), into_scopes=False):
        if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Attribute) and code(sub.func.value) == text:
            methods.add(sub.func.attr.value)
    return {"scale", "step", "update"} <= methods


def _call_sites_pass(ctx, fdef: cst.FunctionDef, name: str, kind: str, _depth: int = 0) -> bool:
    """``name`` is a parameter of the module-level function ``fdef`` and every call of it in the file
    passes (positionally or by keyword) an expression of ``kind`` in the caller's scope."""
    params = [p.name.value for p in (*fdef.params.posonly_params, *fdef.params.params)]
    kw = [p.name.value for p in fdef.params.kwonly_params]
    if name not in params and name not in kw:
        return False
    if _module_functions(ctx).get(fdef.name.value) is not fdef or _depth > 2:
        return False
    position = params.index(name) if name in params else None
    module = ctx.stack[0] if ctx.stack else None
    if not isinstance(module, cst.Module):
        return False
    sites = 0
    for caller in _callers(ctx, module):
        for sub in walk(caller.body if isinstance(caller, cst.FunctionDef) else caller, into_scopes=False):
            if isinstance(sub, cst.Call) and isinstance(sub.func, cst.Name) and sub.func.value == fdef.name.value:
                arg = None
                i = 0
                for a in sub.args:
                    if a.star:
                        return False
                    if a.keyword is None:
                        if i == position:
                            arg = a.value
                        i += 1
                    elif a.keyword.value == name:
                        arg = a.value
                if arg is None:
                    return False
                scope = caller if isinstance(caller, cst.FunctionDef) else None
                if not _evidence_in(ctx, arg, kind, scope, _depth):
                    return False
                sites += 1
    return sites > 0


def _callers(ctx, module: cst.Module):
    yield module
    for fdef in _module_functions(ctx).values():
        if fdef is not None:
            yield fdef


def _evidence_in(ctx, arg, kind, scope, depth) -> bool:
    from .training import OPTIMIZER as OPT_TAG, SCHEDULER as SCHED_TAG, construction_tag, training_facts

    if kind in (OPTIMIZER, SCHEDULER):
        want = OPT_TAG if kind == OPTIMIZER else SCHED_TAG
        if construction_tag(ctx, arg) == want:
            return True
        if isinstance(arg, cst.Name):
            facts = training_facts(ctx)
            table = facts._scope_table(scope) if scope is not None else facts._module_table()
            if table.get(arg.value) == want:
                return True
    if kind == MODULE:
        if isinstance(arg, cst.Call) and ctx.kinds.module_class_of(arg.func) is not None:
            return True
        if isinstance(arg, cst.Name) and _assigned_module(ctx, arg.value, scope):
            return True
    if isinstance(arg, cst.Name) and isinstance(scope, cst.FunctionDef):
        if _evidence_api(ctx, arg, kind, scope):
            return True
        return _call_sites_pass(ctx, scope, arg.value, kind, depth + 1)
    return False


def _evidence_api(ctx, expr, kind, scope) -> bool:
    text = code(expr)
    for sub in walk(_scope_body(scope), into_scopes=False):
        if kind == MODULE and isinstance(sub, cst.Call) and _method(sub) in _MODULE_ONLY_API \
                and code(sub.func.value) == text:
            return True
        if kind == OPTIMIZER and isinstance(sub, cst.Attribute) and sub.attr.value in _OPTIMIZER_ONLY_API \
                and code(sub.value) == text:
            return True
    return False


def _assigned_module(ctx, name: str, scope) -> bool:
    """Every assignment of ``name`` in ``scope`` (or the module) constructs a Module (or moves one)."""
    body = _scope_body(scope) if scope is not None else (ctx.stack[0] if ctx.stack else None)
    if body is None:
        return False
    seen = False
    for sub in walk(body, into_scopes=False):
        if isinstance(sub, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == name
                                               for t in sub.targets):
            value = sub.value
            while isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) \
                    and value.func.attr.value in ("to", "cuda", "cpu", "train", "eval", "float", "double"):
                value = value.func.value
            if isinstance(value, cst.Call) and ctx.kinds.module_class_of(value.func) is not None:
                seen = True
            elif isinstance(value, cst.Call) and ctx.kinds.kind_of(value) == "module":
                seen = True
            else:
                return False
    return seen


__all__ = ["Event", "block_events", "classify_call", "helper_of", "is_kind", "runs_whenever", "same_condition",
           "exclusive", "cyclic_after", "unconditional", "ends_early", "code", "BACKWARD", "ENGINE_BACKWARD",
           "STEP", "SCALER_STEP", "ZERO_GRAD", "CLIP", "OTHER_CLIP", "UNSCALE", "EVAL", "TRAIN", "MODE", "FORWARD",
           "OPTIMIZER", "SCHEDULER", "SCALER", "MODULE"]


def optimizer_over(ctx: "Context", opt_text: str, model_text: str) -> bool:
    """Somewhere in the file ``<opt_text> = torch.optim.X(<model_text>.parameters(), ...)``: zeroing the
    model's gradients clears what that optimizer steps."""
    from .training import OPTIMIZER as OPT_TAG, construction_tag

    module = ctx.stack[0] if ctx.stack else None
    if not isinstance(module, cst.Module):
        return False
    wanted = model_text + ".parameters()"
    for sub in walk(module):
        if isinstance(sub, cst.Assign) and isinstance(sub.value, cst.Call) and sub.value.args \
                and any(code(t.target) == opt_text for t in sub.targets):
            if construction_tag(ctx, sub.value) == OPT_TAG and code(sub.value.args[0].value) == wanted:
                return True
    return False


def constructed_class(ctx: "Context", expr: Optional[cst.BaseExpression],
                      scope: Optional[cst.CSTNode] = None) -> Optional[cst.Call]:
    """The constructor call every assignment of ``expr`` makes, when they all resolve to one class: a name
    in the function (or at module level when the function does not bind it), or ``self.x`` in the class.
    Returns the last such call (its arguments tell how it was configured), or None when unknown."""
    if expr is None:
        return None
    if scope is None:
        scope = ctx.current_function
    text = code(expr)
    module = ctx.stack[0] if ctx.stack else None
    if isinstance(expr, cst.Attribute) and ctx.is_self(expr.value) and ctx.current_class is not None:
        roots, into = [ctx.current_class.body], True
    elif isinstance(expr, cst.Name):
        roots, into = [_scope_body(scope)] if scope is not None else [], False
        if module is not None:
            roots.append(module)
    else:
        return None
    for root in roots:
        if root is None:
            continue
        found, qualified = None, None
        for sub in walk(root, into_scopes=into):
            targets = ()
            if isinstance(sub, cst.Assign):
                targets = [t.target for t in sub.targets]
            elif isinstance(sub, (cst.AnnAssign, cst.AugAssign)):
                targets = [sub.target]
            elif isinstance(sub, cst.For):
                targets = [sub.target]
            if not any(code(t) == text or (isinstance(t, (cst.Tuple, cst.List)) and text in code(t))
                       for t in targets):
                continue
            value = getattr(sub, "value", None)
            if not isinstance(sub, cst.Assign) or not isinstance(value, cst.Call):
                return None
            name = ctx.resolve(value.func)
            if name is None and isinstance(value.func, cst.Name) and ctx.classes.class_named(value.func.value):
                name = value.func.value  # a class of this file
            if name is None or (qualified is not None and name != qualified):
                return None
            found, qualified = value, name
        if found is not None:
            return found
        if root is not module and isinstance(scope, cst.FunctionDef) and isinstance(expr, cst.Name):
            params = {p.name.value for p in (*scope.params.posonly_params, *scope.params.params,
                                             *scope.params.kwonly_params)}
            if expr.value in params:
                return None
    return None
