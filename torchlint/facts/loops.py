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
FORWARD = "forward"        # m(...): any other call (extra["detached"]: its result is .detach()-ed at once)

CLIP_FUNCTIONS = frozenset({
    "torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_", "torch.nn.utils.clip_grad_norm",
    "torch.nn.utils.clip_grad.clip_grad_norm_", "torch.nn.utils.clip_grad.clip_grad_value_",
    "torch.nn.utils.clip_grad.clip_grad_norm",
})
_AUTOGRAD_BACKWARD = frozenset({"torch.autograd.backward"})


def code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


class Event:
    """One training-loop event of a block. ``text`` (the target's source, in the block's terms) is computed
    on first use: most events are never compared."""

    __slots__ = ("kind", "node", "target", "_text", "_raw", "_mapping", "guards", "no_grad", "via", "scaled_by",
                 "index", "extra")

    def __init__(self, kind: str, node: cst.CSTNode, target: Optional[cst.BaseExpression], guards: tuple = (),
                 no_grad: bool = False, via: Optional[cst.Call] = None, scaled_by: Optional[str] = None,
                 index: int = 0, extra: Optional[dict] = None, raw=None, mapping=None) -> None:
        self.kind = kind
        self.node = node                  # the call (or the assignment / del for cleared gradients)
        self.target = target              # the optimizer / model / loss / scheduler the event is about
        self._text = None
        self._raw = raw                   # the helper's own event this one was inlined from
        self._mapping = mapping           # parameter -> argument of that inlining
        self.guards = guards              # ((compound node, arm), ...) from the block down to the event
        self.no_grad = no_grad            # under torch.no_grad() / inference_mode()
        self.via = via                    # the call in the block this event was inlined from
        self.scaled_by = scaled_by        # BACKWARD: text of the scaler in scaler.scale(loss).backward()
        self.index = index                # execution order in the block
        self.extra = extra if extra is not None else {}

    @property
    def text(self) -> Optional[str]:
        if self._text is None and self.target is not None:
            raw = self._raw
            if raw is None or self.target is not raw.target:
                self._text = code(self.target)
            else:
                self._text = _subst_text(raw.text, self._mapping)
        return self._text

    def moved(self, guards: tuple, index: int) -> "Event":
        """The same event seen from an enclosing block's loop (guards trimmed, index renumbered)."""
        ev = Event(self.kind, self.node, self.target, guards, self.no_grad, self.via, self.scaled_by, index,
                   self.extra, self._raw, self._mapping)
        ev._text = self._text
        return ev

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
            first = call.args[0]
            flag = first.value if first.keyword is None or first.keyword.value == "mode" else None
            if len(call.args) == 1 and isinstance(flag, cst.Name) and flag.value in ("True", "False"):
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
    if skip_first:
        first = (*target.params.posonly_params, *target.params.params)[:1]
        if first:
            mapping["__self__"] = first[0].name.value  # the method's self: the caller's object, not a parameter
    return target, mapping


# ---------------------------------------------------------------------- the flattened block
# A helper whose flattened body holds more events than this is not inlined (its call stays a plain call):
# summaries are copied into every caller, so a deep chain of helpers must not grow without bound.
_MAX_HELPER_EVENTS = 200


