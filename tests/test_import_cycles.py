"""No import cycle inside torchlint/: module-level imports (outside ``if TYPE_CHECKING:``) form a DAG."""
import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "torchlint"


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: pathlib.Path, name: str, modules: set) -> set:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.If) and "TYPE_CHECKING" in ast.unparse(stmt.test):
            continue
        for node in ([stmt] if not isinstance(stmt, (ast.If, ast.Try)) else ast.walk(stmt)):
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("torchlint"))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("torchlint"):
                    continue
                # ``from pkg import submodule`` needs the submodule; ``from mod import name`` needs mod
                subs = {f"{target}.{alias.name}" for alias in node.names}
                found.update(subs & modules if subs <= modules else {target})
    return found


def graph() -> dict:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges = {}
    for name, path in modules.items():
        edges[name] = {t for t in _imports(path, name, set(modules)) if t in modules and t != name}
    return edges


def test_graph_sees_imports():
    edges = graph()
    assert "torchlint.context" in edges["torchlint.engine"]


def test_no_import_cycles():
    edges = graph()
    state = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)
