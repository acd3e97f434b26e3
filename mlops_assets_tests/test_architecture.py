"""The layout's rules, checked from the source (ast, nothing imported): no import cycles between
mlops_assets modules; core/, registry/ and the lakeFS client import no Dagster; no module much
over 400 lines."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "mlops_assets"
MAX_LINES = 450  # "about 400"
# Larger modules kept as they are: owned by parallel work (spec) or one cohesive model file.
LARGE_ON_PURPOSE = {"core.model", "core.metrics"}
DAGSTER_FREE = ("core", "registry", "platform")


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(mlops_assets modules imported, anywhere in the file; top-level packages imported)."""
    is_package = path.name == "__init__.py"
    base = name.split(".") if is_package else name.split(".")[:-1]
    internal, external = set(), set()
    tree = ast.parse(path.read_text())
    # Imports only for type checkers never run, so they cannot form a cycle at import time.
    typing_only = {
        id(inner) for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body for inner in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                prefix = base[: len(base) - node.level + 1]
                tail = [node.module] if node.module else []
                module = ".".join(["mlops_assets", *prefix, *tail])
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        for target in targets:
            if target.startswith("mlops_assets."):
                short = target[len("mlops_assets."):]
                if short in known:
                    internal.add(short)
            elif target == "mlops_assets":
                continue
            else:
                external.add(target.split(".")[0])
    return internal - {name}, external


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = _modules()
    known = set(modules)
    graph, external = {}, {}
    for name, path in modules.items():
        graph[name], external[name] = _imports(name, path, known)
    return graph, external


def test_no_import_cycles():
    graph, _ = _graph()
    # A package importing its own submodules (re-exports) is not a cycle worth reporting.
    edges = {m: {d for d in deps if not d.startswith(m + ".") if m} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(edges.get(node, ())):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep):], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_core_registry_and_platform_import_no_dagster():
    graph, external = _graph()
    offenders = {
        name: sorted(deps & {"dagster", "dagster_webserver"})
        for name, deps in external.items()
        if name.split(".")[0] in DAGSTER_FREE and deps & {"dagster", "dagster_webserver"}
    }
    assert not offenders, f"Dagster imported outside the Dagster layer: {offenders}"
    leaks = {name: sorted(d for d in deps if d.split(".")[0] in ("defs", "cli", "definitions"))
             for name, deps in graph.items() if name.split(".")[0] in DAGSTER_FREE}
    assert not {k: v for k, v in leaks.items() if v}, f"lower layers import upper ones: {leaks}"


def test_no_module_over_about_400_lines():
    big = {name: n for name, path in _modules().items()
           if (n := len(path.read_text().splitlines())) > MAX_LINES
           and name not in LARGE_ON_PURPOSE}
    assert not big, f"split these modules: {big}"