class _Builder:
    """Flattens one body (a function's or the module's) into events. Helper calls are replaced by the
    helper's own events (computed once per helper and cached), re-expressed in the caller's terms."""

    def __init__(self, ctx: "Context", cls, self_name) -> None:
        self.ctx = ctx
        self.cls = cls
        self.self_name = self_name
        self.events: list[Event] = []

    def block(self, stmts, guards: tuple, no_grad: bool) -> None:
        for stmt in stmts:
            self.statement(stmt, guards, no_grad)

    def suite(self, suite, guards, no_grad) -> None:
        if isinstance(suite, cst.IndentedBlock):
            self.block(suite.body, guards, no_grad)
        elif isinstance(suite, cst.SimpleStatementSuite):
            for small in suite.body:
                self.small(small, guards, no_grad)

    def statement(self, stmt, guards, no_grad) -> None:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                self.small(small, guards, no_grad)
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return
        elif isinstance(stmt, cst.If):
            self.expr(stmt.test, guards, no_grad)
            self.suite(stmt.body, guards + ((stmt, "body"),), no_grad)
            if stmt.orelse is not None:
                if isinstance(stmt.orelse, cst.If):
                    self.statement(stmt.orelse, guards + ((stmt, "orelse"),), no_grad)
                else:
                    self.suite(stmt.orelse.body, guards + ((stmt, "orelse"),), no_grad)
        elif isinstance(stmt, (cst.For, cst.While)):
            self.expr(stmt.iter if isinstance(stmt, cst.For) else stmt.test, guards, no_grad)
            self.suite(stmt.body, guards + ((stmt, "loop"),), no_grad)
            if stmt.orelse is not None:
                self.suite(stmt.orelse.body, guards, no_grad)
        elif isinstance(stmt, cst.With):
            inner = no_grad
            for item in stmt.items:
                self.expr(item.item, guards, no_grad)
                if self.ctx.is_no_grad_expr(item.item):
                    inner = True
            self.suite(stmt.body, guards, inner)
        elif isinstance(stmt, cst.Try):
            self.suite(stmt.body, guards, no_grad)
            for i, handler in enumerate(stmt.handlers):
                self.suite(handler.body, guards + ((stmt, ("handler", i)),), no_grad)
            if stmt.orelse is not None:
                self.suite(stmt.orelse.body, guards, no_grad)
            if stmt.finalbody is not None:
                self.suite(stmt.finalbody.body, guards, no_grad)
        elif isinstance(stmt, cst.Match):
            self.expr(stmt.subject, guards, no_grad)
            for i, case in enumerate(stmt.cases):
                self.suite(case.body, guards + ((stmt, ("case", i)),), no_grad)

    def small(self, small, guards, no_grad) -> None:
        if isinstance(small, cst.Assign):
            targets = [t.target for t in small.targets]
            if any(is_grad_attribute(t) for t in targets):
                self.add(ZERO_GRAD, small, targets[0], guards, no_grad)
        elif isinstance(small, cst.Del):
            if any(is_grad_attribute(n) for n in walk(small.target) if isinstance(n, cst.Attribute)):
                self.add(ZERO_GRAD, small, None, guards, no_grad)
        self.expr(small, guards, no_grad)

    def expr(self, node, guards, no_grad) -> None:
        ctx = self.ctx
        detached: set = set()
        for sub in walk(node, into_scopes=False):
            if type(sub) is not cst.Call:
                continue
            if isinstance(sub.func, cst.Attribute) and sub.func.attr.value in ("detach", "detach_"):
                detached.update(id(n) for n in walk(sub.func.value, into_scopes=False) if type(n) is cst.Call)
            found = classify_call(ctx, sub)
            if found is not None:
                kind, target, extra = found
                scaled = extra.pop("scaled_by", None)
                self.add(kind, sub, target, guards, no_grad, scaled, extra)
                continue
            func = sub.func
            if isinstance(func, (cst.Name, cst.Attribute)):
                helper = helper_of(ctx, sub, self.cls, self.self_name)
                if helper is not None and self.inline(sub, helper, guards, no_grad):
                    continue
                self.add(FORWARD, sub, func, guards, no_grad, None, {"detached": True} if id(sub) in detached else None)

    def add(self, kind, node, target, guards, no_grad, scaled=None, extra=None) -> None:
        self.events.append(Event(kind, node, target, guards, no_grad, None, scaled, len(self.events), extra))

    def inline(self, call: cst.Call, helper, guards, no_grad) -> bool:
        fdef, mapping = helper
        raw_events = _helper_events(self.ctx, fdef, self.cls)
        if raw_events is None or len(raw_events) > _MAX_HELPER_EVENTS:
            return False  # a recursive helper, or one too large to summarise
        own_self = mapping.get("__self__")
        for raw in raw_events:
            root = _root_name(raw.target) if raw.target is not None else None
            foreign = raw.extra.get("foreign", False) or root is None or (root not in mapping and root != own_self)
            if foreign and raw.kind == FORWARD:
                continue  # a call on the helper's own values: nothing the caller can ask about
            target = _subst(raw.target, mapping) if raw.target is not None else None
            extra = dict(raw.extra)
            extra["foreign"] = foreign
            scaled = _subst_text(raw.scaled_by, mapping) if raw.scaled_by is not None else None
            self.events.append(Event(raw.kind, raw.node, target, guards + raw.guards, no_grad or raw.no_grad, call,
                                     scaled, len(self.events), extra, raw, mapping))
        return True


def _helper_events(ctx: "Context", fdef: cst.FunctionDef, cls) -> Optional[list[Event]]:
    """The events of a helper's body in its own terms, once per helper (None while it is being built:
    recursion)."""
    cache = ctx.__dict__.setdefault("_loops_helpers", {})
    key = id(fdef)
    if key in cache:
        hit = cache[key]
        return hit[1] if hit is not None else None
    cache[key] = None
    params = (*fdef.params.posonly_params, *fdef.params.params)
    self_name = params[0].name.value if cls is not None and params and _class_methods(cls).get(
        fdef.name.value) is fdef else None
    builder = _Builder(ctx, cls if self_name is not None else None, self_name)
    if isinstance(fdef.body, cst.IndentedBlock):
        builder.block(fdef.body.body, (), _no_grad_decorated(ctx, fdef))
    cache[key] = (fdef, builder.events)
    return builder.events


def _no_grad_decorated(ctx: "Context", fdef: cst.FunctionDef) -> bool:
    return any(ctx.is_no_grad_expr(d.decorator) for d in fdef.decorators)


def _root_name(expr: cst.BaseExpression) -> Optional[str]:
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        expr = expr.value if not isinstance(expr, cst.Call) else expr.func
    return expr.value if isinstance(expr, cst.Name) else None


def _subst(expr: cst.BaseExpression, mapping) -> cst.BaseExpression:
    """A parameter name read in a helper -> the caller's argument node (``model`` in ``validate(net)`` ->
    ``net``). Only bare names are replaced, so every target stays a node of the parsed tree (the kind
    queries need that); a longer chain keeps its own node and gets its text from :func:`_subst_text`."""
    if mapping and isinstance(expr, cst.Name) and expr.value in mapping and expr.value != "__self__":
        value = mapping[expr.value]
        if isinstance(value, cst.CSTNode):
            return value
    return expr


def _subst_text(text: Optional[str], mapping) -> Optional[str]:
    if not mapping or text is None:
        return text
    head, dot, tail = text.partition(".")
    value = mapping.get(head)
    if isinstance(value, cst.CSTNode):
        return code(value) + dot + tail
    return text


def names_zero_grad(name: str) -> bool:
    """A call :func:`classify_call` may take for ZERO_GRAD (``opt.zero_grad()``, ``model_zero_grad()``)."""
    return "zero_grad" in name


def names_backward(name: str) -> bool:
    """A call :func:`classify_call` may take for BACKWARD or ENGINE_BACKWARD."""
    return name in ("backward", "manual_backward")


def names_clip(name: str) -> bool:
    """A call :func:`classify_call` may take for CLIP or OTHER_CLIP."""
    return name in ("clip_grad_norm_", "clip_grad_value_", "clip_grad_norm")


def names_step(name: str) -> bool:
    """A call :func:`classify_call` may take for STEP or SCALER_STEP."""
    return name == "step"


def names_mode(name: str) -> bool:
    """A call :func:`classify_call` may take for EVAL, TRAIN or MODE."""
    return name in ("eval", "train")


class ScansLoops:
    """Rule mixin: ``self._check(owner)`` on every ``for`` / ``while`` loop whose events may hold a call that
    the rule's ``gate`` (a ``names_*`` predicate, as a staticmethod) accepts; see :func:`may_call`."""

    gate = None

    def visit_For(self, node: cst.For) -> None:
        self._scan(node)

    def visit_While(self, node: cst.While) -> None:
        self._scan(node)

    def _scan(self, owner: cst.CSTNode) -> None:
        if may_call(self.ctx, owner, self.gate):
            self._check(owner)


class ScansLoopsAndFunctions(ScansLoops):
    """:class:`ScansLoops` over function bodies too (straight-line training steps)."""

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._scan(node)


# ---------------------------------------------------------------------- public questions
def _reaching(ctx: "Context", wanted) -> set:
    """ids of the functions (and the module) whose body calls a name ``wanted`` accepts, or calls a name that
    some in-file function of that name reaches (names only: conservative). Once per file and ``wanted``."""
    memo = ctx.__dict__.setdefault("_loops_reaching", {})
    found = memo.get(wanted)
    if found is not None:
        return found
    model = ctx.model
    owners = [ctx.stack[0]] if ctx.stack and isinstance(ctx.stack[0], cst.Module) else []
    owners += model.function_nodes()
    callers: dict[str, list] = {}
    for owner in owners:
        for name in model.called_names(owner):
            callers.setdefault(name, []).append(owner)
    found = {id(owner) for owner in owners if any(wanted(name) for name in model.called_names(owner))}
    todo = [owner for owner in owners if id(owner) in found]
    while todo:
        owner = todo.pop()
        name = owner.name.value if isinstance(owner, cst.FunctionDef) else None
        for caller in callers.get(name, ()) if name is not None else ():
            if id(caller) not in found:
                found.add(id(caller))
                todo.append(caller)
    memo[wanted] = found
    return found


def may_call(ctx: "Context", owner: cst.CSTNode, wanted) -> bool:
    """Could the events of ``owner`` (a function, a loop in the function being visited, or the module) hold a
    call whose simple name ``wanted`` (a module-level predicate, the memo's key) accepts: does its body, or
    any in-file function of a name it calls (transitively), call such a name? A cheap, conservative gate
    before :func:`block_events` (False only when it is certain)."""
    if not isinstance(owner, (cst.FunctionDef, cst.Module)):
        owner = ctx.current_function or (ctx.stack[0] if ctx.stack else None)
        if owner is None:
            return True
    return id(owner) in _reaching(ctx, wanted)


def _owner_events(ctx: "Context", owner: cst.CSTNode) -> list[Event]:
    cache = ctx.__dict__.setdefault("_loops_owners", {})
    hit = cache.get(id(owner))
    if hit is not None and hit[0] is owner:
        return hit[1]
    if isinstance(owner, cst.Module):
        builder = _Builder(ctx, None, None)
        builder.block(owner.body, (), False)
    else:
        cls = ctx.current_class if owner is ctx.current_function else None
        self_name = ctx.func_stack[-1].self_name if ctx.func_stack and owner is ctx.current_function else None
        builder = _Builder(ctx, cls, self_name)
        if isinstance(owner.body, cst.IndentedBlock):
            builder.block(owner.body.body, (), _no_grad_decorated(ctx, owner))
    cache[id(owner)] = (owner, builder.events)
    return builder.events


def block_events(ctx: "Context", owner: cst.CSTNode) -> list[Event]:
    """Events of a loop body (``owner`` a For/While being visited), a function body (``owner`` a
    FunctionDef) or a script (``owner`` the Module), in execution order, helpers inlined. A function's
    events are built once; a loop's are the view of its enclosing function's (or the module's) events
    inside that loop. Cached per node on the context."""
    if isinstance(owner, (cst.FunctionDef, cst.Module)):
        return _owner_events(ctx, owner)
    cache = ctx.__dict__.setdefault("_loops_views", {})
    hit = cache.get(id(owner))
    if hit is not None and hit[0] is owner:
        return hit[1]
    scope = ctx.current_function
    if scope is None:
        scope = ctx.stack[0] if ctx.stack and isinstance(ctx.stack[0], cst.Module) else None
    view: list[Event] = []
    if scope is not None:
        for e in _owner_events(ctx, scope):
            for k, (guard, arm) in enumerate(e.guards):
                if guard is owner:
                    view.append(e.moved(e.guards[k + 1:], len(view)))
                    break
    cache[id(owner)] = (owner, view)
    return view


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


def is_kind(ctx: "Context", expr: Optional[cst.BaseExpression], kind: str, at_least: Optional[int] = None) -> bool:
    """Strong evidence that ``expr`` holds a value of ``kind``: the one adapter the loop rules ask.

    The semantic model answers (``model.kinds.is_(expr, KIND, at_least=STRONG)``). One addition, for
    ``self.<attr>`` the model knows nothing about: API only that kind has, used on the same attribute
    anywhere in the class (``self.optimizer = SGD(self.model.parameters())`` makes ``self.model`` a
    Module), unless the class also uses contradicting API on it (``self.model.fit(...)``)."""
    if expr is None:
        return False
    from ..semantic import kinds as sk

    target = {OPTIMIZER: sk.OPTIMIZER, SCHEDULER: sk.SCHEDULER, SCALER: sk.SCALER, MODULE: sk.MODULE}[kind]
    kinds = ctx.model.kinds
    if kinds.is_(expr, target, at_least=sk.STRONG if at_least is None else at_least):
        return True
    weakest = at_least is None or at_least <= sk.STRONG
    if kind in (MODULE, OPTIMIZER) and weakest and kinds.of(expr) is None and isinstance(expr, cst.Attribute) \
            and isinstance(expr.value, cst.Name) and expr.value.value == "self":
        return _self_attr_api(ctx, expr, sk.MODULE_ONLY_METHODS if kind == MODULE else sk.OPTIMIZER_ONLY,
                              sk.CONTRADICTING_METHODS)
    return False


def _enclosing_class(ctx: "Context", node: cst.CSTNode) -> Optional[cst.ClassDef]:
    for ancestor in reversed(ctx.stack):
        if isinstance(ancestor, cst.ClassDef):
            return ancestor
    return None


def _self_attr_api(ctx: "Context", expr: cst.Attribute, api, contradicting) -> bool:
    cls = _enclosing_class(ctx, expr)
    if cls is None:
        return False
    text = code(expr)
    found = False
    for sub in walk(cls.body):
        if isinstance(sub, cst.Attribute) and code(sub.value) == text:
            if sub.attr.value in contradicting:
                return False
            if sub.attr.value in api:
                found = True
    return found


def _scope_body(scope: Optional[cst.CSTNode]):
    if isinstance(scope, cst.FunctionDef):
        return scope.body
    return scope


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
